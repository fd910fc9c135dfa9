-- netharness: Go's net API for Lua 5.4 scripts, on a C core over libev.
--
-- This file is the package scripts require. The sockets, tasks and the event
-- loop are in the C module netharness.core; policy that is easier to read in
-- Lua lives here. Keep the first lines valid in every Lua version: they are
-- what an older interpreter runs before it stops. A library raises; it never
-- ends the program (a host embedding Lua would end with it).

if _VERSION ~= "Lua 5.4" then
  local script = arg and arg[0] or "your_script.lua"
  error("netharness needs Lua 5.4 but this is " .. tostring(_VERSION)
    .. "; run it with: lua5.4 " .. script, 0)
end

local found, core = pcall(require, "netharness.core")
if not found then
  error("netharness: the C module netharness.core is not built or installed;\n"
    .. "run `make` in the netharness folder (or `make install`). Lua said:\n"
    .. tostring(core), 0)
end

local M = {}
for k, v in pairs(core) do M[k] = v end
-- Errors then name "netharness.dial", not the C module's copy.
package.loaded["netharness.core"] = nil

-- True when err is a timeout (a deadline or a per-call timeout passed).
function M.is_timeout(err)
  return type(err) == "table" and err.timeout == true
end

-- True when err is end of stream: netharness.EOF or ErrUnexpectedEOF.
function M.is_eof(err)
  return err == core.EOF or err == core.ErrUnexpectedEOF
end

-- Wait for several tasks; returns true when all finished without error within
-- the timeout, else nil and the first problem (a failed task's message, or a
-- timeout error).
function M.wait_all(tasks, timeout)
  local deadline = timeout and core.now() + timeout
  for _, t in ipairs(tasks) do
    local left = deadline and math.max(0, deadline - core.now())
    local ok, err = t:wait(left)
    if not ok then return nil, err end
  end
  return true
end

return M
