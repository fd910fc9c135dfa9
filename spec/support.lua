-- What specs share: a time-limited runner for test bodies, an open-fd count,
-- and child processes (our scripts, python, socat) with bounded lifetimes.
local nh = require "netharness"
local lfs = require "lfs"

local S = {}

-- Run fn as a task on the loop and wait at most `limit` seconds. Fails the
-- spec if the body fails, times out, or any other task it started fails; any
-- task still alive afterwards is cancelled, so nothing leaks into later specs.
function S.run(fn, limit)
  limit = limit or 10
  local failures = {}
  local previous = nh.on_task_error(function(_, msg) failures[#failures + 1] = msg end)
  local task = nh.spawn(fn)
  local ok, a, b, c = task:wait(limit)
  nh.cancel_all()
  nh.on_task_error(previous)
  if ok == nil then error("spec body did not finish within " .. limit .. "s", 2) end
  if ok == false then error(a, 0) end
  if #failures > 0 then error("a task failed: " .. failures[1], 0) end
  return a, b, c
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

-- Number of file descriptors this process has open.
function S.open_fds()
  local n = 0
  for name in lfs.dir("/proc/self/fd") do
    if name ~= "." and name ~= ".." then n = n + 1 end
  end
  return n - 1 -- the directory being listed
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

-- Start a shell command in the background, in a process group of its own,
-- killed by `timeout` after `limit` seconds at the latest. Children never get
-- the sanitizer runtime that the ASan pass preloads into this process.
function S.start(cmd, limit)
  local out = os.tmpname()
  local status = out .. ".status"
  local script = string.format("timeout -k 2 %d sh -c %s >%s 2>&1; echo $? >%s",
    limit or 30, shell_quote(cmd), out, status)
  -- setsid: the job leads a session of its own (timeout makes its own process
  -- group inside it), so S.stop reaches everything it started.
  local p = S.popen("setsid sh -c " .. shell_quote(script) .. " </dev/null >/dev/null 2>&1 & echo $!")
  local pid = tonumber(p:read("l"))
  p:close()
  assert(pid, "could not start: " .. cmd)
  return { pid = pid, out = out, status = status, cmd = cmd }
end

function S.output(proc)
  return read_file(proc.out) or ""
end

-- Wait (on the loop, so our own servers keep running) until the output
-- matches a Lua pattern; returns the output, or nil and the output so far.
function S.wait_output(proc, pattern, limit)
  local deadline = nh.now() + (limit or 5)
  repeat
    local out = S.output(proc)
    if out:find(pattern) then return out end
    nh.sleep(0.02)
  until nh.now() > deadline
  return nil, S.output(proc)
end

-- Wait for the process to exit: its exit code and output, or nil on timeout.
function S.wait_exit(proc, limit)
  local deadline = nh.now() + (limit or 10)
  repeat
    local st = read_file(proc.status)
    if st and st:match("%d") then return tonumber(st:match("%d+")), S.output(proc) end
    nh.sleep(0.02)
  until nh.now() > deadline
  return nil, S.output(proc)
end

-- PIDs of the processes named `name` in the session we started.
function S.pids(proc, name)
  local p = S.popen("pgrep -s " .. proc.pid .. " -x " .. name)
  local pids = {}
  for line in p:lines() do pids[#pids + 1] = tonumber(line) end
  p:close()
  return pids
end

-- Stop the session we started, by its leader's PID, and remove its files.
function S.stop(proc)
  S.execute("pkill -TERM -s " .. proc.pid .. " 2>/dev/null")
  S.wait_exit(proc, 3)
  os.remove(proc.out)
  os.remove(proc.status)
end

-- http.serve(handler, opts) on a fresh port of 127.0.0.1, as a task: the
-- listener (close it to stop the server) and its address.
function S.http_server(handler, opts)
  local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
  nh.spawn(require("netharness.http").serve, ln, handler, opts)
  return ln, tostring(ln:addr())
end

-- A port on 127.0.0.1 that nobody listens on now, for specs of refused
-- connections. It is bound and closed again, so another process may take it
-- meanwhile (a race): a child that is to listen binds port 0 instead and
-- says its port (S.wait_output) or shows it (S.bound_port).
function S.free_port(network)
  network = network or "udp"
  local c
  if network:sub(1, 3) == "udp" then
    c = assert(nh.listen_packet(network, "127.0.0.1:0"))
  else
    c = assert(nh.listen(network, "127.0.0.1:0"))
  end
  local port = c:local_addr().port
  c:close()
  return port
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

-- A script for a child process (run it with S.lua, then os.remove it) that
-- finds the module in this checkout as `net`; body is the rest of it.
function S.child_script(body)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write('package.path = "lua/?.lua;" .. package.path\n',
    'package.cpath = "build/?.so;" .. package.cpath\n',
    'local net = require "netharness"\n', body)
  f:close()
  return path
end

return S
