-- What the seed programs put on the wire, captured while they run as
-- processes on their own ports, as the posts checked it in Wireshark: seed
-- 000's one datagram each way; seed 004's TCP exchange (handshake, request,
-- answer, the server closing first) beside its UDP pair. A failing spec keeps
-- its pcap (capture.on_failure) and prints where.
local nh = require "netharness"
local capture = require "netharness.capture"
local S = require "support"

local function need_capture() S.need_capture(pending) end

local function script(name, args)
  return S.start(S.lua .. " scripts/" .. name .. " " .. (args or ""), 20)
end

-- Run a server script, then a client script against it; both must end well.
-- ready: a line the server prints when it serves, else the protocol of the
-- port it binds.
local function exchange(server, server_args, ready, client, client_args)
  local srv = script(server, server_args)
  if ready == "udp" or ready == "tcp" then
    S.bound_port(srv, "lua5.4", ready)
  else
    assert(S.wait_output(srv, ready, 5))
  end
  local cli = script(client, client_args)
  local code, out = S.wait_exit(cli, 10)
  assert.equal(0, code, out)
  local scode, sout = S.wait_exit(srv, 5)
  assert.equal(0, scode, sout)
  S.stop(cli)
  S.stop(srv)
  return out, sout
end

-- tshark's frames of a file: { src port, dst port, payload } each.
local function tshark_udp(path)
  local p = S.popen("tshark -r " .. S.quote(path) .. " -T fields -E separator=/t"
    .. " -e udp.srcport -e udp.dstport -e udp.payload 2>/dev/null")
  local frames = {}
  for line in p:lines() do
    local sp, dp, hex = line:match("^(%d+)\t(%d+)\t(%x*)")
    frames[#frames + 1] = { tonumber(sp), tonumber(dp),
      (hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)) }
  end
  p:close()
  return frames
end

describe("on the wire", function()
  it("seed 000: one datagram each way, with the post's payloads and ports", function()
    need_capture()
    local path = os.tmpname() .. ".pcap"
    capture.on_failure({ filter = "udp port 8888", name = "seed000" }, function()
      S.run(function()
        local cap <close> = assert(capture.start{ filter = "udp port 8888", file = path })
        local out = exchange("udp_server.lua", "--count 1", "Server is running",
                             "udp_client.lua", "")
        assert.equal("Sending to server\nReceiving from server\nReceived: Hello from Server\n", out)
        assert(cap:wait(2, 5))
        nh.sleep(0.1)   -- and nothing more comes
        cap:stop()
        local ps = cap:packets()
        assert.equal(2, #ps)
        local ask, answer = ps[1], ps[2]
        assert.equal("udp", ask.protocol)
        assert.equal("127.0.0.1:8888", tostring(ask.dst))
        assert.equal("Hello from client", ask.payload)
        assert.equal("udp", answer.protocol)
        assert.equal("127.0.0.1:8888", tostring(answer.src))
        assert.equal(ask.src, answer.dst)   -- back to the client's port
        assert.equal("Hello from Server", answer.payload)
        assert.is_true(answer.time >= ask.time)
        -- the file says the same to tshark
        assert.same({ { ask.src.port, 8888, "Hello from client" },
                      { 8888, ask.src.port, "Hello from Server" } }, tshark_udp(path))
      end, 30)
    end)()
    os.remove(path)
  end)

  it("seed 004: TCP's handshake, request, answer and close beside UDP's two datagrams", function()
    need_capture()
    capture.on_failure({ filter = "port 8080", name = "seed004" }, function()
      S.run(function()
        local cap <close> = assert(capture.start{ filter = "port 8080" })
        local out = exchange("http_server.lua", "--count 1", "tcp", "http_client.lua", "")
        assert.matches("TCP connection", out)
        nh.sleep(0.1)
        local tcp = cap:packets()
        local n_tcp = #tcp
        exchange("udp_server.lua", "--seed 004 --count 1", "udp", "udp_client.lua", "--seed 004")
        assert(cap:wait(n_tcp + 2, 5))
        nh.sleep(0.1)
        cap:stop()
        local udp = cap:packets(n_tcp + 1)

        -- TCP: the three-way handshake
        local server_port = 8080
        assert.equal("SYN", tcp[1].flags)
        assert.equal(server_port, tcp[1].dst.port)
        assert.equal("SYN,ACK", tcp[2].flags)
        assert.equal(server_port, tcp[2].src.port)
        assert.equal(tcp[1].seq + 1, tcp[2].ack)
        assert.equal("ACK", tcp[3].flags)
        assert.equal(tcp[2].seq + 1, tcp[3].ack)
        -- the request from the client, the answer from the server
        local request, answer, fins = {}, {}, {}
        for _, p in ipairs(tcp) do
          assert.equal("tcp", p.protocol)
          if #p.payload > 0 and p.dst.port == server_port then request[#request + 1] = p.payload end
          if #p.payload > 0 and p.src.port == server_port then answer[#answer + 1] = p.payload end
          if p.flags:find("FIN") then fins[#fins + 1] = p end
        end
        request, answer = table.concat(request), table.concat(answer)
        assert.matches("^GET / HTTP/1%.1\r\nHost: localhost:8080\r\n", request)
        assert.matches("^HTTP/1%.0 200 OK\r\n", answer)
        assert.matches("\r\n\r\nTCP connection$", answer)
        -- the server closes first: the first FIN is from its port
        assert.equal(2, #fins)
        assert.equal(server_port, fins[1].src.port)
        assert.equal(server_port, fins[2].dst.port)

        -- UDP: the request and the answer, nothing else
        assert.equal(2, #udp)
        assert.equal("udp request", udp[1].payload)
        assert.equal(server_port, udp[1].dst.port)
        assert.equal("udp server", udp[2].payload)
        assert.equal(server_port, udp[2].src.port)
        -- the post's contrast: connection set-up, acknowledgements and close
        -- around two payloads, against two datagrams
        assert.is_true(n_tcp >= 8, n_tcp .. " TCP packets")
        io.stderr:write(("  seed 004 on the wire: TCP %d packets, UDP %d\n"):format(n_tcp, #udp))
      end, 40)
    end)()
  end)
end)
