-- The seed post's exchange as a spec: its server and its client run as the
-- post ran them, as two programs, and the spec checks what each printed
-- and, as the post did in Wireshark, that one datagram went each way.
local net = require "netharness"
local T = require "netharness.test"

local here = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]+$")
here = (here == nil or here == "") and "." or here

describe("seed 000: a UDP server and client", function()
  local server, addr
  before_each(function()
    -- Port 0, not the post's 8888: the server says which port it got.
    server = T.process{ cmd = { "lua5.4", here .. "/udp_server.lua", "127.0.0.1:0" },
      ready = "Server is running at (%S+)" }
    addr = server.ready[1]
  end)

  it("exchanges one greeting each way, as the post shows", T.async(function()
    local client = T.process{ cmd = { "lua5.4", here .. "/udp_client.lua", addr } }
    assert.are.equal(0, assert(client:wait_exit(5)).code)
    assert.are.equal("Sending to server\nReceiving from server\nReceived: Hello from Server\n",
      client:output())
    -- the server names the client's address and port
    local from = server:wait_output("Received from (127%.0%.0%.1:%d+): Hello from client\n", 5)
    assert.truthy(from)
  end, 10))

  it("answers each datagram, and only its sender", T.async(function()
    local a = assert(net.dial("udp", addr))
    local b = assert(net.dial("udp", addr))
    for i = 1, 5 do
      assert(a:write("ping " .. i))
      assert.are.equal("Hello from Server", a:read(1500, 2))
    end
    assert(b:write("other"))
    assert.are.equal("Hello from Server", b:read(1500, 2))
    -- nothing more for a: one answer per datagram
    local _, err = a:read(1500, 0.1)
    assert.is_true(net.is_timeout(err))
    local _, n = server:output():gsub("Received from", "")
    assert.are.equal(6, n)
    a:close()
    b:close()
  end, 10))

  it("puts exactly one datagram on the wire each way (needs CAP_NET_RAW)", T.async(function()
    local capture = require "netharness.capture"
    local ok, why = capture.permitted()
    if not ok then
      pending("capturing needs CAP_NET_RAW: " .. why)
      return
    end
    local port = addr:match(":(%d+)$")
    local cap = assert(capture.start{ filter = "udp port " .. port })
    local client = T.process{ cmd = { "lua5.4", here .. "/udp_client.lua", addr } }
    assert(client:wait_exit(5))
    assert(cap:wait(2, 2))
    net.sleep(0.1)   -- anything more would be here by now
    local packets = cap:packets()
    cap:stop()
    assert.are.equal(2, #packets)
    assert.are.equal("Hello from client", packets[1].payload)
    assert.are.equal("Hello from Server", packets[2].payload)
    assert.are.equal(tonumber(port), packets[1].dst.port)
    assert.are.equal(tonumber(port), packets[2].src.port)
    assert.are.equal(tostring(packets[1].src), tostring(packets[2].dst))   -- back to the sender
  end, 10))
end)
