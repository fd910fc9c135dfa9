-- netharness.load: the open model's schedule and its honesty under a server
-- that stalls (coordinated omission), the closed model, outcomes by cause,
-- the cap on outstanding transactions, and the options' errors. Timing
-- bounds here are generous; the tight ones are make bench's (case 7).
local nh = require "netharness"
local load = require "netharness.load"
local schedule = require "netharness.load.schedule"
local load_http = require "netharness.load.http"
local S = require "support"

-- An HTTP server of ours that stalls: a request arriving in the first `stall`
-- seconds of every `period` waits for the rest of the stall.
local function stalling_server(period, stall)
  local t0 = nh.now()
  return S.http_server(function(_, res)
    local phase = (nh.now() - t0) % period
    if phase < stall then nh.sleep(stall - phase) end
    res.body = "ok"
  end)
end

describe("load schedule", function()
  it("puts arrival k at k / rate, and ramps by the integral of the rate", function()
    local s = schedule.new{ { duration = 2, rate = 100 } }
    assert.are.same({ 0, 0.01, 1.99 }, { s:at(0), s:at(1), s:at(199) })
    assert.is_nil(s:at(200))
    assert.are.equal(200, s.total)
    -- 0 -> 400/s over 2 s (400 arrivals), then 200/s for 1 s
    local r = schedule.new{ { duration = 2, target = 400 }, { duration = 1, rate = 200 } }
    assert.are.equal(600, r.total)
    assert.are.equal(0, r:at(0))
    assert.is_true(math.abs(r:at(100) - 1) < 1e-9)        -- 100 arrivals by t = 1 s
    assert.is_true(math.abs(r:at(400) - 2) < 1e-9)
    assert.is_true(math.abs(r:at(500) - 2.5) < 1e-9)
    assert.is_true(math.abs(r:count(1.5) - 225) < 1e-9)
    local last = -1
    for k = 0, 599 do   -- never earlier than the one before
      assert.is_true(r:at(k) >= last)
      last = r:at(k)
    end
    -- a ramp down ends where it should
    local down = schedule.new{ { duration = 1, rate = 100 }, { duration = 1, target = 0 } }
    assert.are.equal(150, down.total)
    assert.is_true(down:at(149) < 2)
  end)

  it("refuses malformed stages, naming the field", function()
    local function err(stages)
      local ok, e = pcall(schedule.new, stages)
      assert.is_false(ok)
      return e
    end
    assert.matches("stages: a non%-empty list", err({}))
    assert.matches("stages%[1%]%.duration", err({ { rate = 1 } }))
    assert.matches("give rate or target", err({ { duration = 1 } }))
    assert.matches("stages%[2%]%.rate", err({ { duration = 1, rate = 1 }, { duration = 1, rate = -1 } }))
    assert.matches("unknown field 'rates'", err({ { duration = 1, rates = 1 } }))
    assert.matches("stages%[1%]%.target", err({ { duration = 1, target = 0 / 0 } }))
  end)
end)

describe("load.run", function()
  it("corrects for coordinated omission where the closed model hides the stalls", function()
    S.run(function()
      -- 100 ms stalls every second: 10% of intended starts fall in one and
      -- wait for its rest, uniformly 0-100 ms, so the corrected p99 is near
      -- 90 ms and p95 near 50 ms.
      local ln, addr = stalling_server(1, 0.1)
      local tx, finish = load_http.transaction("http://" .. addr .. "/")
      local open = load.run{ rate = 400, duration = 5, transaction = tx, finish = finish }
      assert.are.equal(2000, open.counts.scheduled)
      assert.are.equal(2000, open.counts.success)
      local p99, p95 = open.corrected:percentile(99), open.corrected:percentile(95)
      -- (the upper bound leaves room for the ASan pass's pauses: one CI run
      -- saw 131 ms; what matters is that the stalls show, unlike below)
      assert.is_true(p99 > 0.070 and p99 < 0.150, "corrected p99 " .. p99)
      assert.is_true(p95 > 0.035 and p95 < 0.065, "corrected p95 " .. p95)
      assert.is_true(open.corrected:max() > 0.08, "max " .. open.corrected:max())

      local closed = load.run{ concurrency = 4, duration = 3, transaction = tx, finish = finish }
      assert.is_true(closed.counts.success > 1000, "closed: " .. closed.counts.success)
      -- each loop waits out each stall once: a handful of slow answers among
      -- thousands, so the closed model's p99 does not see them
      assert.is_true(closed.corrected:percentile(99) < 0.02, "closed p99 " .. closed.corrected:percentile(99))
      assert.is_true(closed.corrected:max() > 0.05)
      ln:close()
    end, 30)
  end)

  it("keeps the schedule under a slow server and counts what the cap drops", function()
    S.full_gc()
    local before = S.open_fds()
    S.run(function()
      local ln, addr = S.http_server(function(_, res) nh.sleep(0.05) res.body = "slow" end)
      local tx, finish = load_http.transaction("http://" .. addr .. "/")
      -- 200/s for 2 s: every arrival starts on time although each takes 50 ms
      local r = load.run{ rate = 200, duration = 2, transaction = tx, finish = finish, interval = 0.5 }
      assert.are.same({ 400, 400, 400, 0 }, { r.counts.scheduled, r.counts.started, r.counts.success, r.counts.dropped })
      assert.are.equal(200, r.asked_rate)
      assert.are.equal(200, r.achieved_rate)
      assert.is_true(r.uncorrected:percentile(50) >= 0.05)
      -- at most 5 outstanding: 5 per 50 ms is 100/s, so about half is dropped
      r = load.run{ rate = 200, duration = 2, max_in_flight = 5, transaction = tx, finish = finish }
      assert.are.equal(400, r.counts.scheduled)
      assert.are.equal(400, r.counts.started + r.counts.dropped)
      assert.is_true(r.counts.dropped > 100 and r.counts.dropped < 300, "dropped " .. r.counts.dropped)
      assert.are.equal(r.counts.started, r.counts.success)
      ln:close()
    end, 20)
    S.full_gc()
    assert.is_true(S.open_fds() <= before, "fds: " .. before .. " -> " .. S.open_fds())   -- connections, signals closed
  end)

  it("counts every outcome by its cause", function()
    S.run(function()
      local ln, addr = S.http_server(function(req, res)
        res.status_code = tonumber(req.url.path:match("%d+")) or 200
        res.body = "x"
      end)
      local refused = "127.0.0.1:" .. S.free_port("tcp")
      local tx, finishes = {}, {}
      for _, code in ipairs({ 200, 302, 404, 503 }) do
        tx[code], finishes[#finishes + 1] = load_http.transaction(("http://%s/%d"):format(addr, code))
      end
      tx.refused = load_http.transaction("http://" .. refused .. "/")
      local n = 0
      local r = load.run{ rate = 1000, duration = 0.8, transaction = function(vu)
        n = n + 1
        local k = n % 8
        if k == 0 then return tx[200](vu) end
        if k == 1 then return tx[302](vu) end
        if k == 2 then return tx[404](vu) end
        if k == 3 then return tx[503](vu) end
        if k == 4 then return tx.refused(vu) end
        if k == 5 then return false, "wrong answer" end
        if k == 6 then error("scenario bug") end
        return true
      end, finish = function(vu)
        for _, f in ipairs(finishes) do f(vu) end
      end }
      local c = r.counts
      assert.are.equal(800, c.completed)
      assert.are.same({ ["200"] = 100, ["302"] = 100, ["404"] = 100, ["503"] = 100 }, c.status)
      assert.are.same({ ["2xx"] = 100, ["3xx"] = 100, ["4xx"] = 100, ["5xx"] = 100 }, c.class)
      assert.are.same({ ECONNREFUSED = 100, ["wrong answer"] = 100, ["lua error"] = 100 }, c.errors)
      assert.are.equal(300, c.success)    -- 200, 302 and true
      assert.are.equal(500, c.failure)
      -- the message of the first failure to end: a refused dial or the bug
      assert.is_truthy(r.first_error:find("connection refused") or r.first_error:find("scenario bug"), r.first_error)
      -- what counts as success is the scenario's to say
      local r2 = load.run{ rate = 200, duration = 0.5, transaction = tx[404], success = function(code) return code == 404 end }
      assert.are.equal(100, r2.counts.success)
      ln:close()
    end, 20)
  end)

  it("ramps through stages and reports the asked and achieved rate per interval", function()
    S.run(function()
      local recs = {}
      local r = load.run{ stages = { { duration = 1, target = 400 }, { duration = 1, rate = 400 } },
        interval = 0.5, transaction = function() return true end,
        on_interval = function(rec, hc, hu)
          assert.are.equal(rec.completed, hc:count())
          assert.are.equal(hc:count(), hu:count())
          recs[#recs + 1] = rec
        end }
      assert.are.equal(600, r.counts.scheduled)
      assert.are.equal(600, r.counts.success)
      assert.is_true(#recs >= 4 and #recs <= 5, #recs .. " intervals")
      for i, want in ipairs({ 100, 300, 400, 400 }) do   -- intervals end a moment late
        assert.is_true(math.abs(recs[i].asked_rate - want) < want * 0.05, i .. ": " .. recs[i].asked_rate)
      end
      local sum = 0
      for _, rec in ipairs(recs) do
        sum = sum + rec.completed
        assert.are.equal("table", type(rec.corrected_ms))
      end
      assert.are.equal(600, sum)
      assert.is_nil(r.intervals)   -- none kept unless asked: memory stays bounded
    end, 20)
  end)

  it("ends on time whatever the transactions do", function()
    S.run(function()
      local t0 = nh.now()
      local finished = 0
      local r = load.run{ concurrency = 3, duration = 0.3, drain = 0.2,
        transaction = function() nh.sleep(30) return true end,
        finish = function() finished = finished + 1 end }
      assert.is_true(nh.now() - t0 < 2, "took " .. (nh.now() - t0))
      assert.are.equal(3, r.counts.errors["unfinished at end"])
      assert.are.equal(3, finished)
      t0 = nh.now()
      r = load.run{ rate = 50, duration = 0.3, drain = 0.2, transaction = function() nh.sleep(30) return true end }
      assert.is_true(nh.now() - t0 < 2)
      assert.are.equal(15, r.counts.started)
      assert.are.equal(15, r.counts.errors["unfinished at end"])
      assert.are.equal(0, nh.live_tasks() - 1)   -- only this spec's own task is left
    end, 10)
  end)

  it("says when the generator itself falls behind, and still ends on time", function()
    S.run(function()
      local t0 = nh.now()
      -- each transaction burns 2 ms of CPU without waiting: 1,000/s cannot be kept
      local r = load.run{ rate = 1000, duration = 0.5, drain = 0.1, transaction = function()
        local until_ = nh.now() + 0.002
        while nh.now() < until_ do end
        return true
      end }
      assert.is_true(nh.now() - t0 < 2, "took " .. (nh.now() - t0))
      assert.are.equal(500, r.counts.scheduled)
      local missed = r.counts.notes["not started: the generator fell behind"]
      assert.is_true(missed and missed > 100, "missed " .. tostring(missed))
      assert.are.equal(500, r.counts.started + r.counts.dropped)
      assert.is_true(r.lag:percentile(99) > 0.05)   -- the schedule's lag shows it
      assert.matches("p99", require("dkjson").encode(load.summary(r).schedule_lag_ms))
    end, 10)
  end)

  it("keeps starting transactions for a slow server after a hiccup of its own", function()
    S.run(function()
      -- a 50 ms stall of the whole process (a collection, a busy task) while
      -- every runner waits half a second on the server: the arrivals due
      -- meanwhile must start as soon as the loop runs again, not wait for
      -- runners to come back
      nh.spawn(function()
        nh.sleep(0.3)
        local until_ = nh.now() + 0.05
        while nh.now() < until_ do end
      end)
      local r = load.run{ rate = 100, duration = 1, transaction = function() nh.sleep(0.5) return true end }
      assert.are.same({ 100, 100 }, { r.counts.started, r.counts.success })
      assert.is_true(r.lag:max() < 0.25, "start lag max " .. r.lag:max())
    end, 10)
  end)

  it("lets the loop run beside transactions that never wait", function()
    S.run(function()
      local ticks = 0
      local r = load.run{ concurrency = 3, duration = 0.5, interval = 0.1,
        transaction = function() return true end, on_interval = function() ticks = ticks + 1 end }
      assert.is_true(ticks >= 4, ticks .. " intervals")
      assert.is_true(r.counts.success > 1000)
    end, 10)
  end)

  it("pauses a closed loop after an error instead of spinning", function()
    S.run(function()
      local refused = "http://127.0.0.1:" .. S.free_port("tcp") .. "/"
      local tx = load_http.transaction(refused)
      local r = load.run{ concurrency = 2, duration = 0.5, transaction = tx, error_pause = 0.05 }
      assert.is_true(r.counts.errors.ECONNREFUSED <= 2 * (0.5 / 0.05 + 2), "tries " .. r.counts.errors.ECONNREFUSED)
      assert.is_nil(r.corrected:percentile(50))   -- no answers, no latency
    end, 10)
  end)

  it("says which option is wrong", function()
    local tx = function() return true end
    local function err(opts)
      local ok, e = pcall(load.run, opts)
      assert.is_false(ok)
      return e
    end
    assert.matches("transaction: a function", err{ rate = 1, duration = 1 })
    assert.matches("not both", err{ rate = 1, concurrency = 2, duration = 1, transaction = tx })
    assert.matches("duration", err{ rate = 10, transaction = tx })
    assert.matches("rate: a number >= 0", err{ rate = "fast", duration = 1, transaction = tx })
    assert.matches("concurrency: a whole number", err{ concurrency = 1.5, duration = 1, transaction = tx })
    assert.matches("unknown option 'durration'", err{ rate = 1, durration = 1, transaction = tx })
    assert.matches("shard: must be below", err{ rate = 1, duration = 1, shard = 2, shards = 2, transaction = tx })
    assert.matches("max_in_flight", err{ rate = 1, duration = 1, max_in_flight = 0, transaction = tx })
  end)

  it("splits a schedule between shards without a gap or a double", function()
    S.run(function()
      local starts = {}
      for shard = 0, 2 do
        local r = load.run{ rate = 300, duration = 0.5, shard = shard, shards = 3,
          transaction = function(vu) starts[#starts + 1] = vu.id return true end,
          on_record = function() end }
        assert.are.same({ 50, 50 }, { r.counts.scheduled, r.counts.started })
        assert.are.equal(100, r.asked_rate)
      end
      assert.are.equal(150, #starts)   -- 50 + 50 + 50 of the one schedule
      local s = schedule.new{ { duration = 0.5, rate = 300 } }
      local mine = {}
      for k = 1, 149, 3 do mine[#mine + 1] = s:at(k) end   -- shard 1's arrivals
      assert.are.equal(50, #mine)
    end, 10)
  end)
end)

describe("net.signal", function()
  it("parks one task until notified, until a time, or until closed", function()
    S.run(function()
      local s <close> = nh.signal()
      local t = nh.now() + 0.02
      assert.is_false(s:wait(t))            -- the time passed
      assert.is_true(nh.now() >= t)
      assert.is_false(s:wait(0))            -- a time past: at once
      s:notify()
      assert.is_true(s:wait(nh.now() + 5))  -- a notification waits for the next wait
      local waiter = nh.spawn(function() return s:wait() end)
      S.parked({ waiter })
      assert.has_error(function() s:wait(nh.now() + 1) end, "signal: another task is waiting on it")
      assert.has_error(function() s:wait(0 / 0) end)
      s:notify()
      assert.are.same({ true, true }, { waiter:wait(2) })
      waiter = nh.spawn(function() return s:wait(nh.now() + 30) end)
      S.parked({ waiter })
      s:close()
      assert.are.same({ true, nil }, { waiter:wait(2) })   -- closed: nil, at once
      assert.is_nil(s:wait())
      s:notify()                                          -- harmless once closed
    end, 10)
  end)

  it("is closed by the collector", function()
    S.full_gc()   -- what earlier specs left for the collector goes first
    local before = S.open_fds()
    S.run(function()
      local live = {}
      for i = 1, 100 do
        live[i] = nh.signal()
        live[i]:wait(nh.now() + 0.001)
      end
      assert.is_true(S.open_fds() <= before + 1, "one timerfd for them all")
    end)
    S.full_gc()
    assert.is_true(S.open_fds() <= before, "fds: " .. before .. " -> " .. S.open_fds())   -- it goes with the last
  end)
end)

describe("load.run at rates past what it can start (issue 27)", function()
  it("counts the arrivals it never started arithmetically: -R 1e9 ends on time", function()
    S.run(function()
      local t0 = nh.now()
      local r = load.run{ rate = 1e9, duration = 0.3, drain = 0.1, max_in_flight = 4,
                          transaction = function() nh.sleep(0.01) return true end }
      local took = nh.now() - t0
      assert.is_true(took < 5, "took " .. took .. " s")
      -- every arrival of the schedule is counted: started, or dropped
      assert.are.equal(3e8, r.counts.scheduled)
      assert.is_true(r.counts.dropped > 2.9e8)
      assert.is_true(r.counts.notes["not started: the generator fell behind"] > 0)
    end, 30)
  end)

  it("refuses a schedule of more arrivals than floats can number", function()
    assert.has_error(function() schedule.new{ { duration = 10, rate = 1e15 } } end,
      "stages: 1e+16 arrivals in all is more than a schedule can number (2^53)")
  end)
end)
