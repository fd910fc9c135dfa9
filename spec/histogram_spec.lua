local histogram = require "netharness.histogram"
local S = require "support"

-- The exact percentile of a sorted list, by the same rank rule.
local function exact(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p / 100))]
end

describe("latency histogram", function()
  it("is exact to the microsecond below a millisecond", function()
    local h = histogram.new()
    for us = 1, 1000 do h:record(us / 1e6) end
    assert.are.equal(1000, h:count())
    assert.are.equal(500 / 1e6, h:percentile(50))
    assert.are.equal(990 / 1e6, h:percentile(99))
    assert.are.equal(1000 / 1e6, h:percentile(100))
    assert.are.equal(1 / 1e6, h:min())
    assert.are.equal(1000 / 1e6, h:max())
    assert.is_true(math.abs(h:mean() - 500.5 / 1e6) < 1e-12)
  end)

  it("stays within 0.1% of the exact percentiles over six orders of magnitude", function()
    math.randomseed(4242)
    local h, all = histogram.new(), {}
    for i = 1, 20000 do
      local s = 10 ^ (math.random() * 6 - 6) -- 1 us .. 1 s, log-uniform
      h:record(s)
      all[i] = s
    end
    table.sort(all)
    for _, p in ipairs({ 1, 10, 50, 75, 90, 99, 99.9, 100 }) do
      local want, got = exact(all, p), h:percentile(p)
      assert.is_true(got >= want - 0.5e-6, ("p%g: %g below %g"):format(p, got, want))
      assert.is_true(math.abs(got - want) <= want * 0.001 + 1e-6, ("p%g: %g vs %g"):format(p, got, want))
    end
  end)

  it("keeps a bounded number of buckets however many values it takes", function()
    local h = histogram.new()
    assert.are.equal(2048, h:buckets())
    for i = 1, 200000 do h:record((i % 100000) * 1e-5) end -- 0 .. 1 s
    local buckets = h:buckets()
    assert.is_true(buckets <= 2048 + 10 * 1024, "buckets: " .. buckets)
    assert.are.equal(200000, h:count())
    for i = 1, 1000 do h:record(i * 1e-5) end -- values seen before: no more
    assert.are.equal(buckets, h:buckets())
  end)

  it("takes zero and absurd values, and refuses what is not a latency", function()
    local h = histogram.new()
    assert.are.same({}, { h:percentile(50), h:min(), h:max(), h:mean() })   -- empty: nil, not 0
    h:record(0)
    h:record(1e30)
    assert.are.equal(2, h:count())
    assert.are.equal(0, h:percentile(50))
    assert.are.equal((2 ^ 62 - 1) / 1e6, h:percentile(100))   -- the largest it tracks
    assert.has_error(function() h:record("fast") end,
      "bad argument #1 to 'record' (number of seconds expected, got fast)")
    assert.has_error(function() h:record(-1) end,
      "bad argument #1 to 'record' (a latency cannot be negative (got -1.0))")
    assert.has_error(function() h:record(0 / 0) end)
    assert.has_error(function() h:percentile(0) end)
    assert.has_error(function() h:percentile(101) end)
    assert.are.equal(2, h:count())
  end)

  it("merges exactly and resets", function()
    local all, a, b = histogram.new(), histogram.new(), histogram.new()
    for i = 1, 30000 do
      local v = (i * 7919 % 100000) * 2e-5
      all:record(v)
      ;(i % 2 == 0 and a or b):record(v)
    end
    assert.are.equal(a, a:merge(b))
    assert.are.same({ all:count(), all:min(), all:max() }, { a:count(), a:min(), a:max() })
    assert.is_true(math.abs(all:mean() - a:mean()) < 1e-9)
    for p = 1, 100 do assert.are.equal(all:percentile(p), a:percentile(p)) end
    assert.has_error(function() a:merge({}) end)
    assert.are.equal(a, a:reset())
    assert.are.equal(0, a:count())
    assert.is_nil(a:percentile(99))
  end)

  it("exports and imports HdrHistogram's V2 form exactly", function()
    local h = histogram.new()
    for i = 1, 40000 do h:record((i * 7919 % 100003) * 3e-5) end
    local text = h:export()
    assert.matches("^HISTF[%w+/=]+$", text)
    local back = assert(histogram.import(text, h:max()))
    assert.are.same({ h:count(), h:min(), h:max() }, { back:count(), back:min(), back:max() })
    for p = 0.5, 100, 0.5 do assert.are.equal(h:percentile(p), back:percentile(p)) end
    assert.are.equal(text, back:export())
    -- without the exact maximum, the largest value is its bucket's lowest
    assert.is_true(math.abs(assert(histogram.import(text)):max() - h:max()) < h:max() * 0.001)
    assert.are.equal(0, assert(histogram.import(histogram.new():export())):count())
  end)

  it("refuses a text that is not a histogram, saying why", function()
    local text = histogram.new():export()
    assert.are.same({ nil, "histogram import: not base64" }, { histogram.import("HISTF!!") })
    assert.are.same({ nil, "histogram import: not an HdrHistogram V2 compressed histogram" },
      { histogram.import("AAAAAAAA") })
    local cut, err = histogram.import(text:sub(1, #text - 8))
    assert.is_nil(cut)
    assert.matches("^histogram import: ", err)
    assert.has_error(function() histogram.import() end)
  end)

  it("refuses hostile counts: 2^63 (the varint of INT64_MIN) and totals past 2^63 - 1", function()
    -- Made by our encoder from counts of 2^63 at 100 us, and of 2^63 - 1
    -- and 5: before issue 27 the first aborted the UBSan build, the second
    -- imported with count() = -2.
    local min = "HISTFAAAACV4nJNpmSzMwMDAzQABzFCaEURcm7yEwf4DROA4438YAAC59Q5R"
    local over = "HISTFAAAACl4nJNpmSzMwMDAxwABzFCaEURcm7yEwf4DROA447//UHCUkQsA58QPIw=="
    assert.are.same({ nil, "histogram import: histogram counts are corrupt" }, { histogram.import(min) })
    assert.are.same({ nil, "histogram import: histogram counts overflow" }, { histogram.import(over) })
  end)

  it("writes interval logs that it and HdrHistogram's own reader read back", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local w = histogram.log_writer(f, { start_time = 1700000000.5 })
    local a, b = histogram.new(), histogram.new()
    for i = 1, 1000 do a:record(i * 1e-4); b:record(i * 2e-4) end
    w:write(a, 0, 1, "corrected")
    w:write(b, 1, 1)
    assert.has_error(function() w:write(a, 2, 1, "two words") end)
    f:close()
    local text = S.read_file(path)
    assert.matches('^#%[Histogram log format version 1.3%]\n#%[StartTime: 1700000000.500 ', text)
    local log = assert(histogram.read_log(text))
    assert.are.equal(1700000000.5, log.start_time)
    assert.are.equal(2, #log.intervals)
    assert.are.equal("corrected", log.intervals[1].tag)
    assert.is_nil(log.intervals[2].tag)
    assert.are.equal(1, log.intervals[2].start)
    assert.are.equal(a:percentile(99), log.intervals[1].histogram:percentile(99))
    assert.are.equal(b:max(), log.intervals[2].histogram:max())
    local bad, why = histogram.read_log(text .. "0.1,oops\n")
    assert.is_nil(bad)
    assert.matches("^line 6: ", why)

    if not S.execute("test -d spec/npm/node_modules/hdr-histogram-js") then
      os.remove(path)
      pending("npm packages not installed (make test installs them into spec/npm)")
      return
    end
    local p = S.popen("node spec/npm/hdr_read.js " .. S.quote(path))
    local json = require("dkjson").decode(p:read("a"))
    p:close()
    os.remove(path)
    assert.are.equal(1700000000500, json.start_ms)
    assert.are.equal(2, #json.intervals)
    assert.are.equal("corrected", json.intervals[1].tag)
    for i, h in ipairs({ a, b }) do   -- their values are our microseconds
      assert.are.equal(1000, json.intervals[i].count)
      assert.are.equal(h:percentile(50) * 1e6, json.intervals[i].p50)
      assert.are.equal(h:percentile(99) * 1e6, json.intervals[i].p99)
    end
  end)
end)
