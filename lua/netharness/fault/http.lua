-- netharness.fault.http: faults at the HTTP level, as a reverse proxy in front
-- of a real service or wrapped around an http.serve handler.
--
--   local fhttp = require "netharness.fault.http"
--   local p = fhttp.proxy{ upstream = "127.0.0.1:8080", seed = 1, rules = {
--     { name = "flaky", path = "/api", probability = 0.1, status = 503 },
--     { method = "GET", pattern = "^/files/", drip = { bytes = 100, every = 10 } },
--   } }
--
-- A rule matches on method and path (`path`: a prefix, `pattern`: a Lua
-- pattern) and then applies with its probability, drawn from a generator
-- seeded from the proxy's seed and the rule's name: the same requests in the
-- same order meet the same faults. The first matching rule that applies wins.
-- Its actions (any of them together):
--   status, body      answer this instead of forwarding
--   delay             ms before forwarding (or before the handler runs)
--   delay_response    ms before the response head goes out
--   drip              { bytes = n, every = ms }: the body in pieces
--   abort_after       send n bytes of the body, then close the connection
--   break_chunked     send the body chunked, with a broken chunk after the first
--   wrong_length      declare Content-Length as the real length + this (then close)
--   set_headers       { name = value, ... } on the response
--   remove_headers    { "name", ... } from the response
local net = require "netharness"
local http = require "netharness.http"
local wire = require "netharness.http.wire"

local M = {}

local ACTIONS = { status = "number", body = "string", delay = "number", delay_response = "number",
                  drip = "table", abort_after = "number", break_chunked = "boolean",
                  wrong_length = "number", set_headers = "table", remove_headers = "table" }
local MATCH = { name = "string", method = "string", path = "string", pattern = "string",
                probability = "number" }

local MS_MAX = 24 * 3600 * 1000

-- A finite number from lo to hi (whole with int), or nil (absent); false
-- stands for a required field that is missing.
local function check_number(where, k, v, lo, hi, int)
  if v == nil then return end
  local why
  if type(v) ~= "number" or v ~= v then why = "must be a number"
  elseif v < lo or v > hi then why = ("must be from %s to %s"):format(lo, hi)
  elseif int and math.type(v) ~= "integer" and v ~= math.floor(v) then why = "must be a whole number" end
  if why then
    error(("netharness.fault.http: %s.%s: %s (got %s)"):format(where, k, why, tostring(v)), 4)
  end
end

local function check_rules(rules)
  if type(rules) ~= "table" then error("netharness.fault.http: rules: must be a list of rules", 3) end
  local names = {}
  for i, r in ipairs(rules) do
    local where = "rules[" .. i .. "]"
    if type(r) ~= "table" then error("netharness.fault.http: " .. where .. ": must be a table", 3) end
    for k, v in pairs(r) do
      local want = ACTIONS[k] or MATCH[k]
      if not want then error(("netharness.fault.http: %s: unknown field %q"):format(where, tostring(k)), 3) end
      if type(v) ~= want then
        error(("netharness.fault.http: %s.%s: must be a %s (got %s)"):format(where, k, want, type(v)), 3)
      end
    end
    -- Numbers are checked here, naming the field, not when a request meets
    -- them (NaN bytes left a client waiting; 0.5 wrote Content-Length: 11.5).
    check_number(where, "probability", r.probability, 0, 1)
    check_number(where, "status", r.status, 100, 999, true)
    check_number(where, "delay", r.delay, 0, MS_MAX)
    check_number(where, "delay_response", r.delay_response, 0, MS_MAX)
    check_number(where, "abort_after", r.abort_after, 0, math.maxinteger, true)
    check_number(where, "wrong_length", r.wrong_length, math.mininteger, math.maxinteger, true)
    if r.drip then
      for k in pairs(r.drip) do
        if k ~= "bytes" and k ~= "every" then
          error(("netharness.fault.http: %s.drip: unknown field %q (it takes bytes, every)"):format(where, tostring(k)), 3)
        end
      end
      check_number(where, "drip.bytes", r.drip.bytes or false, 1, math.maxinteger, true)
      check_number(where, "drip.every", r.drip.every or false, 0, MS_MAX)
    end
    for _, k in ipairs{ "set_headers", "remove_headers" } do
      for hk, hv in pairs(r[k] or {}) do
        local name = k == "set_headers" and hk or hv
        if type(name) ~= "string" or not name:find("^[!#$%%&'*+%-.^_`|~%w]+$")
          or (k == "set_headers" and (type(hv) ~= "string" or hv:find("[%c]"))) then
          error(("netharness.fault.http: %s.%s: a header name and a string value without control characters expected"):format(where, k), 3)
        end
      end
    end
    if r.pattern and not pcall(string.find, "", r.pattern) then
      error("netharness.fault.http: " .. where .. ".pattern: not a valid Lua pattern", 3)
    end
    local name = r.name or ("rule_" .. i)
    if names[name] then error("netharness.fault.http: " .. where .. ": a second rule named " .. name, 3) end
    names[name] = true
  end
  return rules
end

-- The rules' state: generators and counts.
local function new_state(rules, seed)
  local st = { rules = check_rules(rules), seed = seed, random = {}, stats = {} }
  for i, r in ipairs(rules) do
    local name = r.name or ("rule_" .. i)
    st.random[i] = net._random(seed, name, 0)
    st.stats[name] = { matched = 0, applied = 0 }
  end
  return st
end

-- The rule that applies to req, or nil.
local function pick(st, req)
  local path = req.url and req.url.path or req.target
  for i, r in ipairs(st.rules) do
    if (not r.method or r.method == req.method)
      and (not r.path or path:sub(1, #r.path) == r.path)
      and (not r.pattern or path:find(r.pattern)) then
      local s = st.stats[r.name or ("rule_" .. i)]
      s.matched = s.matched + 1
      local p = r.probability or 1
      -- One draw per match, so the decisions follow the requests' order.
      local draw = st.random[i]:uniform()
      if draw < p then
        s.applied = s.applied + 1
        return r
      end
    end
  end
end

local NO_RULE = {}

-- Write an answer as `rule` says (NO_RULE: as it is): `head` is the head
-- http.serve made (its fields, without the blank line; any Content-Length
-- in it is replaced), the body comes from next_piece() (a piece, nil at
-- the end, or nil, err: the answer is then cut short), `length` is the
-- body's length when known. The body actions work on the stream: drip,
-- abort_after, break_chunked (a chunk of half the first piece, then
-- garbage) and wrong_length (which needs the length: a body of unknown
-- length is gathered first, up to max_body bytes). `chunked`: a body of
-- unknown length may go chunked (the client speaks HTTP/1.1). Returns
-- whether the connection may go on.
local function send_answer(rule, conn, head, length, next_piece, chunked, max_body, timeout)
  if rule.delay_response then net.sleep(rule.delay_response / 1000) end
  local had_length = head:find("\r\n[Cc]ontent%-[Ll]ength:") ~= nil   -- (none for 204, 304)
  head = head:gsub("\r\n[Cc]ontent%-[Ll]ength:[^\r]*", "")
  if rule.wrong_length and not length then
    local parts, n = {}, 0
    while true do
      local data, err = next_piece()
      if not data then
        if err then return false end
        break
      end
      n = n + #data
      if n > max_body then return false end
      parts[#parts + 1] = data
    end
    local body = table.concat(parts)
    length = #body
    next_piece = function() local b = body body = nil return b end
  end
  local keep, chunk = true, false
  local framing
  if rule.break_chunked then
    framing, keep = "Transfer-Encoding: chunked", false
  elseif rule.wrong_length then
    -- the bytes no longer frame a message: the client learns it at the close
    framing, keep = "Content-Length: " .. math.max(0, length + rule.wrong_length), false
  elseif length then
    framing = (length > 0 or had_length) and "Content-Length: " .. length or nil
  elseif chunked then
    framing, chunk = "Transfer-Encoding: chunked", true
  else
    framing, keep = nil, false   -- the end of the body is the close
  end
  if rule.abort_after then keep = false end
  if not keep and not head:lower():find("\r\nconnection:[^\r]*close") then
    head = head .. "\r\nConnection: close"
  end
  if not conn:write(head .. (framing and "\r\n" .. framing or "") .. "\r\n\r\n", timeout) then return false end
  local sent, first = 0, true
  local drip = rule.drip
  local function put(bytes)
    if not drip then return bytes == "" or conn:write(bytes, timeout) end
    local n, every = drip.bytes, drip.every / 1000
    for i = 1, #bytes, n do
      if (i > 1 or not first) and every > 0 then net.sleep(every) end
      if not conn:write(bytes:sub(i, i + n - 1), timeout) then return false end
      first = false
    end
    return true
  end
  while true do
    local data, err = next_piece()
    if not data then
      if err then return false end   -- the upstream failed mid-body: the client sees it cut short
      break
    end
    local last = rule.abort_after and sent + #data >= rule.abort_after
    if last then data = data:sub(1, rule.abort_after - sent) end
    local out = data
    if rule.break_chunked then
      if sent == 0 then
        local half = #data // 2
        out = (half > 0 and ("%x\r\n%s\r\n"):format(half, data:sub(1, half)) or "") .. "zz\r\n" .. data:sub(half + 1)
      end
    elseif chunk and #data > 0 then
      out = ("%x\r\n"):format(#data) .. data .. "\r\n"
    end
    if not put(out) or last then return false end   -- (abort_after: then the close)
    sent = sent + #data
  end
  if chunk and not put("0\r\n\r\n") then return false end
  return keep
end

-- The answer's bytes (a handler's, or a rule's status), written as the rule says.
local function write_faulty(rule, conn, bytes, timeout)
  local head_end = bytes:find("\r\n\r\n", 1, true)
  local body = bytes:sub(head_end + 4)
  local next_piece = function() local b = body body = nil return b end
  return send_answer(rule, conn, bytes:sub(1, head_end - 1), #body, next_piece, false, math.huge, timeout)
end

local function has_body_action(rule)
  return rule.delay_response or rule.drip or rule.abort_after or rule.break_chunked or rule.wrong_length
end

-- Apply rule to a response being made (res) by forward(req, res). A
-- forward that leaves the body on the upstream connection (res._stream: the
-- proxy's) has it streamed through, the rule's body actions on the stream.
local function serve_with(st, forward, req, res)
  local rule = pick(st, req)
  if not rule then
    local status, body, headers = forward(req, res)
    if res._stream then res.writer = res._stream.writer(NO_RULE) end
    return status, body, headers
  end
  if rule.delay then net.sleep(rule.delay / 1000) end
  if rule.status then
    res.status_code = rule.status
    res.body = rule.body or ((http.STATUS_TEXT[rule.status] or "") .. "\n")
  else
    local status, body, headers = forward(req, res)
    if type(status) == "number" then   -- the handler returned its answer
      res.status_code = status
      if body ~= nil then res.body = tostring(body) end
      for k, v in pairs(type(headers) == "table" and headers or {}) do res.headers:set(k, v) end
    end
  end
  for k, v in pairs(rule.set_headers or {}) do res.headers:set(k, v) end
  for _, k in ipairs(rule.remove_headers or {}) do res.headers:del(k) end
  if res._stream and not rule.status then
    res.writer = res._stream.writer(rule)
  elseif has_body_action(rule) then
    res.writer = function(conn, bytes, timeout) return write_faulty(rule, conn, bytes, timeout) end
  end
end

-- handler', faults = wrap(handler, rules [, { seed = n }]): the same handler
-- with faults, and faults:stats() (per rule: how often it matched and applied)
-- and faults:set_rules(rules).
function M.wrap(handler, rules, opts)
  local seed = (opts and opts.seed) or 0
  local st = new_state(rules, seed)
  local faults = {}
  function faults.stats() return st.stats end
  function faults.set_rules(_, new)
    local fresh = new_state(new, seed)
    st.rules, st.random, st.stats = fresh.rules, fresh.random, fresh.stats
  end
  return function(req, res) return serve_with(st, handler, req, res) end, faults
end

-- Headers that belong to one hop, not to the message (RFC 9110 7.6.1), and
-- those the proxy frames itself (length, host).
local HOP = { connection = true, ["keep-alive"] = true, ["proxy-connection"] = true, te = true,
              trailer = true, ["transfer-encoding"] = true, upgrade = true, ["content-length"] = true,
              host = true, ["proxy-authenticate"] = true, ["proxy-authorization"] = true }

-- Copy src's end-to-end headers to dst: not the hop-by-hop set, nor any
-- header that src's Connection names (RFC 9110 7.6.1: a proxy removes them).
local function copy_end_to_end(src, dst)
  local named = {}
  for name, value in src:each() do
    if name:lower() == "connection" then
      for token in value:gmatch("[^,%s]+") do named[token:lower()] = true end
    end
  end
  for name, value in src:each() do
    local lower = name:lower()
    if not HOP[lower] and not named[lower] then dst:add(name, value) end
  end
end

-- proxy{ listen = "127.0.0.1:0", upstream = "host:port", rules = {...}, seed,
--        timeout = 30, max_body } -> a reverse proxy with faults | nil, err.
-- Answers are streamed through as they come; max_body (64 MiB) bounds only
-- a body of unknown length that wrong_length must measure first.
function M.proxy(opts)
  if type(opts) ~= "table" or type(opts.upstream) ~= "string" then
    error("netharness.fault.http: proxy{ upstream = \"host:port\", rules = {...} }: upstream is required", 2)
  end
  local seed = opts.seed or math.random(0, 2^31)
  local st = new_state(opts.rules or {}, seed)
  local ln, err = net.listen("tcp", opts.listen or "127.0.0.1:0")
  if not ln then return nil, err end
  local timeout = opts.timeout or 30
  local max_body = opts.max_body or 64 << 20
  local base = "http://" .. opts.upstream
  local read_opts = http.read_options{ timeout = timeout }
  -- Upstream connections kept alive between requests, the most recent last.
  local idle, IDLE_MAX = {}, 64
  local function release(c, reusable)
    if reusable and #idle < IDLE_MAX then idle[#idle + 1] = c else c:close() end
  end

  -- Send the request upstream and read the answer's head, on a kept
  -- connection (tried again on a fresh one if the upstream had closed it)
  -- or a new one: the connection and the answer, or nil, err.
  local function exchange(bytes, upreq)
    for _ = 1, 2 do
      local c = table.remove(idle)
      local reused = c ~= nil
      if not c then
        local derr
        c, derr = net.dial("tcp", opts.upstream, timeout)
        if not c then return nil, derr end
      end
      local ok, werr = c:write(bytes, timeout)
      local up, rerr
      if ok then
        repeat -- 1xx answers are interim (RFC 9110 15.2)
          up, rerr = wire.read_response_head(c, upreq, read_opts)
        until not up or up.status_code >= 200 or up.status_code == 101
      else
        rerr = werr
      end
      if up then return c, up end
      c:close()
      local gone = rerr == net.EOF or (type(rerr) == "table" and (rerr.code == "ECONNRESET" or rerr.code == "EPIPE"))
      if not (reused and gone) then return nil, rerr end
    end
  end

  -- Forward req; the answer's head goes into res and its body stays on the
  -- upstream connection, streamed to the client by res._stream.writer(rule)
  -- (never held whole: a 60 MiB answer costs a piece at a time).
  local function forward(req, res)
    local target = req.target
    if target:sub(1, 1) ~= "/" then   -- absolute-form: the upstream gets the origin form
      target = (req.url.path or "/") .. (req.url.query and ("?" .. req.url.query) or "")
    end
    local upreq, rerr = http.new_request(req.method, base .. target, req.body ~= "" and req.body or nil)
    if not upreq then
      res.status_code, res.body = 400, "bad request: " .. tostring(rerr) .. "\n"
      return
    end
    copy_end_to_end(req.headers, upreq.headers)
    local c, up = exchange(http.format_request(upreq), upreq)
    if not c then
      res.status_code = 502
      res.body = "bad gateway: " .. tostring(up) .. "\n"
      return
    end
    res.status_code = up.status_code
    copy_end_to_end(up.headers, res.headers)
    local next_piece = up._frame and wire.body_reader(c, up, read_opts, "response") or function() return nil end
    local length = up._frame == nil and 0 or (type(up._frame) == "number" and up._frame or nil)
    local chunked = req.proto_minor >= 1
    res._stream = { writer = function(rule)
      return function(conn, bytes, wtimeout)
        local head_end = bytes:find("\r\n\r\n", 1, true)
        local body_allowed = req.method ~= "HEAD" and res.status_code >= 200
          and res.status_code ~= 204 and res.status_code ~= 304
        local blen, pieces = length, next_piece
        if not body_allowed then blen, pieces = 0, function() return nil end end
        local keep = send_answer(rule, conn, bytes:sub(1, head_end - 1), blen, pieces, chunked, max_body, wtimeout)
        -- kept only when its answer was read to the end and may be followed
        release(c, (up._frame == nil or up.body_done) and not up.close and up.status_code ~= 101)
        return keep
      end
    end }
  end
  local task = net.spawn(http.serve, ln, function(req, res) return serve_with(st, forward, req, res) end)
  local p = { seed = seed }
  function p.listen_addr() return ln:addr() end
  function p.stats() return st.stats end
  function p.set_rules(_, rules)
    local fresh = new_state(rules, seed)
    st.rules, st.random, st.stats = fresh.rules, fresh.random, fresh.stats
  end
  function p.close()
    ln:close()
    for _, c in ipairs(idle) do c:close() end
    idle = {}
    -- The server sees its listener closed at the loop's next pass; wait for
    -- that where a wait can yield (not in a __close run as a task dies).
    if coroutine.isyieldable() then task:wait(1) end
  end
  return setmetatable(p, { __close = p.close })
end

return M
