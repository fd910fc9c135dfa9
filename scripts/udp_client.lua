-- The UDP client of the seed post (Go's net.Dial("udp4") + Write + Read), line
-- for line, with a read deadline so it never hangs. --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local cli = require "netharness.cli"

local usage = [[
usage: lua scripts/udp_client.lua [--addr HOST:PORT] [--timeout SECONDS] [--seed 000|004]
  --addr     server address (default localhost:8888; seed 004: localhost:8080)
  --timeout  give up when no answer comes within this time (default 5)
  --seed     000: send "Hello from client" (default); 004: the second post's
             client, sending "udp request"]]
local opts, why, status = cli.parse(arg, { usage = usage, options = { addr = "", timeout = "5", seed = "000" },
  numbers = { timeout = true } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
if opts.seed ~= "000" and opts.seed ~= "004" then
  io.stderr:write("--seed must be 000 or 004\n", usage, "\n")
  os.exit(2)
end
local seed004 = opts.seed == "004"
local address = opts.addr ~= "" and opts.addr or (seed004 and "localhost:8080" or "localhost:8888")
local timeout = opts.timeout
io.stdout:setvbuf("line")

local function fail(what, err)
  io.stderr:write("udp_client: ", what, " (", tostring(err), ")\n")
  -- os.exit closes the socket with the process
  os.exit(1)
end

-- conn, err := net.Dial("udp4", "localhost:8888")
local ok, conn, err = pcall(net.dial, "udp4", address)
if not ok then
  io.stderr:write("udp_client: ", tostring(conn), "\n")
  os.exit(2)
end
if not conn then fail("cannot reach " .. address, err) end

if not seed004 then print("Sending to server") end
-- _, err = conn.Write([]byte("Hello from client"))
local n, werr = conn:write(seed004 and "udp request" or "Hello from client")
if not n then fail("cannot send to " .. address, werr) end

if not seed004 then print("Receiving from server") end
conn:set_read_deadline(net.now() + timeout)
-- length, err := conn.Read(buffer)
local data, rerr = conn:read(1500)
if not data then
  if net.is_timeout(rerr) then
    fail(string.format("no answer from %s within %gs", address, timeout), rerr)
  elseif rerr.code == "ECONNREFUSED" then
    fail("no server is listening at " .. address, rerr)
  end
  fail("no answer from " .. address, rerr)
end
print(string.format("Received: %s", data))
conn:close()
