-- Case 3 server: http.serve answering 200 "TCP connection", with the full
-- Lua request parsing in the path.
-- usage: lua5.4 bench/http_server.lua PORT
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local http = require "netharness.http"
local ln = assert(net.listen("tcp", "127.0.0.1:" .. tonumber(arg[1])))
print("ready")
http.serve(ln, function(_, res)
  res.body = "TCP connection"
end)
