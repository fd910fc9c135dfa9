-- An HTTP request as a load transaction: each virtual user keeps one
-- keep-alive connection for it (redialled when the server closes it) and sends the
-- same request bytes down it, as wrk does; the response is read and checked
-- by wire.read_status_discard and its status returned. Its bytes (head and
-- body, as wrk counts what it reads) count as they arrive (vu.read), and
-- the body is dropped as it comes: an endless body costs no memory.
--
--   local tx, finish = load_http.transaction("http://127.0.0.1:8080/", {
--     method = "GET", body = nil, headers = { ["X-Test"] = "1" }, timeout = 5,
--     check = function(code, body) return body:find("ok") ~= nil, "no ok" end, keep_body = 1024 })
--   load.run{ rate = 1000, duration = 10, transaction = tx, finish = finish }
--
-- A scenario that wants the body asks for it: check(code, body) gets the
-- first keep_body bytes (64 KiB unless told) and returns true, or false and
-- a cause (counted as an error).
--
-- A bad URL or header raises (it is a mistake in the scenario, found before
-- any load is sent); failures on the wire come back as nil, err.
local net = require "netharness"
local load = require "netharness.load"
local http = require "netharness.http"
local wire = require "netharness.http.wire"

local M = {}

-- A kept connection the server closed meanwhile fails at once with EOF or a
-- reset: that is no error of the server's, so it is tried once on a fresh one.
local function closed_by_peer(err)
  return err == net.EOF or (type(err) == "table" and (err.code == "ECONNRESET" or err.code == "EPIPE"))
end

function M.transaction(url, opts)
  opts = opts or {}
  local req, err = http.new_request(opts.method or "GET", url, opts.body)
  if not req then error("url: " .. tostring(err), 2) end
  for name, value in pairs(opts.headers or {}) do
    if type(name) ~= "string" or type(value) ~= "string" or name == "" or name:find("[%c%s:]")
      or value:find("[\r\n%z]") then
      error(("headers: bad header %q: %q"):format(tostring(name), tostring(value)), 2)
    end
    req.headers:set(name, value)
  end
  local bytes = http.format_request(req)
  local address = req.url.dial_address
  local timeout = opts.timeout or 5
  local check = opts.check
  if check ~= nil and type(check) ~= "function" then error("check: a function expected", 2) end
  local keep = opts.keep_body or (check and 65536 or 0)
  if math.type(keep) ~= "integer" or keep < 0 then error("keep_body: a whole number of bytes >= 0 expected", 2) end
  local read_opts = http.read_options({})
  local read_status = wire.read_status_discard
  -- the virtual user's connection for this transaction: a scenario that
  -- mixes transactions to several servers keeps one connection to each
  local key = {}

  -- One request on the virtual user's connection (dialled first when it has none).
  local function round(vu, deadline)
    local conn = vu[key]
    if not conn then
      local e
      conn, e = net.dial("tcp", address, math.max(0, deadline - net.now()))
      if not conn then return nil, e end
      vu[key] = conn
    end
    conn:set_deadline(deadline)
    local ok, e = conn:write(bytes)
    local code, body, close
    if ok then
      repeat -- 1xx answers are interim (RFC 9110 15.2)
        code, body, close = read_status(conn, req, read_opts, vu.read, keep)
      until not code or code >= 200 or code == 101
      if not code then e = body end
    end
    if not code or close then
      conn:close()
      vu[key] = nil
    end
    if not code then return nil, e end
    if check then
      local good, cause = check(code, body)
      if not good then return false, cause or "check failed" end
    end
    return code
  end

  local function transaction(vu)
    local deadline = net.now() + timeout
    local reused = vu[key] ~= nil
    local code, e = round(vu, deadline)
    if not code and reused and closed_by_peer(e) then code, e = round(vu, deadline) end
    return code, e
  end

  return transaction, load.closer(key)
end

return M
