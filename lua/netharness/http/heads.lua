-- The head cache: heads seen before. A load test sends, and is answered with, the same head
-- again and again, and what a head's parse finds depends on its bytes alone
-- (and the size limits, checked again on every use). The second time a head
-- comes, what its parse found is kept; later messages with that head are
-- built from it without a pattern match, each with tables of its own (the
-- header values are shared until the first change: Header.shared). A head
-- seen once costs one table slot and its bytes; only heads of at most
-- HEAD_BYTES are kept, and the cache starts over when it holds HEADS_MAX
-- heads or CACHE_BYTES bytes (a peer sending distinct large heads cannot make
-- it hold their memory).
local Header = require "netharness.http.header"
local parse = require "netharness.http.parse"
local format = require "netharness.http.format"
local Request, Response = format.Request, format.Response

local M = {}

local HEADS_MAX, HEAD_BYTES, CACHE_BYTES = 256, 4096, 256 * 1024

local function head_cache()
  return { n = 0, bytes = 0, heads = {} }
end
local request_heads, response_heads = head_cache(), head_cache()

-- Note a head seen for the first time (the parse of a second sighting
-- replaces the note in place).
local function note(cache, block)
  local len = #block
  if len > HEAD_BYTES then return end
  if cache.n >= HEADS_MAX or cache.bytes + len > CACHE_BYTES then cache.n, cache.bytes, cache.heads = 0, 0, {} end
  cache.heads[block], cache.n, cache.bytes = true, cache.n + 1, cache.bytes + len
end

-- How many heads the caches hold (requests, responses) and their bytes: for tests.
function M.cached_heads()
  return request_heads.n, response_heads.n, request_heads.bytes + response_heads.bytes
end

local function copy_url(u)
  return { raw = u.raw, path = u.path, query = u.query, scheme = u.scheme, host = u.host }
end

-- The class of messages built from template t: like `class`, but a
-- message's url and headers are made from t when first looked at (a server
-- that answers without reading them, or a load generator that counts
-- statuses, makes one table a message instead of three). pairs() makes them
-- first, so a message shows every field; rawget and next see only what was
-- made.
local function lazy_class(class, t)
  local mt = { __name = class.__name }
  function mt.__index(msg, k)
    local v
    if k == "headers" then
      v = Header.shared(t.names, t.n, t.values)
    elseif k == "url" and t.url then
      v = copy_url(t.url)
    else
      return class[k]
    end
    rawset(msg, k, v)
    return v
  end
  function mt.__pairs(msg)
    local _ = msg.headers
    _ = msg.url
    return next, msg, nil
  end
  return mt
end

-- What a request's head gave, to build the next request with that head from.
local function request_template(block, req, frame, pos, count, expect)
  local h = req.headers
  local t = {
    method = req.method, target = req.target, proto = req.proto, minor = req.proto_minor,
    url = copy_url(req.url),
    names = { table.unpack(h, 1, #h) }, n = #h, values = Header.share(h),
    host = req.host, content_length = req.content_length, chunked = req.transfer_encoding ~= nil,
    close = req.close, frame = frame,
    expect = expect,
    line_length = parse.line_length(block, pos), fields_length = #block - pos + 1, count = count,
  }
  t.class = lazy_class(Request, t)
  return t
end

local function response_template(block, res, frame, pos, count, is_head)
  local h = res.headers
  local t = {
    proto = res.proto, major = res.proto_major, minor = res.proto_minor,
    status_code = res.status_code, status = res.status, reason = res.reason,
    names = { table.unpack(h, 1, #h) }, n = #h, values = Header.share(h),
    content_length = res.content_length, chunked = res.transfer_encoding ~= nil,
    close = res.close, frame = frame, is_head = is_head,
    fields_length = #block - pos + 1, count = count,
  }
  t.class = lazy_class(Response, t)
  return t
end

-- The template kept for a head, if it fits opts's limits (checked on every
-- use: a server may be stricter than the one that saw the head first).
local function kept(cache, block, opts)
  local t = cache.heads[block]
  if t and t ~= true and t.fields_length <= opts.max_header_bytes and t.count <= opts.max_headers then
    return t
  end
end

-- After a parse: a head's second sighting keeps what the parse found, made
-- into a template by make(block, ...); its first is only noted.
local function remember(cache, make, block, ...)
  if cache.heads[block] then
    cache.heads[block] = make(block, ...)
  else
    note(cache, block)
  end
end

-- The template of a request head seen before, or nil: then parse it and
-- offer the parse to remember_request.
function M.request(block, opts)
  local t = kept(request_heads, block, opts)
  if t and t.line_length <= opts.max_line then return t end
end

function M.remember_request(block, req, frame, pos, count, expect)
  remember(request_heads, request_template, block, req, frame, pos, count, expect)
end

-- The same for the response to a request of the method HEAD or another.
function M.response(block, opts, is_head)
  local t = kept(response_heads, block, opts)
  if t and t.is_head == is_head then return t end
end

function M.remember_response(block, res, frame, pos, count, is_head)
  remember(response_heads, response_template, block, res, frame, pos, count, is_head)
end

return M
