-- Reading HTTP/1.x messages from a netharness TCP connection, like Go's
-- http.ReadRequest and http.ReadResponse: the parser (parse.lua) checks each
-- head and body strictly, and a head seen before is built from what its parse
-- found (heads.lua). Every failure is `nil, err`: a netharness network error
-- or an HTTP error with `status`, `code` and `message` (see parse.lua).
local parse = require "netharness.http.parse"
local heads = require "netharness.http.heads"
local format = require "netharness.http.format"
local Request, Response = format.Request, format.Response
local setmetatable, type = setmetatable, type

local complete, finish_head, read_failed = parse.complete_options, parse.finish_head, parse.read_failed
local read_body, expects_continue = parse.read_body, parse.expects_continue
local parse_request_head, parse_response_head = parse.parse_request_head, parse.parse_response_head

local M = {
  -- (what the server, the client and netharness.http take from here)
  HttpError = parse.HttpError,
  is_http_error = parse.is_http_error,
  DEFAULTS = parse.DEFAULTS,
  complete_options = parse.complete_options,
  release_body = parse.release_body,
  body_reader = parse.body_reader,
  cached_heads = heads.cached_heads,
}

-- Read one request: like Go's http.ReadRequest, and the body too.
-- opts: the limits in parse.DEFAULTS, and send_continue (answer "Expect:
-- 100-continue" before reading the body, as a server does).
function M.read_request(conn, opts, body_deadline)
  if not (opts and opts._complete) then opts = complete(opts) end
  local block, err, partial = conn:read_header_block(opts.timeout, opts.max_line + 2 + opts.max_header_bytes)
  if not block or block == "\r\n" or block == "\n" then
    block, err = finish_head(conn, opts, "request", block, err, partial)
    if not block then return nil, err end
  end
  local req, frame, expect
  local t = heads.request(block, opts)
  if t then
    -- (the fields as a constructor sizes the table for them all at once;
    -- the nil ones are filled in later or made on first use)
    req = setmetatable({
      method = t.method, target = t.target, url = nil,
      proto = t.proto, proto_major = 1, proto_minor = t.minor, headers = nil,
      host = t.host, content_length = t.content_length, transfer_encoding = t.chunked and { "chunked" } or nil,
      close = t.close, body = nil, remote_addr = nil,
    }, t.class)
    frame, expect = t.frame, t.expect
  else
    local pos, count
    req, frame, pos, count = parse_request_head(block, opts)
    if not req then return nil, frame end
    setmetatable(req, Request)
    expect = expects_continue(req)
    heads.remember_request(block, req, frame, pos, count, expect)
  end
  if frame == 0 then
    req.body = ""
    return req
  end
  if opts.stream_body then -- the body stays on the connection for body_reader
    req._frame, req._expect = frame, expect
    if body_deadline then conn:set_read_deadline(body_deadline) end
    return req
  end

  if body_deadline then conn:set_read_deadline(body_deadline) end
  if opts.send_continue and expect then
    local ok, werr = conn:write("HTTP/1.1 100 Continue\r\n\r\n", opts.timeout)
    if not ok then return nil, werr end
  end
  local body, berr = read_body(conn, opts, req, frame, "request")
  if not body then return nil, berr end
  req.body = body
  return req
end

-- The head of a response to `req`: its template when the head was seen
-- before (no message made yet), or false and the message parsed from it;
-- then how the body is framed. nil, err when there is no valid head.
local function response_head(conn, req, opts)
  local block, err, partial = conn:read_header_block(opts.timeout, opts.max_line + 2 + opts.max_header_bytes)
  if not block or block == "\r\n" or block == "\n" then
    block, err = finish_head(conn, opts, "status", block, err, partial)
    if not block then return nil, err end
  end
  local method = req and req.method or "GET"
  local is_head = method == "HEAD"
  local t = heads.response(block, opts, is_head)
  if t then return t, t.frame, nil, #block end
  local res, frame, pos, count = parse_response_head(block, opts, req, method)
  if not res then return nil, frame end
  setmetatable(res, Response)
  heads.remember_response(block, res, frame, pos, count, is_head)
  return false, frame, res, #block
end

-- A message from a head seen before (template t), without its body.
local function from_template(t, req)
  return setmetatable({
    proto = t.proto, proto_major = t.major, proto_minor = t.minor,
    status_code = t.status_code, status = t.status, reason = t.reason,
    request = req, headers = nil,
    content_length = t.content_length, transfer_encoding = t.chunked and { "chunked" } or nil,
    close = t.close, body = nil,
  }, t.class)
end

-- The message and body for the other cases: a new head (res), or a head
-- seen before (template t) with a body read as framed.
local function response_rest(conn, req, opts, t, frame, res)
  if t then res = from_template(t, req) end
  local body, berr = read_body(conn, opts, res, frame, "response")
  if not body then return nil, berr end
  res.body = body
  return res
end

-- One response read whole, in one of two shapes: the usual answer, a head
-- seen before with a length, as its template and body (no message made);
-- else false and the message. nil, err when it could not be read.
local function read_parts(conn, req, opts)
  local t, frame, res, head_len = response_head(conn, req, opts)
  if t == nil then return nil, frame end
  if t and type(frame) == "number" and frame <= opts.max_body then
    if frame == 0 then return t, "", head_len end
    local body, err = conn:read_full(frame, opts.timeout)
    if not body then return read_failed(err, "response body") end
    return t, body, head_len
  end
  local err
  res, err = response_rest(conn, req, opts, t, frame, res)
  if not res then return nil, err end
  return false, res, head_len
end

-- Read one response to `req` (its method matters: HEAD has no body), like
-- Go's http.ReadResponse, body included. 1xx answers are returned as they come.
function M.read_response(conn, req, opts)
  if not (opts and opts._complete) then opts = complete(opts) end
  local t, x = read_parts(conn, req, opts)
  if t then -- the message made whole in one constructor
    return setmetatable({
      proto = t.proto, proto_major = t.major, proto_minor = t.minor,
      status_code = t.status_code, status = t.status, reason = t.reason,
      request = req, content_length = t.content_length, close = t.close, body = x,
    }, t.class)
  end
  if t == nil then return nil, x end
  return x
end

-- Read one response as read_response does, with every check, for a load
-- generator that looks only at its status, body and framing: status_code,
-- body, close (whether the connection ends with it), the head's length in
-- bytes, or nil, err. A head seen
-- before makes no message at all: wrk's per-request work, not Go's.
function M.read_status(conn, req, opts)
  if not (opts and opts._complete) then opts = complete(opts) end
  local t, x, head_len = read_parts(conn, req, opts)
  if t then return t.status_code, x, t.close, head_len end
  if t == nil then return nil, x end
  return x.status_code, x.body, x.close, head_len
end

-- The head of one response to `req`, its body left on the connection (for a
-- proxy that streams it on): the message without a body (res._frame says
-- how the body is framed: a length, "chunked", "eof"; nil for none, and
-- res.body is then ""), and the head's length in bytes; or nil, err. Read
-- the body with M.body_reader(conn, res, opts, "response").
function M.read_response_head(conn, req, opts)
  if not (opts and opts._complete) then opts = complete(opts) end
  local t, frame, res, head_len = response_head(conn, req, opts)
  if t == nil then return nil, frame end
  if t then res = from_template(t, req) end
  if frame ~= 0 then res._frame = frame else res.body = "" end
  return res, head_len
end

-- One response read as read_status does, its body counted and dropped as it
-- comes (a load generator's: an endless body costs no memory and its bytes
-- count at once): on_bytes(n) is called for the head and each piece; `keep`
-- bytes of the body are kept (0 unless told). Returns status_code, the body
-- kept, close; or nil, err. No max_body: what is not kept is never held.
local DISCARD_PIECE = 65536
function M.read_status_discard(conn, req, opts, on_bytes, keep)
  if not (opts and opts._complete) then opts = complete(opts) end
  keep = keep or 0
  local t, frame, res, head_len = response_head(conn, req, opts)
  if t == nil then return nil, frame end
  local m = t or res
  if frame == 0 then
    on_bytes(head_len)
    return m.status_code, "", m.close
  end
  if type(frame) == "number" and frame <= DISCARD_PIECE then   -- the usual answer: one read
    local body, err = conn:read_full(frame, opts.timeout)
    if not body then
      on_bytes(head_len)
      return read_failed(err, "response body")
    end
    on_bytes(head_len + frame)
    if keep == 0 then body = "" elseif keep < frame then body = body:sub(1, keep) end
    return m.status_code, body, m.close
  end
  on_bytes(head_len)
  local msg = { _frame = frame }
  local next_piece = M.body_reader(conn, msg, opts, "response")
  local kept, n = {}, 0
  while true do
    local piece, err = next_piece()
    if not piece then
      if err then return nil, err end
      break
    end
    on_bytes(#piece)
    if n < keep then
      kept[#kept + 1] = piece:sub(1, keep - n)
      n = n + #kept[#kept]
    end
  end
  return m.status_code, table.concat(kept), m.close or frame == "eof"
end

return M