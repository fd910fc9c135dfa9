-- The HTTP server of seed 004, line for line: net.Listen + Accept, one task
-- per connection (Go's `go func()`), http.ReadRequest, httputil.DumpRequest,
-- an HTTP/1.0 200 answer "TCP connection", then close. --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local http = require "netharness.http"
local cli = require "netharness.cli"

local usage = [[
usage: lua scripts/http_server.lua [--addr HOST:PORT] [--count N]
  --addr   address to listen on (default :8080, every interface, IPv4 and IPv6)
  --count  stop after N connections (default 0: serve until killed)]]
local opts, why, status = cli.parse(arg, { usage = usage, options = { addr = ":8080", count = "0" },
  numbers = { count = true } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
local count = opts.count
io.stdout:setvbuf("line")

-- nl, _ := net.Listen("tcp", ":8080")
local ok, nl, err = pcall(net.listen, "tcp", opts.addr)
if not ok then
  io.stderr:write("http_server: ", tostring(nl), "\n")
  os.exit(2)
end
if not nl then
  io.stderr:write("http_server: ", tostring(err), "\n")
  os.exit(1)
end
io.stderr:write("http_server: listening on ", tostring(nl:addr()), "\n")

local function handle(conn)
  -- req, _ := http.ReadRequest(bufio.NewReader(conn))
  local req, rerr = http.read_request(conn, { timeout = 30 })
  if not req then
    io.stderr:write("http_server: ", tostring(conn:remote_addr()), ": ", tostring(rerr), "\n")
    conn:close()
    return
  end
  -- dump, _ := httputil.DumpRequest(req, true); fmt.Println(string(dump))
  print(http.dump_request(req, true))
  -- res := http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 0, Body: "TCP connection"}
  local res = http.new_response(200, "TCP connection")
  res.proto_major, res.proto_minor = 1, 0
  -- res.Write(conn); conn.Close()
  res:write(conn, 30)
  conn:close()
end

local function serve()
  local served = 0
  while count == 0 or served < count do
    -- conn, _ := nl.Accept()
    local conn, aerr = nl:accept()
    if not conn then
      io.stderr:write("http_server: ", tostring(aerr), "\n")
      os.exit(1)
    end
    -- go func() { ... }()
    net.spawn(handle, conn)
    served = served + 1
  end
  net.run(30) -- let the last connections finish
end

local served, problem = pcall(serve)
nl:close()
if not served then
  if tostring(problem):match("interrupted!$") then os.exit(130) end -- Ctrl-C
  error(problem, 0)
end
