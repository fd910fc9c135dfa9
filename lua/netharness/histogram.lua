-- A latency histogram for load tests: a fixed set of buckets, so memory stays
-- the same however long a test runs. Exact to the microsecond below 1.024 ms;
-- above, 512 buckets per doubling (within 0.2 %), as HdrHistogram keeps three
-- significant digits. Percentiles report a bucket's highest value (never
-- above the largest recorded), as wrk and HdrHistogram do.
--
--   local histogram = require "netharness.histogram"
--   local h = histogram.new()
--   h:record(seconds)                      -- one latency, in seconds
--   h:percentile(99), h:count(), h:min(), h:max(), h:mean()   -- seconds
local M = {}

local Histogram = { __name = "netharness.Histogram" }
Histogram.__index = Histogram
M.Histogram = Histogram

local floor = math.floor

function M.new()
  return setmetatable({ counts = {}, n = 0, sum = 0, lo = math.huge, hi = 0 }, Histogram)
end

-- Microseconds -> bucket, and a bucket's highest microsecond value.
local function bucket(us)
  if us < 1024 then return us end
  local shift, v = 0, us
  while v >= 1024 do
    v = v >> 1
    shift = shift + 1
  end
  return 1024 + (shift - 1) * 512 + (v - 512)
end

local function highest(b)
  if b < 1024 then return b end
  local shift = (b - 1024) // 512 + 1
  local v = (b - 1024) % 512 + 512
  return ((v + 1) << shift) - 1
end

local mathtype, MAX_US = math.type, math.maxinteger >> 1

function Histogram:record(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then
    error("bad argument #1 to 'record' (number of seconds expected, got " .. tostring(seconds) .. ")", 2)
  end
  if seconds < 0 then seconds = 0 end
  local us = floor(seconds * 1e6 + 0.5)
  local b
  if us < 1024 then
    b = us -- (an integer: floor of a small float is one)
  else
    if mathtype(us) ~= "integer" then us = MAX_US end -- beyond any real latency
    b = bucket(us)
  end
  local counts = self.counts
  counts[b] = (counts[b] or 0) + 1
  self.n = self.n + 1
  self.sum = self.sum + seconds
  if seconds < self.lo then self.lo = seconds end
  if seconds > self.hi then self.hi = seconds end
end

function Histogram:count() return self.n end
function Histogram:min() return self.n > 0 and self.lo or 0 end
function Histogram:max() return self.hi end
function Histogram:mean() return self.n > 0 and self.sum / self.n or 0 end

-- The latency that p percent of the recorded ones do not exceed (0 < p <= 100).
function Histogram:percentile(p)
  if type(p) ~= "number" or not (p > 0 and p <= 100) then
    error("bad argument #1 to 'percentile' (number in (0, 100] expected, got " .. tostring(p) .. ")", 2)
  end
  if self.n == 0 then return 0 end
  local rank = math.ceil(self.n * p / 100)
  local buckets = {}
  for b in pairs(self.counts) do buckets[#buckets + 1] = b end
  table.sort(buckets)
  local seen = 0
  for _, b in ipairs(buckets) do
    seen = seen + self.counts[b]
    if seen >= rank then
      if seen == self.n then return self.hi end -- the top bucket: its highest value is the max
      return math.min(highest(b) / 1e6, self.hi)
    end
  end
  return self.hi
end

return M
