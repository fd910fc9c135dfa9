-- netharness.test: the kit for busted specs of your own service or client.
--
--   local net = require "netharness"
--   local T = require "netharness.test"
--
--   describe("my server", function()
--     it("answers PING", T.async(function()
--       local srv = T.process{ cmd = { "./my-server", "--port", "0" }, ready = "port (%d+)" }
--       local c = assert(net.dial("tcp", "127.0.0.1:" .. srv.ready[1], 2))
--       c:write("PING\r\n")
--       assert.are.equal("+PONG", c:read_line(2))
--     end, 5))
--   end)
--
-- What it gives (the README's "Writing a spec" documents every argument):
--   T.run(fn [, opts]), T.async(fn [, opts])   a body as a task, time-limited,
--                                              its failures and its tasks' as busted failures
--   T.process{...}                             the program under test, stopped when the spec ends
--   T.leaks() / T.check_leaks(before)          fds, tasks and listening sockets that leaked
--   T.free_port([network])                     a port nobody listens on (may race)
--   T.open_fds()                               this process's open fds
--   assert.eventually, assert.net_error, assert.http_status
--
-- It works without busted too (T.run and T.process raise plain errors then).
local net = require "netharness"
local process = require "netharness.process"

local T = {}

--- Defaults of the kit; a spec helper may change them.
---   limit  seconds a T.run body may take (10)
---   grace  seconds a process gets between SIGTERM and SIGKILL when stopped (2)
---   env    variables every T.process gets ({NAME = "v" | false}), before its own env
T.defaults = { limit = 10, grace = 2, env = {} }

local busted_api = package.loaded.busted or (pcall(require, "busted") and require "busted")
if busted_api and not (pcall(function() return busted_api.fail end) and busted_api.fail) then
  busted_api = nil   -- busted installed but not running: plain errors
end

-- A busted failure (not an error) with msg; a plain error outside busted.
-- level as error's: 0 adds no position.
local function fail(msg, level)
  level = level or 1
  if busted_api then busted_api.fail(msg, level > 0 and level + 1 or 0) end
  error(msg, level > 0 and level + 1 or 0)
end

-- ---- processes of the running spec ----

local started = {}   -- processes started since the current spec began

local function tail(s, n)
  if #s <= n then return s end
  return "...(" .. (#s - n) .. " bytes before)\n" .. s:sub(-n)
end

-- What the processes of this spec printed, for a failure message.
local file_started = {}   -- processes of the file (see scope below)

local function outputs(limit)
  local parts = {}
  local all = { table.unpack(file_started) }
  for _, p in ipairs(started) do all[#all + 1] = p end
  for _, p in ipairs(all) do
    if not p.output_shown then
      local out = p:output()
      local st = p:status()
      parts[#parts + 1] = string.format("--- output of %s (pid %d, %s) ---\n%s%s",
        table.concat(p.cmd, " "), p.pid, st and tostring(st) or "running",
        tail(out, limit or 4000), (out == "" or out:sub(-1) == "\n") and "" or "\n")
      p.output_shown = true
    end
  end
  return table.concat(parts)
end

-- Processes started by setup (lazy_setup, strict_setup) serve the file's
-- tests, and stop when the file ends; those started by a test, its
-- before_each or after_each, when the test ends.
local in_test = false   -- between busted's test start and test end
local run_scope         -- the scope of the T.run body running now

-- "test" or "file": which of the two a process started now belongs to.
-- busted runs each block through busted.safe(descriptor, ...): the
-- innermost one on the stack names the block. A T.run body is a task, whose
-- stack does not reach busted's: T.run notes the scope when it starts.
local function scope()
  if in_test then return "test" end
  if run_scope then return run_scope end
  for level = 2, 200 do
    local info = debug.getinfo(level, "S")
    if not info then break end
    if info.short_src:match("busted[/\\]core%.lua$") then
      local name, value = debug.getlocal(level, 1)
      if name == "descriptor" then
        return (value == "it" or value == "before_each" or value == "after_each") and "test" or "file"
      end
    end
  end
  return "test"
end

local function stop_all(list)
  for _, p in ipairs(list) do
    if not p.closed then p:stop(T.defaults.grace) end
  end
end

if busted_api then
  busted_api.subscribe({ "test", "start" }, function()
    in_test = true
    return nil, true
  end)
  busted_api.subscribe({ "test", "end" }, function(_, _, status)
    if status ~= "success" and status ~= "pending" then
      local text = outputs()
      if text ~= "" then io.stderr:write(text) end
    end
    in_test = false
    local list = started
    started = {}
    stop_all(list)
    return nil, true
  end)
  busted_api.subscribe({ "file", "end" }, function()
    local list = file_started
    file_started = {}
    stop_all(list)
    return nil, true
  end)
end

-- ---- leaks ----

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- This process's open file descriptors: their count, and a table fd -> what
--- it is ("socket:[1234]", "/tmp/x", "pipe:[5]").
function T.open_fds()
  local lfs = require "lfs"   -- LuaFileSystem, which busted brings
  local list, n = {}, 0
  local dir = "/proc/self/fd"
  for name in lfs.dir(dir) do
    local fd = tonumber(name)
    if fd then
      local target = lfs.symlinkattributes(dir .. "/" .. name, "target")
      -- the listing's own fd, open while we read it
      if target and not target:match("^/proc/%d+/fd$") then
        list[fd] = target
        n = n + 1
      end
    end
  end
  return n, list
end

-- Sockets of ours that listen (TCP) or are bound (UDP): inode -> "tcp 127.0.0.1:80".
local function bound_sockets(fds)
  local mine = {}
  for _, target in pairs(fds) do
    local inode = target:match("^socket:%[(%d+)%]$")
    if inode then mine[inode] = true end
  end
  local found = {}
  for _, proto in ipairs({ "tcp", "tcp6", "udp", "udp6" }) do
    for line in (read_file("/proc/net/" .. proto) or ""):gmatch("[^\n]+") do
      local f = {}
      for w in line:gmatch("%S+") do f[#f + 1] = w end
      local port = f[2] and f[2]:match(":(%x+)$")
      if port and mine[f[10]] and (proto:sub(1, 3) == "udp" or f[4] == "0A") then
        found[f[10]] = string.format("%s port %d (%s)", proto:sub(1, 3) == "udp" and "udp" or "tcp listener",
          tonumber(port, 16), proto)
      end
    end
  end
  return found
end

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

--- A snapshot to compare with later (T.check_leaks): open fds, live tasks,
--- listening and bound sockets. Collects garbage first, so what is
--- unreachable does not count.
function T.leaks()
  full_gc()
  local n, fds = T.open_fds()
  return { fds = fds, nfds = n, tasks = net.live_tasks(), sockets = bound_sockets(fds) }
end

--- What leaked since the snapshot `before`: nil when nothing did, else a
--- message listing each leaked fd (and what it is), live task and socket.
--- `what` limits the check: {fds = true, tasks = true, sockets = true} (all by default).
function T.check_leaks(before, what)
  what = what or { fds = true, tasks = true, sockets = true }
  local now = T.leaks()
  local lines = {}
  if what.tasks and now.tasks > before.tasks then
    lines[#lines + 1] = string.format("%d task(s) still running (%d before, %d now)",
      now.tasks - before.tasks, before.tasks, now.tasks)
  end
  if what.sockets then
    for inode, desc in pairs(now.sockets) do
      if not before.sockets[inode] then lines[#lines + 1] = "socket still open: " .. desc end
    end
  end
  if what.fds then
    local fds = {}
    for fd, target in pairs(now.fds) do
      if before.fds[fd] ~= target then fds[#fds + 1] = fd end
    end
    table.sort(fds)
    for _, fd in ipairs(fds) do
      lines[#lines + 1] = string.format("fd %d open: %s", fd, now.fds[fd])
    end
  end
  if #lines == 0 then return nil end
  table.sort(lines)
  return "leaked: " .. table.concat(lines, "; ")
end

-- ---- running a body ----

local function options(opts, fname)
  if opts == nil then return { limit = T.defaults.limit } end
  if type(opts) == "number" then return { limit = opts } end
  if type(opts) ~= "table" then
    error("bad argument #2 to '" .. fname .. "' (a time limit or an options table expected, got "
      .. type(opts) .. ")", 3)
  end
  local o = { limit = opts.limit or T.defaults.limit, leaks = opts.leaks }
  if type(o.limit) ~= "number" or o.limit <= 0 then
    error("bad argument #2 to '" .. fname .. "' (limit: seconds expected)", 3)
  end
  return o
end

--- Run fn as a task and wait for it, at most `opts` seconds (or opts.limit;
--- default T.defaults.limit). Returns what fn returns. The spec fails (a
--- busted failure carrying the message and the task's traceback) when fn
--- fails, when any task it started fails, or when the limit passes; the
--- tasks left are cancelled either way. opts.leaks = true (or a table as for
--- T.check_leaks) also fails it when fds, tasks or sockets leaked.
function T.run(fn, opts)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'run' (a function expected, got " .. type(fn) .. ")", 2)
  end
  local o = options(opts, "run")
  local before = o.leaks and T.leaks()
  local first_started = #started + 1
  local outer_scope = run_scope
  run_scope = busted_api and scope() or nil
  local body
  local failures = {}
  local previous = net.on_task_error(function(task, msg)
    if task ~= body then failures[#failures + 1] = msg end
  end)
  body = net.spawn(fn)
  local results = table.pack(body:wait(o.limit))
  local stack = results[1] == nil and body:traceback()
  net.cancel_all()
  net.on_task_error(previous)
  run_scope = outer_scope
  local problem
  if results[1] == nil then
    problem = string.format("the spec body did not finish within %gs (the time limit)%s", o.limit,
      stack and ("; it was waiting here:\n" .. stack) or "")
  elseif results[1] == false then
    problem = tostring(results[2])
  elseif #failures > 0 then
    problem = "a task the spec started failed: " .. failures[1]
  end
  if not problem and o.leaks then
    -- The processes this body started would be stopped at the end of the
    -- spec anyway: stop them now, so their pipes are not counted.
    for i = first_started, #started do
      if not started[i].closed then started[i]:stop(T.defaults.grace) end
    end
    problem = T.check_leaks(before, o.leaks ~= true and o.leaks or nil)
  end
  if problem then
    local text = outputs()
    -- Where the body is defined: what busted would otherwise name is this file.
    local info = debug.getinfo(fn, "S")
    local where = problem:match("^[^%s:]+:%d+: ") and "" or (info.short_src .. ":" .. info.linedefined .. ": ")
    fail(where .. problem .. (text ~= "" and "\n" .. text or ""), 0)
  end
  return table.unpack(results, 2, results.n)
end

--- T.run as an `it` body: it("...", T.async(function() ... end, 5)).
function T.async(fn, opts)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'async' (a function expected, got " .. type(fn) .. ")", 2)
  end
  options(opts, "async")
  return function() return T.run(fn, opts) end
end

-- ---- processes under test ----

-- Wait until something accepts TCP connections on host:port.
local function wait_port(p, host, port, deadline)
  local last
  repeat
    local c, err = net.dial("tcp", host .. ":" .. port, math.max(0.01, deadline - net.now()))
    if c then
      c:close()
      return true
    end
    last = err
    if p:status() then return nil, "exited (" .. tostring(p:status()) .. ")" end
    net.sleep(0.01)
  until net.now() >= deadline
  return nil, "no connection accepted on port " .. port .. " (" .. tostring(last) .. ")"
end

--- Start the program under test and wait until it is ready; it is stopped
--- (SIGTERM, then SIGKILL after T.defaults.grace) when the spec ends, pass or
--- fail (started in setup or a describe block: when the file ends), and its
--- output is shown when the spec fails. opts are those of
--- netharness.process.start (cmd, shell, env, inherit_env, cwd, keep) and:
---   listen   true, or an address ("127.0.0.1:0", "[::1]:0"): a listening
---            socket made here and handed to the program as fd 3
---            (LISTEN_FDS=1); p.addr and p.port say where. No race: the
---            port is bound before the program starts and never released
---   ready    a port number: wait until it accepts TCP connections on 127.0.0.1;
---            or a Lua pattern: wait until the output matches; p.ready
---            holds the pattern's captures (p.ready[1] ...)
---   timeout  seconds to wait for ready (default 5)
--- Returns the netharness.process Process (p.pid, p:output(), p:wait_exit(t),
--- p:signal(name), p:stop()). Fails the spec when the program cannot start
--- or is not ready in time, showing what it printed.
function T.process(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'process' (a table expected, got " .. type(opts) .. ")", 2)
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.env = {}
  for k, v in pairs(T.defaults.env) do o.env[k] = v end
  for k, v in pairs(opts.env or {}) do o.env[k] = v end
  local ln
  if opts.listen ~= nil and opts.listen ~= false then
    local address = opts.listen == true and "127.0.0.1:0" or opts.listen
    if type(address) ~= "string" then
      error("bad argument #1 to 'process' (listen: true or an address expected)", 2)
    end
    local err
    ln, err = net.listen("tcp", address)
    if not ln then fail("T.process: " .. tostring(err), 2) end
    o.listen = ln
  end
  local ready = opts.ready
  if ready ~= nil and type(ready) ~= "number" and type(ready) ~= "string" then
    error("bad argument #1 to 'process' (ready: a port number or a Lua pattern expected)", 2)
  end
  local timeout = opts.timeout or 5
  local p, err = process.start(o)
  if ln then
    if p then
      p.addr, p.port = tostring(ln:addr()), ln:addr().port
    end
    ln:close()   -- the child has its own copy
  end
  if not p then fail("T.process: " .. tostring(err), 2) end
  if busted_api and scope() == "file" then
    file_started[#file_started + 1] = p
  else
    started[#started + 1] = p
  end
  local close = p.close
  function p.close(self)
    self.closed = true
    return close(self)
  end
  if type(ready) == "number" then
    local ok, why = wait_port(p, "127.0.0.1", ready, net.now() + timeout)
    if not ok then
      fail(string.format("T.process: %s not ready within %gs: %s\n%s", p.cmd[1], timeout, why, outputs()), 2)
    end
  elseif type(ready) == "string" then
    local found = table.pack(p:wait_output(ready, timeout))
    if found[1] == nil then
      p.output_shown = true   -- the error shows it
      fail("T.process: " .. tostring(found[2]), 2)
    end
    p.ready = { table.unpack(found, 1, found.n) }
  end
  return p
end

--- A TCP (default) or UDP port on 127.0.0.1 that nobody listens on now. It
--- was bound and released, so another process may take it before you use
--- it: a race. For a program under test, prefer T.process's `listen` (the
--- socket is handed over) or reading the port it prints (`ready`); use this
--- for a port that should refuse connections.
function T.free_port(network)
  network = network or "tcp"
  local c, err
  if network:sub(1, 3) == "udp" then
    c, err = net.listen_packet(network, "127.0.0.1:0")
  else
    c, err = net.listen(network, "127.0.0.1:0")
  end
  if not c then error("free_port: " .. tostring(err), 2) end
  local port = c:local_addr().port
  c:close()
  return port
end

-- ---- assertions ----

local ok_luassert, luassert = pcall(require, "luassert")
local ok_say, say = pcall(require, "say")

if ok_luassert and ok_say then
  -- assert.eventually(fn [, timeout]): call fn until it returns a true
  -- value, or returns nothing without raising (a body of assertions), at
  -- most timeout seconds (default 5), letting the loop run between tries.
  local function eventually(state, arguments)
    local fn, timeout = arguments[1], arguments[2] or 5
    if type(fn) ~= "function" then
      error("bad argument #1 to 'eventually' (a function expected, got " .. type(fn) .. ")", 4)
    end
    local deadline = net.now() + timeout
    local last
    local tries = 0
    repeat
      tries = tries + 1
      local r = table.pack(pcall(fn))
      if r[1] and (r.n == 1 or r[2]) then return true end
      last = r[1] and ("it returned " .. tostring(r[2])) or ("it raised: " .. tostring(r[2]))
      net.sleep(0.01)
    until net.now() >= deadline
    rawset(state, "failure_message", string.format("condition not met within %gs (%d tries); last, %s",
      timeout, tries, last))
    arguments.n = 0
    return false
  end
  say:set("assertion.eventually.positive", "Expected the condition to hold eventually")
  say:set("assertion.eventually.negative", "Expected the condition never to hold")
  luassert:register("assertion", "eventually", eventually,
    "assertion.eventually.positive", "assertion.eventually.negative")

  -- assert.net_error("ECONNREFUSED", err): err is a netharness error with that code.
  local function net_error(state, arguments)
    local code, err = arguments[1], arguments[2]
    local got = type(err) == "table" and err.code
    if got == code then return true end
    rawset(state, "failure_message", string.format("Expected a netharness error with code %s, got %s",
      tostring(code), err == nil and "nil (no error)" or
      (got and (string.format("%s (code %s)", tostring(err), got)) or tostring(err))))
    arguments.n = 0
    return false
  end
  say:set("assertion.net_error.negative", "Expected an error other than that")
  luassert:register("assertion", "net_error", net_error,
    "assertion.net_error.detail", "assertion.net_error.negative")

  -- assert.http_status(200, res [, err]): res is an HTTP response with that
  -- status; err (a request's second result) is shown when there is none.
  local function http_status(state, arguments)
    local want, res, err = arguments[1], arguments[2], arguments[3]
    local got = type(res) == "table" and res.status_code
    if got == want then return true end
    local detail
    if got then
      local body = type(res.body) == "string" and res.body or ""
      detail = string.format("got %s%s", res.status or tostring(got),
        body ~= "" and ("; body: " .. tail(body, 300)) or "")
    else
      detail = "got no response" .. (err ~= nil and (": " .. tostring(err)) or "")
    end
    rawset(state, "failure_message", string.format("Expected HTTP status %s, %s", tostring(want), detail))
    arguments.n = 0
    return false
  end
  say:set("assertion.http_status.negative", "Expected another HTTP status")
  luassert:register("assertion", "http_status", http_status,
    "assertion.http_status.detail", "assertion.http_status.negative")
end

return T
