-- weather: the client code under test in this example. It asks a
-- temperature service (GET /temperature/CITY, answer: a number as text)
-- and says plainly what went wrong when the service misbehaves:
--
--   local temperature = require "weather"
--   local t, why, err = temperature("http://127.0.0.1:8080", "oslo", { timeout = 1 })
--   -- t: a number; or nil, why ("timeout", "truncated", "reset",
--   -- "refused", "bad response", "status 503", "bad body") and the error
local net = require "netharness"
local http = require "netharness.http"

return function(base, city, opts)
  opts = opts or {}
  -- A client of its own: no kept-alive connection from an earlier call.
  local client = http.new_client{ timeout = opts.timeout or 1 }
  local res, err = client:get(base .. "/temperature/" .. city)
  client:close()
  if not res then
    local code = type(err) == "table" and err.code
    if net.is_timeout(err) then return nil, "timeout", err end
    -- the connection ended inside the answer (an HTTP error, code "unexpected_eof")
    if code == "unexpected_eof" or err == net.ErrUnexpectedEOF then return nil, "truncated", err end
    if code == "ECONNRESET" or err == net.EOF then return nil, "reset", err end
    if code == "ECONNREFUSED" then return nil, "refused", err end
    return nil, "bad response", err
  end
  if res.status_code ~= 200 then return nil, "status " .. res.status_code, res end
  local t = tonumber(res.body)
  if not t then return nil, "bad body", res end
  return t
end
