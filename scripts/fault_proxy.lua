-- A fault-injecting proxy server with Toxiproxy's HTTP control API, so that
-- toxiproxy-cli and Toxiproxy's client libraries drive netharness's TCP and
-- UDP proxies. --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local http = require "netharness.http"
local cli = require "netharness.cli"
local api = require "netharness.fault.api"

local usage = [[
usage: lua scripts/fault_proxy.lua [--host H] [--port P] [--config FILE] [--seed N]
  --host    address the control API listens on (default 127.0.0.1)
  --port    its port (default 8474, Toxiproxy's)
  --config  a JSON array of proxies to create at start (as POST /populate)
  --seed    seed for every proxy's random decisions (default: a random one,
            shown in each proxy's "seed")]]
local opts, why, status = cli.parse(arg, { usage = usage,
  options = { host = "127.0.0.1", port = "8474", config = "", seed = "" }, numbers = { port = true } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
local seed = nil
if opts.seed ~= "" then
  seed = math.tointeger(tonumber(opts.seed))
  if not seed then io.stderr:write("fault_proxy: --seed must be an integer\n") os.exit(2) end
end
io.stdout:setvbuf("line")

local server = api.new{ seed = seed }
if opts.config ~= "" then
  local f, ferr = io.open(opts.config)
  if not f then io.stderr:write("fault_proxy: ", ferr, "\n") os.exit(1) end
  local done, perr = server.populate(f:read("a"))
  f:close()
  if not done then io.stderr:write("fault_proxy: ", opts.config, ": ", perr, "\n") os.exit(1) end
end

local host = opts.host:find(":") and "[" .. opts.host .. "]" or opts.host
local ln, err = net.listen("tcp", host .. ":" .. math.tointeger(opts.port))
if not ln then io.stderr:write("fault_proxy: ", tostring(err), "\n") os.exit(1) end
print("fault_proxy: API on http://" .. tostring(ln:addr()))
net.spawn(http.serve, ln, server.handler, { on_error = function(msg) io.stderr:write(msg, "\n") end })
net.run()
