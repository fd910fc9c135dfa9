-- netharness.http: HTTP/1.x in Lua over netharness's TCP connections.
--
--   Go                                   netharness.http
--   http.ReadRequest(bufio.NewReader(c)) http.read_request(conn)
--   http.NewRequest("GET", url, nil)     http.new_request("GET", url)
--   req.Write(conn)                      req:write(conn)
--   http.ReadResponse(br, req)           http.read_response(conn, req)
--   res.Write(conn)                      res:write(conn)
--   httputil.DumpRequest(req, true)      http.dump_request(req, true)
--   httputil.DumpResponse(res, true)     http.dump_response(res, true)
--   http.Serve(ln, handler)              http.serve(ln, handler)
--   http.Get(url)                        http.get(url)
local Header = require "netharness.http.header"
local wire = require "netharness.http.wire"
local format = require "netharness.http.format"
local server = require "netharness.http.server"
local client = require "netharness.http.client"

local M = {
  Header = Header,
  new_header = Header.new,
  is_http_error = wire.is_http_error,
  new_request = format.new_request,
  new_response = format.new_response,
  dump_request = format.dump_request,
  dump_response = format.dump_response,
  format_request = format.format_request,
  format_response = format.format_response,
  parse_url = format.parse_url,
  STATUS_TEXT = format.STATUS_TEXT,
  USER_AGENT = format.USER_AGENT,
  LIMITS = wire.DEFAULTS,
  serve = server.serve,
  new_client = client.new,
}

-- Messages read from the wire can be written again, as in Go (they are
-- of the classes format.Request and format.Response).
M.read_request = wire.read_request
M.read_response = wire.read_response
-- A load generator's read: status_code, body, close, with read_response's
-- checks and no message made for a head seen before.
M.read_status = wire.read_status
-- opts with every limit filled in, made once for many reads.
M.read_options = wire.complete_options

local default_client = client.new()
M.default_client = default_client

function M.request(spec) return default_client:request(spec) end
function M.get(url, spec) return default_client:get(url, spec) end

return M
