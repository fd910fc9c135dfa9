---@meta
-- LuaCATS annotations of netharness.process (programs under test).
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
