-- The HTTP/1.x parser (RFC 9112): heads, fields, framing and bodies, read
-- over a netharness TCP connection's buffered reads in C (read_header_block,
-- read_full): Lua never scans the stream byte by byte. wire.lua builds
-- messages with it; heads.lua keeps what the parse of a repeated head found.
--
-- Framing follows RFC 9112 strictly, because a test harness must not be
-- fooled by the messages it is there to catch: bare CR, obsolete line
-- folding, whitespace before a colon, Content-Length together with
-- Transfer-Encoding, differing Content-Lengths, bad chunk sizes and oversized
-- heads are all errors. Every failure is `nil, err`: a netharness network
-- error (timeout, closed, netharness.EOF when the peer closed before a
-- message began) or an HTTP error with `status` (the answer a server owes:
-- 400, 413, 414, 431, 501, 505), `code` and `message`.
local net = require "netharness"
local Header = require "netharness.http.header"
local add_string = Header.add_string

local lower = string.lower
local setmetatable, type = setmetatable, type

local M = {}

local HttpError = { __name = "netharness.http.Error" }
HttpError.__index = HttpError
HttpError.__tostring = function(e) return e.message end
M.HttpError = HttpError

local function fail(status, code, message)
  return nil, setmetatable({ status = status, code = code, message = message }, HttpError)
end
M.fail = fail

function M.is_http_error(err)
  return getmetatable(err) == HttpError
end

M.DEFAULTS = {
  _complete = true,
  max_line = 8192,             -- request line / status line (414 beyond)
  max_header_bytes = 1 << 20,  -- all header lines together (Go's DefaultMaxHeaderBytes; 431 beyond)
  max_headers = 1000,          -- number of header fields (431 beyond)
  max_body = 64 << 20,         -- decoded body bytes (413 beyond)
  max_chunk_line = 4096,       -- a chunk-size line with its extensions
  timeout = nil,               -- per-call timeout for every read, in seconds
}

-- A read that failed: partial data at EOF means the message was cut short.
local function read_failed(err, what)
  if err == net.EOF or err == net.ErrUnexpectedEOF then
    return fail(400, "unexpected_eof", "unexpected EOF in " .. what)
  end
  return nil, err
end

-- tchar (RFC 9110 5.6.2)
local NOT_TOKEN = "[^%w!#$%%&'*+%-.^_`|~]"

local find, match, sub, byte = string.find, string.match, string.sub, string.byte

-- The first control byte other than HTAB, CR and LF at or after `pos`, if any.
-- ("%c" is one cheap class test a byte; the CRs and LFs it stops at are skipped.)
local function bad_control(s, pos)
  local i = find(s, "%c", pos)
  while i do
    local b = byte(s, i)
    if b ~= 13 and b ~= 10 and b ~= 9 then return i end
    i = find(s, "%c", i + 1)
  end
  return find(s, "\127", pos, true)
end

-- A field line that is entirely valid, matched in place in the block (an
-- anchored pattern from a position, so no line string is made): a token, a
-- colon, then HTAB, visible ASCII or obs-text (RFC 9110 5.5, 5.6.2), and the
-- position of the next line.
local FIELD_AT = "^([%w!#$%%&'*+%-.^_`|~]+):[ \t]*([\t\32-\126\128-\255]*)\r?\n()"

-- Why a field line did not match FIELD.
local function field_error(line, what)
  local first = byte(line, 1)
  if first == 32 or first == 9 then
    return fail(400, "obs_fold", "obsolete line folding in " .. what .. " header") -- RFC 9112 5.2
  end
  local cr = find(line, "\r", 1, true)
  if cr and cr < #line then
    return fail(400, "bare_cr", "bare CR in " .. what .. " header") -- RFC 9112 2.2
  end
  if cr then line = sub(line, 1, -2) end
  local name = match(line, "^([^:]*):")
  if not name then return fail(400, "bad_header", "malformed " .. what .. " header line: " .. sub(line, 1, 80)) end
  local e = byte(name, -1)
  if e == 32 or e == 9 then
    return fail(400, "space_before_colon", "whitespace before colon in " .. what .. " header") -- RFC 9112 5.1
  end
  if name == "" or find(name, NOT_TOKEN) then
    return fail(400, "bad_header", "invalid " .. what .. " header name: " .. sub(name, 1, 80))
  end
  return fail(400, "bad_header", "invalid byte in " .. what .. " header " .. name)
end

-- Check a header block read whole (lines ending in CRLF or LF, the last one
-- empty) and parse its field lines from `pos` on into a Header. Only anchored
-- patterns, one per line: an unanchored pattern is retried at every byte. No
-- pattern that matches a line takes a CR except in its CRLF, so a bare CR
-- anywhere fails a line, and field_error says which rule it broke.
local function parse_fields(block, pos, what, max_headers)
  local h = Header.new()
  local count = 0
  while true do
    local c = byte(block, pos)
    if c == 10 or c == nil then return h, count end -- the empty line: the block ends with it
    if c == 13 and pos + 1 == #block then return h, count end -- (its CRLF, then)
    local name, value, next_pos = match(block, FIELD_AT, pos)
    if not name then
      return field_error(match(block, "^([^\n]*)", pos), what)
    end
    local last = byte(value, -1)
    if last == 32 or last == 9 then value = match(value, "^(.-)[ \t]+$") end
    count = count + 1
    if count > max_headers then return fail(431, "too_many_headers", "too many " .. what .. " header fields") end
    add_string(h, name, value)
    pos = next_pos
  end
end

-- A head is read whole, start line and fields, in one call of
-- read_header_block bounded by this many bytes.
local function head_limit(opts)
  return opts.max_line + 2 + opts.max_header_bytes
end

-- The rest of reading a head, when the first read_header_block gave no block
-- or only an empty line (block, err, partial are what it gave): skip a few
-- empty lines, and say why there is no head. Returns the block or nil, err.
local function finish_head(conn, opts, what, block, err, partial)
  -- RFC 9112 2.2: ignore empty lines before the start line (as nginx, any
  -- number of them within max_line bytes)
  local skipped = 0
  while block and (block == "\r\n" or block == "\n") do
    skipped = skipped + #block
    if skipped > opts.max_line then
      return fail(400, "bad_request_line", "more than " .. opts.max_line .. " bytes of empty lines before the " .. what .. " line")
    end
    block, err, partial = conn:read_header_block(opts.timeout, head_limit(opts))
  end
  if block then return block end
  if err == net.EOF and not partial then return nil, err end -- the peer closed between messages
  if type(err) == "table" and err.code == "EBUFFULL" then
    -- still buffered: is it the start line or the fields that is too long?
    local max_line = opts.max_line
    local previous = conn:set_line_limit(max_line + 2)
    local line = conn:read_line(0)
    conn:set_line_limit(previous)
    if not line then
      return fail(what == "request" and 414 or 400, "line_too_long",
        what .. " line longer than " .. max_line .. " bytes")
    end
    return fail(431, "header_too_large", what .. " header fields too large")
  end
  return read_failed(err, what .. " head")
end

-- The start line alone (for error messages and the slow checks).
local function start_line(block)
  local line = match(block, "^([^\n]*)")
  if byte(line, -1) == 13 then line = sub(line, 1, -2) end
  return line
end

-- The options of a call, complete: a server passes a complete table once.
local function complete(opts)
  if opts == nil then return M.DEFAULTS end
  if opts._complete then return opts end
  local o = { _complete = true }
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  return o
end
M.complete_options = complete

-- Content-Length: one decimal number; a list of identical values counts as
-- one (RFC 9112 6.3 item 5), anything else is an error.
local function content_length(h)
  local raw = h._values["content-length"]
  if raw == nil then return nil end
  if type(raw) == "string" and match(raw, "^%d+$") and #raw <= 15 then return tonumber(raw) end
  local vs = h:values("content-length")
  local n
  for _, v in ipairs(vs) do
    for item in (v .. ","):gmatch("([^,]*),") do
      item = item:match("^[ \t]*(.-)[ \t]*$")
      if not item:match("^%d+$") or #item > 15 then
        return false, "invalid Content-Length " .. string.format("%q", v)
      end
      local x = tonumber(item)
      if n and x ~= n then
        local quoted = {}
        for i, q in ipairs(vs) do quoted[i] = string.format("%q", q) end
        return false, "http: message cannot contain multiple Content-Length headers; got ["
          .. table.concat(quoted, " ") .. "]"
      end
      n = x
    end
  end
  if #vs > 1 or vs[1]:find(",", 1, true) then h:set("Content-Length", tostring(n)) end -- as Go keeps one
  return n
end

-- Transfer-Encoding: only "chunked" is implemented, and it must come last.
-- Returns true (chunked), or nil + status + message.
local function transfer_encoding(h, is_request)
  local codings = {}
  for _, v in ipairs(h:values("transfer-encoding")) do
    for item in v:gmatch("[^,]+") do
      item = item:match("^[ \t]*(.-)[ \t]*$"):lower()
      if item ~= "" then codings[#codings + 1] = item end
    end
  end
  if codings[#codings] ~= "chunked" then
    if is_request then return nil, 400, "Transfer-Encoding does not end with chunked" end
    return nil, 501, "unsupported Transfer-Encoding " .. table.concat(codings, ", ")
  end
  if #codings > 1 then   -- the first coding before the final chunked decides
    if codings[1] == "chunked" then return nil, 400, "chunked applied more than once" end
    return nil, 501, "unsupported Transfer-Encoding " .. codings[1]
  end
  return true
end

-- Decide how the body is framed: "chunked", a length, or "eof" (responses).
local function framing(msg, h, is_request)
  local te = h._values["transfer-encoding"] ~= nil
  local cl, why = content_length(h)
  if cl == false then return fail(400, "bad_content_length", why) end
  if te then
    if cl then
      -- RFC 9112 6.1: a smuggling attempt as often as not; reject it
      return fail(400, "conflicting_length", "both Transfer-Encoding and Content-Length")
    end
    if msg.proto_minor == 0 then
      -- RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing
      return fail(400, "bad_transfer_encoding", "Transfer-Encoding in an HTTP/1.0 message")
    end
    local ok, status, text = transfer_encoding(h, is_request)
    if not ok and not is_request and status == 501 and text:find("^unsupported Transfer%-Encoding") and not
      h:has_token("transfer-encoding", "chunked") then
      -- RFC 9112 6.3 item 4: a response whose codings do not end in chunked
      -- is read until the server closes the connection
      msg.content_length = -1
      return "eof"
    end
    if not ok then
      return fail(status, status == 501 and "unsupported_transfer_encoding" or "bad_transfer_encoding", text)
    end
    msg.transfer_encoding = { "chunked" }
    msg.content_length = -1
    return "chunked"
  end
  if cl then
    msg.content_length = cl
    return cl
  end
  if is_request then
    msg.content_length = 0
    return 0
  end
  msg.content_length = -1
  return "eof"
end

-- A server's budget for the bodies all its connections hold at once
-- (opts.budget = { left = bytes }): a body takes its bytes as they are read,
-- and gives them back when its request is done (release_body) or fails.
local function reserve(opts, msg, n, what)
  local budget = opts.budget
  if not budget then return true end
  if n > budget.left then
    return fail(503, "busy", what .. " bodies held by this server are at its limit (max_body_total)")
  end
  budget.left = budget.left - n
  msg._reserved = (msg._reserved or 0) + n
  return true
end

local function unreserve(opts, msg)
  local n = msg._reserved
  if n and opts.budget then opts.budget.left = opts.budget.left + n end
  msg._reserved = nil
end

-- Give back what a request's body took of opts.budget.
function M.release_body(msg, opts)
  unreserve(opts, msg)
end

-- A body read in parts gathers in a C buffer (netharness.buffer): a body of
-- 1-byte chunks costs about a byte a byte while it comes (a table slot per
-- chunk cost ~26), and the body string is one more copy at the end.
local new_buffer = net.buffer

local function take_string(buf)
  local body = buf:string()
  buf:reset()
  return body
end

-- chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
-- (RFC 9112 7.1.1, RFC 9110 5.6.4); true when ext is exactly that.
local TOKEN_AT = "^[%w!#$%%&'*+%-.^_`|~]+()"
local function valid_chunk_ext(ext)
  local pos, len = 1, #ext
  while pos <= len do
    pos = match(ext, "^[ \t]*;[ \t]*()", pos)
    if not pos then return false end
    pos = match(ext, TOKEN_AT, pos)
    if not pos then return false end
    local eq = match(ext, "^[ \t]*=[ \t]*()", pos)
    if eq then
      pos = eq
      if byte(ext, pos) == 34 then -- quoted-string
        pos = pos + 1
        while true do
          local c = byte(ext, pos)
          if c == nil then return false end -- unbalanced
          if c == 34 then pos = pos + 1; break end
          if c == 92 then -- quoted-pair
            local q = byte(ext, pos + 1)
            if not q or (q < 32 and q ~= 9) or q == 127 then return false end
            pos = pos + 2
          elseif (c < 32 and c ~= 9) or c == 127 then
            return false
          else
            pos = pos + 1
          end
        end
      else
        pos = match(ext, TOKEN_AT, pos)
        if not pos then return false end
      end
    end
    pos = match(ext, "^[ \t]*()", pos)
  end
  return true
end

-- The size of the next chunk, from its chunk-size line: chunk-size
-- [ chunk-ext ] CRLF (RFC 9112 7.1). A bare LF is a known smuggling shape, so
-- the CR is required here.
local function chunk_size(conn, opts, what)
  local previous = conn:set_line_limit(opts.max_chunk_line)
  local line, err = conn:read_until("\n", opts.timeout)
  conn:set_line_limit(previous)
  if not line then
    if type(err) == "table" and err.code == "EBUFFULL" then
      return fail(400, "bad_chunk", "chunk-size line too long")
    end
    return read_failed(err, what .. " body")
  end
  if byte(line, -2) ~= 13 then return fail(400, "bad_chunk", "chunk-size line not ended by CRLF") end
  local hex, ext = match(line, "^(%x+)(.-)\r\n$")
  if not hex or (ext ~= "" and not valid_chunk_ext(ext)) then
    return fail(400, "bad_chunk", "invalid byte in chunk length")
  end
  if #hex > 15 then return fail(400, "bad_chunk", "chunk length too large") end
  return tonumber(hex, 16)
end

-- The trailer section after the last chunk, into msg.trailers.
local function read_trailers(conn, opts, msg, what)
  local block, berr = conn:read_header_block(opts.timeout, opts.max_header_bytes + 2)
  if not block then
    if type(berr) == "table" and berr.code == "EBUFFULL" then
      return fail(431, "header_too_large", what .. " trailer fields too large")
    end
    return read_failed(berr, what .. " trailer")
  end
  -- The chunk lines required CRLF; a bare LF here would end the message
  -- for us and not for a front end that requires CRLF, which then reads
  -- what follows as this body's (a smuggling shape, RFC 9112 7.1.2).
  if byte(block, 1) == 10 or find(block, "[^\r]\n") then
    return fail(400, "bare_lf", what .. " trailer section has a bare LF line end")
  end
  local trailers, terr = parse_fields(block, 1, what .. " trailer", opts.max_headers)
  if not trailers then return nil, terr end
  if trailers:count() > 0 then msg.trailers = trailers end
  return true
end

-- The chunks of a chunked body into parts (a buffer), then its trailers:
-- true, or nil, err.
local function read_chunks(conn, opts, msg, what, parts)
  local max_body, timeout, total = opts.max_body, opts.timeout, 0
  while true do
    local size, serr = chunk_size(conn, opts, what)
    if not size then return nil, serr end
    if total + size > max_body then
      return fail(413, "body_too_large", what .. " body larger than " .. max_body .. " bytes")
    end
    if size == 0 then break end
    local ok, rerr = reserve(opts, msg, size, what)
    if not ok then return nil, rerr end
    local data
    data, rerr = conn:read_full(size + 2, timeout)
    if not data then return read_failed(rerr, what .. " body") end
    if sub(data, -2) ~= "\r\n" then return fail(400, "bad_chunk", "malformed chunked encoding") end
    parts:write(data, 1, size)
    total = total + size
  end
  return read_trailers(conn, opts, msg, what)
end

-- A body read in parts frees them at once when it fails: the collector does
-- not see the buffer's memory, so it would not hurry to.
local function read_chunked(conn, opts, msg, what)
  local parts = new_buffer()
  local ok, err = read_chunks(conn, opts, msg, what, parts)
  if not ok then
    parts:reset()
    unreserve(opts, msg)
    return nil, err
  end
  return take_string(parts)
end

local function read_body(conn, opts, msg, frame, what)
  local timeout = opts.timeout
  if frame == "chunked" then return read_chunked(conn, opts, msg, what) end
  if frame == "eof" then
    local parts, total, max_body = new_buffer(), 0, opts.max_body
    while true do
      local data, err = conn:read(65536, timeout)
      if not data then
        if err == net.EOF then break end
        parts:reset()
        return nil, err
      end
      total = total + #data
      if total > max_body then
        parts:reset()
        return fail(413, "body_too_large", what .. " body larger than " .. max_body .. " bytes")
      end
      parts:write(data)
    end
    return take_string(parts)
  end
  if frame == 0 then return "" end
  if frame > opts.max_body then
    return fail(413, "body_too_large", what .. " body larger than " .. opts.max_body .. " bytes")
  end
  local ok, rerr = reserve(opts, msg, frame, what)
  if not ok then return nil, rerr end
  local data, err = conn:read_full(frame, timeout)
  if not data then
    unreserve(opts, msg)
    return read_failed(err, what .. " body")
  end
  return data
end

-- RFC 9112 9.3 / Go's shouldClose: does this message end the connection?
local function wants_close(msg)
  local h = msg.headers
  local v = h._values.connection
  if v == "keep-alive" or v == "Keep-Alive" then return false end -- the usual values, at once
  if msg.proto_minor == 0 then return not h:has_token("connection", "keep-alive") end
  if v == nil then return false end
  if v == "close" then return true end
  return h:has_token("connection", "close")
end

local function parse_version(v)
  local major, minor = v:match("^HTTP/(%d)%.(%d)$")
  return tonumber(major), tonumber(minor)
end


-- A head that mixes CRLF and bare LF line ends: a front end that reads the
-- LF as part of a value sees other headers than we do (a smuggling shape).
-- A head written with LF alone throughout is accepted, as typed into netcat.
local function mixed_line_ends(block)
  return find(block, "\r\n", 1, true) ~= nil and (byte(block, 1) == 10 or find(block, "[^\r]\n") ~= nil)
end

-- uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal in
-- brackets, or a reg-name of unreserved, sub-delims and %XX.
local function valid_host(h)
  if h == "" then return true end
  local name, port = match(h, "^(%b[])(.*)$")
  if name then
    if not (match(name, "^%[[%x:%.]+%]$") or match(name, "^%[[vV]%x+%.[%w%-._~!$&'()*+,;=:]+%]$")) then
      return false
    end
  else
    name, port = match(h, "^([^:]*)(.*)$")
    if find(name, "[^%w%-._~!$&'()*+,;=%%]") then return false end
    local i = find(name, "%", 1, true)
    while i do
      if not match(name, "^%x%x", i + 1) then return false end
      i = find(name, "%", i + 3, true)
    end
  end
  return port == "" or match(port, "^:%d*$") ~= nil
end
M.valid_host = valid_host

-- Split a request-target into path and query (origin form) or an absolute URL.
local function parse_target(method, target)
  if method == "CONNECT" then
    -- authority-form only (RFC 9112 3.2.3): host and port
    if not (match(target, "^[^/?#]*:%d+$") and not match(target, "^:") and valid_host(target)) then return nil end
    return { raw = target, host = target }
  end
  if byte(target, 1) == 47 then -- "/": origin form, the usual case
    local q = find(target, "?", 1, true)
    if not q then return { raw = target, path = target } end
    local hash = find(target, "#", q, true)
    return { raw = target, path = sub(target, 1, q - 1), query = sub(target, q + 1, hash and hash - 1) }
  end
  local u = { raw = target }
  if target == "*" then
    if method ~= "OPTIONS" then return nil end
    u.path = "*"
    return u
  end
  local scheme, authority, rest = target:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if scheme then
    u.scheme, u.host = scheme:lower(), authority
    -- RFC 9110 4.2.1: an http(s) URI with an empty host is invalid; RFC
    -- 9112 3.2.2 has no userinfo in a request target. Either is the
    -- target's fault, not the Host header's.
    if ((u.scheme == "http" or u.scheme == "https") and authority == "") or find(authority, "@", 1, true)
      or not valid_host(authority) then
      return nil
    end
    target = rest == "" and "/" or rest
  elseif target:sub(1, 1) ~= "/" then
    return nil
  end
  u.path, u.query = target:match("^([^?#]*)%??([^#]*)")
  if u.query == "" and not target:find("?", 1, true) then u.query = nil end
  return u
end


-- Does a request ask for "100 Continue" before it sends its body?
local function expects_continue(req)
  local e = req.headers._values.expect
  return req.proto_minor >= 1 and type(e) == "string" and lower(e) == "100-continue"
end

-- Length of the start line without its line ending, pos being just past it.
local function line_length(block, pos)
  return pos - 2 - (byte(block, pos - 2) == 13 and 1 or 0)
end

-- Why a start line ("request" or "status") did not match: too long (with
-- the status a server owes for that), a bare CR, or malformed.
local function start_line_error(block, opts, what, long_status, bad_code)
  local line = start_line(block)
  if #line > opts.max_line then
    return fail(long_status, "line_too_long", what .. " line longer than " .. opts.max_line .. " bytes")
  end
  if find(line, "\r", 1, true) then return fail(400, "bare_cr", "bare CR in " .. what .. " line") end
  return fail(400, bad_code, "malformed HTTP " .. (what == "request" and "request" or "response") .. " "
    .. string.format("%q", sub(line, 1, 80)))
end

-- The request line and fields of a head, checked: req, frame, pos, count
-- (pos: where the fields begin), or nil, err.
local function parse_request_head(block, opts)
  local method, target, version, pos = match(block, "^([^ \r\n]+) ([^ \r\n]+) ([^ \r\n]+)\r?\n()")
  if not method then return start_line_error(block, opts, "request", 414, "bad_request_line") end
  if pos > opts.max_line + 3 and #start_line(block) > opts.max_line then
    return fail(414, "line_too_long", "request line longer than " .. opts.max_line .. " bytes")
  end
  if #block - pos + 1 > opts.max_header_bytes then
    return fail(431, "header_too_large", "request header fields too large")
  end
  if mixed_line_ends(block) then return fail(400, "bare_lf", "request head mixes CRLF and bare LF line ends") end
  if find(method, NOT_TOKEN) then return fail(400, "bad_request_line", "invalid method " .. string.format("%q", sub(method, 1, 40))) end
  if bad_control(target, 1) or find(target, "\t", 1, true) then
    return fail(400, "bad_request_line", "invalid byte in request target")
  end
  local major, minor
  if version == "HTTP/1.1" then major, minor = 1, 1
  elseif version == "HTTP/1.0" then major, minor = 1, 0
  else
    major, minor = parse_version(version)
    if not major then return fail(400, "bad_version", "malformed HTTP version " .. string.format("%q", sub(version, 1, 20))) end
    if major ~= 1 then return fail(505, "unsupported_version", "unsupported HTTP version " .. version) end
  end
  local url = parse_target(method, target)
  if not url then return fail(400, "bad_request_line", "invalid request target " .. string.format("%q", sub(target, 1, 80))) end

  local h, count = parse_fields(block, pos, "request", opts.max_headers)
  if not h then return nil, count end
  local req = {
    method = method, target = target, url = url,
    proto = version, proto_major = major, proto_minor = minor, headers = h,
    host = nil, content_length = nil, transfer_encoding = nil, close = nil, body = nil, remote_addr = nil,
  }

  -- RFC 9112 3.2: exactly one Host in HTTP/1.1
  local hosts = h._values.host
  if type(hosts) == "table" then return fail(400, "bad_host", "too many Host headers") end
  if minor >= 1 and hosts == nil then return fail(400, "missing_host", "missing required Host header") end
  local host = url.host or hosts or ""
  if (hosts and not valid_host(hosts)) or not valid_host(host) then
    return fail(400, "bad_host", "invalid Host header " .. string.format("%q", sub(hosts or host, 1, 80)))
  end
  req.host = host

  local frame, ferr = framing(req, h, true)
  if not frame then return nil, ferr end
  req.close = wants_close(req)
  return req, frame, pos, count
end

-- An iterator over a message's body left on the connection (a request read
-- with opts.stream_body, a response read by its head alone): each call
-- returns the next piece (at most 64 KiB; no limit on the whole, which is
-- the caller's to keep or drop), nil at the end, or nil, err. msg._frame
-- says how the body is framed (a length, "chunked", "eof"; nil: none);
-- `what` names the message in errors ("request" unless told). Sends "100
-- Continue" first when a request asks for it and opts.send_continue is set.
-- msg.body_done is true once the whole body was read.
function M.body_reader(conn, msg, opts, what)
  if not (opts and opts._complete) then opts = complete(opts) end
  what = what or "request"
  local frame, timeout = msg._frame, opts.timeout
  local left = type(frame) == "number" and frame or 0 -- of the body, or of this chunk
  local chunked, to_eof, failed, started = frame == "chunked", frame == "eof", false, false
  if frame == nil then msg.body_done = true end
  local function stop(err)
    failed = true
    msg.body_error = err
    return nil, err
  end
  return function()
    if msg.body_done then return nil end
    if failed then return nil, msg.body_error end
    if not started then
      started = true
      if opts.send_continue and msg._expect then
        local ok, werr = conn:write("HTTP/1.1 100 Continue\r\n\r\n", timeout)
        if not ok then return stop(werr) end
      end
    end
    if to_eof then
      local data, err = conn:read(65536, timeout)
      if data then return data end
      if err == net.EOF then
        msg.body_done = true
        return nil
      end
      return stop(err)
    end
    if chunked and left == 0 then
      local size, serr = chunk_size(conn, opts, what)
      if not size then return stop(serr) end
      if size == 0 then
        local ok, terr = read_trailers(conn, opts, msg, what)
        if not ok then return stop(terr) end
        msg.body_done = true
        return nil
      end
      left = size
    elseif left == 0 then
      msg.body_done = true
      return nil
    end
    local data, err = conn:read(left < 65536 and left or 65536, timeout)
    if not data then
      local _, ferr = read_failed(err, what .. " body")
      return stop(ferr)
    end
    left = left - #data
    if chunked and left == 0 then
      local crlf, cerr = conn:read_full(2, timeout)
      if not crlf then
        local _, ferr = read_failed(cerr, what .. " body")
        return stop(ferr)
      end
      if crlf ~= "\r\n" then
        local _, ferr = fail(400, "bad_chunk", "malformed chunked encoding")
        return stop(ferr)
      end
    elseif not chunked and left == 0 then
      msg.body_done = true
    end
    return data
  end
end

local function no_body_expected(method, code)
  return method == "HEAD" or (code >= 100 and code < 200) or code == 204 or code == 304
end

-- The status line and fields of a head, checked: res, frame, pos, count, or
-- nil, err. The method matters (HEAD has no body).
local function parse_response_head(block, opts, req, method)
  local version, code, reason, pos = match(block, "^([^ \r\n]+) (%d%d%d)([^\r\n]*)\r?\n()")
  if not version or (reason ~= "" and sub(reason, 1, 1) ~= " ") then
    return start_line_error(block, opts, "status", 400, "bad_status_line")
  end
  if #block - pos + 1 > opts.max_header_bytes then
    return fail(431, "header_too_large", "response header fields too large")
  end
  if mixed_line_ends(block) then return fail(400, "bare_lf", "response head mixes CRLF and bare LF line ends") end
  local major, minor
  if version == "HTTP/1.1" then major, minor = 1, 1 else major, minor = parse_version(version) end
  if not major then return fail(400, "bad_version", "malformed HTTP version " .. string.format("%q", sub(version, 1, 20))) end
  if major ~= 1 then return fail(505, "unsupported_version", "unsupported HTTP version " .. version .. " in response") end
  if find(reason, "[%z\1-\8\10-\31\127]") then return fail(400, "bad_status_line", "invalid byte in reason phrase") end
  reason = sub(reason, 2)
  local h, count = parse_fields(block, pos, "response", opts.max_headers)
  if not h then return nil, count end
  local res = {
    proto = version, proto_major = major, proto_minor = minor,
    status_code = tonumber(code), status = code .. " " .. reason, reason = reason,
    request = req, headers = h, content_length = nil, transfer_encoding = nil, close = nil, body = nil,
  }
  local frame
  if no_body_expected(method, res.status_code) then
    local cl = content_length(h)
    if cl == false then return fail(400, "bad_content_length", "invalid Content-Length") end
    res.content_length = cl or 0
    if method == "HEAD" and h:has("transfer-encoding") then
      res.transfer_encoding, res.content_length = { "chunked" }, -1
    end
    frame = 0
  else
    local ferr
    frame, ferr = framing(res, h, false)
    if not frame then return nil, ferr end
  end
  res.close = wants_close(res) or frame == "eof"
  return res, frame, pos, count
end

-- What wire.lua and heads.lua use.
M.finish_head = finish_head
M.read_failed = read_failed
M.read_body = read_body
M.expects_continue = expects_continue
M.line_length = line_length
M.parse_request_head = parse_request_head
M.parse_response_head = parse_response_head

return M
