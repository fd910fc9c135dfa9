-- What specs share: a time-limited runner for test bodies, an open-fd count,
-- and child processes (our scripts, python, socat) with bounded lifetimes.
-- The runner and the processes are netharness.test's and netharness.process's,
-- the kit users have: this project's specs keep it true.
local nh = require "netharness"
local process = require "netharness.process"
local T = require "netharness.test"

local S = {}

-- Run fn as a task on the loop and wait at most `limit` seconds: the kit's
-- T.run (a failure of the body or of a task it started fails the spec; the
-- tasks left are cancelled).
function S.run(fn, limit)
  return T.run(fn, limit or 10)
end

-- Let the loop run until every task in `tasks` has started and is parked in
-- a wait (status "waiting"), at most `limit` seconds: what a spec means by
-- "now they all wait", without guessing a sleep.
function S.parked(tasks, limit)
  local deadline = nh.now() + (limit or 5)
  repeat
    local all = true
    for _, t in pairs(tasks) do
      if t:status() ~= "waiting" then all = false end
    end
    if all then return true end
    nh.sleep(0)
  until nh.now() >= deadline
  error("tasks did not all park within " .. (limit or 5) .. "s", 2)
end

-- The message of the error fn raises (fails the spec if it raises none).
function S.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

-- Number of file descriptors this process has open (the kit's T.open_fds).
function S.open_fds()
  return (T.open_fds())
end

function S.full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
S.read_file = read_file

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
S.quote = shell_quote

-- Commands never get the sanitizer runtime the ASan pass preloads into this
-- process: some tools (pkill) deadlock at start-up with it.
local CLEAN_ENV = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS "

function S.execute(cmd)
  return os.execute(CLEAN_ENV .. "sh -c " .. shell_quote(cmd))
end

function S.popen(cmd)
  return io.popen(CLEAN_ENV .. "sh -c " .. shell_quote(cmd))
end

-- The environment of children: never the sanitizer runtime the ASan pass
-- preloads into this process.
S.CHILD_ENV = T.defaults.env   -- set by spec/helper.lua

-- Start a shell command in the background (netharness.process: a process
-- group of its own, output read on the loop), killed by `timeout` after
-- `limit` seconds at the latest. For a program that needs no shell,
-- T.process (netharness.test) is the kit's way.
function S.start(cmd, limit)
  local p = assert(process.start{
    cmd = { "timeout", "-k", "2", tostring(limit or 30), "sh", "-c", cmd },
    env = S.CHILD_ENV,
  })
  return { pid = p.pid, p = p, cmd = cmd }
end

function S.output(proc)
  return (proc.p:output())
end

-- Wait (on the loop, so our own servers keep running) until the output
-- matches a Lua pattern; returns the output, or nil and the output so far
-- (at the limit, or when the command exited without printing it).
function S.wait_output(proc, pattern, limit)
  if proc.p:wait_output(pattern, limit or 5) then return S.output(proc) end
  return nil, S.output(proc)
end

-- The shell's $? for a signal: 128 + its number.
local SIGNUM = { SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGABRT = 6, SIGKILL = 9, SIGUSR1 = 10,
  SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13, SIGALRM = 14, SIGTERM = 15 }

-- Wait for the process to exit: its exit code (as the shell's $?) and
-- output, or nil and the output on timeout.
function S.wait_exit(proc, limit)
  local st = proc.p:wait_exit(limit or 10)
  if not st then return nil, S.output(proc) end
  return st.code or 128 + (SIGNUM[st.signal] or 0), S.output(proc)
end

-- PIDs of the processes named `name` in the process group we started.
function S.pids(proc, name)
  local p = S.popen("pgrep -g " .. proc.pid .. " -x " .. name)
  local pids = {}
  for line in p:lines() do pids[#pids + 1] = tonumber(line) end
  p:close()
  return pids
end

-- A process's resident memory in KiB (VmRSS), nil once it is gone.
function S.rss_kib(pid, peak)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match((peak and "VmHWM" or "VmRSS") .. ":%s*(%d+)"))
end

-- Stop what we started: SIGTERM to its group, SIGKILL after 3 s.
function S.stop(proc)
  proc.p:stop(3)
end

-- http.serve(handler, opts) on a fresh port of 127.0.0.1, as a task: the
-- listener (close it to stop the server) and its address.
function S.http_server(handler, opts)
  local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
  nh.spawn(require("netharness.http").serve, ln, handler, opts)
  return ln, tostring(ln:addr())
end

-- A port on 127.0.0.1 that nobody listens on now (UDP unless told): the
-- kit's T.free_port, which can race; a child that is to listen binds port 0
-- and says its port (S.wait_output) or shows it (S.bound_port).
function S.free_port(network)
  return T.free_port(network or "udp")
end

-- The inodes of the sockets process pid holds.
local function socket_inodes(pid)
  local inodes = {}
  local p = S.popen("readlink /proc/" .. pid .. "/fd/* 2>/dev/null")
  for line in p:lines() do
    local inode = line:match("^socket:%[(%d+)%]$")
    if inode then inodes[inode] = true end
  end
  p:close()
  return inodes
end

-- Wait (at most `limit` seconds) until the process named `name` in the
-- session we started has bound a UDP port ("udp") or listens on a TCP port
-- ("tcp"), and return that port: for a child told to use port 0 that does
-- not print the port it got. Read from /proc, so no port changes hands.
function S.bound_port(proc, name, proto, limit)
  local deadline = nh.now() + (limit or 5)
  repeat
    for _, pid in ipairs(S.pids(proc, name)) do
      local inodes = socket_inodes(pid)
      for _, table_name in ipairs({ proto, proto .. "6" }) do
        for line in (read_file("/proc/net/" .. table_name) or ""):gmatch("[^\n]+") do
          local f = {}
          for w in line:gmatch("%S+") do f[#f + 1] = w end
          local port = f[2] and f[2]:match(":(%x+)$")
          if port and inodes[f[10]] and (proto == "udp" or f[4] == "0A") then
            return tonumber(port, 16)
          end
        end
      end
    end
    nh.sleep(0.01)
  until nh.now() >= deadline
  error(name .. " bound no " .. proto .. " port within " .. (limit or 5) .. "s", 2)
end

-- Wait (at most `limit` seconds) until process pid sleeps in the kernel
-- (state S: blocked in a receive or a poll), so a signal or a datagram sent
-- next finds it waiting.
function S.wait_sleeping(pid, limit)
  local deadline = nh.now() + (limit or 5)
  repeat
    local stat = read_file("/proc/" .. pid .. "/stat") or ""
    if stat:match("^%d+ %b() S ") then return true end
    nh.sleep(0.005)
  until nh.now() >= deadline
  error("process " .. pid .. " did not go to sleep within " .. (limit or 5) .. "s", 2)
end

-- Mark the running spec pending, with the reason, when this process may not
-- capture packets (no CAP_NET_RAW: CI runs as root, a developer may not).
-- pending: busted's, which only spec files see.
function S.need_capture(pending)
  local ok, why = require("netharness.capture").permitted()
  if not ok then pending("needs CAP_NET_RAW to capture (CI runs as root): " .. why) end
end

S.lua = "lua5.4"

-- This checkout's folder (busted runs from it).
local ROOT
do
  local p = io.popen("pwd")
  ROOT = p:read("l")
  p:close()
end

-- A script for a child process (run it with S.lua, then os.remove it) that
-- finds the module in this checkout as `net`, whatever folder it runs in;
-- body is the rest of it.
function S.child_script(body)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(string.format("package.path = %q .. package.path\n", ROOT .. "/lua/?.lua;"),
    string.format("package.cpath = %q .. package.cpath\n", ROOT .. "/build/?.so;"),
    'local net = require "netharness"\n', body)
  f:close()
  return path
end

return S
