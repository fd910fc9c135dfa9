-- The seed post's UDP client: one datagram out, one back.
--
--   lua5.4 udp_client.lua [address]     (default localhost:8888)
local net = require "netharness"

local conn = assert(net.dial("udp4", arg[1] or "localhost:8888"))
print("Sending to server")
assert(conn:write("Hello from client"))
print("Receiving from server")
-- The post waits forever; a test harness does not: 5 s, then an error.
local data = assert(conn:read(1500, 5))
print("Received: " .. data)
conn:close()
