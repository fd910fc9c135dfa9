-- kv_server: a tiny Redis-like key-value server, the service under test of
-- this example. One command per line (Redis's "inline" commands):
--
--   PING            -> +PONG
--   SET key value   -> +OK          (value: the rest of the line)
--   GET key         -> $value | _   (_ : no such key)
--   DEL key         -> :1 | :0      (how many keys it removed)
--   QUIT            -> +BYE, and the server closes the connection
--   anything else   -> -ERR unknown command 'X'
--
-- Run it:   lua5.4 kv_server.lua [address]     (default 127.0.0.1:6380)
-- It prints "listening on ADDRESS" once it accepts connections. Started with
-- a listening socket handed over (netharness.test's T.process{listen = true},
-- or systemd's socket activation), it serves that one instead.
local net = require "netharness"
local process = require "netharness.process"

local IDLE = 30            -- seconds a client may stay silent
local MAX_LINE = 64 * 1024 -- a longer command is refused and the client dropped

local store = {}

local function handle(line)
  local cmd, rest = line:match("^(%S*)%s*(.-)%s*$")
  cmd = cmd:upper()
  if cmd == "PING" then return "+PONG" end
  if cmd == "SET" then
    local key, value = rest:match("^(%S+)%s+(.+)$")
    if not key then return "-ERR usage: SET key value" end
    store[key] = value
    return "+OK"
  end
  if cmd == "GET" then
    if rest == "" then return "-ERR usage: GET key" end
    local v = store[rest]
    return v and ("$" .. v) or "_"
  end
  if cmd == "DEL" then
    if rest == "" then return "-ERR usage: DEL key" end
    local had = store[rest] ~= nil
    store[rest] = nil
    return had and ":1" or ":0"
  end
  if cmd == "QUIT" then return "+BYE", true end
  return "-ERR unknown command '" .. cmd .. "'"
end

local function serve(c)
  c:set_line_limit(MAX_LINE)
  while true do
    local line, err = c:read_line(IDLE)
    if not line then
      -- a line past the limit gets an answer; EOF, idle and resets just end
      if err and err.code == "EBUFFULL" then c:write("-ERR line too long\r\n") end
      break
    end
    local reply, quit = handle(line)
    if not c:write(reply .. "\r\n") or quit then break end
  end
  c:close()
end

local ln = (process.inherited_listeners() or {})[1]
if not ln then ln = assert(net.listen("tcp", arg[1] or "127.0.0.1:6380")) end
print("listening on " .. tostring(ln:addr()))
io.stdout:flush()   -- a pipe is block-buffered: say it now
while true do
  local c = ln:accept()
  if c then net.spawn(serve, c) end
end
