-- Case 1 client: the harness's dialled UDP conn, one datagram out, one back.
-- usage: lua5.4 bench/udp_pingpong.lua PORT SECONDS SIZE
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local port, seconds, size = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3])
local conn = assert(net.dial("udp4", "127.0.0.1:" .. port))
local payload = string.rep("x", size)
local trips, lost = 0, 0
local start = net.now()
local stop = start + seconds
while net.now() < stop do
  conn:write(payload)
  if conn:read(65536, 0.2) then trips = trips + 1 else lost = lost + 1 end
end
local took = net.now() - start
print(string.format("trips=%d lost=%d seconds=%.3f rate=%.1f", trips, lost, took, trips / took))
