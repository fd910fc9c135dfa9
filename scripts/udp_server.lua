-- The UDP server of the seed post (Go's net.ListenPacket + ReadFrom/WriteTo
-- loop), line for line. `lua scripts/udp_server.lua --help` for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local cli = require "netharness.cli"

local usage = [[
usage: lua scripts/udp_server.lua [--addr HOST:PORT] [--count N] [--seed 000|004]
  --addr   address to listen on (default localhost:8888; seed 004: localhost:8080)
  --count  stop after answering N datagrams (default 0: serve until killed)
  --seed   000: answer "Hello from Server" (default); 004: the second post's
           server, answering "udp server" and printing "<addr> <message>"]]
local opts, why, status = cli.parse(arg, { usage = usage, options = { addr = "", count = "0", seed = "000" },
  numbers = { count = true } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
if opts.seed ~= "000" and opts.seed ~= "004" then
  io.stderr:write("--seed must be 000 or 004\n", usage, "\n")
  os.exit(2)
end
local seed004 = opts.seed == "004"
local address = opts.addr ~= "" and opts.addr or (seed004 and "localhost:8080" or "localhost:8888")
local count = opts.count
io.stdout:setvbuf("line")

-- conn, err := net.ListenPacket("udp", "localhost:8888")
local ok, conn, err = pcall(net.listen_packet, "udp", address)
if not ok then
  io.stderr:write("udp_server: ", tostring(conn), "\n")
  os.exit(2)
end
if not conn then
  io.stderr:write("udp_server: ", tostring(err), "\n")
  os.exit(1)
end

local shown = address:match(":0$") and tostring(conn:local_addr()) or address
if not seed004 then print("Server is running at " .. shown) end

local reply = seed004 and "udp server" or "Hello from Server"

local function serve()
  local answered = 0
  while count == 0 or answered < count do
    -- length, remoteAddress, err := conn.ReadFrom(buffer)
    local data, remote, rerr = conn:read_from(1500)
    if not data then
      io.stderr:write("udp_server: ", tostring(remote or rerr), "\n")
      os.exit(1)
    end
    if seed004 then
      print(string.format("%s %s", remote, data))
    else
      print(string.format("Received from %s: %s", remote, data))
    end
    -- _, err = conn.WriteTo([]byte("Hello from Server"), remoteAddress)
    local n, werr = conn:write_to(reply, remote)
    if not n then
      io.stderr:write("udp_server: ", tostring(werr), "\n")
      os.exit(1)
    end
    answered = answered + 1
  end
end

local served, problem = pcall(serve)
conn:close()
if not served then
  if tostring(problem):match("interrupted!$") then os.exit(130) end -- Ctrl-C
  error(problem, 0)
end
