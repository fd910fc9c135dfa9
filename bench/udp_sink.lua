-- Case 2 receiver: count datagrams with read_from, from the first until none
-- comes for QUIET seconds; then print and wait to be stopped (the caller
-- reads our CPU time from /proc).
-- usage: lua5.4 bench/udp_sink.lua PORT QUIET
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local conn = assert(net.listen_packet("udp4", "127.0.0.1:" .. tonumber(arg[1])))
local quiet = tonumber(arg[2])
print("ready")
assert(conn:read_from(2048))
local got, first = 1, net.now()
local last = first
while conn:read_from(2048, quiet) do
  got = got + 1
  last = net.now()
end
print(string.format("received=%d seconds=%.3f rate=%.1f", got, last - first, got / (last - first)))
net.sleep(3600)
