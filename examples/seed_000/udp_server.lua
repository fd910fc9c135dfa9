-- The UDP server of the seed post ("GolangでUDPサーバー&クライアントを作成して
-- Wiresharkで検証する"), line for line in netharness: read a datagram, print
-- who sent what, answer "Hello from Server".
--
--   lua5.4 udp_server.lua [address]     (default localhost:8888, as the post)
local net = require "netharness"

local conn = assert(net.listen_packet("udp", arg[1] or "localhost:8888"))
print("Server is running at " .. tostring(conn:local_addr()))
io.stdout:flush()
while true do
  local data, remote = assert(conn:read_from(1500))
  print(("Received from %s: %s"):format(tostring(remote), data))
  io.stdout:flush()
  assert(conn:write_to("Hello from Server", remote))
end
