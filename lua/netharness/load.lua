-- Load generation that tells the truth: run a transaction function (an HTTP
-- request, a UDP query and its answer, a TCP exchange) at a constant or
-- ramping arrival rate (the open model), or as N loops back to back (the
-- closed model, as wrk does), and count every outcome by its cause.
--
--   local load = require "netharness.load"
--   local result = load.run{
--     rate = 5000, duration = 10,          -- or stages = { {duration =, rate | target =}, ... }
--     transaction = function(vu) ... return 200 end,
--   }
--
-- In the open model each arrival has an intended start time fixed by the
-- schedule alone: a slow server does not slow the schedule (no coordinated
-- omission), and every latency is recorded twice, from the intended start
-- (corrected: what a user arriving then would see) and from the actual start
-- (uncorrected: the service time). Arrivals beyond max_in_flight outstanding
-- are counted as dropped, never silently skipped.
--
-- The transaction gets its virtual user `vu`: a table kept between the
-- transactions it runs (a keep-alive connection lives there; vu.id numbers
-- it; add bytes read to vu.bytes, or count them as they arrive with
-- vu.read(n), which a long body needs to show in its interval; vu.note(what)
-- counts an event that is no transaction's outcome, such as a late answer).
-- It returns:
--   true               success
--   a number           an HTTP-like status; success when opts.success(code)
--                      (default 200-399); counted by code and class
--   false, cause       a failure of the scenario's own, counted by cause
--   nil, err           a network error, counted by err.code (ECONNREFUSED...)
-- A Lua error in it counts as "lua error" (the first message is kept).
-- opts.finish(vu), when given, is called for every virtual user at the end
-- (to close what it kept open); opts.on_record(corrected, uncorrected) with
-- every latency recorded, for raw samples.
local net = require "netharness"
local schedule = require "netharness.load.schedule"

local M = {}

M.PERCENTILES = { 50, 90, 95, 99, 99.9 }

local function check_number(opts, key, min, integer)
  local v = opts[key]
  if v == nil then return end
  if math.type(v) == nil or v ~= v or v < min or v == math.huge or (integer and math.type(v) ~= "integer") then
    error(("%s: %s >= %g expected, got %s"):format(key, integer and "a whole number" or "a number", min,
      tostring(v)), 3)
  end
end

local KNOWN = {
  transaction = true, rate = true, stages = true, duration = true, concurrency = true,
  max_in_flight = true, interval = true, on_interval = true, success = true, drain = true,
  progress = true, finish = true, on_record = true, shard = true, shards = true, error_pause = true,
  keep_intervals = true,
}

-- The checked options, or a raised error naming the option.
local function check(opts)
  if type(opts) ~= "table" then error("load.run: a table of options expected", 3) end
  for k in pairs(opts) do
    if not KNOWN[k] then error("load.run: unknown option '" .. tostring(k) .. "'", 3) end
  end
  if type(opts.transaction) ~= "function" then error("transaction: a function expected", 3) end
  check_number(opts, "rate", 0)
  check_number(opts, "duration", 0)
  check_number(opts, "concurrency", 1, true)
  check_number(opts, "max_in_flight", 1, true)
  check_number(opts, "interval", 0.001)
  check_number(opts, "drain", 0)
  check_number(opts, "error_pause", 0)
  check_number(opts, "shards", 1, true)
  check_number(opts, "shard", 0, true)
  local shards, shard = opts.shards or 1, opts.shard or 0
  if shard >= shards then error("shard: must be below shards (" .. shards .. ")", 3) end
  local open = opts.rate ~= nil or opts.stages ~= nil
  if open and opts.concurrency then error("give rate/stages (open model) or concurrency (closed), not both", 3) end
  if opts.rate and opts.stages then error("give rate or stages, not both", 3) end
  if opts.stages and opts.duration then error("duration: the stages say how long (give one or the other)", 3) end
  local stages = opts.stages
  if opts.rate then
    if not opts.duration or opts.duration <= 0 then error("duration: seconds > 0 expected with rate", 3) end
    stages = { { duration = opts.duration, rate = opts.rate } }
  elseif not open then
    if not opts.duration or opts.duration <= 0 then error("duration: seconds > 0 expected", 3) end
  end
  for _, k in ipairs({ "on_interval", "success", "finish", "on_record" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then error(k .. ": a function expected", 3) end
  end
  return {
    open = open,
    schedule = open and schedule.new(stages) or nil,
    duration = opts.duration,   -- the stages' total in the open model
    concurrency = opts.concurrency or 10,
    max_in_flight = opts.max_in_flight or 10000,
    interval = opts.interval or 1,
    drain = opts.drain or 1,
    error_pause = opts.error_pause or 0.01,
    shard = shard,
    shards = shards,
  }
end

-- Counters of one interval or of the whole run.
local function new_counts()
  return {
    scheduled = 0,   -- arrivals the schedule reached (open model)
    started = 0, completed = 0, success = 0, failure = 0, dropped = 0, bytes = 0,
    status = {},     -- [code] = n, keys as strings ("200")
    class = {},      -- ["2xx"] = n
    errors = {},     -- [cause] = n: network errors by code, failures by cause
    notes = {},      -- [what] = n: events that are no transaction's outcome (late answers)
  }
end
M.new_counts = new_counts

local function bump(t, k, n) t[k] = (t[k] or 0) + (n or 1) end

-- Add counts b into a (merging workers or intervals).
function M.add_counts(a, b)
  for _, k in ipairs({ "scheduled", "started", "completed", "success", "failure", "dropped", "bytes" }) do
    a[k] = a[k] + (b[k] or 0)
  end
  for _, k in ipairs({ "status", "class", "errors", "notes" }) do
    for key, n in pairs(b[k] or {}) do bump(a[k], key, n) end
  end
  return a
end

-- How late the scheduler's own wake-ups may be and still start new runners:
-- later than this, the loop is busy and the generator is behind on its own
-- account. (Late arrivals alone say nothing: a slow server holds runners,
-- not the loop, and new runners are what the open model is for.)
local SATURATED = 0.010

local function default_success(code) return code >= 200 and code < 400 end

-- Percentiles of a histogram in milliseconds, as the JSON records hold them.
function M.percentiles_ms(h)
  if h:count() == 0 then return {} end
  local out = {}
  for _, p in ipairs(M.PERCENTILES) do out["p" .. p] = h:percentile(p) * 1000 end
  out.max, out.mean = h:max() * 1000, h:mean() * 1000
  return out
end

local function isatty_stderr()
  return os.execute("[ -t 2 ]") == true
end

local function fmt_ms(s)
  if not s then return "-" end
  if s >= 1 then return ("%.2fs"):format(s) end
  return ("%.2fms"):format(s * 1000)
end

-- Run the load; returns the result:
--   { model = "open" | "closed", duration, elapsed, asked_rate, achieved_rate,
--     counts = (as new_counts), corrected = Histogram, uncorrected = Histogram,
--     first_error = message or nil, intervals = {...} when keep_intervals }
-- opts.on_interval(record, corrected, uncorrected) is called at the end of
-- every interval (and once for the last, partial one) with the interval's
-- record (what a JSON line holds) and histograms (reset after the call).
function M.run(opts)
  local cfg = check(opts)
  local tx, success = opts.transaction, opts.success or default_success
  local on_record = opts.on_record
  local total, cur = new_counts(), new_counts()
  local hc, hu = net.new_histogram(), net.new_histogram()         -- this interval
  local all_c, all_u = net.new_histogram(), net.new_histogram()   -- the run
  local lag = net.new_histogram()   -- how late arrivals were started: the generator's own delay
  local first_error
  local in_flight, next_vu = 0, 0
  local start = net.now()
  local duration = cfg.open and cfg.schedule.duration or cfg.duration
  local stop_at = start + duration
  local kept = opts.keep_intervals and {} or nil
  local progress = opts.progress
  if progress == nil then progress = false end
  if progress == "auto" then progress = isatty_stderr() end

  local function outcome(_vu, intended, t0, ok, r, e)
    local t1 = net.now()
    cur.completed = cur.completed + 1
    if not ok then               -- the transaction raised
      bump(cur.errors, "lua error")
      cur.failure = cur.failure + 1
      first_error = first_error or tostring(r)
      return
    end
    if r == nil then             -- a network error: no answer, no latency
      local code = type(e) == "table" and e.code or tostring(e)
      bump(cur.errors, code)
      cur.failure = cur.failure + 1
      first_error = first_error or tostring(e)
      return nil
    end
    if r == true then
      cur.success = cur.success + 1
    elseif math.type(r) then
      local code = math.tointeger(r) or r
      bump(cur.status, tostring(code))
      bump(cur.class, math.floor(code / 100) .. "xx")
      if success(code) then
        cur.success = cur.success + 1
      else
        cur.failure = cur.failure + 1
      end
    else                         -- false, cause (or a cause as the value)
      local cause = r == false and tostring(e or "failed") or tostring(r)
      bump(cur.errors, cause)
      cur.failure = cur.failure + 1
    end
    hc:record(t1 - intended)
    hu:record(t1 - t0)
    if on_record then on_record(t1 - intended, t1 - t0) end
    return t1
  end

  local vus = {}
  local function new_vu()
    next_vu = next_vu + 1
    local vu = { id = next_vu, bytes = 0, note = function(what) bump(cur.notes, what) end,
                 read = function(n) cur.bytes = cur.bytes + n end }
    vus[next_vu] = vu
    return vu
  end

  -- The open model's runners: a task per virtual user, parked on its signal
  -- between transactions and handed the next arrival by the scheduler (a
  -- transaction costs no new task). Idle ones wait in `idle`.
  -- The schedule's next arrival for this shard, shared by the scheduler and
  -- the runners: take_due(now) hands out the next one that is due, if any.
  local sched, k, step = cfg.schedule, cfg.shard, cfg.shards
  local next_t = cfg.open and sched:at(k) and start + sched:at(k) or nil
  local cutoff = stop_at + cfg.drain   -- arrivals not started by then never are
  local function take_due(now)
    local t = next_t
    if not t or t > now then return nil end
    k = k + step
    local off = sched:at(k)
    next_t = off and start + off
    cur.scheduled = cur.scheduled + 1
    lag:record(now - t)
    return t
  end

  -- The open model's runners: a task per virtual user. A runner that finds
  -- an arrival due when its transaction ends starts it at once (a saturated
  -- generator then works like the closed loop); else it parks on its signal
  -- until the scheduler hands it one. A transaction costs no new task.
  local runners, idle = {}, {}
  local function runner(r)
    local vu = r.vu
    repeat
      local n, now = 0, net.now()
      repeat
        local t0 = now   -- (one clock read a transaction, as the closed loop)
        local b0 = vu.bytes
        local ok, res, e = pcall(tx, vu)
        now = outcome(vu, r.intended, t0, ok, res, e) or net.now()
        cur.bytes = cur.bytes + (vu.bytes - b0)
        n = n + 1
        if n % 64 == 0 then   -- a transaction that never waits must not starve the rest
          net.sleep(0)
          now = net.now()
        end
        r.intended = now < cutoff and take_due(now)
        if r.intended then cur.started = cur.started + 1 end
      until not r.intended
      in_flight = in_flight - 1
      r.busy = false
      idle[#idle + 1] = r
    until not r.signal:wait()   -- nil: closed at the end of the run
  end

  local function dispatch(t)
    in_flight = in_flight + 1
    cur.started = cur.started + 1
    local r = table.remove(idle)
    if r then
      r.intended, r.busy = t, true
      r.signal:notify()
    else
      r = { vu = new_vu(), signal = net.signal(), intended = t, busy = true }
      runners[#runners + 1] = r
      r.task = net.spawn(runner, r)
    end
  end

  local function scheduler()
    local pacer <close> = net.signal()   -- to the microsecond: net.sleep rounds up to 1 ms
    local behind, saturated = 0, false
    -- Wait until t; how late the wake came says whether the loop is busy.
    local function wait_until(t)
      pacer:wait(t)
      saturated = net.now() - t > SATURATED
    end
    while next_t do
      local now = net.now()
      if now >= cutoff then break end
      if next_t > now then
        wait_until(next_t)   -- a runner may take that arrival meanwhile: look again
      elseif saturated and in_flight > 0 then
        -- The loop itself is late (the generator's CPU is the bottleneck,
        -- not the server): more runners would only cost more. The arrival
        -- waits for a runner to finish and take it, its lateness counted.
        wait_until(now + 0.001)
      else
        local t = take_due(now)
        if in_flight >= cfg.max_in_flight then
          cur.dropped = cur.dropped + 1
        else
          dispatch(t)
        end
        -- behind the schedule: let the transactions started run between
        -- arrivals, or they would all wait for the scheduler to catch up
        behind = behind + 1
        if behind % 32 == 0 then
          local before = net.now()
          net.sleep(0)
          saturated = net.now() - before > SATURATED
        end
      end
    end
    -- what the generator could not start in time is dropped, and said so
    if next_t then
      -- this shard's arrivals k, k + step, ... below the schedule's total,
      -- counted, not walked (-R 1e9 has a billion of them)
      local left = math.ceil((sched.total - k) / step)
      k, next_t = k + left * step, nil
      cur.scheduled = cur.scheduled + left
      cur.dropped = cur.dropped + left
      bump(cur.notes, "not started: the generator fell behind", left)
    end
  end

  local function closed_loop()
    local vu = new_vu()
    local t0 = net.now()
    local n = 0
    while t0 < stop_at do
      n = n + 1
      if n % 64 == 0 then   -- a transaction that never waits must not starve the rest
        net.sleep(0)
        t0 = net.now()
      end
      cur.started = cur.started + 1
      local b0 = vu.bytes
      local ok, r, e = pcall(tx, vu)
      local t1 = outcome(vu, t0, t0, ok, r, e)
      cur.bytes = cur.bytes + (vu.bytes - b0)
      if not t1 or not ok then      -- no answer: do not spin on a refusing peer
        net.sleep(cfg.error_pause)
        t1 = net.now()
      end
      t0 = t1
    end
  end

  -- The end of an interval: a record, the callback, totals, reset.
  local last = start
  local function close_interval(now, silent)
    local len = now - last
    local rec = {
      t = now - start, interval = len,
      achieved_rate = len > 0 and cur.completed / len or 0,
      in_flight = in_flight,
      corrected_ms = M.percentiles_ms(hc), uncorrected_ms = M.percentiles_ms(hu),
    }
    if cfg.open then
      local s = cfg.schedule
      rec.asked_rate = len > 0 and (s:count(math.min(now - start, duration)) - s:count(last - start))
        / cfg.shards / len or 0
    end
    for name, v in pairs(cur) do rec[name] = v end
    if opts.on_interval and not silent then opts.on_interval(rec, hc, hu) end
    if kept and not silent then kept[#kept + 1] = rec end
    if progress then
      all_c:merge(hc)
      io.stderr:write(("\r\27[K%5.1fs/%gs  %8.1f/s  errors %d  dropped %d  p99 %s"):format(
        now - start, duration, rec.achieved_rate, total.failure + cur.failure,
        total.dropped + cur.dropped, fmt_ms(all_c:percentile(99))))
    else
      all_c:merge(hc)
    end
    all_u:merge(hu)
    M.add_counts(total, cur)
    cur = new_counts()
    hc:reset()
    hu:reset()
    last = now
  end

  local ticking = true
  local ticker = net.spawn(function()
    local n = 1
    while ticking do
      local t = start + n * cfg.interval
      local now = net.now()
      if t > now then net.sleep(t - now) end
      if not ticking then break end
      close_interval(net.now())
      n = n + 1
    end
  end)

  local drivers = {}
  if cfg.open then
    drivers[1] = net.spawn(scheduler)
  else
    -- this shard's share of the loops: the remainder goes to the first shards
    local n = cfg.concurrency // cfg.shards + (cfg.shard < cfg.concurrency % cfg.shards and 1 or 0)
    for i = 1, n do drivers[i] = net.spawn(closed_loop) end
  end
  -- Transactions still out at the end get `drain` seconds; what is left then
  -- is cancelled and counted, so the run ends on time whatever the peer does.
  if cfg.open then
    net.wait_all(drivers)
    local deadline = net.now() + cfg.drain
    while in_flight > 0 and net.now() < deadline do net.sleep(0.005) end
  else
    net.wait_all(drivers, math.max(0, stop_at + cfg.drain - net.now()))
    for _, t in ipairs(drivers) do
      if t:status() ~= "done" and t:status() ~= "failed" then
        t:cancel()
        bump(cur.errors, "unfinished at end")
        cur.failure = cur.failure + 1
      end
    end
  end
  for _, r in ipairs(runners) do
    if r.busy then
      r.task:cancel()
      bump(cur.errors, "unfinished at end")
      cur.failure = cur.failure + 1
      in_flight = in_flight - 1
    end
    r.signal:close()   -- an idle runner's wait returns nil: it ends
  end
  for _, r in ipairs(runners) do r.task:wait(1) end
  ticking = false
  ticker:cancel()
  if opts.finish then
    for _, vu in ipairs(vus) do opts.finish(vu) end
  end
  local finished = net.now()
  -- the last, partial interval; an empty one (the run ended on a tick) is left out
  if cur.started + cur.completed + cur.scheduled + cur.failure > 0 then
    close_interval(finished)
  else
    close_interval(finished, true)
  end
  if progress then io.stderr:write("\r\27[K") end

  local elapsed = finished - start
  local result = {
    model = cfg.open and "open" or "closed",
    duration = duration, elapsed = elapsed,
    counts = total, corrected = all_c, uncorrected = all_u, lag = cfg.open and lag or nil,
    first_error = first_error, intervals = kept,
    shard = cfg.shard, shards = cfg.shards,
    achieved_rate = total.completed / duration,
  }
  if cfg.open then
    result.asked_rate = cfg.schedule.total / cfg.shards / duration
    result.scheduled = cfg.schedule.total
  else
    result.concurrency = cfg.concurrency
  end
  return result
end

-- A finish function for transactions that keep a connection in vu[key]:
-- it closes that connection.
function M.closer(key)
  return function(vu)
    local c = vu[key]
    if c then
      vu[key] = nil
      c:close()
    end
  end
end

-- The summary record of a result (what the last JSON line holds).
function M.summary(result)
  local rec = {
    type = "summary", model = result.model, duration = result.duration, elapsed = result.elapsed,
    asked_rate = result.asked_rate, achieved_rate = result.achieved_rate,
    concurrency = result.concurrency, first_error = result.first_error,
    corrected_ms = M.percentiles_ms(result.corrected),
    uncorrected_ms = M.percentiles_ms(result.uncorrected),
    shards = result.shards,
    schedule_lag_ms = result.lag and M.percentiles_ms(result.lag) or nil,
  }
  for k, v in pairs(result.counts) do rec[k] = v end
  return rec
end

return M
