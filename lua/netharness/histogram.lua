-- A latency histogram for load tests: a fixed set of buckets, so memory stays
-- bounded however long a test runs. Exact to the microsecond below 1.024 ms;
-- above, 512 buckets per doubling (within 0.2 %), as HdrHistogram keeps three
-- significant digits. Percentiles report a bucket's highest value (never
-- above the largest recorded), as wrk and HdrHistogram do. The type is C
-- (core/histogram.c): a load script records once per request.
--
--   local histogram = require "netharness.histogram"
--   local h = histogram.new()
--   h:record(seconds)                      -- one latency, in seconds
--   h:percentile(99), h:count(), h:min(), h:max(), h:mean()   -- seconds
--   h:buckets()                            -- counters held (8 bytes each)
--   h:merge(other), h:reset()              -- exact merge; empty again
-- An empty histogram answers nil (no percentile, min, max or mean).
local net = require "netharness"

return { new = net.new_histogram }
