-- A client tested against a misbehaving server that netharness plays: a
-- good temperature service behind a fault-injecting proxy (slow, cut short,
-- reset), and raw TCP servers that answer garbage or a wrong body.
local net = require "netharness"
local http = require "netharness.http"
local fault = require "netharness.fault"
local T = require "netharness.test"

local here = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]+$")
here = (here == nil or here == "") and "." or here
package.path = here .. "/?.lua;" .. package.path
local temperature = require "weather"

-- The well-behaved service, on a fresh port: its listener and base URL.
local function service()
  local ln = assert(net.listen("tcp", "127.0.0.1:0"))
  net.spawn(http.serve, ln, function(req, res)
    local city = req.url.path:match("^/temperature/(%a+)$")
    if not city then
      res.status_code = 404
      return
    end
    res.headers:set("Content-Type", "text/plain")
    -- a long body, so a proxy can cut it in the middle
    res.body = "21.5" .. string.rep(" ", 2000)
  end)
  return ln, "http://" .. tostring(ln:addr())
end

-- The service behind a proxy with one toxic: the proxy's base URL.
local function broken(toxic)
  local ln = service()
  local p = assert(fault.proxy{ listen = "127.0.0.1:0", upstream = tostring(ln:addr()) })
  p:add(toxic)
  return "http://" .. p:listen_addr(), p, ln
end

-- A raw TCP server that reads the request head and answers `bytes`.
local function raw(bytes)
  local ln = assert(net.listen("tcp", "127.0.0.1:0"))
  net.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      c:read_header_block(2)
      c:write(bytes)
      c:close()
    end
  end)
  return "http://" .. tostring(ln:addr()), ln
end

describe("weather client", function()
  it("reads the temperature from a well-behaved service", T.async(function()
    local _, base = service()
    assert.are.equal(21.5, temperature(base, "oslo"))
  end, 5))

  it("gives up on a slow service at its timeout", T.async(function()
    local base = broken{ type = "latency", attributes = { latency = 3000 } }
    local t0 = net.now()
    local t, why = temperature(base, "oslo", { timeout = 0.3 })
    assert.is_nil(t)
    assert.are.equal("timeout", why)
    assert.is_true(net.now() - t0 < 1.5)
  end, 5))

  it("notices an answer cut short", T.async(function()
    -- 1000 bytes of the answer (head and part of the body), then the proxy closes
    local base = broken{ type = "limit_data", attributes = { bytes = 1000 } }
    local t, why, err = temperature(base, "oslo")
    assert.is_nil(t)
    assert.are.equal("truncated", why, tostring(err))
  end, 5))

  it("notices a reset connection", T.async(function()
    local base = broken{ type = "reset_peer", attributes = { timeout = 0 } }
    local t, why, err = temperature(base, "oslo")
    assert.is_nil(t)
    assert.are.equal("reset", why, tostring(err))
  end, 5))

  it("says when nothing listens", T.async(function()
    local t, why = temperature("http://127.0.0.1:" .. T.free_port(), "oslo")
    assert.is_nil(t)
    assert.are.equal("refused", why)
  end, 5))

  it("refuses garbage, error statuses and bodies that are not numbers", T.async(function()
    local base = raw("SSH-2.0-OpenSSH_9.2\r\n\r\n")
    local t, why = temperature(base, "oslo")
    assert.is_nil(t)
    assert.are.equal("bad response", why)
    base = raw("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    assert.are.equal("status 503", select(2, temperature(base, "oslo")))
    base = raw("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nwarm")
    assert.are.equal("bad body", select(2, temperature(base, "oslo")))
  end, 5))
end)
