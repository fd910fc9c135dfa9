-- A load run's results on disk and back: JSON lines (one object per interval
-- and a summary last), an HdrHistogram interval log (.hlog, the corrected and
-- uncorrected histograms of every interval, tagged), and the exact merge of
-- any number of workers' files into one result.
--
--   local out = results.writer{ json = "run.jsonl", hlog = "run.hlog", keep = true }
--   local r = load.run{ ..., on_interval = out.on_interval }
--   out:finish(r)            -- the summary line; closes the files
--   out.intervals            -- the records, when keep (for a report; at most
--                            -- 4,096: a long run's are thinned, not all kept)
--
--   local merged = results.merge({ "w0", "w1" }, results.writer{ json = "all.jsonl" })
--   -- files w0.jsonl, w0.hlog, ...: merged interval by interval, streamed
--   -- { summary = record, intervals = { records }, corrected = H, uncorrected = H }
--
-- Merging never averages percentiles: counts are added, and percentiles come
-- from the histograms added together, interval by interval and in total.
local json = require "dkjson"
local histogram = require "netharness.histogram"
local load = require "netharness.load"

local M = {}

local function open(path)
  if not path then return nil end
  local f, err = io.open(path, "w")
  if not f then error("cannot write " .. path .. ": " .. tostring(err), 3) end
  f:setvbuf("line")
  return f
end

-- Empty tables in JSON are objects here ({} would be written as []).
local OBJECTS = { status = true, class = true, errors = true, notes = true, corrected_ms = true, uncorrected_ms = true }
local function encode(rec)
  local copy = {}
  for k, v in pairs(rec) do
    if OBJECTS[k] and next(v) == nil then v = setmetatable({}, { __jsontype = "object" }) end
    copy[k] = v
  end
  return json.encode(copy)
end
M.encode = encode

-- The interval records kept for a report: at most LIMIT, so a long run's
-- memory stays bounded. Past it, every other record is let go and from then
-- on only every 2nd (4th, ...) is kept: the charts lose resolution, not span.
local KEEP_LIMIT = 4096
local function keeper()
  local self = { list = {}, stride = 1, seen = 0 }
  function self.add(rec)
    self.seen = self.seen + 1
    if (self.seen - 1) % self.stride ~= 0 then return end
    local list = self.list
    list[#list + 1] = rec
    if #list >= KEEP_LIMIT then
      local half = {}
      for i = 1, #list, 2 do half[#half + 1] = list[i] end
      self.list, self.stride = half, self.stride * 2
    end
  end
  return self
end

function M.writer(opts)
  opts = opts or {}
  local self = { start_time = os.time() }
  local jf, hf = open(opts.json), open(opts.hlog)
  local hlog = hf and histogram.log_writer(hf, { start_time = self.start_time,
    comment = "netharness load: values in microseconds; tags corrected, uncorrected" })
  local kept = opts.keep and keeper()

  function self.on_interval(rec, hc, hu)
    rec.type = "interval"
    if jf then jf:write(encode(rec), "\n") end
    if hlog then
      hlog:write(hc, rec.t - rec.interval, rec.interval, "corrected")
      hlog:write(hu, rec.t - rec.interval, rec.interval, "uncorrected")
    end
    if kept then
      kept.add(rec)
      self.intervals = kept.list
    end
  end

  -- The summary line (a record as load.summary makes it); closes the files.
  function self.finish_record(_, rec)
    if jf then
      jf:write(encode(rec), "\n")
      jf:close()
      jf = nil
    end
    if hf then
      hf:close()
      hf = nil
    end
    self.intervals = kept and kept.list or nil
    return rec
  end

  -- The summary of a load.run result; closes the files.
  function self.finish(_, result)
    return self:finish_record(load.summary(result))
  end
  return self
end

local COUNT_KEYS = { "scheduled", "started", "completed", "success", "failure", "dropped", "bytes" }

local function counts_of(rec)
  local c = load.new_counts()
  for _, k in ipairs(COUNT_KEYS) do c[k] = rec[k] or 0 end
  for _, k in ipairs({ "status", "class", "errors", "notes" }) do
    for key, v in pairs(rec[k] or {}) do c[k][key] = v end
  end
  return c
end

-- One worker's files, read as the merge goes (a long run's intervals are
-- never all in memory).
local function open_worker(base)
  local jf = io.open(base .. ".jsonl")
  if not jf then return nil, base .. ".jsonl: cannot read" end
  local hf = io.open(base .. ".hlog")
  if not hf then
    jf:close()
    return nil, base .. ".hlog: cannot read"
  end
  return { base = base, jf = jf, hf = hf, jline = 0, hline = 0 }
end

local function close_worker(w)
  w.jf:close()
  w.hf:close()
end

-- What a record's fields must be: the merge adds and divides them, so a
-- wrongly typed one (a hand-edited or foreign file) is refused, named.
local NUMBER_KEYS = { "t", "interval", "in_flight", "asked_rate", "achieved_rate", "duration", "elapsed",
  "concurrency", "scheduled", "started", "completed", "success", "failure", "dropped", "bytes" }
local function check_record(rec)
  for _, k in ipairs(NUMBER_KEYS) do
    local v = rec[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or v == math.huge) then
      return ("%s: a non-negative number expected, got %s"):format(k, json.encode(v))
    end
  end
  if rec.shards ~= nil and (math.type(rec.shards) ~= "integer" or rec.shards < 1) then
    return "shards: a whole number >= 1 expected, got " .. json.encode(rec.shards)
  end
  for _, k in ipairs({ "status", "class", "errors", "notes" }) do
    local m = rec[k]
    if m ~= nil then
      if type(m) ~= "table" then return k .. ": an object expected, got " .. json.encode(m) end
      for key, v in pairs(m) do
        if type(v) ~= "number" or v ~= v or v < 0 then
          return ("%s.%s: a count expected, got %s"):format(k, tostring(key), json.encode(v))
        end
      end
    end
  end
end

-- The worker's next interval record, false at its summary (kept in
-- w.summary) or at the end, nil, why for a line that is not JSON or not a
-- record.
local function next_record(w)
  while true do
    local line = w.jf:read("l")
    if not line then return false end
    w.jline = w.jline + 1
    if line ~= "" then
      local rec, _, why = json.decode(line)
      if type(rec) ~= "table" then
        return nil, ("%s.jsonl:%d: not JSON (%s)"):format(w.base, w.jline, tostring(why))
      end
      why = check_record(rec)
      if why then return nil, ("%s.jsonl:%d: %s"):format(w.base, w.jline, why) end
      if rec.type == "summary" then
        w.summary = rec
        return false
      end
      return rec
    end
  end
end

-- The worker's next interval histogram tagged `tag`.
local function next_histogram(w, tag)
  while true do
    local line = w.hf:read("l")
    if not line then return nil, w.base .. ".hlog: ends before its JSON lines do" end
    w.hline = w.hline + 1
    local iv, why = histogram.log_line(line)
    if iv == nil then return nil, ("%s.hlog:%d: %s"):format(w.base, w.hline, why) end
    if iv and iv.tag == tag then return iv.histogram end
  end
end

-- Merge workers' outputs: each base names base.jsonl and base.hlog.
-- Intervals are matched by their number (workers start within moments of
-- each other and tick at the same interval), one at a time: out (a
-- results.writer, optional) gets each merged interval and the summary.
-- Returns { summary = record, corrected = H, uncorrected = H }, or nil, why.
function M.merge(bases, out)
  local workers = {}
  local function fail(why)
    for _, w in ipairs(workers) do close_worker(w) end
    return nil, why
  end
  for _, base in ipairs(bases) do
    local w, err = open_worker(base)
    if not w then return fail(err) end
    workers[#workers + 1] = w
  end
  local all_c, all_u = histogram.new(), histogram.new()
  local hc, hu = histogram.new(), histogram.new()
  local asked_total
  while true do
    local counts, any = load.new_counts(), false
    local t, len, asked, in_flight = 0, 0, nil, 0
    hc:reset()
    hu:reset()
    for _, w in ipairs(workers) do
      if not w.done then
        local rec, why = next_record(w)
        if rec == nil then return fail(why) end
        if rec == false then
          w.done = true
        else
          any = true
          load.add_counts(counts, counts_of(rec))
          t, len = math.max(t, rec.t or 0), math.max(len, rec.interval or 0)
          if rec.asked_rate then asked = (asked or 0) + rec.asked_rate end
          in_flight = in_flight + (rec.in_flight or 0)
          for _, pair in ipairs({ { "corrected", hc }, { "uncorrected", hu } }) do
            local h, herr = next_histogram(w, pair[1])
            if not h then return fail(herr) end
            pair[2]:merge(h)
          end
        end
      end
    end
    if not any then break end
    all_c:merge(hc)
    all_u:merge(hu)
    local rec = { type = "interval", t = t, interval = len, in_flight = in_flight, asked_rate = asked,
      achieved_rate = len > 0 and counts.completed / len or 0,
      corrected_ms = load.percentiles_ms(hc), uncorrected_ms = load.percentiles_ms(hu) }
    for key, v in pairs(counts) do rec[key] = v end
    if out then out.on_interval(rec, hc, hu) end
  end

  local total = load.new_counts()
  local summary = { type = "summary", shards = #workers }
  for _, w in ipairs(workers) do
    local s = w.summary
    if not s then return fail(w.base .. ".jsonl: no summary line (did the worker finish?)") end
    load.add_counts(total, counts_of(s))
    summary.model = s.model
    summary.duration = math.max(summary.duration or 0, s.duration or 0)
    summary.elapsed = math.max(summary.elapsed or 0, s.elapsed or 0)
    if s.asked_rate then asked_total = (asked_total or 0) + s.asked_rate end
    if s.concurrency then summary.concurrency = (summary.concurrency or 0) + s.concurrency // (s.shards or 1) end
    summary.first_error = summary.first_error or s.first_error
    if s.schedule_lag_ms and s.schedule_lag_ms.p99 then   -- the worst worker's lag: no histogram to merge
      summary.schedule_lag_ms = summary.schedule_lag_ms or {}
      for k, v in pairs(s.schedule_lag_ms) do
        summary.schedule_lag_ms[k] = math.max(summary.schedule_lag_ms[k] or 0, v)
      end
    end
  end
  for _, w in ipairs(workers) do close_worker(w) end
  for key, v in pairs(total) do summary[key] = v end
  summary.asked_rate = asked_total
  summary.achieved_rate = summary.duration and summary.duration > 0 and total.completed / summary.duration or 0
  summary.corrected_ms = load.percentiles_ms(all_c)
  summary.uncorrected_ms = load.percentiles_ms(all_u)
  if out then out:finish_record(summary) end
  return { summary = summary, corrected = all_c, uncorrected = all_u, intervals = out and out.intervals }
end

return M
