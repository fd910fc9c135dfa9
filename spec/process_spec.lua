-- netharness.process: programs started without a shell, their output read on
-- the loop, stopped with everything they started.
local nh = require "netharness"
local process = require "netharness.process"
local S = require "support"

-- Children never get the sanitizer runtime the ASan pass preloads.
local CLEAN = { LD_PRELOAD = false, ASAN_OPTIONS = false, UBSAN_OPTIONS = false }

local function start(opts)
  opts.env = opts.env or {}
  for k, v in pairs(CLEAN) do if opts.env[k] == nil then opts.env[k] = v end end
  return process.start(opts)
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return not stat:match("^%d+ %b() Z ")
end

describe("netharness.process", function()
  it("runs a program without a shell and reads its stdout and stderr", function()
    S.run(function()
      local p = assert(start{ cmd = { "sh", "-c", 'echo "out $1"; echo err >&2; exit 3', "sh", "a b;c" } })
      local st = assert(p:wait_exit(5))
      assert.are.equal(3, st.code)
      assert.is_nil(st.signal)
      assert.are.equal("exit status 3", tostring(st))
      assert.are.equal("out a b;c\nerr\n", p:output())
      p:close()
    end)
  end)

  it("says when the program is not found, or the folder is missing", function()
    local p, err = process.start{ cmd = { "netharness-no-such-program" } }
    assert.is_nil(p)
    assert.are.equal("ENOENT", err.code)
    assert.are.equal('exec: "netharness-no-such-program": no such file or directory', tostring(err))
    p, err = process.start{ cmd = { "true" }, cwd = "/nonexistent-folder" }
    assert.is_nil(p)
    assert.are.equal("exec: chdir /nonexistent-folder: no such file or directory", tostring(err))
  end)

  it("rejects malformed options with the argument's name", function()
    assert.matches("cmd: a list {program, args...} expected %(or shell = true",
      S.error_of(process.start, { cmd = "echo hi" }))
    assert.matches("the program to run is missing", S.error_of(process.start, { cmd = {} }))
    assert.matches("cmd%[2%]: a string expected, got table", S.error_of(process.start, { cmd = { "echo", {} } }))
    assert.matches("env: X: a string %(or false to remove it%) expected, got table",
      S.error_of(process.start, { cmd = { "true" }, env = { X = {} } }))
    assert.matches("bad variable name", S.error_of(process.start, { cmd = { "true" }, env = { ["A=B"] = "1" } }))
    assert.matches("a table expected, got string", S.error_of(process.start, "true"))
    assert.matches("fds%[1%]: a socket or an fd number expected",
      S.error_of(process.start, { cmd = { "true" }, listen = { "x" } }))
    local p = assert(start{ cmd = { "true" } })
    assert.matches("no signal named \"NOPE\"", S.error_of(p.signal, p, "NOPE"))
    p:close()
  end)

  it("runs a command line through the shell only when asked", function()
    S.run(function()
      local p = assert(start{ cmd = "echo $((6 * 7)) | tr 4 X", shell = true })
      assert.are.equal(0, assert(p:wait_exit(5)).code)
      assert.are.equal("X2\n", p:output())
      p:close()
    end)
  end)

  it("sets, removes and replaces environment variables, and the folder", function()
    S.run(function()
      local p = assert(start{ cmd = { "sh", "-c", 'echo "[$NH_A] [${HOME-unset}] $(pwd)"' },
        env = { NH_A = "x y", HOME = false }, cwd = "/tmp" })
      assert(p:wait_exit(5))
      assert.are.equal("[x y] [unset] /tmp\n", p:output())
      p:close()
      p = assert(process.start{ cmd = { "/usr/bin/env" }, inherit_env = false, env = { ONLY = "1" } })
      assert(p:wait_exit(5))
      assert.are.equal("ONLY=1\n", p:output())
      p:close()
    end)
  end)

  it("wait_output returns the pattern's captures, or says it timed out or exited", function()
    S.run(function()
      local p = assert(start{ cmd = { "sh", "-c", "echo starting; sleep 0.1; echo 'listening on port 4242'; sleep 30" } })
      assert.are.equal("4242", p:wait_output("port (%d+)", 5))
      assert.are.equal("starting", p:wait_output("start%a+", 5))
      local v, err = p:wait_output("never printed", 0.2)
      assert.is_nil(v)
      assert.are.equal("ETIMEDOUT", err.code)
      assert.is_true(err.timeout)
      assert.matches("within 0.2s: i/o timeout; it printed:\nstarting\nlistening", tostring(err))
      p:stop(1)
      p = assert(start{ cmd = { "sh", "-c", "echo oops >&2; exit 1" } })
      v, err = p:wait_output("ready", 5)
      assert.is_nil(v)
      assert.are.equal("EXITED", err.code)
      assert.are.equal(1, err.status.code)
      assert.matches("sh exited %(exit status 1%) without printing \"ready\"; it printed:\noops", tostring(err))
      p:close()
    end)
  end)

  it("wait_output's timeout is a deadline for the call while the child keeps printing", function()
    S.run(function()
      -- issue 27: against `yes` a 1 s timeout took 5 to 38 s
      local p <close> = assert(start{ cmd = { "yes" } })
      local t0 = nh.now()
      local v, err = p:wait_output("never printed", 1)
      local took = nh.now() - t0
      assert.is_nil(v)
      assert.are.equal("ETIMEDOUT", err.code)
      assert.is_true(took < 2.5, "took " .. took .. " s")
      p:stop(1)
      local T = require "netharness.test"
      t0 = nh.now()
      local ok = pcall(T.process, { cmd = { "yes" }, ready = "never printed", timeout = 1 })
      assert.is_false(ok)
      assert.is_true(nh.now() - t0 < 4, "T.process took " .. (nh.now() - t0) .. " s")
    end, 20)
  end)

  it("stop sends SIGTERM to the whole group, then SIGKILL to what ignores it", function()
    S.run(function()
      -- The shell starts a grandchild that ignores SIGTERM; both must go.
      local p = assert(start{ cmd = { "sh", "-c", "trap '' TERM; sleep 60 & echo $!; wait" } })
      local grandchild = tonumber(assert(p:wait_output("(%d+)\n", 5)))
      assert.is_true(alive(grandchild))
      local t0 = nh.now()
      local st = p:stop(0.3)
      assert.are.equal("SIGKILL", st.signal)
      assert.is_true(nh.now() - t0 >= 0.3)
      local deadline = nh.now() + 5
      while alive(grandchild) and nh.now() < deadline do nh.sleep(0.01) end
      assert.is_false(alive(grandchild))
    end)
  end)

  it("wait_exit returns when the program exits, though a process it left holds the output", function()
    S.run(function()
      local p = assert(start{ cmd = { "sh", "-c", "echo bye; sleep 30 & exit 5" } })
      local t0 = nh.now()
      local st = assert(p:wait_exit(10))
      assert.are.equal(5, st.code)
      assert.is_true(nh.now() - t0 < 2)
      assert.are.equal("bye\n", p:output())
      p:close()   -- and the sleep goes with its group
    end)
  end)

  it("signal reaches the program by name; its status names the signal", function()
    S.run(function()
      local p = assert(start{ cmd = { "sleep", "60" } })
      assert.is_true(p:running())
      assert.is_true(p:signal("SIGINT"))
      local st = assert(p:wait_exit(5))
      assert.are.equal("SIGINT", st.signal)
      assert.are.equal("signal: SIGINT", tostring(st))
      assert.is_false(p:running())
      -- Exited but not yet closed: the zombie keeps its PID ours, so this is safe.
      assert.is_true(p:signal("TERM"))
      p:close()
      local ok, err = p:signal("TERM")
      assert.is_nil(ok)
      assert.are.equal("ECLOSED", err.code)
    end)
  end)

  it("drains a flood of output without blocking the child, keeping what it may", function()
    S.run(function()
      -- 8 MiB through a 64 KiB pipe: the child finishes only if we keep reading.
      local p = assert(start{ cmd = { "head", "-c", "8388608", "/dev/zero" }, keep = 1000000 })
      assert.are.equal(0, assert(p:wait_exit(10)).code)
      local out, dropped = p:output()
      assert.are.equal(1000000, #out)
      assert.are.equal(8388608 - 1000000, dropped)
      p:close()
    end, 20)
  end)

  it("hands a listening socket over as fd 3 (LISTEN_FDS), so no port changes hands", function()
    S.run(function()
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      local child = S.child_script([[
local ls = assert(require("netharness.process").inherited_listeners())
io.write(#ls, " ", tostring(ls[1]:addr()), "\n")
io.stdout:flush()
local c = assert(ls[1]:accept(5))
c:write("hello from the child\n")
c:close()
]])
      local p = assert(start{ cmd = { S.lua, child }, listen = ln })
      ln:close()   -- the child has its own copy; it listens from the start
      local c = assert(nh.dial("tcp", addr, 5))
      assert.are.equal("hello from the child", c:read_line(5))
      c:close()
      assert.are.equal(0, assert(p:wait_exit(5)).code)
      assert.are.equal("1 " .. addr .. "\n", p:output())
      p:close()
      os.remove(child)
    end, 15)
  end)

  it("passes no other fd of ours to the child", function()
    S.run(function()
      local _ln <close> = assert(nh.listen("tcp", "127.0.0.1:0"))
      local name = os.tmpname()
      local _f <close> = assert(io.open(name))   -- Lua's files are not close-on-exec
      os.remove(name)
      local p = assert(start{ cmd = { "ls", "/proc/self/fd" } })
      assert(p:wait_exit(5))
      -- 0, 1, 2 and ls's own listing of the folder
      local fds = {}
      for fd in p:output():gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
      assert.are.same({ 0, 1, 2, 3 }, fds)
      p:close()
    end)
  end)

  it("file_listener refuses an fd that is not a TCP listener, and a closed one", function()
    local ok, err = nh.file_listener(0)   -- stdin: not a socket
    assert.is_nil(ok)
    assert.are.equal("ENOTSOCK", err.code)
    assert.are.equal("file_listener: getsockopt fd 0: socket operation on non-socket", tostring(err))
    ok, err = nh.file_listener(999)
    assert.is_nil(ok)
    assert.are.equal("EBADF", err.code)
    assert.matches("an fd number expected", S.error_of(nh.file_listener, -1))
  end)

  it("leaves no fd and no process behind, by close, <close> or the collector", function()
    S.full_gc()
    local before = S.open_fds()
    S.run(function()
      local pids = {}
      for i = 1, 20 do
        local p = assert(start{ cmd = { "sleep", "60" } })
        pids[i] = p.pid
        if i % 3 == 0 then p:close() elseif i % 3 == 1 then p:stop(1) end
      end
      do
        local _p <close> = assert(start{ cmd = { "sleep", "60" } })
        pids[#pids + 1] = _p.pid
      end
      S.full_gc()
      for _, pid in ipairs(pids) do assert.is_false(alive(pid), "pid " .. pid .. " still runs") end
      for _, pid in ipairs(pids) do
        assert.is_nil(io.open("/proc/" .. pid .. "/stat"), "pid " .. pid .. " not reaped")
      end
    end)
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)

  it("io.popen and os.execute keep their exit status while the loop runs", function()
    -- libev's default loop reaped every child on SIGCHLD: close() said
    -- "No child processes" once the loop had run.
    local f = io.popen("exit 3")
    nh.sleep(0.1)
    local ok, how, code = f:close()
    assert.are.same({ nil, "exit", 3 }, { ok, how, code })
  end)
end)
