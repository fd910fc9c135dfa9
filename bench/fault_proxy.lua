-- Our fault proxy for make bench (case 6): PROTOCOL LISTEN_PORT UPSTREAM_PORT
-- [LATENCY_MS]. Prints "ready", then forwards until stopped; with a latency,
-- it prints how late its pieces left (stats().late_*) every quarter second.
local net = dofile((arg[0]:match("^(.*)[/\\]") or ".") .. "/prelude.lua")
local fault = require "netharness.fault"
local protocol, lport, uport, latency = arg[1], arg[2], arg[3], tonumber(arg[4])
local p = assert(fault.proxy{ protocol = protocol, listen = "127.0.0.1:" .. lport,
                              upstream = "127.0.0.1:" .. uport, seed = 1 })
if latency then p:add{ type = "latency", attributes = { latency = latency } } end
print("ready")
while true do
  net.sleep(latency and 0.25 or 1e6)
  local s = p:stats()
  print(string.format("timed=%d late_p50_us=%.0f late_p99_us=%.0f late_max_us=%.0f", s.timed,
    s.late_p50 * 1e6, s.late_p99 * 1e6, s.late_max * 1e6))
end
