-- Case 5 clients: open N connections and hold them until killed.
-- usage: lua5.4 bench/idle_clients.lua PORT N
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local port, n = tonumber(arg[1]), tonumber(arg[2])
local held = {}   -- luacheck: ignore held (holds the connections open)
for i = 1, n do
  held[i] = assert(net.dial("tcp", "127.0.0.1:" .. port, 5))
end
print("connected " .. n)
net.sleep(3600)
