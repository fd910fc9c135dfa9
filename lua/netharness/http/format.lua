-- Writing HTTP/1.x messages, and dumping them, byte for byte as Go's
-- Request.Write, Response.Write, httputil.DumpRequest and DumpResponse do
-- (spec/golden has their real output to compare with).
local Header = require "netharness.http.header"

local M = {}

M.USER_AGENT = "netharness/" .. ((require "netharness").version or "0")

M.STATUS_TEXT = {
  [100] = "Continue", [101] = "Switching Protocols", [102] = "Processing", [103] = "Early Hints",
  [200] = "OK", [201] = "Created", [202] = "Accepted", [203] = "Non-Authoritative Information",
  [204] = "No Content", [205] = "Reset Content", [206] = "Partial Content", [207] = "Multi-Status",
  [208] = "Already Reported", [226] = "IM Used",
  [300] = "Multiple Choices", [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
  [304] = "Not Modified", [305] = "Use Proxy", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [402] = "Payment Required", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [406] = "Not Acceptable",
  [407] = "Proxy Authentication Required", [408] = "Request Timeout", [409] = "Conflict",
  [410] = "Gone", [411] = "Length Required", [412] = "Precondition Failed",
  [413] = "Request Entity Too Large", [414] = "Request URI Too Long", [415] = "Unsupported Media Type",
  [416] = "Requested Range Not Satisfiable", [417] = "Expectation Failed", [418] = "I'm a teapot",
  [421] = "Misdirected Request", [422] = "Unprocessable Entity", [423] = "Locked",
  [424] = "Failed Dependency", [425] = "Too Early", [426] = "Upgrade Required",
  [428] = "Precondition Required", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [451] = "Unavailable For Legal Reasons",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported",
  [506] = "Variant Also Negotiates", [507] = "Insufficient Storage", [508] = "Loop Detected",
  [510] = "Not Extended", [511] = "Network Authentication Required",
}

local function body_allowed(code)
  return not ((code >= 100 and code < 200) or code == 204 or code == 304)
end
M.body_allowed = body_allowed

local function is_chunked(te)
  return te ~= nil and te[1] == "chunked"
end

-- One chunk for the whole body, then the last chunk (Go's chunked writer).
local function chunked(body)
  if body == "" then return "0\r\n" end
  return string.format("%x\r\n", #body) .. body .. "\r\n0\r\n"
end

-- The request-target Go writes: the path and query of the URL.
local function request_uri(req)
  local u = req.url
  if not u then return req.target or "/" end
  if u.path == "*" then return "*" end
  local path = u.path ~= "" and u.path or "/"
  if u.query then return path .. "?" .. u.query end
  return path
end

-- Content-Length the way Go's transferWriter decides it.
local function should_send_length(method, cl, te)
  if is_chunked(te) then return false end
  if cl > 0 then return true end
  if cl < 0 then return false end
  return method == "POST" or method == "PUT" or method == "PATCH"
end

local REQ_EXCLUDE = { Host = true, ["User-Agent"] = true, ["Content-Length"] = true,
  ["Transfer-Encoding"] = true, Trailer = true }

-- Go's Request.Write.
function M.format_request(req)
  local out = {}
  local method = req.method or "GET"
  out[1] = method .. " " .. request_uri(req) .. " HTTP/1.1\r\n"
  local host = req.host
  if (host == nil or host == "") and req.url then host = req.url.host end
  out[#out + 1] = "Host: " .. (host or "") .. "\r\n"
  local ua = M.USER_AGENT
  if req.headers:has("user-agent") then ua = req.headers:get("user-agent") end
  if ua ~= "" then out[#out + 1] = "User-Agent: " .. ua .. "\r\n" end
  local body = req.body or ""
  local cl = req.content_length or #body
  local te = req.transfer_encoding
  if req.close and not req.headers:has_token("connection", "close") then
    out[#out + 1] = "Connection: close\r\n"
  end
  if should_send_length(method, cl, te) then
    out[#out + 1] = "Content-Length: " .. cl .. "\r\n"
  elseif is_chunked(te) then
    out[#out + 1] = "Transfer-Encoding: chunked\r\n"
  end
  if req.headers:count() > 0 then req.headers:write_subset(out, REQ_EXCLUDE) end
  out[#out + 1] = "\r\n"
  if is_chunked(te) then
    out[#out + 1] = chunked(body) .. "\r\n"
  else
    out[#out + 1] = body
  end
  return table.concat(out)
end

local DUMP_EXCLUDE = { Host = true, ["Transfer-Encoding"] = true, Trailer = true }

-- Go's httputil.DumpRequest.
function M.dump_request(req, with_body)
  local out = {}
  out[1] = (req.method or "GET") .. " " .. (req.target or request_uri(req)) .. " HTTP/"
    .. (req.proto_major or 1) .. "." .. (req.proto_minor or 1) .. "\r\n"
  local target = req.target or ""
  if not (target:find("^http://") or target:find("^https://")) then
    local host = req.host
    if (host == nil or host == "") and req.url then host = req.url.host end
    if host and host ~= "" then out[#out + 1] = "Host: " .. host .. "\r\n" end
  end
  local te = req.transfer_encoding
  if te and #te > 0 then out[#out + 1] = "Transfer-Encoding: " .. table.concat(te, ",") .. "\r\n" end
  if req.close then out[#out + 1] = "Connection: close\r\n" end
  req.headers:write_subset(out, DUMP_EXCLUDE)
  out[#out + 1] = "\r\n"
  if with_body and req.body then
    if is_chunked(te) then
      out[#out + 1] = chunked(req.body) .. "\r\n"
    else
      out[#out + 1] = req.body
    end
  end
  return table.concat(out)
end

local RESP_EXCLUDE = { ["Content-Length"] = true, ["Transfer-Encoding"] = true, Trailer = true }

-- Go's Response.Write; with_body = false writes the head only, as
-- DumpResponse(res, false) does.
function M.format_response(res, with_body)
  if with_body == nil then with_body = true end
  local code = res.status_code or 200
  local text = res.status
  if text == nil or text == "" then
    text = M.STATUS_TEXT[code] or ("status code " .. code)
  else
    local prefix = tostring(code) .. " "
    if text:sub(1, #prefix) == prefix then text = text:sub(#prefix + 1) end
  end
  local major, minor = res.proto_major or 1, res.proto_minor or 1
  local out = { string.format("HTTP/%d.%d %03d %s\r\n", major, minor, code, text) }

  local body = res.body or ""
  local method = res.request and res.request.method or ""
  local to_head = method == "HEAD"
  local cl = res.content_length
  if cl == nil or cl == 0 then cl = #body > 0 and -1 or 0 end -- Go probes a body given no length
  local te = res.transfer_encoding
  local close = res.close
  if cl == -1 and not close and (major > 1 or minor >= 1) and not is_chunked(te) then close = true end
  if to_head then
    body = ""
    if is_chunked(te) then cl = -1 end
  else
    if major == 1 and minor == 0 then te = nil end
    if is_chunked(te) then cl = -1 end
  end
  if close and not res.headers:has_token("connection", "close") then
    out[#out + 1] = "Connection: close\r\n"
  end
  local sent_length = should_send_length(method, cl, te)
  if sent_length then
    out[#out + 1] = "Content-Length: " .. cl .. "\r\n"
  elseif is_chunked(te) then
    out[#out + 1] = "Transfer-Encoding: chunked\r\n"
  end
  res.headers:write_subset(out, RESP_EXCLUDE)
  if cl == 0 and not is_chunked(te) and not sent_length and body_allowed(code) then
    out[#out + 1] = "Content-Length: 0\r\n"
  end
  out[#out + 1] = "\r\n"
  if with_body and not to_head then
    out[#out + 1] = is_chunked(te) and (chunked(body) .. "\r\n") or body
  end
  return table.concat(out)
end

-- Go's httputil.DumpResponse.
function M.dump_response(res, with_body)
  return M.format_response(res, with_body and true or false)
end

-- ---- objects with :write(conn), like Go's *Request and *Response ----

local Request = { __name = "netharness.http.Request" }
-- A new request's Header is made on first use: a client sending the same
-- request again and again never touches it (its bytes are kept).
Request.__index = Header.lazy_index(Request)
M.Request = Request

function Request:write(conn, timeout)
  return conn:write(M.format_request(self), timeout)
end

local Response = { __name = "netharness.http.Response" }
Response.__index = Response
M.Response = Response

function Response:write(conn, timeout)
  return conn:write(M.format_response(self, true), timeout)
end

-- Parse "http://host:port/path?query" (https is refused: no TLS here).
function M.parse_url(url)
  if url:find("[%c ]") then return nil, "invalid control character or space in URL " .. string.format("%q", url) end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "missing scheme in URL " .. string.format("%q", url) end
  scheme = scheme:lower()
  if scheme ~= "http" then return nil, "unsupported protocol scheme " .. string.format("%q", scheme) end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  if authority == "" then return nil, "missing host in URL " .. string.format("%q", url) end
  if authority:find("^%[") and not authority:find("^%[.+%]") then   -- Go's words
    return nil, "missing ']' in host in URL " .. string.format("%q", url)
  end
  local host, port = authority:match("^%[(.+)%]:(%d+)$")
  if not host then host = authority:match("^%[(.+)%]$") end
  if not host then host, port = authority:match("^([^:]+):(%d+)$") end
  if not host then host = authority end
  if host:find("[@%s]") or host:find(":") and not authority:find("^%[") then
    return nil, "invalid host in URL " .. string.format("%q", url)
  end
  local p, q = path:match("^([^?#]*)%??([^#]*)")
  return {
    scheme = scheme, host = authority, hostname = host, port = tonumber(port) or 80,
    path = p ~= "" and p or "/", query = path:find("?", 1, true) and q or nil,
    dial_address = (authority:find("^%[") and ("[" .. host .. "]") or host) .. ":" .. (tonumber(port) or 80),
  }
end

-- Go's http.NewRequest(method, url, body): nil, err for a bad URL. `cache`
-- (optional) keeps parsed URLs for a client that asks for the same ones often.
local good_methods, ngood = {}, 0 -- methods already checked (bounded)
local cached_urls = setmetatable({}, { __mode = "k" }) -- URL cache -> how many it holds
function M.new_request(method, url, body, cache)
  if not good_methods[method] then
    if type(method) ~= "string" or method == "" or method:find("[^%w!#$%%&'*+%-.^_`|~]") then
      error("bad argument #1 to 'new_request' (invalid method " .. string.format("%q", tostring(method)) .. ")", 2)
    end
    if ngood >= 64 then good_methods, ngood = {}, 0 end
    good_methods[method], ngood = true, ngood + 1
  end
  if body ~= nil and type(body) ~= "string" then
    error("bad argument #3 to 'new_request' (string or nil expected, got " .. type(body) .. ")", 2)
  end
  local u = cache and cache[url] -- (only strings are keys there)
  if not u then
    if type(url) ~= "string" then error("bad argument #2 to 'new_request' (string expected, got " .. type(url) .. ")", 2) end
    local err
    u, err = M.parse_url(url)
    if not u then return nil, err end
    if cache then
      local n = cached_urls[cache] or 0
      if n >= 256 then
        for k in pairs(cache) do cache[k] = nil end
        n = 0
      end
      cache[url], cached_urls[cache] = u, n + 1
    end
  end
  return setmetatable({
    method = method, url = u, host = u.host, headers = nil,
    proto = "HTTP/1.1", proto_major = 1, proto_minor = 1,
    body = body, content_length = body and #body or 0,
  }, Request)
end

-- A response to fill in: status_code, headers, body.
function M.new_response(status_code, body, headers)
  return setmetatable({
    status_code = status_code or 200, proto_major = 1, proto_minor = 1,
    headers = headers or Header.new(), body = body,
  }, Response)
end

return M
