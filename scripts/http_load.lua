-- An HTTP load generator like wrk (closed model: N keep-alive connections
-- sending back to back) and wrk2 (-R: a constant rate, latency corrected for
-- coordinated omission). Prints wrk's summary; --json, --hlog and --report
-- leave the run's details. --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local http = require "netharness.http"
local load_http = require "netharness.load.http"
local runner = require "netharness.load.runner"

local usage = [[
usage: lua scripts/http_load.lua [options] URL
]] .. runner.COMMON_USAGE .. [[

  --timeout S          per-request deadline (default 5)
  --method M           request method (default GET)
  --body TEXT          request body
  -H, --header "N: V"  a request header (again for more)
  Success is a 2xx or 3xx answer; other statuses and network errors are
  counted by code.]]

local url

runner.main{
  name = "http_load",
  usage = usage,
  options = { timeout = "5", method = "GET", body = "" },
  numbers = { timeout = true },
  lists = { header = true },
  positional = true,
  prepare = function(opts)
    if #opts.args == 0 then io.stderr:write("a URL is needed\n", usage, "\n") os.exit(2) end
    if #opts.args > 1 then io.stderr:write("only one URL, please (got ", table.concat(opts.args, " "), ")\n") os.exit(2) end
    url = opts.args[1]
    local u, why = http.parse_url(url)
    if u then u, why = runner.check_address("tcp", u.dial_address) end
    if not u then io.stderr:write("http_load: bad URL ", url, " (", tostring(why), ")\n") os.exit(2) end
    local headers = {}
    for _, h in ipairs(opts.header) do
      local name, value = h:match("^([^:]+):%s*(.*)$")
      if not name or name:find("%s") then io.stderr:write("http_load: bad header ", h, " (want \"Name: value\")\n") os.exit(2) end
      headers[name] = value
    end
    local built, tx, finish = pcall(load_http.transaction, url, {
      method = opts.method, body = opts.body ~= "" and opts.body or nil, headers = headers, timeout = opts.timeout })
    if not built then io.stderr:write("http_load: ", tostring(tx), "\n") os.exit(2) end
    return { transaction = tx, finish = finish, drain = math.min(opts.timeout, 0.2) }
  end,
  target = function() return url end,
  banner = function(opts)
    print(("Running %gs test @ %s"):format(opts.duration, url))
    if opts.rate then
      print(("  %g requests/sec asked (open model), at most %d in flight%s"):format(opts.rate,
        opts.connections or 1000, opts.workers > 1 and (", " .. opts.workers .. " workers") or ""))
    else
      print(("  %d connections%s"):format(opts.connections or 10,
        opts.workers > 1 and (", " .. opts.workers .. " workers") or ""))
    end
  end,
  print = function(s, corrected, uncorrected, opts)
    local fmt = runner.fmt_time
    if corrected:count() > 0 then
      if opts.rate then
        print("  Latency Distribution (corrected: from each request's intended start)")
        for _, p in ipairs({ 50, 75, 90, 99, 99.9, 100 }) do
          print(("  %5g%%  %9s   (uncorrected %s)"):format(p, fmt(corrected:percentile(p)), fmt(uncorrected:percentile(p))))
        end
      else
        print("  Latency Distribution")
        for _, p in ipairs({ 50, 75, 90, 99 }) do print(("  %3d%%  %8s"):format(p, fmt(corrected:percentile(p)))) end
      end
    else
      print("  no responses: no latency to report")
    end
    local answered = 0
    for _, n in pairs(s.status) do answered = answered + n end
    print(("  %d requests in %.2fs, %.2fMB read"):format(answered, s.elapsed, s.bytes / 1048576))
    local non2xx = 0
    for code, n in pairs(s.status) do
      local c = tonumber(code)
      if c < 200 or c > 399 then non2xx = non2xx + n end
    end
    if non2xx > 0 then
      local bad = {}
      for code, n in pairs(s.status) do
        local c = tonumber(code)
        if c < 200 or c > 399 then bad[code] = n end
      end
      print(("  Non-2xx or 3xx responses: %d (%s)"):format(non2xx, runner.causes(bad)))
    end
    local errors = 0
    for _, n in pairs(s.errors) do errors = errors + n end
    if errors > 0 then
      print(("  Errors: %d (%s)"):format(errors, runner.causes(s.errors)))
      if s.first_error then print("  first: " .. s.first_error) end
    end
    local over = s.dropped - (s.notes["not started: the generator fell behind"] or 0)
    if over > 0 then print(("  Dropped (over capacity): %d"):format(over)) end
    local behind = runner.behind_warning(s)
    if behind then print(behind) end
    if s.asked_rate then print(("Requests/sec asked: %10.2f"):format(s.asked_rate)) end
    print(("Requests/sec: %10.2f"):format(answered / s.duration))   -- answers, as wrk counts
    print(("Transfer/sec: %10.2fMB"):format(s.bytes / 1048576 / s.duration))
    -- one machine-readable line for bench/run.lua and scripts
    local p = function(q) return corrected:percentile(q) or 0 end
    print(("result requests=%d seconds=%.3f rate=%.1f p50=%.6f p99=%.6f errors=%d non2xx=%d dropped=%d"):format(
      answered, s.duration, answered / s.duration, p(50), p(99), errors, non2xx, s.dropped))
    if s.completed == 0 or s.success == 0 then os.exit(1) end
  end,
}
