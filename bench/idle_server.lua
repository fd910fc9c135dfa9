-- Case 5 server: every accepted connection gets a task waiting in read().
-- Prints "accepted N" each time N reaches a multiple of 1000.
-- usage: lua5.4 bench/idle_server.lua PORT
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local ln = assert(net.listen("tcp", "127.0.0.1:" .. tonumber(arg[1])))
collectgarbage("collect")
print("ready")
local function hold(c)
  c:read(100)
  c:close()
end
local n = 0
while true do
  local c = ln:accept()
  if c then
    n = n + 1
    net.spawn(hold, c)
    if n % 1000 == 0 then
      collectgarbage("collect")
      print("accepted " .. n)
    end
  end
end
