-- netharness.process: start a program, read what it prints, stop it and
-- everything it started.
--
--   local process = require "netharness.process"
--   local p = assert(process.start{ cmd = { "python3", "-u", "-m", "http.server",
--                                           "--bind", "127.0.0.1", "0" } })
--   local port = assert(p:wait_output("port (%d+)", 5))
--   ...
--   p:stop()        -- SIGTERM to its process group, SIGKILL after a grace period
--
-- The program is run directly (no shell unless `shell = true`), in a process
-- group of its own, with stdin from /dev/null and stdout and stderr read
-- into one buffer on the event loop (core/proc.h says why). Waits yield to
-- the loop, so servers of the script's own keep serving meanwhile.
--
-- Handing a child a listening socket (`listen = { ln }`) makes it fds 3, 4,
-- ... with LISTEN_FDS and LISTEN_PID set, as systemd's socket activation
-- does; a netharness script takes them with process.inherited_listeners().
local net = require "netharness"

local M = {}

local ErrorMT = getmetatable(net.EOF)

-- An error like the core's: prints as message, has a code.
local function fail(op, message, code, extra)
  local e = setmetatable({ op = op, err = message, message = op .. ": " .. message,
    code = code, timeout = code == "ETIMEDOUT" }, ErrorMT)
  for k, v in pairs(extra or {}) do e[k] = v end
  return nil, e
end

local function arg_error(name, msg)
  error("bad argument #1 to 'start' (" .. name .. ": " .. msg .. ")", 3)
end

-- The environment for the child: ours, with `env`'s names set (a string) or
-- removed (false); with `inherit_env = false`, only `env`'s.
local function child_env(opts)
  local vars, order = {}, {}
  if opts.inherit_env ~= false then
    for _, kv in ipairs(net.process_environ()) do
      local k = kv:match("^([^=]*)=")
      if k and not vars[k] then order[#order + 1] = k end
      if k then vars[k] = kv:sub(#k + 2) end
    end
  end
  if opts.env ~= nil and type(opts.env) ~= "table" then arg_error("env", "a table of names to strings expected") end
  local names = {}
  for k in pairs(opts.env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = opts.env[k]
    if type(k) ~= "string" or k == "" or k:find("[=%z]") then
      arg_error("env", "bad variable name " .. string.format("%q", tostring(k)))
    end
    if v == false then
      vars[k] = nil
    elseif type(v) == "string" or type(v) == "number" then
      if vars[k] == nil then order[#order + 1] = k end
      vars[k] = tostring(v)
    else
      arg_error("env", k .. ": a string (or false to remove it) expected, got " .. type(v))
    end
  end
  local list = {}
  for _, k in ipairs(order) do
    if vars[k] ~= nil then list[#list + 1] = k .. "=" .. vars[k] end
  end
  return list
end

local Process = {}
Process.__index = Process

-- How a process ended: { code = n } or { signal = "SIGTERM" }; prints as Go's
-- os.ProcessState does ("exit status 3", "signal: SIGTERM").
local StatusMT = {
  __tostring = function(s)
    if s.signal then return "signal: " .. s.signal end
    return "exit status " .. s.code
  end,
}

--- Start a program. opts:
---   cmd          {program, args...} (program found in PATH), or a string with shell = true
---   shell        run cmd with /bin/sh -c
---   env          {NAME = "value" | false}: added to (false: removed from) our environment
---   inherit_env  false: start from an empty environment (then only env's)
---   cwd          the folder it starts in
---   listen       a Listener or a list of them: its fds 3, 4, ... (LISTEN_FDS)
---   keep         output bytes kept (default 16 MiB; the rest is counted, not kept)
--- Returns a Process, or nil and an error (a program that is not found:
--- code ENOENT).
function M.start(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'start' (a table expected, got " .. type(opts) .. ")", 2)
  end
  local argv
  if opts.shell then
    if type(opts.cmd) ~= "string" then arg_error("cmd", "a command line (string) expected with shell = true") end
    argv = { "/bin/sh", "-c", opts.cmd }
  elseif type(opts.cmd) == "table" then
    argv = {}
    for i, a in ipairs(opts.cmd) do
      if type(a) ~= "string" and type(a) ~= "number" then
        arg_error("cmd", "cmd[" .. i .. "]: a string expected, got " .. type(a))
      end
      argv[i] = tostring(a)
    end
    if #argv == 0 then arg_error("cmd", "the program to run is missing") end
  elseif type(opts.cmd) == "string" then
    arg_error("cmd", "a list {program, args...} expected (or shell = true for a command line)")
  else
    arg_error("cmd", "a list {program, args...} expected, got " .. type(opts.cmd))
  end
  local fds
  if opts.listen ~= nil then
    fds = type(opts.listen) == "table" and opts.listen or { opts.listen }
  end
  local h, err = net.process_spawn{ argv = argv, env = child_env(opts), cwd = opts.cwd, fds = fds,
    keep = opts.keep }
  if not h then return nil, err end
  return setmetatable({ pid = h:pid(), cmd = argv, h = h }, Process)
end

function Process:__tostring()
  return "netharness.Process(pid " .. self.pid .. ", " .. table.concat(self.cmd, " ") .. ")"
end

--- Everything it wrote to stdout and stderr so far (interleaved as written),
--- and how many bytes past `keep` were dropped.
function Process:output()
  return self.h:output()
end

--- nil while it runs; once it exited, { code = n } or { signal = "SIGKILL" }.
function Process:status()
  local how, v = self.h:status()
  if not how then return nil end
  return setmetatable(how == "exit" and { code = v } or { signal = v }, StatusMT)
end

function Process:running()
  return self:status() == nil
end

local function remaining(deadline)
  return deadline and math.max(0, deadline - net.now()) or nil
end

local function tail(s, n)
  n = n or 2000
  if #s <= n then return s end
  return "..." .. s:sub(-n)
end

--- Wait until the output matches a Lua pattern (searched from byte `init`,
--- default 1): returns the pattern's captures (or the match), or nil and an
--- error when `timeout` seconds pass (code ETIMEDOUT) or the program exits
--- without printing it (code EXITED); the error's `output` is what it printed.
function Process:wait_output(pattern, timeout, init)
  if type(pattern) ~= "string" then
    error("bad argument #1 to 'wait_output' (a Lua pattern expected, got " .. type(pattern) .. ")", 2)
  end
  local deadline = timeout and net.now() + timeout
  while true do
    local v = self.h:version()
    local out = self.h:output()
    local found = { out:find(pattern, init or 1) }
    if found[1] then
      if #found > 2 then return table.unpack(found, 3) end
      return out:sub(found[1], found[2])
    end
    local st = self:status()
    if st and not self.h:output_open() then
      return fail("wait_output", string.format("%s exited (%s) without printing %q; it printed:\n%s",
        self.cmd[1], tostring(st), pattern, tail(out)), "EXITED", { output = out, status = st })
    end
    -- The deadline holds for the whole call: a child that keeps printing
    -- wakes the wait at once, every time (issue 27: `yes` overran 1 s by 37).
    if (deadline and net.now() >= deadline) or not self.h:wait(v, remaining(deadline)) then
      return fail("wait_output", string.format("%q not printed by %s within %gs: i/o timeout; it printed:\n%s",
        pattern, self.cmd[1], timeout, tail(out)), "ETIMEDOUT", { output = out })
    end
  end
end

--- Wait for it to exit: its status ({ code = n } or { signal = name }), or
--- nil and a timeout error (code ETIMEDOUT) when `timeout` seconds pass.
--- The output that is still in the pipe is read first.
function Process:wait_exit(timeout)
  local deadline = timeout and net.now() + timeout
  local drain   -- once it exited: how long to wait for the rest of its output
  while true do
    local v = self.h:version()
    local st = self:status()
    if st and not self.h:output_open() then return st end
    if st and not drain then
      -- A process it started may hold the output open long after: read
      -- what is in the pipe, but do not wait for that one.
      drain = net.now() + 0.1
      if deadline and deadline < drain then drain = deadline end
    end
    local until_t = drain or deadline
    if st and net.now() >= until_t then return st end
    if not self.h:wait(v, until_t and math.max(0, until_t - net.now())) then
      st = self:status()
      if st then return st end
      return fail("wait_exit", string.format("%s (pid %d) still running after %gs: i/o timeout",
        self.cmd[1], self.pid, timeout), "ETIMEDOUT")
    end
  end
end

--- Send a signal ("TERM", "SIGINT", "HUP", or a number) to its process group.
function Process:signal(sig)
  if sig == nil then error("bad argument #1 to 'signal' (a signal name expected)", 2) end
  return self.h:signal(sig)
end

--- Stop it: SIGTERM to its process group, up to `grace` seconds (default 3)
--- for it to exit, then SIGKILL to whatever of the group is left; the handle
--- is closed. Returns how it ended ({ code = n } or { signal = name }).
function Process:stop(grace)
  local st = self:status()
  if not st then
    self.h:signal("TERM")
    st = self:wait_exit(grace or 3)
  end
  self:close()
  return st or self:status()
end

--- Kill (SIGKILL) what is left of its group now and release the handle.
--- Also done by <close> and by the garbage collector.
function Process:close()
  self.h:close()
end
Process.__close = Process.close

-- The fds a parent handed over (LISTEN_FDS / LISTEN_PID, from process.start's
-- `listen` or systemd) as Listeners, in order; {} when there are none (or
-- they were meant for another process: LISTEN_PID is not ours). The
-- Listeners own the fds: closing one closes its fd.
function M.inherited_listeners()
  local n = tonumber(os.getenv("LISTEN_FDS") or "")
  local pid = tonumber(os.getenv("LISTEN_PID") or "")
  local f = io.open("/proc/self/stat")
  local self_pid = f and f:read("n")
  if f then f:close() end
  if not n or not pid or pid ~= self_pid then return {} end
  local list = {}
  for fd = 3, 3 + n - 1 do
    local ln, err = net.file_listener(fd)
    if not ln then return nil, err end
    list[#list + 1] = ln
  end
  return list
end

return M
