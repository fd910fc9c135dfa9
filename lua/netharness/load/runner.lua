-- What the load scripts share: their common options, one run or N worker
-- processes merged, Kubernetes Indexed Job shards, and the files a run
-- leaves (JSON lines, .hlog, an HTML report).
--
--   runner.main{ name = "http_load", usage = ..., options = {...}, ... ,
--                prepare = function(opts) return { transaction = tx, finish = f } end,
--                print = function(summary, corrected, uncorrected, opts) end }
--
-- Sharding: a worker is told its shard with --shard I --shards N (or, in an
-- Indexed Job, by JOB_COMPLETION_INDEX and NH_SHARDS); it takes every N-th
-- arrival of the schedule from the I-th (open model) or its share of the
-- connections (closed), and writes DIR/worker-I.jsonl and DIR/worker-I.hlog
-- into --results DIR (NH_RESULTS). --workers N does that with N processes on
-- this machine and merges their files (scripts/merge_results.lua merges any).
local net = require "netharness"
local cli = require "netharness.cli"
local load = require "netharness.load"
local results = require "netharness.load.results"
local report = require "netharness.load.report"

local M = {}

M.COMMON_USAGE = [[
  -d, --duration T     how long to run: 10, 10s, 2m (default 10s)
  -R, --rate R         open model: R transactions a second, started on schedule
                       whatever the server does; latency corrected for it
  -c, --connections N  closed model: N loops back to back (default 10); with
                       --rate: the most outstanding at once (default 1000),
                       beyond which arrivals are dropped and counted
  -t, --workers N      N worker processes on this machine, merged exactly
  --interval S         seconds per interval record (default 1)
  --json FILE          JSON lines: one object per interval, a summary last
  --hlog FILE          HdrHistogram interval log (tags corrected, uncorrected)
  --report FILE        a self-contained HTML report
  --results DIR        as a shard: write DIR/worker-I.jsonl and .hlog
  --shard I --shards N this process is shard I of N (JOB_COMPLETION_INDEX and
                       NH_SHARDS in a Kubernetes Indexed Job)
  --quiet              no progress line]]

local COMMON = {
  duration = "10s", rate = "", connections = "", workers = "1", interval = "1",
  json = "", hlog = "", report = "", results = "", shard = "", shards = "", quiet = false,
}
local SHORT = { d = "duration", R = "rate", c = "connections", t = "workers", H = "header" }

local function fail(msg)
  io.stderr:write(msg, "\n")
  os.exit(2)
end

local function whole(s, name, min)
  local n = math.tointeger(tonumber(s))
  if not n or n < min then fail(("--%s must be a whole number >= %d, got %s"):format(name, min, s)) end
  return n
end

-- Parse arg with the script's own options added; exits with the usage on a
-- mistake (a script, not a library).
local function parse(spec)
  local options = {}
  for k, v in pairs(COMMON) do options[k] = v end
  for k, v in pairs(spec.options or {}) do options[k] = v end
  local short = {}
  for k, v in pairs(SHORT) do short[k] = v end
  for k, v in pairs(spec.short or {}) do short[k] = v end
  local opts, why, status = cli.parse(arg, { usage = spec.usage, options = options, short = short,
    lists = spec.lists, positional = spec.positional, durations = { duration = true },
    numbers = spec.numbers })
  if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
  opts.workers = whole(opts.workers, "workers", 1)
  opts.interval = tonumber(opts.interval)
  if not opts.interval or opts.interval < 0.01 then fail("--interval must be at least 0.01 seconds") end
  if opts.duration <= 0 or opts.duration == math.huge then fail("--duration must be more than 0 and finite") end
  if opts.rate ~= "" then
    opts.rate = tonumber(opts.rate)
    if not opts.rate or opts.rate <= 0 or opts.rate == math.huge then
      fail("--rate must be a positive, finite number")
    end
    -- the schedule numbers arrivals with floats: past 2^53 they collide
    if opts.rate * opts.duration > 2^53 then
      fail(("--rate %g for %gs is %.3g arrivals: more than a schedule can number (2^53)"):format(
        opts.rate, opts.duration, opts.rate * opts.duration))
    end
  else
    opts.rate = nil
  end
  opts.connections = opts.connections ~= "" and whole(opts.connections, "connections", 1) or nil
  local env_index = os.getenv("JOB_COMPLETION_INDEX")
  local shards = opts.shards ~= "" and opts.shards or os.getenv("NH_SHARDS")
  if opts.shard ~= "" or shards or env_index then
    opts.shards = whole(shards or "", "shards (or NH_SHARDS)", 1)
    opts.shard = whole(opts.shard ~= "" and opts.shard or env_index or "", "shard (or JOB_COMPLETION_INDEX)", 0)
    if opts.shard >= opts.shards then fail("--shard must be below --shards") end
    if opts.results == "" then opts.results = os.getenv("NH_RESULTS") or "results" end
  else
    opts.shard, opts.shards = nil, nil
  end
  for _, k in ipairs({ "json", "hlog", "report", "results" }) do
    if opts[k] == "" then opts[k] = nil end
  end
  return opts
end

-- A target address the scripts can never reach (a port past 65535, a
-- bracket left open) is a usage error before the run, not a run of errors.
-- A name that does not resolve now may later: that run counts its errors.
function M.check_address(network, address)
  local okc, why = pcall(net.resolve, network, address)
  if not okc then return nil, (tostring(why):gsub("^bad argument #%d to '[^']*' %((.*)%)$", "%1")) end
  return true
end

local function mkdir(dir)
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
end

-- Files a finished (or merged) run leaves: JSON lines and .hlog are written
-- as the run goes; the report at the end.
local function write_report(path, title, run)
  local f = assert(io.open(path, "w"))
  f:write(report.html{ title = title, summary = run.summary, intervals = run.intervals,
    corrected = run.corrected, uncorrected = run.uncorrected })
  f:close()
end

-- N workers of this same script, each a shard writing into a temporary
-- folder; then their files merged.
local function run_workers(spec, opts)
  local dir = opts.results or os.tmpname() .. ".d"
  if not opts.results then os.remove(dir:sub(1, -3)) end
  mkdir(dir)
  local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
  local base = { q(arg[-1] or "lua5.4"), q(arg[0]) }
  for _, a in ipairs(arg) do base[#base + 1] = q(a) end
  -- This process may be shard p of P itself (a pod with --workers): worker w
  -- of its W then takes arrival k when k = p + P w (mod P W), so the pods'
  -- workers together still keep the one schedule, each in a file of its own.
  local p, P, W = opts.shard or 0, opts.shards or 1, opts.workers
  local procs, shards = {}, {}
  for w = 0, W - 1 do
    shards[#shards + 1] = p + P * w
    local cmd = table.concat(base, " ") .. (" --workers 1 --quiet --shard %d --shards %d --results %s")
      :format(p + P * w, P * W, q(dir)) .. " --json '' --hlog '' --report '' 2>&1"
    procs[#procs + 1] = io.popen(cmd)
  end
  -- (a worker exits 1 when nothing succeeded: its files still count)
  local outputs = {}
  for i, proc in ipairs(procs) do
    outputs[i] = proc:read("a")
    proc:close()
  end
  local bases = {}
  for _, i in ipairs(shards) do bases[#bases + 1] = dir .. "/worker-" .. i end
  local out = results.writer{ json = opts.json, hlog = opts.hlog, keep = opts.report ~= nil }
  local merged, err = results.merge(bases, out)
  if not opts.results then os.execute("rm -rf " .. q(dir)) end
  if not merged then
    for i, o in ipairs(outputs) do io.stderr:write(("worker %d said:\n%s"):format(i - 1, o)) end
    io.stderr:write(spec.name, ": ", err, "\n")
    os.exit(1)
  end
  return merged
end

function M.main(spec)
  local opts = parse(spec)
  local prepared = spec.prepare(opts)   -- checks the script's own options first
  io.stdout:setvbuf("line")
  local run
  if opts.workers > 1 then
    spec.banner(opts)
    run = run_workers(spec, opts)
  else
    if opts.shard then
      mkdir(opts.results)
      local base = opts.results .. "/worker-" .. opts.shard
      opts.shard_json, opts.shard_hlog = base .. ".jsonl", base .. ".hlog"
    end
    if not opts.shard or opts.shards == 1 then spec.banner(opts) end
    local out = results.writer{ json = opts.shard_json or opts.json, hlog = opts.shard_hlog or opts.hlog,
      keep = opts.report ~= nil }
    local r = load.run{
      transaction = prepared.transaction, finish = prepared.finish,
      rate = opts.rate, duration = opts.duration,
      concurrency = not opts.rate and (opts.connections or 10) or nil,
      max_in_flight = opts.rate and (opts.connections or 1000) or nil,
      interval = opts.interval, drain = prepared.drain, on_record = prepared.on_record,
      shard = opts.shard, shards = opts.shards,
      on_interval = out.on_interval,
      progress = not opts.quiet and "auto" or false,
    }
    local summary = out:finish(r)
    run = { summary = summary, intervals = out.intervals, corrected = r.corrected, uncorrected = r.uncorrected }
  end
  if opts.report then write_report(opts.report, spec.name .. " " .. (spec.target and spec.target(opts) or ""), run) end
  spec.print(run.summary, run.corrected, run.uncorrected, opts)
  return run
end

-- For the printers: seconds as wrk prints them.
function M.fmt_time(s)
  if not s then return "-" end
  if s >= 1 then return ("%.2fs"):format(s) end
  if s >= 0.001 then return ("%.2fms"):format(s * 1000) end
  return ("%.2fus"):format(s * 1e6)
end

-- Counts by cause, as lines "  label: a 3, b 2".
function M.causes(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return t[a] > t[b] or (t[a] == t[b] and a < b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = ("%s %d"):format(k, t[k]) end
  return table.concat(parts, ", ")
end

-- A line that says when the generator, not the server, set the pace: its
-- schedule lagged (its p99 over 1 ms) or arrivals were never started. nil
-- when it kept up.
function M.behind_warning(s)
  local lag = s.schedule_lag_ms and s.schedule_lag_ms.p99
  local missed = s.notes and s.notes["not started: the generator fell behind"]
  if (lag and lag > 1) or missed then
    return ("  Warning: the generator fell behind its schedule (start lag p99 %.2fms%s); its own delay is in "
      .. "the corrected latency: try --workers"):format(lag or 0, missed and (", " .. missed .. " never started") or "")
  end
end

M.now = net.now
return M
