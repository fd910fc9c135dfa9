-- Constant-rate request/answer load over UDP, for DNS-like services: every
-- request carries an id at its start, answers are matched to requests by it,
-- and loss (no answer in time) and late answers are counted. Latency is
-- corrected for coordinated omission (from each request's intended start).
-- --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local load_udp = require "netharness.load.udp"
local runner = require "netharness.load.runner"

local usage = [[
usage: lua scripts/udp_load.lua [options] HOST:PORT
]] .. runner.COMMON_USAGE .. [[

  --payload TEXT       what each request carries (default "ping")
  --payload-hex HEX    the same, as hex (a DNS query, say)
  --id-bytes N         the id's length at the start of each request and of
                       its answer, 1-8 (default 8; 2 for DNS)
  --timeout S          how long to wait for an answer (default 1)
The server must answer with the request's first id-bytes bytes (an echo
does; so does DNS with --id-bytes 2).]]

local address

runner.main{
  name = "udp_load",
  usage = usage,
  options = { payload = "ping", payload_hex = "", id_bytes = "8", timeout = "1" },
  numbers = { timeout = true, id_bytes = true },
  positional = true,
  prepare = function(opts)
    if #opts.args ~= 1 then io.stderr:write("one HOST:PORT is needed\n", usage, "\n") os.exit(2) end
    address = opts.args[1]
    local ok, why = runner.check_address("udp", address)
    if not ok then io.stderr:write("udp_load: bad address ", address, " (", why, ")\n") os.exit(2) end
    local id_bytes = math.tointeger(opts.id_bytes)
    if not id_bytes or id_bytes < 1 or id_bytes > 8 then
      io.stderr:write("udp_load: --id-bytes must be a whole number from 1 to 8, got ", opts.id_bytes, "\n") os.exit(2)
    end
    if not opts.rate then opts.rate = 1000 end   -- this tool is open-model: 1,000/s unless told
    local payload = opts.payload
    if opts.payload_hex ~= "" then
      if opts.payload_hex:find("[^%x]") or #opts.payload_hex % 2 == 1 then
        io.stderr:write("udp_load: --payload-hex wants an even number of hex digits\n") os.exit(2)
      end
      payload = opts.payload_hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    end
    local built, tx, finish = pcall(load_udp.transaction, address, {
      payload = payload, id_bytes = id_bytes, timeout = opts.timeout,
      shard = opts.shard, shards = opts.shards })
    if not built then io.stderr:write("udp_load: ", tostring(tx):gsub("^[^:]*:%d+: ", ""), "\n") os.exit(2) end
    return { transaction = tx, finish = finish, drain = opts.timeout }
  end,
  target = function() return address end,
  banner = function(opts)
    print(("Running %gs test @ udp %s"):format(opts.duration, address))
    print(("  %g requests/sec asked, at most %d in flight%s"):format(opts.rate, opts.connections or 1000,
      opts.workers > 1 and (", " .. opts.workers .. " workers") or ""))
  end,
  print = function(s, corrected, uncorrected)
    local fmt = runner.fmt_time
    if corrected:count() > 0 then
      print("  Latency Distribution (corrected: from each request's intended start)")
      for _, p in ipairs({ 50, 90, 99, 99.9, 100 }) do
        print(("  %5g%%  %9s   (uncorrected %s)"):format(p, fmt(corrected:percentile(p)), fmt(uncorrected:percentile(p))))
      end
    else
      print("  no answers: no latency to report")
    end
    local lost = s.errors.ETIMEDOUT or 0
    print(("  %d requests, %d answered, %d lost (no answer in time: %.2f%%)"):format(s.started, s.success, lost,
      s.started > 0 and lost / s.started * 100 or 0))
    local others = {}
    for k, n in pairs(s.errors) do if k ~= "ETIMEDOUT" then others[k] = n end end
    if next(others) then print("  Errors: " .. runner.causes(others)) end
    if (s.notes["late answer"] or 0) > 0 then print(("  Late answers: %d"):format(s.notes["late answer"])) end
    local over = s.dropped - (s.notes["not started: the generator fell behind"] or 0)
    if over > 0 then print(("  Dropped (over capacity): %d"):format(over)) end
    local behind = runner.behind_warning(s)
    if behind then print(behind) end
    print(("Requests/sec asked: %10.2f"):format(s.asked_rate or 0))
    print(("Answers/sec:        %10.2f"):format(s.success / s.duration))
    print(("result requests=%d answered=%d lost=%d late=%d rate=%.1f p50=%.6f p99=%.6f"):format(s.started,
      s.success, lost, s.notes["late answer"] or 0, s.success / s.duration, corrected:percentile(50) or 0,
      corrected:percentile(99) or 0))
    if s.success == 0 then os.exit(1) end
  end,
}
