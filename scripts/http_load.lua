-- A load generator like wrk: N keep-alive connections, each a task sending
-- requests back to back for a fixed time; prints throughput and latency
-- percentiles as wrk --latency does. --help for options.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local http = require "netharness.http"
local histogram = require "netharness.histogram"
local cli = require "netharness.cli"

local usage = [[
usage: lua scripts/http_load.lua [options] URL
  --connections N  concurrent keep-alive connections (default 10)
  --duration S     seconds to run (default 10)
  --timeout S      per-request deadline (default 5)
  --method M       request method (default GET)
  --body TEXT      request body]]

-- The URL is the one argument that is neither an option nor an option's value.
local args, url = {}, nil
local i = 1
while i <= #arg do
  local a = arg[i]
  if a:sub(1, 2) == "--" then
    args[#args + 1] = a
    if not a:find("=", 1, true) and a ~= "--help" then
      i = i + 1
      args[#args + 1] = arg[i]
    end
  elseif url then
    io.stderr:write("only one URL, please\n", usage, "\n")
    os.exit(2)
  else
    url = a
  end
  i = i + 1
end
local opts, why, status = cli.parse(args, { usage = usage, options = {
  connections = "10", duration = "10", timeout = "5", method = "GET", body = "" },
  numbers = { connections = true, duration = true, timeout = true } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
if not url then
  io.stderr:write("a URL is needed\n", usage, "\n")
  os.exit(2)
end
local connections, duration, timeout = math.floor(opts.connections), opts.duration, opts.timeout
if connections < 1 then
  io.stderr:write("--connections must be at least 1\n")
  os.exit(2)
end
if not http.parse_url(url) then
  io.stderr:write("http_load: bad URL ", url, " (", select(2, http.parse_url(url)), ")\n")
  os.exit(2)
end
io.stdout:setvbuf("line")

local latency, count, errors, bytes = histogram.new(), 0, 0, 0
local first_error
local stop = net.now() + duration
local start = net.now()

-- As wrk does, every task owns one connection and sends the same request
-- bytes down it again and again (redialling when the server closes it); each
-- response is read and checked in full by http.read_status (read_response's
-- reading and checks, without making a message of what is only counted).
local req = assert(http.new_request(opts.method, url, opts.body ~= "" and opts.body or nil))
local request_bytes = http.format_request(req)
local address = req.url.dial_address
local read_opts = http.read_options({}) -- the request's deadline bounds every read

-- One request on conn (dialled first when nil): body, conn, or nil, err, conn.
local function round(conn, deadline)
  local err
  if not conn then
    conn, err = net.dial("tcp", address, deadline - net.now())
    if not conn then return nil, err end
  end
  conn:set_deadline(deadline)
  local ok, code, body, close
  ok, err = conn:write(request_bytes)
  if ok then
    repeat -- 1xx answers are interim (RFC 9110 15.2)
      code, body, close = http.read_status(conn, req, read_opts)
    until not code or code >= 200 or code == 101
    if not code then err = body end
  end
  if not code or close then
    conn:close()
    conn = nil
  end
  if not code then return nil, err, conn end
  return body, nil, conn
end

-- A kept connection the server closed meanwhile fails at once with EOF or a
-- reset: that is no error of the server's, so try once on a fresh one.
local function closed_by_peer(err)
  return err == net.EOF or (type(err) == "table" and (err.code == "ECONNRESET" or err.code == "EPIPE"))
end

-- One clock read a request: the time a response ends is the next request's
-- start (only this bookkeeping lies between them).
local function worker()
  local conn
  local t0 = net.now()
  while t0 < stop do
    local reused = conn ~= nil
    local body, err
    body, err, conn = round(conn, t0 + timeout)
    if not body and reused and closed_by_peer(err) then body, err, conn = round(nil, t0 + timeout) end
    if body then
      local t1 = net.now()
      count = count + 1
      latency:record(t1 - t0)
      bytes = bytes + #body
      t0 = t1
    else
      errors = errors + 1
      first_error = first_error or tostring(err)
      net.sleep(0.01)
      t0 = net.now()
    end
  end
  if conn then conn:close() end
end

print(string.format("Running %gs test @ %s", duration, url))
print(string.format("  %d connections", connections))
local tasks = {}
for i = 1, connections do tasks[i] = net.spawn(worker) end
net.wait_all(tasks, duration + timeout + 5)
local elapsed = net.now() - start

local function ms(s)
  if s >= 1 then return string.format("%.2fs", s) end
  if s >= 0.001 then return string.format("%.2fms", s * 1000) end
  return string.format("%.2fus", s * 1e6)
end

local function pct(p) return latency:percentile(p) or 0 end
if latency:count() > 0 then
  print("  Latency Distribution")
  for _, p in ipairs({ 50, 75, 90, 99 }) do
    print(string.format("  %3d%%  %8s", p, ms(pct(p))))
  end
else
  print("  no responses: no latency to report")
end
print(string.format("  %d requests in %.2fs, %.2fMB read", count, elapsed, bytes / 1048576))
if errors > 0 then print(string.format("  Errors: %d (first: %s)", errors, first_error)) end
print(string.format("Requests/sec: %10.2f", count / elapsed))
-- one machine-readable line for bench/run.lua
print(string.format("result requests=%d seconds=%.3f rate=%.1f p50=%.6f p99=%.6f errors=%d",
  count, elapsed, count / elapsed, pct(50), pct(99), errors))
os.exit(errors > 0 and count == 0 and 1 or 0)
