-- http.serve: an HTTP/1.x server for scenario scripts. One task per
-- connection; keep-alive for HTTP/1.1 (and HTTP/1.0 that asks for it);
-- pipelined requests answered in order (the next one simply waits in the
-- connection's buffer); "Expect: 100-continue" answered before the body is
-- read; HEAD, 1xx, 204 and 304 without a body. A malformed request gets the
-- status its error names (400, 413, 414, 431, 501, 505) and the connection
-- is closed; a handler that raises gives its client a 500 and everyone else
-- is served on.
local net = require "netharness"
local Header = require "netharness.http.header"
local wire = require "netharness.http.wire"
local format = require "netharness.http.format"

local M = {}

local lower = string.lower
local setmetatable, rawget, type, xpcall = setmetatable, rawget, type, xpcall

M.DEFAULTS = {
  idle_timeout = 60,    -- seconds a connection may wait for the first byte of its next request
  header_timeout = 20,  -- seconds from a request's first byte to the end of its head
  read_timeout = 30,    -- seconds from a request's first byte to the end of its body
  write_timeout = 30,
  max_body = 1 << 20,   -- bytes of one request's body (413 beyond), as nginx's default
  max_body_total = 64 << 20, -- bytes of bodies held at once by all connections (503 beyond)
  max_conns = 10000,    -- connections open at once (beyond: the least active is closed)
  stream_body = false,  -- true: handlers read bodies themselves, with req:body_chunks()
  server_name = nil,    -- a Server header, if set
}

local function option(opts, k)
  if opts[k] ~= nil then return opts[k] end
  if M.DEFAULTS[k] ~= nil then return M.DEFAULTS[k] end
  return wire.DEFAULTS[k]
end

-- The "Date:" line is the same for a whole second: build it once per second.
local date_second, date_line = -1, nil
local os_time = os.time
local function date_header()
  local now = os_time()
  if now ~= date_second then
    date_second, date_line = now, os.date("!Date: %a, %d %b %Y %H:%M:%S GMT\r\n", now)
  end
  return date_line
end

local STATUS_LINE = { [0] = {}, [1] = {} } -- [minor][code] = "HTTP/1.x code text\r\n"
local function status_line(minor, code, reason)
  if reason then
    if type(reason) ~= "string" or reason:find("[%z\r\n]") then
      error("invalid reason phrase " .. string.format("%q", tostring(reason)) .. ": CR, LF and NUL are not allowed", 0)
    end
    return "HTTP/1." .. minor .. " " .. code .. " " .. reason .. "\r\n"
  end
  local line = STATUS_LINE[minor][code]
  if not line then
    line = "HTTP/1." .. minor .. " " .. code .. " " .. (format.STATUS_TEXT[code] or ("status code " .. code)) .. "\r\n"
    STATUS_LINE[minor][code] = line
  end
  return line
end

-- "Content-Length: n\r\n", kept for the small sizes most answers have.
local LENGTH_LINE = {}
local function length_line(n)
  local line = LENGTH_LINE[n]
  if line then return line end
  line = "Content-Length: " .. n .. "\r\n"
  if n < 4096 then LENGTH_LINE[n] = line end
  return line
end

-- The last answer that was plain (HTTP/1.1, kept alive, not to HEAD, no
-- reason or headers of the handler's own, no Server line): a server under
-- load answers alike, so while its code, body and second stay the same the
-- same bytes go out again, found before anything else is looked at.
local plain_code, plain_body, plain_second, plain_bytes

-- The bytes of a server's answer. keep: leave the connection open after it.
local function answer(req, res, keep, opts)
  local code = res.status_code or 200
  local body = res.body or ""
  if keep and code == plain_code and body == plain_body and req.proto_minor ~= 0 and not res.reason
    and rawget(res, "headers") == nil and req.method ~= "HEAD" and not opts.server_name
    and os_time() == plain_second then
    return plain_bytes
  end
  local minor = (req and req.proto_minor == 0) and 0 or 1
  local h = rawget(res, "headers") -- made only if the handler asked for it
  local line = status_line(minor, code, res.reason)
  local length = ""
  if code == 200 or format.body_allowed(code) then length = length_line(#body) else body = "" end
  local head = req and req.method == "HEAD"
  if head then body = "" end
  if keep and minor == 1 and not opts.server_name and (h == nil or h:count() == 0) then
    local bytes = line .. length .. date_header() .. "\r\n" .. body
    if h == nil and not res.reason and not head then
      plain_code, plain_body, plain_second, plain_bytes = code, res.body or "", date_second, bytes
    end
    return bytes
  end
  local out = { line, length }
  if not keep then
    if not (h and h:has_token("connection", "close")) then out[#out + 1] = "Connection: close\r\n" end
  elseif minor == 0 then
    out[#out + 1] = "Connection: keep-alive\r\n"
  end
  if opts.server_name and not (h and h:has("server")) then out[#out + 1] = "Server: " .. opts.server_name .. "\r\n" end
  if not (h and h:has("date")) then out[#out + 1] = date_header() end
  if h then
    for name, value in h:each() do
      local lname = lower(name)
      if lname ~= "content-length" and lname ~= "transfer-encoding" then
        out[#out + 1] = name .. ": " .. value .. "\r\n"
      end
    end
  end
  out[#out + 1] = "\r\n"
  out[#out + 1] = body
  return table.concat(out)
end
M.answer = answer

local function error_answer(status, message)
  return format.new_response(status, message .. "\n", Header.new{ ["Content-Type"] = "text/plain; charset=utf-8" })
end

-- A handler's response; `headers` is made on first use.
local ServerResponse = {}
ServerResponse.__index = Header.lazy_index(format.Response)

-- A handler's error as text, whatever it raised (its __tostring may fail too).
local function describe(msg)
  local ok, text = pcall(tostring, msg)
  if ok and type(text) == "string" then return text end
  return "(a " .. type(msg) .. " error object that cannot be converted to a string)"
end

local function report(opts, req, msg)
  local text = describe(msg)
  if opts.on_error then
    local ok, err = pcall(opts.on_error, type(msg) == "string" and msg or text, req)
    if ok then return end
    text = text .. " (and on_error failed: " .. describe(err) .. ")"
  end
  io.stderr:write("http.serve: handler failed", req and (" for " .. req.method .. " " .. req.target) or "",
    ": ", text, "\n")
end

-- What a handler returned (status, body [, headers table]), put into res.
local function apply(res, status, body, headers)
  res.status_code = status
  if body ~= nil then res.body = tostring(body) end
  if type(headers) == "table" then
    local h = res.headers
    for k, v in pairs(headers) do h:set(k, v) end
  end
end

local now, read_request, traceback = net.now, wire.read_request, debug.traceback

-- req:body_chunks() for a server with stream_body: the body's pieces as they
-- come (netharness.http.wire.body_reader).
local function stream_chunks(conn, read_opts)
  return function(req)
    local reader = rawget(req, "_reader")
    if not reader then
      reader = wire.body_reader(conn, req, read_opts)
      req._reader = reader
    end
    return reader
  end
end

-- One connection: wait up to idle_timeout for a request's first byte, then
-- give its head header_timeout and the whole request read_timeout.
local function serve_requests(conn, handler, opts, state, info)
  local read_opts = state.read_opts
  local remote = tostring(conn:remote_addr())
  local idle, header_timeout, read_timeout, write_timeout = option(opts, "idle_timeout"),
    option(opts, "header_timeout"), option(opts, "read_timeout"), option(opts, "write_timeout")
  if header_timeout > read_timeout then header_timeout = read_timeout end
  while true do
    conn:set_read_deadline(0) -- (the last request's)
    if not conn:peek(1, idle) then break end -- closed, idle too long, or shed
    local started = now()
    conn:set_read_deadline(started + header_timeout)
    local req, err = read_request(conn, read_opts, started + read_timeout)
    if not req then
      if wire.is_http_error(err) then
        conn:write(answer(nil, error_answer(err.status, err.message), false, opts), write_timeout)
      end
      break
    end
    info.requests = info.requests + 1
    info.busy = true
    req.remote_addr = remote
    if read_opts.stream_body then req.body_chunks = stream_chunks(conn, read_opts) end
    -- (reason and close are there from the start: a missing field costs a call of __index)
    local res = setmetatable({ status_code = 200, body = "", request = req, reason = false, close = false,
                               writer = false },
      ServerResponse)
    -- The handler fills in res or returns status, body [, headers]; what it
    -- set is checked as the answer is made (a CR in a header is a 500).
    local ok, status, body, headers = xpcall(handler, traceback, req, res)
    local keep, bytes
    if ok then
      if status ~= nil and type(status) == "number" then
        ok, status = pcall(apply, res, status, body, headers)
      end
      -- (a streamed body the handler left unread would be read as the next request)
      keep = not (req.close or res.close or state.closing or (read_opts.stream_body and not req.body_done))
      if ok then ok, bytes = pcall(answer, req, res, keep, opts) end
      if not ok then status = bytes or status end
    end
    if not ok then
      report(opts, req, status)
      keep = false
      bytes = answer(req, error_answer(500, "Internal Server Error"), false, opts)
    end
    wire.release_body(req, read_opts)
    info.busy = false
    local written
    if ok and res.writer then
      -- The handler writes the answer's bytes itself (netharness.fault.http
      -- drips, cuts or garbles them): it says whether the connection may go on.
      local wok, kept = pcall(res.writer, conn, bytes, write_timeout)
      if not wok then report(opts, req, kept) end
      written = wok and kept
    else
      written = conn:write(bytes, write_timeout)
    end
    if not written or not keep then break end
  end
end

local function serve_conn(conn, handler, opts, state)
  local info = state.conns[conn]
  local ok, err = pcall(serve_requests, conn, handler, opts, state, info)
  state.conns[conn] = nil
  state.count = state.count - 1
  conn:close()
  if not ok then report(opts, nil, err) end
end

-- Under fd pressure or at max_conns: close the connection that has sent the
-- least (fewest requests, then fewest bytes of the one it is sending),
-- sparing those in a handler and those younger than a second (a client that
-- has just connected has had no time to send: shedding it would only make
-- room for the next). False when there is none to close; `look` only looks.
local function shed(state, look)
  local victim, best
  local t = now()
  for conn, info in pairs(state.conns) do
    if not info.busy and t - info.since >= 1 then
      local score = info.requests * 1e9 + conn:buffered()
      if not best or score < best then victim, best = conn, score end
    end
  end
  if victim and not look then
    state.shed = state.shed + 1
    state.conns[victim].busy = true -- (not chosen again while its task ends)
    victim:close() -- its task sees a closed connection and ends
  end
  return victim ~= nil
end

-- Serve HTTP on a listener until it is closed; then close every connection
-- still open and return true. opts: idle_timeout, header_timeout,
-- read_timeout, write_timeout, max_body, max_body_total, max_conns,
-- server_name, on_error(message, req), and the limits of netharness.http.wire
-- (max_line, max_header_bytes, max_headers).
function M.serve(listener, handler, opts)
  if type(handler) ~= "function" then
    error("bad argument #2 to 'serve' (function expected, got " .. type(handler) .. ")", 2)
  end
  opts = opts or {}
  local all = {}
  for k, v in pairs(M.DEFAULTS) do all[k] = v end
  for k, v in pairs(opts) do all[k] = v end
  local read_opts = wire.complete_options(all)
  read_opts.send_continue = true
  read_opts.budget = { left = option(opts, "max_body_total") }
  local state = { conns = {}, count = 0, closing = false, read_opts = read_opts, shed = 0 }
  local max_conns = option(opts, "max_conns")
  local backoff = 0
  while true do
    if state.count >= max_conns and not shed(state, true) then
      -- nothing could make room: newcomers wait in the backlog meanwhile
      net.sleep(0.005)
    else
      local conn, err = listener:accept()
      if conn and state.count >= max_conns and not shed(state) then
        conn:close() -- (every connection became busy meanwhile)
      elseif conn then
        backoff = 0
        state.conns[conn] = { since = now(), requests = 0, busy = false }
        state.count = state.count + 1
        net.spawn(serve_conn, conn, handler, opts, state)
      elseif err.closed then
        break
      elseif (err.code == "EMFILE" or err.code == "ENFILE") and shed(state) then
        net.sleep(0) -- let the closed connection's task end, then accept again
      else
        -- out of fds with nothing to shed, or another error: back off as Go's
        -- server does, 5 ms doubling to 1 s
        backoff = backoff == 0 and 0.005 or math.min(backoff * 2, 1)
        net.sleep(backoff)
      end
    end
  end
  state.closing = true
  for conn in pairs(state.conns) do conn:close() end
  return true
end

return M
