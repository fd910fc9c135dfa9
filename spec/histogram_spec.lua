local histogram = require "netharness.histogram"

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

  it("stays within 0.2% of the exact percentiles over six orders of magnitude", function()
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
      assert.is_true(math.abs(got - want) <= want * 0.002 + 1e-6, ("p%g: %g vs %g"):format(p, got, want))
    end
  end)

  it("keeps a bounded number of buckets however many values it takes", function()
    local h = histogram.new()
    assert.are.equal(1024, h:buckets())
    for i = 1, 200000 do h:record((i % 100000) * 1e-5) end -- 0 .. 1 s
    local buckets = h:buckets()
    assert.is_true(buckets <= 1024 + 10 * 512, "buckets: " .. buckets)
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
    assert.are.equal(1e30, h:percentile(100))
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
end)
