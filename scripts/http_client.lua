-- The HTTP client of seed 004, line for line: net.Dial, http.NewRequest,
-- req.Write, http.ReadResponse, httputil.DumpResponse. --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local http = require "netharness.http"
local cli = require "netharness.cli"

local usage = [[
usage: lua scripts/http_client.lua [--addr HOST:PORT] [--url URL] [--timeout SECONDS]
  --addr     where to connect (default: the URL's host and port, else localhost:8080)
  --url      the request's URL (default http://<addr>)
  --timeout  give up after this long (default 5)]]
local opts, why, status = cli.parse(arg, { usage = usage, options = { addr = "", url = "", timeout = "5" },
  numbers = { timeout = true } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
local timeout = opts.timeout
io.stdout:setvbuf("line")

local function fail(what, err)
  io.stderr:write("http_client: ", what, " (", tostring(err), ")\n")
  os.exit(1)
end

-- req, _ := http.NewRequest("GET", "http://localhost:8080", nil)
local addr = opts.addr
local url = opts.url ~= "" and opts.url or ("http://" .. (addr ~= "" and addr or "localhost:8080"))
local req, uerr = http.new_request("GET", url)
if not req then fail("bad URL " .. url, uerr) end
if addr == "" then addr = req.url.dial_address end -- the URL says where, unless --addr does
-- conn, _ := net.Dial("tcp", "localhost:8080")
local ok, conn, err = pcall(net.dial, "tcp", addr, timeout)
if not ok then
  io.stderr:write("http_client: ", tostring(conn), "\n")
  os.exit(2)
end
if not conn then fail("cannot connect to " .. addr, err) end
conn:set_deadline(net.now() + timeout)
-- req.Write(conn)
local wrote, werr = req:write(conn)
if not wrote then fail("cannot send the request", werr) end
-- res, _ := http.ReadResponse(bufio.NewReader(conn), req)
local res, rerr = http.read_response(conn, req)
if not res then fail("no valid response from " .. addr, rerr) end
-- dump, _ := httputil.DumpResponse(res, true); fmt.Println(string(dump))
print(http.dump_response(res, true))
conn:close()
