-- Our fault proxy for make bench (case 6): PROTOCOL LISTEN_PORT UPSTREAM_PORT
-- [LATENCY_MS]. Prints "ready", then forwards until stopped.
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local fault = require "netharness.fault"
local protocol, lport, uport, latency = arg[1], arg[2], arg[3], tonumber(arg[4])
local p = assert(fault.proxy{ protocol = protocol, listen = "127.0.0.1:" .. lport,
                              upstream = "127.0.0.1:" .. uport, seed = 1 })
if latency then p:add{ type = "latency", attributes = { latency = latency } } end
print("ready")
io.stdout:flush()
net.sleep(1e6)
