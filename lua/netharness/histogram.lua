-- A latency histogram for load tests, laid out as HdrHistogram's with three
-- significant digits in microseconds: bounded memory however long a test
-- runs, exact to the microsecond below 2.048 ms and within 0.1 % above.
-- Percentiles report a bucket's highest value (never above the largest
-- recorded), as wrk and HdrHistogram do. The type is C (core/histogram.c):
-- a load script records once per request.
--
--   local histogram = require "netharness.histogram"
--   local h = histogram.new()
--   h:record(seconds)                      -- one latency, in seconds
--   h:percentile(99), h:count(), h:min(), h:max(), h:mean()   -- seconds
--   h:buckets()                            -- counters held (8 bytes each)
--   h:merge(other), h:reset()              -- exact merge; empty again
--   h:export(), histogram.import(text)     -- HdrHistogram's base64 V2 form
-- An empty histogram answers nil (no percentile, min, max or mean).
--
-- Interval logs (.hlog), as HdrHistogram's HistogramLogWriter writes them and
-- its HistogramLogProcessor and plotters read them:
--   local w = histogram.log_writer(file, { start_time = os.time() })
--   w:write(h, start_offset, length [, tag])
--   local log = histogram.read_log(text)   -- { start_time, base_time, intervals = {
--                                          --   { tag, start, length, max, histogram }, ... } }
--   histogram.log_line(line)               -- one line of it: an interval, or false
local net = require "netharness"

local M = { new = net.new_histogram, import = net.import_histogram }

local Writer = {}
Writer.__index = Writer

-- file: anything with :write (an open file); opts.start_time: the wall-clock
-- seconds the offsets count from (default now), as the log's StartTime.
function M.log_writer(file, opts)
  opts = opts or {}
  local start = opts.start_time or os.time()
  if math.type(start) == nil then error("start_time: seconds since the epoch expected", 2) end
  file:write("#[Histogram log format version 1.3]\n")
  file:write(("#[StartTime: %.3f (seconds since epoch), %s]\n"):format(start,
    os.date("!%a %b %d %H:%M:%S UTC %Y", math.floor(start))))
  if opts.comment then file:write("#[", tostring(opts.comment):gsub("[\r\n]", " "), "]\n") end
  file:write('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n')
  return setmetatable({ file = file }, Writer)
end

-- One interval: its start (seconds after the log's StartTime), its length
-- and histogram; Interval_Max is in seconds (values are microseconds, so
-- HdrHistogram's default unit ratio of 1e6 reads it right), to the microsecond.
function Writer:write(h, start_offset, length, tag)
  local line = ("%.3f,%.3f,%.6f,%s\n"):format(start_offset, length, h:max() or 0, h:export())
  if tag then
    if type(tag) ~= "string" or tag:find("[,%s]") then error("tag: a word without commas or spaces expected", 2) end
    line = "Tag=" .. tag .. "," .. line
  end
  self.file:write(line)
end

-- One line of an interval log: an interval { tag, start, length, max,
-- histogram }; false for a comment, a header or a blank line (with what a
-- StartTime or BaseTime comment says); nil, why when it is neither.
function M.log_line(line)
  line = line:gsub("\r$", "")
  local start = line:match("^#%[StartTime: ([%d.]+)")
  local base = line:match("^#%[BaseTime: ([%d.]+)")
  if start or base then return false, start and "start_time" or "base_time", tonumber(start or base) end
  if line == "" or line:find("^#") or line:find('^"StartTimestamp"') then return false end
  local tag, rest = line:match("^Tag=([^,]*),(.*)$")
  rest = rest or line
  local s, len, max, text64 = rest:match("^([%d.]+),([%d.]+),([%d.]+),(%S+)$")
  if not s then return nil, "not an interval log line" end
  local h, err = M.import(text64, tonumber(max))
  if not h then return nil, err end
  return { tag = tag, start = tonumber(s), length = tonumber(len), max = tonumber(max), histogram = h }
end

-- Read an interval log; nil, "line N: why" when it is not one.
function M.read_log(text)
  local log = { intervals = {} }
  local n = 0
  for line in text:gmatch("[^\n]*") do
    n = n + 1
    local iv, what, value = M.log_line(line)
    if iv then
      log.intervals[#log.intervals + 1] = iv
    elseif iv == nil then
      return nil, ("line %d: %s"):format(n, what)
    elseif what then
      log[what] = value
    end
  end
  return log
end

return M
