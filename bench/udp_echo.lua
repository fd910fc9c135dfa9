-- Case 1 server: the harness's listen_packet / read_from / write_to echo.
-- usage: lua5.4 bench/udp_echo.lua PORT
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local conn = assert(net.listen_packet("udp4", "127.0.0.1:" .. assert(tonumber(arg[1]), "PORT")))
print("ready")
while true do
  local data, from = conn:read_from(65536)
  if data then conn:write_to(data, from) end
end
