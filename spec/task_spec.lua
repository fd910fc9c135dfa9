local nh = require "netharness"
local S = require "support"

describe("tasks", function()
  it("spawn runs a function with arguments; wait returns true and its results", function()
    local t = nh.spawn(function(a, b) return a + b, "sum", nil end, 2, 3)
    local ok, v, label, last = t:wait(1)
    assert.is_true(ok)
    assert.are.equal(5, v)
    assert.are.equal("sum", label)
    assert.is_nil(last)
    assert.are.equal("done", t:status())
    -- waiting again gives the same outcome
    assert.are.same({ true, 5, "sum" }, { t:wait() })
  end)

  it("does not start a task until the loop runs, like a goroutine", function()
    local started = false
    local t = nh.spawn(function() started = true end)
    assert.is_false(started)
    assert.are.equal("new", t:status())
    assert(t:wait(1))
    assert.is_true(started)
  end)

  it("reports a failing task with its traceback and keeps the others running", function()
    local reported = {}
    local previous = nh.on_task_error(function(task, msg) reported[#reported + 1] = { task, msg } end)
    local bad = nh.spawn(function()
      nh.sleep(0.01)
      error("boom in task")
    end)
    local good = nh.spawn(function()
      nh.sleep(0.03)
      return "still fine"
    end)
    local ok, msg = bad:wait(1)
    assert.is_false(ok)
    assert.matches("boom in task", msg)
    assert.matches("stack traceback", msg)
    assert.are.same({ true, "still fine" }, { good:wait(1) })
    nh.on_task_error(previous)
    assert.are.equal(1, #reported)
    assert.are.equal(bad, reported[1][1])
    assert.matches("boom in task", reported[1][2])
    assert.are.equal("failed", bad:status())
  end)

  it("gives the error value as raised beside the message: an error object stays one", function()
    local got
    local previous = nh.on_task_error(function(_, msg, err) got = { msg, err } end)
    local obj = setmetatable({ code = 42 }, { __tostring = function() return "error object 42" end })
    local t = nh.spawn(function() error(obj) end)
    local ok, msg, err = t:wait(1)
    nh.on_task_error(previous)
    assert.is_false(ok)
    assert.matches("^error object 42\nstack traceback", msg)
    assert.are.equal(obj, err)
    assert.are.equal(obj, got[2])
    assert.are.equal(msg, got[1])
    -- a string error is the value; a cancelled task has none
    ok, msg, err = nh.spawn(function() error("plain", 0) end):wait(1)
    assert.are.same({ false, "plain" }, { ok, err })
    assert.matches("^plain\nstack traceback", msg)
    local c = nh.spawn(function() nh.sleep(10) end)
    nh.sleep(0)
    c:cancel()
    assert.are.same({ false, "cancelled" }, { c:wait(1) })
  end)

  it("traceback says where an unfinished task waits; nil once it finished", function()
    local t = nh.spawn(function()
      nh.sleep(10)
    end)
    local line = debug.getinfo(1, "l").currentline - 2   -- the sleep's
    nh.sleep(0)
    local tb = t:traceback()
    assert.matches("^stack traceback:\n", tb)
    assert.matches("in function 'netharness.sleep'", tb, 1, true)
    assert.matches("spec/task_spec.lua:" .. line .. ":", tb, 1, true)
    t:cancel()
    assert.is_nil(t:traceback())
    local done = nh.spawn(function() return 1 end)
    done:wait(1)
    assert.is_nil(done:traceback())
  end)

  it("prints a failing task's traceback to stderr when no handler is set", function()
    local proc = S.start(S.lua .. [[ -e '
      package.path = "lua/?.lua;" .. package.path
      package.cpath = "build/?.so;" .. package.cpath
      local nh = require "netharness"
      nh.spawn(function() error("task exploded") end)
      local other = nh.spawn(function() nh.sleep(0.01) return "other ok" end)
      print(select(2, other:wait(1)))']], 10)
    local code, out = S.wait_exit(proc, 10)
    S.stop(proc)
    assert.are.equal(0, code)
    assert.matches("netharness: task failed: .-task exploded", out)
    assert.matches("stack traceback", out)
    assert.matches("other ok", out)
  end)

  it("sleeps without blocking other tasks, and now() is monotonic seconds", function()
    S.run(function()
      local order = {}
      local a = nh.spawn(function() nh.sleep(0.03); order[#order + 1] = "slow" end)
      local b = nh.spawn(function() nh.sleep(0.01); order[#order + 1] = "fast" end)
      local t0 = nh.now()
      assert(nh.wait_all({ a, b }, 1))
      assert.is_true(nh.now() - t0 >= 0.025)
      assert.are.same({ "fast", "slow" }, order)
      local t1 = nh.now()
      nh.sleep(-1) -- as Go's time.Sleep: at once
      assert.is_true(nh.now() - t1 < 0.01)
      assert.has_error(function() nh.sleep(0 / 0) end)
      assert.has_error(function() nh.sleep("x") end)
    end)
  end)

  it("blocks in the main chunk by driving the loop while tasks keep running", function()
    local ticks = 0
    local ticker = nh.spawn(function()
      for _ = 1, 1000 do ticks = ticks + 1; nh.sleep(0.002) end
    end)
    local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
    local _, err = conn:read_from(100, 0.05) -- main chunk: no coroutine
    assert.is_true(err.timeout)
    assert.is_true(ticks >= 5, "ticks: " .. ticks)
    ticker:cancel()
    conn:close()
  end)

  it("works from a plain coroutine, a pcall and a non-yieldable callback", function()
    S.run(function()
      local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local co = coroutine.wrap(function() return select(2, conn:read_from(10, 0.01)) end)
      assert.is_true(co().timeout)
      local ok, err = pcall(function() return select(2, conn:read_from(10, 0.01)) end)
      assert.is_true(ok and err.timeout)
      -- table.sort's comparator cannot yield, and a second loop inside the
      -- first would hold every other wait: a clear error instead
      local t = { 3, 1, 2 }
      local msg = S.error_of(table.sort, t, function(x, y) nh.sleep(0.001); return x < y end)
      assert.matches("cannot wait here: inside a task, a call that waits must be able to yield", msg, 1, true)
      conn:close()
    end)
  end)

  it("treats a plain coroutine.yield inside a task as letting others run", function()
    S.run(function()
      local log = {}
      local a = nh.spawn(function()
        for i = 1, 3 do log[#log + 1] = "a" .. i; coroutine.yield() end
      end)
      local b = nh.spawn(function()
        for i = 1, 3 do log[#log + 1] = "b" .. i; coroutine.yield() end
      end)
      assert(nh.wait_all({ a, b }, 1))
      assert.are.equal(6, #log)
      assert.are_not.equal("a1a2a3", table.concat(log):sub(1, 6))
    end)
  end)

  it("starts tasks in the order they were spawned and wakes joiners in the order they waited", function()
    S.run(function()
      local log = {}
      local tasks = {}
      for i = 1, 5 do tasks[i] = nh.spawn(function() log[#log + 1] = "start" .. i end) end
      assert(nh.wait_all(tasks, 1))
      assert.are.equal("start1 start2 start3 start4 start5", table.concat(log, " "))
      log = {}
      local gate = nh.spawn(function() nh.sleep(0.02) end)
      local joiners = {}
      for i = 1, 4 do
        joiners[i] = nh.spawn(function() assert(gate:wait(1)); log[#log + 1] = "woke" .. i end)
      end
      assert(nh.wait_all(joiners, 1))
      assert.are.equal("woke1 woke2 woke3 woke4", table.concat(log, " "))
    end)
  end)

  it("times out waiting for a task, then cancels it, closing its <close> variables", function()
    S.run(function()
      local closed = false
      local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local t = nh.spawn(function()
        local _guard <close> = setmetatable({}, { __close = function() closed = true end })
        return conn:read_from(100)
      end)
      local ok, err = t:wait(0.02)
      assert.is_nil(ok)
      assert.is_true(err.timeout)
      assert.is_true(t:cancel())
      assert.is_true(closed)
      assert.are.equal("cancelled", t:status())
      assert.are.same({ false, "cancelled" }, { t:wait() })
      assert.is_false(t:cancel())
      conn:close()
    end)
  end)

  it("refuses to let a task wait for or cancel itself", function()
    S.run(function()
      local me
      me = nh.spawn(function()
        nh.sleep(0.001)
        assert.matches("cannot wait for itself", S.error_of(function() me:wait() end))
        assert.matches("cannot cancel a running task", S.error_of(function() me:cancel() end))
        assert.are.equal(me, nh.running())
      end)
      assert(me:wait(1))
    end)
  end)

  it("run() drives the loop until every task is done, and reports a deadlock", function()
    local results = {}
    for i = 1, 5 do nh.spawn(function() nh.sleep(0.005 * i); results[#results + 1] = i end) end
    assert.is_true(nh.run(2))
    assert.are.same({ 1, 2, 3, 4, 5 }, results)
    assert.are.equal(0, nh.live_tasks())
    -- two tasks waiting for each other can never finish
    local a, b
    a = nh.spawn(function() nh.sleep(0); return b:wait() end)
    b = nh.spawn(function() nh.sleep(0); return a:wait() end)
    assert.matches("deadlock", S.error_of(nh.run))
    assert.are.equal(2, nh.cancel_all())
  end)

  it("lets neither run() nor its deadlock check wait for the timers that finished waits leave running", function()
    -- each task's wait(5) ends at once, leaving its 5 s timer running
    local function quick() return nh.spawn(function() return true end) end
    local t0 = nh.now()
    for _ = 1, 3 do nh.spawn(function() assert(quick():wait(5)) end) end
    assert.is_true(nh.run(10))
    assert.is_true(nh.now() - t0 < 2, "run() waited for idle timers")
    local a, b
    a = nh.spawn(function() assert(quick():wait(5)); return b:wait() end)
    b = nh.spawn(function() assert(quick():wait(5)); return a:wait() end)
    t0 = nh.now()
    assert.matches("deadlock", S.error_of(nh.run))
    assert.is_true(nh.now() - t0 < 2, "the deadlock was seen late")
    assert.are.equal(2, nh.cancel_all())
  end)

  it("run(timeout) gives up with a timeout error", function()
    local t = nh.spawn(function() nh.sleep(10) end)
    local ok, err = nh.run(0.02)
    assert.is_nil(ok)
    assert.is_true(err.timeout)
    t:cancel()
  end)

  describe("hardening", function()
    local function quiet()
      local reported = {}
      local previous = nh.on_task_error(function(_, msg) reported[#reported + 1] = msg end)
      return reported, function() nh.on_task_error(previous) end
    end

    it("survives an error object whose __tostring does not return a string", function()
      local reported, restore = quiet()
      local bad = setmetatable({}, { __tostring = function() return {} end })
      local t = nh.spawn(function() error(bad) end)
      nh.spawn(function() nh.sleep(0.05) end)
      assert.is_true(nh.run(2))
      assert.is_true(nh.run(2)) -- crashed here (a timer left pointing into a freed frame)
      local ok, msg = t:wait()
      assert.is_false(ok)
      assert.matches("table error object that could not be converted", msg, 1, true)
      assert.matches("__tostring", reported[1])
      restore()
    end)

    it("keeps any number of results and arguments of a task", function()
      local t = nh.spawn(function() return table.unpack({}, 1, 300) end)
      local r = table.pack(t:wait(1))
      assert.are.equal(301, r.n)
      assert.is_true(r[1])
      local args = {}
      for i = 1, 500 do args[i] = i end
      t = nh.spawn(function(...) return select("#", ...), select(500, ...) end, table.unpack(args))
      assert.are.same({ true, 500, 500 }, { t:wait(1) })
    end)

    it("lets a plain coroutine inside a task wait by parking the task (no nested loop)", function()
      -- ten tasks each sleep 0.3 s inside coroutine.wrap: together, not one after another
      local t0 = nh.now()
      local tasks = {}
      for i = 1, 10 do
        tasks[i] = nh.spawn(function()
          return coroutine.wrap(function() nh.sleep(0.3); return i end)()
        end)
      end
      assert(nh.wait_all(tasks, 5))
      local took = nh.now() - t0
      assert.is_true(took < 1.2, "took " .. took .. " s")
      assert.are.same({ true, 7 }, { tasks[7]:wait() })
      -- coroutine.resume too, with values passed both ways around the wait
      local t = nh.spawn(function()
        local co = coroutine.create(function(a)
          nh.sleep(0.01)
          local b = coroutine.yield(a + 1)
          nh.sleep(0.01)
          return b * 2
        end)
        local ok1, v1 = coroutine.resume(co, 1)
        local ok2, v2 = coroutine.resume(co, 10)
        return ok1, v1, ok2, v2, coroutine.status(co)
      end)
      assert.are.same({ true, true, 2, true, 20, "dead" }, { t:wait(2) })
    end)

    it("reads lines through a coroutine.wrap generator inside a task", function()
      S.run(function()
        local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
        nh.spawn(function()
          local c = assert(ln:accept(1))
          for i = 1, 3 do c:write("line" .. i .. "\n"); nh.sleep(0.01) end
          c:close()
        end)
        local c = assert(nh.dial("tcp", tostring(ln:addr()), 1))
        local lines = coroutine.wrap(function()
          while true do
            local l = c:read_line(1)
            if not l then return end
            coroutine.yield(l)
          end
        end)
        local got = {}
        for l in lines do got[#got + 1] = l end
        assert.are.equal("line1,line2,line3", table.concat(got, ","))
        c:close()
        ln:close()
      end)
    end)

    it("nests thousands of coroutines that wait without overflowing the C stack", function()
      local function nest(n)
        if n == 0 then nh.sleep(0.001); return 0 end
        return coroutine.wrap(function() return 1 + nest(n - 1) end)()
      end
      local t = nh.spawn(function() return nest(100) end)
      assert.are.same({ true, 100 }, { t:wait(2) })
      local reported, restore = quiet()
      t = nh.spawn(function() return nest(8000) end)
      local ok, msg = t:wait(5)
      assert.is_false(ok) -- Lua's own limit, as an error
      assert.matches("stack overflow", msg)
      assert.are.equal(1, #reported)
      restore()
    end)

    it("lets timers and I/O run under zero-delay loops (sleep(0), yield, reads with timeout 0)", function()
      for _, spin in ipairs({
        function() nh.sleep(0) end,
        function() coroutine.yield() end,
      }) do
        local flag = false
        nh.spawn(function() nh.sleep(0.05); flag = true end)
        local t = nh.spawn(function()
          local n = 0
          while not flag do spin(); n = n + 1 end
          return n
        end)
        local ok, n = t:wait(2)
        assert.is_true(ok)
        assert.is_true(n > 0)
      end
      -- the main chunk polls a socket with timeout 0 while a task sends to it
      local u = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local to = tostring(u:local_addr())
      for _, where in ipairs({ "main", "task" }) do
        nh.spawn(function()
          nh.sleep(0.02)
          local c = assert(nh.dial("udp", to))
          c:write("hi " .. where)
          c:close()
        end)
        local function poll()
          local t0, d = nh.now()   -- luacheck: ignore d (set in the loop)
          repeat d = u:read_from(100, 0) until d or nh.now() - t0 > 2
          return d
        end
        local d
        if where == "main" then d = poll() else d = select(2, nh.spawn(poll):wait(3)) end
        assert.are.equal("hi " .. where, d)
      end
      u:close()
    end)

    it("sees Ctrl-C during zero-delay loops in tasks and in the main chunk", function()
      local script = S.child_script([[
        local mode = arg[1]
        if mode == "sleep" then
          net.spawn(function() while true do net.sleep(0) end end)
          print("looping"); io.stdout:flush()
          net.run()
        elseif mode == "yield" then
          net.spawn(function() while true do coroutine.yield() end end)
          print("looping"); io.stdout:flush()
          net.run()
        else
          local u = assert(net.listen_packet("udp", "127.0.0.1:0"))
          net.spawn(function() while true do net.sleep(1) end end)
          print("looping"); io.stdout:flush()
          while true do u:read_from(100, 0) end
        end
      ]])
      for _, mode in ipairs({ "sleep", "yield", "poll" }) do
        local proc = S.start(S.lua .. " " .. script .. " " .. mode, 20)
        assert(S.wait_output(proc, "looping", 5), S.output(proc))
        local pid = assert(S.pids(proc, "lua5.4")[1])
        S.execute("kill -INT " .. pid)
        local code, out = S.wait_exit(proc, 5)
        S.stop(proc)
        assert.are.equal(1, code, mode .. ": " .. tostring(out))
        assert.matches("interrupted!", out)
      end
      os.remove(script)
    end)

    it("refuses to let coroutine.resume run a task's coroutine from outside", function()
      local reported, restore = quiet()
      local u = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local co
      local t = nh.spawn(function() co = coroutine.running(); return u:read_from(100, 5) end)
      local thief = nh.spawn(function() nh.sleep(0.02); return coroutine.resume(co) end)
      local ok, resumed, msg = thief:wait(2)
      assert.is_true(ok)
      assert.is_false(resumed)
      assert.matches("resumed from outside the loop", msg)
      local tok, tmsg = t:wait(2)
      assert.is_false(tok)
      assert.matches("resumed from outside the loop", tmsg)
      assert.are.equal(1, #reported)
      -- the socket's wait queue is sound: closing it wakes nobody twice
      u:close()
      assert.is_true(nh.run(1))
      -- a task that yielded plainly, resumed from outside, fails when it next waits
      t = nh.spawn(function() co = coroutine.running(); coroutine.yield(); nh.sleep(0.01); return "done" end)
      thief = nh.spawn(function() return coroutine.resume(co) end)
      assert.is_false(select(2, thief:wait(1)))
      assert.is_false((t:wait(1)))
      assert.is_true(nh.run(1))
      restore()
    end)

    it("ends a timed wait by its timeout even when a task waits for itself in a coroutine", function()
      local _, restore = quiet()
      local u = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      assert.is_true(select(2, u:read_from(10, 0.01)).timeout) -- an idle socket that once timed out
      local me
      me = nh.spawn(function() return coroutine.wrap(function() return me:wait() end)() end)
      local t0 = nh.now()
      local ok, msg = me:wait(2)
      assert.is_true(nh.now() - t0 < 2.5)
      assert.is_false(ok)
      assert.matches("cannot wait for itself", msg)
      -- and a deadlock is seen although that socket's watcher still runs
      local a, b
      a = nh.spawn(function() nh.sleep(0); return b:wait() end)
      b = nh.spawn(function() nh.sleep(0); return a:wait() end)
      assert.matches("deadlock", S.error_of(nh.run))
      nh.cancel_all()
      u:close()
      restore()
    end)
  end)
end)

describe("a task's <close> variables when it fails or is cancelled (issue 27)", function()
  -- A __close that waits ran outside any resume and parked the dying task:
  -- its later wake resumed a dead coroutine and the process crashed. In a
  -- child, so that a crash fails this spec and not the run.
  local function run_child(body)
    local script = S.child_script(body)
    local pipe = S.popen(S.lua .. " " .. script .. " 2>&1; echo exit=$?")
    local out = pipe:read("a")
    pipe:close()
    os.remove(script)
    return out
  end

  it("a failing task whose <close> waits: its error is kept, no crash", function()
    local out = run_child([[
      local closed = false
      local other = net.spawn(function() net.sleep(0.05) end)
      local t = net.spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          closed = true
          pcall(other.wait, other, 1)   -- a wait in __close: cannot park the dying task
        end })
        error("boom")
      end)
      local ok, err = t:wait(5)
      print("ok", ok, tostring(err):match("boom"), closed)
      net.sleep(0.1)
      print("after")
    ]])
    assert.matches("ok\tfalse\tboom\ttrue", out, 1, true)
    assert.matches("after", out, 1, true)
    assert.matches("exit=0", out, 1, true)
  end)

  it("a cancelled task whose <close> waits: cancelled, no crash", function()
    local out = run_child([[
      local other = net.spawn(function() net.sleep(0.05) end)
      local t = net.spawn(function()
        local _ <close> = setmetatable({}, { __close = function() pcall(other.wait, other, 1) end })
        net.sleep(10)
      end)
      net.sleep(0.01)
      print("cancel", t:cancel(), t:status())
      net.sleep(0.1)
      print("after")
    ]])
    assert.matches("cancel\ttrue\tcancelled", out, 1, true)
    assert.matches("after", out, 1, true)
    assert.matches("exit=0", out, 1, true)
  end)

  it("fault.http_proxy closed by <close> in a failing task", function()
    local out = run_child([[
      local fault = require "netharness.fault"
      local t = net.spawn(function()
        local _p <close> = assert(fault.http_proxy{ upstream = "127.0.0.1:9", rules = {} })
        error("boom")
      end)
      print("failed", (select(2, t:wait(5))):match("boom"))
      net.sleep(0.1)
      print("after")
    ]])
    assert.matches("failed\tboom", out, 1, true)
    assert.matches("after", out, 1, true)
    assert.matches("exit=0", out, 1, true)
  end)
end)
