-- Case 2 receiver: count each burst of datagrams with read_from, from its
-- first datagram until none comes for QUIET seconds; report it, then wait for
-- the next burst (the caller reads our CPU time from /proc around each one,
-- and stops us).
-- usage: lua5.4 bench/udp_sink.lua PORT QUIET
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local conn = assert(net.listen_packet("udp4", "127.0.0.1:" .. tonumber(arg[1])))
assert(conn:set_read_buffer(8 << 20))   -- as the C sink does
local quiet = tonumber(arg[2])
print("ready")
local burst = 0
while true do
  assert(conn:read_from(2048))
  local got, first = 1, net.now()
  local last = first
  while conn:read_from(2048, quiet) do
    got = got + 1
    last = net.now()
  end
  burst = burst + 1
  print(string.format("burst=%d received=%d seconds=%.3f rate=%.1f", burst, got, last - first, got / (last - first)))
end
