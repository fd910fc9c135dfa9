-- An HTTP/1.1 client for scenario scripts: keep-alive connections reused per
-- host, chunked and close-delimited responses, redirects only when asked for,
-- and a deadline on every request (dial, write and the whole response).
local net = require "netharness"
local Header = require "netharness.http.header"
local wire = require "netharness.http.wire"
local format = require "netharness.http.format"

local Client = { __name = "netharness.http.Client" }
Client.__index = Client

local M = { Client = Client }

M.DEFAULTS = {
  timeout = 30,             -- seconds for one request, from dial to the end of the body
  max_idle_per_host = 16,   -- kept-alive connections kept per host
  follow_redirects = 0,     -- how many redirects to follow (0: return the 3xx itself)
}

function M.new(opts)
  opts = opts or {}
  local c = setmetatable({ idle = {}, opts = {}, urls = {}, heads = {}, nheads = 0 }, Client)
  for k, v in pairs(M.DEFAULTS) do c.opts[k] = v end
  for k, v in pairs(opts) do c.opts[k] = v end
  return c
end

-- A kept connection; one the server has closed meanwhile shows as EOF or a
-- reset on first use, and the request is retried once on a fresh connection
-- (one_round takes it from self.idle).
local function put_idle(self, key, conn)
  local list = self.idle[key]
  if not list then
    list = {}
    self.idle[key] = list
  end
  if #list >= self.opts.max_idle_per_host then
    conn:close()
    return
  end
  -- (its deadline stays: every request sets its own before using it)
  list[#list + 1] = conn
end

-- Close every kept-alive connection.
function Client:close()
  for _, list in pairs(self.idle) do
    for _, conn in ipairs(list) do conn:close() end
  end
  self.idle = {}
end

-- How many kept-alive connections wait for reuse (all hosts).
function Client:idle_count()
  local n = 0
  for _, list in pairs(self.idle) do n = n + #list end
  return n
end

-- The options for reading responses, made at the first request (options
-- changed in client.opts after that are not seen): the wire limits, and no
-- per-read timeout, as the request's deadline bounds every read.
local function read_opts(self)
  local o = self._read_opts
  if o then return o end
  o = {}
  for k, v in pairs(wire.DEFAULTS) do o[k] = v end
  for k, v in pairs(self.opts) do o[k] = v end
  o.timeout, o._complete = nil, true
  self._read_opts = o
  return o
end

-- The bytes of a request with no headers or body of its own depend only on
-- its method and URL: a client keeps them, as wrk keeps its one request.
local function request_bytes(self, req, plain)
  if not plain then return format.format_request(req) end
  local by_url = self.heads[req.method]
  local bytes = by_url and by_url[req.url]
  if bytes then return bytes end
  bytes = format.format_request(req)
  if self.nheads >= 256 then self.heads, self.nheads, by_url = {}, 0, nil end
  if not by_url then
    by_url = {}
    self.heads[req.method] = by_url
  end
  by_url[req.url], self.nheads = bytes, self.nheads + 1
  return bytes
end

local function one_round(self, req, key, deadline, bytes)
  local reused = true
  local list = self.idle[key]
  local conn
  while list and #list > 0 do
    local c = list[#list]
    list[#list] = nil
    -- An idle connection has nothing to say: bytes there are a response
    -- nobody asked for (a forged one), EOF a server that closed it.
    local junk, err
    if c:buffered() == 0 then junk, err = c:read(1, 0) end
    if not junk and net.is_timeout(err) then
      conn = c
      break
    end
    c:close()
  end
  if not conn then
    reused = false
    local left = deadline - net.now()
    if left <= 0 then return nil, setmetatable({ message = "dial tcp " .. key .. ": i/o timeout", timeout = true }, wire.HttpError) end
    local err
    conn, err = net.dial("tcp", req.url.dial_address, left)
    if not conn then return nil, err end
  end
  conn:set_deadline(deadline)
  local ok, werr = conn:write(bytes)
  local res, rerr
  if ok then
    local opts = self._read_opts or read_opts(self)
    repeat -- 1xx answers are interim (RFC 9110 15.2); 101 is final
      res, rerr = wire.read_response(conn, req, opts)
    until not res or res.status_code < 100 or res.status_code >= 200 or res.status_code == 101
  end
  if not res then
    conn:close()
    -- A reused connection the server closed just as we sent: try a fresh one.
    local err = werr or rerr
    local retry = reused and (err == net.EOF or (type(err) == "table" and (err.code == "ECONNRESET" or err.code == "EPIPE")))
    return nil, err, retry
  end
  -- A kept connection is reused only after a response that ended exactly:
  -- nothing buffered or waiting past it (bytes there would be read as the
  -- next response, forged), and never after the protocol changed (101, or a
  -- CONNECT tunnel).
  local code = res.status_code
  if res.close or code == 101 or (req.method == "CONNECT" and code >= 200 and code < 300)
    or conn:buffered() > 0 then
    conn:close()
  else
    put_idle(self, key, conn)
  end
  return res
end

-- Headers a redirect to another host does not get (Go's
-- shouldCopyHeaderOnRedirect): credentials meant for the first host only.
local CREDENTIALS = { authorization = true, ["www-authenticate"] = true, cookie = true, cookie2 = true }

-- Does a redirect from URL a to URL b keep the credentials? Only to the same
-- host name or a subdomain of it (Go's isDomainOrSubdomain: the port is not
-- compared).
local function same_or_sub_domain(a, b)
  local dom, sub = a.hostname:lower(), b.hostname:lower()
  return sub == dom or (#sub > #dom and sub:sub(-#dom - 1) == "." .. dom)
end

-- client:request{ method =, url =, headers = {...} or Header, body =, timeout =,
-- follow_redirects = } -> response | nil, err
function Client:request(spec)
  if type(spec) == "string" then spec = { url = spec } end
  if type(spec) ~= "table" then error("bad argument #1 to 'request' (table or URL expected)", 2) end
  local method = spec.method or "GET"
  local req, uerr = format.new_request(method, spec.url, spec.body, self.urls)
  if not req then return nil, setmetatable({ message = uerr, code = "bad_url" }, wire.HttpError) end
  if spec.headers then
    if getmetatable(spec.headers) == Header then
      for name, value in spec.headers:each() do req.headers:add(name, value) end
    else
      for k, v in pairs(spec.headers) do req.headers:set(k, v) end
    end
  end
  local timeout = spec.timeout or self.opts.timeout
  local deadline = net.now() + timeout
  local redirects = spec.follow_redirects or self.opts.follow_redirects
  local plain = spec.headers == nil and spec.body == nil
  while true do
    local key = req.url.dial_address
    local bytes = request_bytes(self, req, plain)
    local res, err, retry = one_round(self, req, key, deadline, bytes)
    if not res and retry then res, err = one_round(self, req, key, deadline, bytes) end
    if not res then return nil, err end
    if redirects <= 0 then return res end
    local loc = res.headers:get("location")
    local code = res.status_code
    if not loc or not (code == 301 or code == 302 or code == 303 or code == 307 or code == 308) then
      return res
    end
    redirects = redirects - 1
    if loc:sub(1, 1) == "/" then loc = "http://" .. req.url.host .. loc end
    local m, b = req.method, req.body
    if code == 303 or ((code == 301 or code == 302) and m == "POST") then m, b = "GET", nil end
    local nreq, nerr = format.new_request(m, loc, b)
    if not nreq then return nil, setmetatable({ message = nerr, code = "bad_url" }, wire.HttpError) end
    local same_origin = same_or_sub_domain(req.url, nreq.url)
    for name, value in req.headers:each() do
      local lname = name:lower()
      if lname ~= "content-length" and (same_origin or not CREDENTIALS[lname]) then
        nreq.headers:add(name, value)
      end
    end
    req, plain = nreq, false
  end
end

function Client:get(url, spec)
  spec = spec or {}
  spec.url = url
  spec.method = "GET"
  return self:request(spec)
end

return M
