-- A load run's results on disk and back: JSON lines (one object per interval
-- and a summary last), an HdrHistogram interval log (.hlog, the corrected and
-- uncorrected histograms of every interval, tagged), and the exact merge of
-- any number of workers' files into one result.
--
--   local out = results.writer{ json = "run.jsonl", hlog = "run.hlog", keep = true }
--   local r = load.run{ ..., on_interval = out.on_interval }
--   out:finish(r)            -- the summary line; closes the files
--   out.intervals            -- the records, when keep (for a report)
--
--   local merged = results.merge({ "w0", "w1" })   -- files w0.jsonl, w0.hlog, ...
--   results.write_files("all.jsonl", "all.hlog", merged)
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

function M.writer(opts)
  opts = opts or {}
  local self = { intervals = opts.keep and {} or nil, start_time = os.time() }
  local jf, hf = open(opts.json), open(opts.hlog)
  local hlog = hf and histogram.log_writer(hf, { start_time = self.start_time,
    comment = "netharness load: values in microseconds; tags corrected, uncorrected" })
  local meta = opts.meta or {}

  function self.on_interval(rec, hc, hu)
    rec.type = "interval"
    if jf then jf:write(encode(rec), "\n") end
    if hlog then
      hlog:write(hc, rec.t - rec.interval, rec.interval, "corrected")
      hlog:write(hu, rec.t - rec.interval, rec.interval, "uncorrected")
    end
    if self.intervals then self.intervals[#self.intervals + 1] = rec end
  end

  function self.finish(_, result)
    local rec = load.summary(result)
    for k, v in pairs(meta) do rec[k] = v end
    if jf then
      jf:write(encode(rec), "\n")
      jf:close()
    end
    if hf then hf:close() end
    return rec
  end
  return self
end

-- Read one worker's JSON lines: its interval records and summary.
local function read_jsonl(path)
  local f, err = io.open(path)
  if not f then return nil, err end
  local intervals, summary = {}, nil
  local n = 0
  for line in f:lines() do
    n = n + 1
    if line ~= "" then
      local rec, _, why = json.decode(line)
      if type(rec) ~= "table" then
        f:close()
        return nil, ("%s:%d: not JSON (%s)"):format(path, n, tostring(why))
      end
      if rec.type == "summary" then summary = rec else intervals[#intervals + 1] = rec end
    end
  end
  f:close()
  if not summary then return nil, path .. ": no summary line (did the worker finish?)" end
  return { intervals = intervals, summary = summary }
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

-- Merge workers' outputs: each base names base.jsonl and base.hlog.
-- Intervals are matched by their number (workers start within moments of
-- each other and tick at the same interval).
function M.merge(bases)
  local total = load.new_counts()
  local all_c, all_u = histogram.new(), histogram.new()
  local per = {}   -- [i] = { counts, hc, hu, t, interval, asked, n }
  local summary = { type = "summary", shards = 0 }
  local first_error
  for _, base in ipairs(bases) do
    local w, err = read_jsonl(base .. ".jsonl")
    if not w then return nil, err end
    local f = io.open(base .. ".hlog")
    if not f then return nil, base .. ".hlog: cannot read" end
    local log, why = histogram.read_log(f:read("a"))
    f:close()
    if not log then return nil, base .. ".hlog: " .. why end
    local s = w.summary
    load.add_counts(total, counts_of(s))
    summary.shards = summary.shards + 1
    summary.model = s.model
    summary.duration = math.max(summary.duration or 0, s.duration or 0)
    summary.elapsed = math.max(summary.elapsed or 0, s.elapsed or 0)
    summary.asked_rate = s.asked_rate and (summary.asked_rate or 0) + s.asked_rate
    summary.concurrency = s.concurrency and (summary.concurrency or 0) + s.concurrency // (s.shards or 1)
    first_error = first_error or s.first_error
    for i, rec in ipairs(w.intervals) do
      local slot = per[i]
      if not slot then
        slot = { counts = load.new_counts(), hc = histogram.new(), hu = histogram.new(),
          t = rec.t, interval = rec.interval, asked = 0, in_flight = 0 }
        per[i] = slot
      end
      load.add_counts(slot.counts, counts_of(rec))
      slot.asked = slot.asked + (rec.asked_rate or 0)
      slot.in_flight = slot.in_flight + (rec.in_flight or 0)
      slot.t, slot.interval = math.max(slot.t, rec.t), math.max(slot.interval, rec.interval)
    end
    -- the log has two lines per interval, in order: corrected, uncorrected
    local k = { corrected = 0, uncorrected = 0 }
    for _, iv in ipairs(log.intervals) do
      if iv.tag == "corrected" or iv.tag == "uncorrected" then
        k[iv.tag] = k[iv.tag] + 1
        local slot = per[k[iv.tag]]
        if slot then
          slot[iv.tag == "corrected" and "hc" or "hu"]:merge(iv.histogram)
        end
        ;(iv.tag == "corrected" and all_c or all_u):merge(iv.histogram)
      end
    end
  end
  local intervals = {}
  for i, slot in ipairs(per) do
    local rec = { type = "interval", t = slot.t, interval = slot.interval, in_flight = slot.in_flight,
      achieved_rate = slot.interval > 0 and slot.counts.completed / slot.interval or 0,
      asked_rate = summary.asked_rate and slot.asked or nil,
      corrected_ms = load.percentiles_ms(slot.hc), uncorrected_ms = load.percentiles_ms(slot.hu) }
    for key, v in pairs(slot.counts) do rec[key] = v end
    intervals[i] = rec
  end
  for key, v in pairs(total) do summary[key] = v end
  summary.achieved_rate = summary.duration and summary.duration > 0 and total.completed / summary.duration or 0
  summary.corrected_ms = load.percentiles_ms(all_c)
  summary.uncorrected_ms = load.percentiles_ms(all_u)
  summary.first_error = first_error
  return { summary = summary, intervals = intervals, corrected = all_c, uncorrected = all_u }
end

-- Write a merged result's JSON lines and .hlog (either path may be nil).
function M.write_files(json_path, hlog_path, merged)
  local jf = open(json_path)
  if jf then
    for _, rec in ipairs(merged.intervals) do jf:write(encode(rec), "\n") end
    jf:write(encode(merged.summary), "\n")
    jf:close()
  end
  local hf = open(hlog_path)
  if hf then
    local w = histogram.log_writer(hf, { comment = "netharness load, merged: values in microseconds" })
    w:write(merged.corrected, 0, merged.summary.elapsed or 0, "corrected")
    w:write(merged.uncorrected, 0, merged.summary.elapsed or 0, "uncorrected")
    hf:close()
  end
end

return M
