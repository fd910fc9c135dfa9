---@meta
-- LuaCATS annotations of netharness.process (programs under test) and
-- netharness.test (the kit for busted specs).
-- Checked by spec/types_spec.lua against the module.

-- ---- netharness.process ----

---How a program ended: prints "exit status 3" or "signal: SIGTERM".
---@class netharness.process.Status
---@field code? integer its exit code, when it exited
---@field signal? string the signal that ended it ("SIGKILL"), when one did

---@class netharness.process.Options
---@field cmd string[]|string {program, args...} (program found in PATH), or a command line with shell = true
---@field shell? boolean run cmd with /bin/sh -c
---@field env? table<string,string|false> added to (false: removed from) this process's environment
---@field inherit_env? boolean false: start from an empty environment
---@field cwd? string the folder it starts in
---@field listen? netharness.Listener|netharness.Listener[] handed over as fds 3, 4, ... (LISTEN_FDS)
---@field keep? integer output bytes kept (default 16 MiB)

---A program started by netharness.process.start.
---@class netharness.process.Process
---@field pid integer also its process group's id
---@field cmd string[] what was run
local Process = {}
---Everything it wrote to stdout and stderr so far, and the bytes dropped past `keep`.
---@return string output
---@return integer dropped
function Process:output() end
---nil while it runs.
---@return netharness.process.Status?
function Process:status() end
---@return boolean
function Process:running() end
---Wait until the output matches a Lua pattern: its captures (or the match).
---@param pattern string
---@param timeout? number seconds
---@param init? integer where to start searching the output
---@return string? capture
---@return netharness.Error|string|nil err code ETIMEDOUT, or EXITED (err.output, err.status)
function Process:wait_output(pattern, timeout, init) end
---@param timeout? number seconds
---@return netharness.process.Status? status
---@return netharness.Error? err code ETIMEDOUT
function Process:wait_exit(timeout) end
---To its whole process group.
---@param sig string|integer "TERM", "SIGINT", 9, ...
---@return true? ok
---@return netharness.Error? err
function Process:signal(sig) end
---SIGTERM to its group, then SIGKILL after `grace` seconds (default 3); closes the handle.
---@param grace? number
---@return netharness.process.Status
function Process:stop(grace) end
---SIGKILL to what is left of its group; releases the handle (also <close>, the collector).
function Process:close() end

---@class netharness.process
local process = {}
---@param opts netharness.process.Options
---@return netharness.process.Process? p
---@return netharness.Error? err code ENOENT when the program is not found
function process.start(opts) end
---The listening sockets a parent handed over (LISTEN_FDS, LISTEN_PID), in order.
---@return netharness.Listener[]? listeners {} when there are none
---@return netharness.Error? err
function process.inherited_listeners() end

-- ---- netharness.test ----

---@class netharness.test.RunOptions
---@field limit? number seconds the body may take (T.defaults.limit, 10)
---@field leaks? boolean|table true, or {fds=, tasks=, sockets=}: fail the spec when they leak

---@class netharness.test.ProcessOptions: netharness.process.Options
---@field listen? boolean|string true or an address: a listening socket handed over as fd 3
---@field ready? integer|string a port that accepts TCP, or a Lua pattern the output matches
---@field timeout? number seconds to wait for ready (5)

---A Process started by T.process: stopped when the spec ends.
---@class netharness.test.Process: netharness.process.Process
---@field addr? string with listen: where it listens ("127.0.0.1:40123")
---@field port? integer with listen: its port
---@field ready? string[] with a ready pattern: its captures

---@class netharness.test.Snapshot
---@field fds table<integer,string> fd -> what it is
---@field nfds integer
---@field tasks integer live tasks
---@field sockets table<string,string> inode -> "tcp listener port 80 (tcp)"

---@class netharness.test
---@field defaults {limit: number, grace: number, env: table} limit, grace (2 s) and env for every spec
local test = {}
---Run fn as a task, time-limited; its failures and its tasks' fail the spec.
---@param fn function
---@param opts? number|netharness.test.RunOptions a time limit in seconds, or options
---@return any ... what fn returns
function test.run(fn, opts) end
---An `it` body: it("...", T.async(function() ... end, 5)).
---@param fn function
---@param opts? number|netharness.test.RunOptions
---@return function
function test.async(fn, opts) end
---Start the program under test and wait until it is ready; fails the spec if it cannot.
---@param opts netharness.test.ProcessOptions
---@return netharness.test.Process
function test.process(opts) end
---A snapshot of open fds, live tasks and bound sockets, after collecting garbage.
---@return netharness.test.Snapshot
function test.leaks() end
---What leaked since the snapshot: nil, or a message naming each.
---@param before netharness.test.Snapshot
---@param what? table {fds=, tasks=, sockets=}
---@return string? message
function test.check_leaks(before, what) end
---A port on 127.0.0.1 nobody listens on now (bound and released: it can race).
---@param network? string "tcp" (default) or "udp"
---@return integer port
function test.free_port(network) end
---This process's open fds: the count and fd -> target.
---@return integer count
---@return table<integer,string> fds
function test.open_fds() end
