local nh = require "netharness"
local S = require "support"

describe("UDP", function()
  describe("listen_packet / read_from / write_to", function()
    it("echoes one datagram each way and reports the sender", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local cli = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
        assert.are.equal(#"hello", cli:write_to("hello", srv:local_addr()))
        local data, from, truncated = srv:read_from(1500, 2)
        assert.are.equal("hello", data)
        assert.is_false(truncated)
        assert.are.equal(tostring(cli:local_addr()), tostring(from))
        assert.is_true(from == cli:local_addr())
        assert.are.equal("udp", from.network)
        assert.are.equal("127.0.0.1", from.ip)
        assert(srv:write_to("world", from))
        local back, from2 = cli:read_from(1500, 2)
        assert.are.equal("world", back)
        assert.are.equal(srv:local_addr().port, from2.port)
        srv:close()
        cli:close()
      end)
    end)

    it("binds localhost:PORT to 127.0.0.1 and :0 to an ephemeral port", function()
      local a = assert(nh.listen_packet("udp", "localhost:0"))
      assert.are.equal("127.0.0.1", a:local_addr().ip)
      assert.is_true(a:local_addr().port > 0)
      local b = assert(nh.listen_packet("udp", ":0"))
      assert.is_true(b:local_addr().port > 0)
      assert.matches("^%[::%]:%d+$", tostring(b:local_addr()))
      local c = assert(nh.listen_packet("udp4", ":0"))
      assert.matches("^0%.0%.0%.0:%d+$", tostring(c:local_addr()))
      a:close(); b:close(); c:close()
    end)

    it("takes an address string wherever it takes an Addr", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local cli = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        assert(cli:write_to("by string", "127.0.0.1:" .. srv:local_addr().port))
        assert.are.equal("by string", (srv:read_from(100, 2)))
        srv:close(); cli:close()
      end)
    end)

    it("serves a dual-stack wildcard listener over IPv4 with an IPv4 sender address", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", ":0"))
        local cli = assert(nh.dial("udp4", "127.0.0.1:" .. srv:local_addr().port))
        assert(cli:write("v4"))
        local data, from = srv:read_from(100, 2)
        assert.are.equal("v4", data)
        assert.are.equal("127.0.0.1", from.ip)
        assert(srv:write_to("back", from))
        assert.are.equal("back", (cli:read(100, 2)))
        srv:close(); cli:close()
      end)
    end)

    it("works over IPv6 loopback", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp6", "[::1]:0"))
        assert.matches("^%[::1%]:%d+$", tostring(srv:local_addr()))
        local cli = assert(nh.dial("udp6", tostring(srv:local_addr())))
        assert(cli:write("six"))
        local data, from = srv:read_from(100, 2)
        assert.are.equal("six", data)
        assert.are.equal("::1", from.ip)
        assert(srv:write_to("xis", from))
        assert.are.equal("xis", (cli:read(100, 2)))
        srv:close(); cli:close()
      end)
    end)

    it("sends exactly one datagram per write_to, keeping boundaries", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local cli = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        for i = 1, 5 do assert(cli:write_to(string.rep(tostring(i), i), srv:local_addr())) end
        assert(cli:write_to("", srv:local_addr()))
        for i = 1, 5 do assert.are.equal(string.rep(tostring(i), i), (srv:read_from(100, 2))) end
        assert.are.equal("", (srv:read_from(100, 2)))
        srv:close(); cli:close()
      end)
    end)

    it("replies to each sender, the last one or an earlier one kept from before", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local a = assert(nh.dial("udp", tostring(srv:local_addr())))
        local b = assert(nh.dial("udp", tostring(srv:local_addr())))
        assert(a:write("from a"))
        local _, from_a = assert(srv:read_from(100, 2))
        assert(b:write("from b"))
        local _, from_b = assert(srv:read_from(100, 2))
        -- the earlier sender's Addr, the last one's, an equal Addr made anew, a string
        assert(srv:write_to("to a", from_a))
        assert(srv:write_to("to b", from_b))
        assert(srv:write_to("to a again", assert(nh.resolve("udp", tostring(from_a)))))
        assert(srv:write_to("to b again", tostring(from_b)))
        assert.are.equal("to a", (a:read(100, 2)))
        assert.are.equal("to a again", (a:read(100, 2)))
        assert.are.equal("to b", (b:read(100, 2)))
        assert.are.equal("to b again", (b:read(100, 2)))
        -- the last sender's Addr stays right after another sender takes its place
        assert(a:write("a again"))
        local _, from_a2 = assert(srv:read_from(100, 2))
        assert(srv:write_to("to b, third", from_b))
        assert(srv:write_to("to a, third", from_a2))
        assert.are.equal("to b, third", (b:read(100, 2)))
        assert.are.equal("to a, third", (a:read(100, 2)))
        srv:close(); a:close(); b:close()
      end)
    end)

    it("reports truncation when a datagram is longer than max", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local cli = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        assert(cli:write_to("0123456789", srv:local_addr()))
        local data, from, truncated = srv:read_from(4, 2)
        assert.are.equal("0123", data)
        assert.is_true(truncated)
        assert.is_truthy(from)
        -- the rest of a truncated datagram is gone, as with recvfrom(2)
        assert(cli:write_to("next", srv:local_addr()))
        assert.are.equal("next", (srv:read_from(100, 2)))
        srv:close(); cli:close()
      end)
    end)

    it("carries the largest IPv4 datagram, 65507 bytes, intact", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
        local cli = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
        local big = {}
        for i = 1, 65507 do big[i] = string.char(i % 251) end
        big = table.concat(big)
        assert.are.equal(65507, cli:write_to(big, srv:local_addr()))
        local data, _, truncated = srv:read_from(65536, 2)
        assert.is_false(truncated)
        assert.are.equal(#big, #data)
        assert.is_true(data == big)
        local n, err = cli:write_to(big .. "x", srv:local_addr())
        assert.is_nil(n)
        assert.are.equal("EMSGSIZE", err.code)
        assert.matches("^write udp4 127%.0%.0%.1:%d+%->127%.0%.0%.1:%d+: sendto: message too long$",
          tostring(err))
        srv:close(); cli:close()
      end)
    end)
  end)

  describe("dialled UDP (Go's connected UDPConn)", function()
    it("writes and reads like net.Dial(\"udp4\") in the seed", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "localhost:0"))
        local conn = assert(nh.dial("udp4", "localhost:" .. srv:local_addr().port))
        assert.are.equal(tostring(srv:local_addr()), tostring(conn:remote_addr()))
        assert.are.equal(#"Hello from client", conn:write("Hello from client"))
        local data, from = srv:read_from(1500, 2)
        assert.are.equal("Hello from client", data)
        assert(srv:write_to("Hello from Server", from))
        local reply, truncated = conn:read(1500, 2)
        assert.are.equal("Hello from Server", reply)
        assert.is_false(truncated)
        conn:close(); srv:close()
      end)
    end)

    it("reports connection refused when nobody listens", function()
      S.run(function()
        local port = S.free_port("udp")
        local conn = assert(nh.dial("udp", "127.0.0.1:" .. port))
        assert(conn:write("anyone?"))
        local data, err = conn:read(100, 2)
        assert.is_nil(data)
        assert.are.equal("ECONNREFUSED", err.code)
        assert.are.equal("read", err.op)
        assert.matches("^read udp 127%.0%.0%.1:%d+%->127%.0%.0%.1:" .. port .. ": read: connection refused$",
          tostring(err))
        conn:close()
      end)
    end)

    it("refuses the stream-only methods with a clear error", function()
      local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local conn = assert(nh.dial("udp", tostring(srv:local_addr())))
      assert.has_error(function() conn:read_line() end, "read_line needs a tcp connection (this one is udp)")
      assert.has_error(function() conn:close_write() end, "close_write needs a tcp connection (this one is udp)")
      conn:close(); srv:close()
    end)
  end)

  describe("deadlines", function()
    it("times out a read_from with Go's error text and fields", function()
      local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local port = conn:local_addr().port
      conn:set_read_deadline(nh.now() + 0.05)
      local t0 = nh.now()
      local data, err = conn:read_from(100)
      assert.is_nil(data)
      assert.is_true(nh.now() - t0 >= 0.04)
      assert.are.equal("read udp 127.0.0.1:" .. port .. ": i/o timeout", tostring(err))
      assert.is_true(err.timeout)
      assert.is_true(nh.is_timeout(err))
      assert.are.equal("ETIMEDOUT", err.code)
      assert.are.equal("read", err.op)
      assert.are.equal("udp", err.net)
      assert.are.equal("127.0.0.1:" .. port, err.source)
      -- a deadline in the past fails at once; clearing it makes reads wait again
      conn:set_read_deadline(nh.now() - 1)
      assert.is_true((select(2, conn:read_from(100))).timeout)
      conn:set_read_deadline(0)
      local _, e2 = conn:read_from(100, 0.02)
      assert.is_true(e2.timeout)
      conn:close()
    end)

    it("applies a deadline set while a task is already waiting", function()
      S.run(function()
        local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local reader = nh.spawn(function() return conn:read_from(100) end)
        S.parked({ reader })
        conn:set_deadline(nh.now() + 0.03)
        local ok, data, err = reader:wait(2)
        assert.is_true(ok)
        assert.is_nil(data)
        assert.is_true(err.timeout)
        conn:close()
      end)
    end)

    it("lets a later deadline extend a pending read", function()
      S.run(function()
        local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        local cli = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        srv:set_read_deadline(nh.now() + 0.05)
        local reader = nh.spawn(function() return srv:read_from(100) end)
        S.parked({ reader })
        srv:set_read_deadline(nh.now() + 5)
        nh.sleep(0.1) -- past the first deadline
        assert(cli:write_to("late", srv:local_addr()))
        local ok, data = reader:wait(2)
        assert.is_true(ok)
        assert.are.equal("late", data)
        srv:close(); cli:close()
      end)
    end)

    it("takes a per-call timeout as the last argument", function()
      local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local data, err = conn:read_from(100, 0.03)
      assert.is_nil(data)
      assert.is_true(err.timeout)
      -- a negative timeout has already expired (Go's deadline in the past);
      -- 0 reads only what is there now; NaN is a mistake
      local peer = assert(nh.dial("udp", tostring(conn:local_addr())))
      for _, t in ipairs({ -1, 0, -math.huge }) do
        local t0 = nh.now()
        data, err = conn:read_from(100, t)
        assert.is_nil(data)
        assert.is_true(err.timeout)
        assert.is_true(nh.now() - t0 < 0.01)
      end
      assert(peer:write("there"))
      local got
      for _ = 1, 100 do -- (a datagram on loopback is there at once, or nearly)
        got = conn:read_from(100, 0)
        if got then break end
        nh.sleep(0.001)
      end
      assert.are.equal("there", got)
      assert.has_error(function() conn:read_from(100, 0 / 0) end,
        "bad argument #2 to 'read_from' (timeout must be a number of seconds, not NaN)")
      peer:close()
      conn:close()
    end)
  end)

  -- With no task alive, a read outside any task waits inside the system call
  -- (a receive timeout on a blocking fd) instead of polling: these check that
  -- it keeps the loop's behaviour.
  describe("a lone reader (no tasks: the wait is in the system call)", function()
    it("honours a short timeout after a longer one, never ending early", function()
      assert.are.equal(0, nh.live_tasks())
      local conn = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local t0 = nh.now()
      assert.is_true((select(2, conn:read_from(100, 0.15))).timeout)
      local t1 = nh.now()
      assert.is_true(t1 - t0 >= 0.15)
      assert.is_true((select(2, conn:read_from(100, 0.02))).timeout)
      local t2 = nh.now()
      assert.is_true(t2 - t1 >= 0.02)
      assert.is_true(t2 - t1 < 0.12, "the 0.15 s receive timeout was reused")
      -- the socket deadline counts too, whichever is earlier
      conn:set_read_deadline(nh.now() + 0.03)
      local _, err = conn:read_from(100, 5)
      assert.is_true(err.timeout)
      assert.is_true(nh.now() - t2 < 1)
      conn:close()
    end)

    it("never ends a short timeout early, read_from or a dialled read, over many calls", function()
      assert.are.equal(0, nh.live_tasks())
      local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local conn = assert(nh.dial("udp", tostring(pc:local_addr())))
      for i = 1, 16 do
        local t = 0.004 + (i % 5) * 0.0017
        local t0 = nh.now()
        local data, err
        if i % 2 == 0 then data, err = pc:read_from(100, t) else data, err = conn:read(100, t) end
        local took = nh.now() - t0
        assert.is_nil(data)
        assert.is_true(err.timeout, tostring(err))
        assert.is_true(took >= t, string.format("a %.4f s timeout ended after %.4f s", t, took))
        assert.is_true(took < t + 1)
      end
      pc:close(); conn:close()
    end)

    it("receives a datagram that arrives while it waits, from read_from and a dialled read", function()
      local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local port = srv:local_addr().port
      assert(S.execute("(sleep 0.1; printf hello | socat -u - UDP4-SENDTO:127.0.0.1:" .. port .. ") &"))
      local t0 = nh.now()
      local data, from = srv:read_from(100, 5)
      assert.are.equal("hello", data)
      assert.is_true(nh.now() - t0 >= 0.05)
      local conn = assert(nh.dial("udp", tostring(from)))
      -- nothing to read yet, and a reply to a peer that left: both end cleanly
      local none, err = conn:read(100, 0.02)
      assert.is_nil(none)
      assert.is_truthy(err)
      srv:close(); conn:close()
      -- the dialled side waits in the system call too
      local a = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local b = assert(nh.dial("udp", tostring(a:local_addr())))
      assert(b:write("ping"))
      local got = a:read_from(100, 5)
      assert.are.equal("ping", got)
      local a_port = a:local_addr().port
      a:close()   -- so that socat can answer from a's address, the only one b takes
      assert(S.execute("(sleep 0.1; printf pong | socat -u - UDP4-SENDTO:127.0.0.1:" .. b:local_addr().port
        .. ",bind=127.0.0.1:" .. a_port .. ") &"))
      t0 = nh.now()
      local reply, truncated = b:read(2, 5)
      assert.are.equal("po", reply)
      assert.is_true(truncated)
      assert.is_true(nh.now() - t0 >= 0.05)
      b:close()
    end)
  end)

  describe("far timeouts", function()
    it("waits out a far or endless timeout in parts, alone or in a task", function()
      -- In a child process, so that the spec stays bounded (timeout 10) even
      -- if a datagram were lost.
      local script = S.child_script([[
        io.stdout:setvbuf("line")
        local pc = assert(net.listen_packet("udp", "127.0.0.1:0"))
        print(pc:local_addr().port)
        print((pc:read_from(100, 1e300)))
        print((pc:read_from(100, math.huge)))
        local t = net.spawn(function() return pc:read_from(100, 1e300) end)
        print((select(2, t:wait(5))))
      ]])
      local p = S.start("exec " .. S.lua .. " " .. script, 10)
      local port = tonumber(assert(S.wait_output(p, "^%d+\n", 5)):match("^(%d+)"))
      local pid = S.pids(p, "lua5.4")[1]
      local c = assert(nh.dial("udp", "127.0.0.1:" .. port))
      for _, word in ipairs({ "one", "two", "three" }) do
        S.wait_sleeping(pid) -- each datagram comes while the child waits
        assert(c:write(word))
        assert(S.wait_output(p, word .. "\n", 5))
      end
      c:close()
      local code, out = S.wait_exit(p, 5)
      S.stop(p)
      os.remove(script)
      assert.are.equal(0, code)
      out = out:gsub("^%d+\n", "")
      assert.are.equal("one\ntwo\nthree\n", out)
    end)
  end)

  describe("misuse and bad input", function()
    it("raises on unknown networks, bad addresses and wrong types", function()
      assert.matches("bad argument #1 to '[%w.]*listen_packet' %(unknown network udp5%)",
        S.error_of(nh.listen_packet, "udp5", ":0"))
      assert.matches("bad argument #2 to '[%w.]*listen_packet' %(address 99999: invalid port%)",
        S.error_of(nh.listen_packet, "udp", "localhost:99999"))
      assert.matches("%(address localhost: missing port in address%)",
        S.error_of(nh.listen_packet, "udp", "localhost"))
      assert.matches("%(address ::1:80: too many colons in address%)",
        S.error_of(nh.listen_packet, "udp", "::1:80"))
      assert.has_error(function() nh.listen_packet("tcp", ":0") end)
      assert.has_error(function() nh.listen_packet("udp", 8888) end)
      local c = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      assert.matches("bad argument #1 to '[%w.]*read_from' %(netharness.PacketConn expected, got nil%)",
        S.error_of(function() c.read_from(nil) end))
      assert.has_error(function() c:read_from(0) end)
      assert.has_error(function() c:read_from(65537) end)
      assert.has_error(function() c:write_to({}, "127.0.0.1:1") end)
      assert.has_error(function() c:write_to("x", {}) end)
      assert.has_error(function() c:write_to("x", "127.0.0.1") end)
      c:close()
    end)

    it("checks the object a method is called on after calls on a real socket too", function()
      -- The binding remembers the last socket of each kind that passed the check.
      local c = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local read_from, local_addr = c.read_from, c.local_addr
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      for _ = 1, 3 do
        assert.is_nil((read_from(c, 64, 0)))
        assert.matches("PacketConn expected, got FILE%*", S.error_of(read_from, io.stdout, 64, 0))
        assert.matches("PacketConn expected, got netharness.Listener", S.error_of(read_from, ln, 64, 0))
        assert.matches("PacketConn expected, got netharness.Addr",
          S.error_of(read_from, c:local_addr(), 64, 0))
      end
      ln:close()
      -- Collected sockets are forgotten: new ones (perhaps where they were) are told apart.
      for i = 1, 20 do
        do
          local p <close> = assert(nh.listen_packet("udp", "127.0.0.1:0"))
          assert.is_truthy(local_addr(p))
        end
        collectgarbage()
        collectgarbage()
        local f = assert(io.tmpfile())
        assert.matches("PacketConn expected, got FILE%*", S.error_of(read_from, f, 64, 0))
        f:close()
        local p2 = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        assert.are.equal(tostring(p2:local_addr()), tostring(local_addr(p2)), "round " .. i)
        p2:close()
      end
      c:close()
    end)

    it("sets the kernel's buffer sizes like Go's SetReadBuffer / SetWriteBuffer", function()
      local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      assert.is_true(pc:set_read_buffer(1 << 20))
      assert.is_true(pc:set_write_buffer(256 * 1024))
      local conn = assert(nh.dial("udp", tostring(pc:local_addr())))
      assert.is_true(conn:set_read_buffer(65536))
      assert.matches("bad argument #1 to 'set_read_buffer' %(bytes must be between 0 and 2 GiB%)",
        S.error_of(function() pc:set_read_buffer(-1) end))
      assert.matches("number expected, got string", S.error_of(pc.set_write_buffer, pc, "big"))
      assert.matches("bad argument #2", S.error_of(pc.set_read_buffer, pc, 1.5))
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      assert.is_nil(ln.set_read_buffer)
      assert.matches("netharness.Conn or netharness.PacketConn expected",
        S.error_of(pc.set_read_buffer, ln, 10))
      ln:close()
      local addr = tostring(pc:local_addr())
      pc:close()
      local ok, err = pc:set_read_buffer(4096)
      assert.is_nil(ok)
      assert.are.equal("set udp " .. addr .. ": use of closed network connection", tostring(err))
      conn:close()
    end)

    it("returns nil, err for an address already in use", function()
      local a = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local b, err = nh.listen_packet("udp", tostring(a:local_addr()))
      assert.is_nil(b)
      assert.are.equal("listen udp " .. tostring(a:local_addr()) .. ": bind: address already in use",
        tostring(err))
      assert.are.equal("EADDRINUSE", err.code)
      a:close()
    end)

    it("returns nil, err for an IPv6 address on udp4", function()
      local c, err = nh.listen_packet("udp4", "[::1]:0")
      assert.is_nil(c)
      assert.matches("no suitable address", tostring(err))
    end)
  end)

  it("a busy receiver (batched with recvmmsg) gives the same datagrams, senders and truncation", function()
    S.run(function()
      local srv = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
      local a = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
      local b = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
      local big = string.rep("B", 65507)
      -- enough back-to-back datagrams that the socket switches to batches
      for round = 1, 4 do
        for i = 1, 50 do
          local from = i % 2 == 0 and a or b
          assert(from:write_to(round .. ":" .. i, srv:local_addr()))
        end
        assert(a:write_to(big, srv:local_addr()))
        assert(b:write_to("0123456789", srv:local_addr()))
        for i = 1, 50 do
          local data, from, truncated = srv:read_from(1500, 2)
          assert.are.equal(round .. ":" .. i, data)
          assert.is_false(truncated)
          assert.is_true(from == (i % 2 == 0 and a or b):local_addr())
        end
        local data, _, truncated = srv:read_from(65536, 2)
        assert.is_true(data == big)
        assert.is_false(truncated)
        data, _, truncated = srv:read_from(4, 2)
        assert.are.equal("0123", data)
        assert.is_true(truncated)
      end
      -- and it still waits properly once the burst is over
      local none, err = srv:read_from(100, 0.05)
      assert.is_nil(none)
      assert.is_true(err.timeout)
      -- with datagrams queued, a passed deadline still ends a read, and close still ends reading
      for i = 1, 20 do assert(a:write_to("q" .. i, srv:local_addr())) end
      assert.are.equal("q1", (srv:read_from(100, 2)))
      assert(srv:set_read_deadline(nh.now() - 1))
      none, err = srv:read_from(100)
      assert.is_nil(none)
      assert.is_true(err.timeout, tostring(err))
      assert(srv:set_read_deadline(0))
      assert.are.equal("q2", (srv:read_from(100, 2)))
      srv:close()
      none, err = srv:read_from(100, 2)
      assert.is_nil(none)
      assert.matches("use of closed network connection", tostring(err))
      a:close(); b:close()
    end)
  end)

  it("a lone reader batches bursts that arrive while it waits, with the same datagrams and truncation", function()
    -- No task: reads wait in the system call. Bursts come from a child
    -- process while we read, so datagrams queue up and the waits switch to
    -- recvmmsg; every datagram must still come once, in order, intact.
    assert.are.equal(0, nh.live_tasks())
    local srv = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
    assert(srv:set_read_buffer(4 << 20))
    local script = S.child_script([[
      local c = assert(net.dial("udp4", "]] .. tostring(srv:local_addr()) .. [["))
      for round = 1, 8 do
        for i = 1, 40 do assert(c:write(round .. ":" .. i)) end
        assert(c:write(string.rep("B", 65507)))
        assert(c:write("0123456789"))
        net.sleep(0.03)
      end
      print((c:local_addr()))
    ]])
    local child = S.popen("timeout 10 " .. S.lua .. " " .. script .. " 2>&1")
    local sender
    for round = 1, 8 do
      for i = 1, 40 do
        local data, from, truncated = srv:read_from(1500, 5)
        assert.are.equal(round .. ":" .. i, data)
        assert.is_false(truncated)
        sender = sender or tostring(from)
        assert.are.equal(sender, tostring(from))
      end
      local data, _, truncated = srv:read_from(65536, 5)
      assert.is_true(data == string.rep("B", 65507))
      assert.is_false(truncated)
      data, _, truncated = srv:read_from(4, 5)
      assert.are.equal("0123", data)
      assert.is_true(truncated)
    end
    assert.are.equal(sender .. "\n", child:read("a"))
    child:close()
    os.remove(script)
    -- a timeout still ends a wait that finds nothing
    local t0 = nh.now()
    local none, err = srv:read_from(100, 0.05)
    assert.is_nil(none)
    assert.is_true(err.timeout, tostring(err))
    assert.is_true(nh.now() - t0 >= 0.05)
    srv:close()
  end)

  it("gives repeated and nearly repeated datagrams byte for byte, and ones that never repeat", function()
    S.run(function()
      local srv = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
      local cli = assert(nh.dial("udp4", tostring(srv:local_addr())))
      -- equal payloads (the binding hands back the string it made before),
      -- payloads one byte apart at every position (they may share a slot),
      -- then a run that never repeats (the binding stops looking for a while)
      local sends = {}
      for _, base in ipairs({ string.rep("x", 32), ("0123456789abcdef"):rep(4), ("q"):rep(16) }) do
        for i = 1, #base do
          sends[#sends + 1] = base
          sends[#sends + 1] = base:sub(1, i - 1) .. (base:sub(i, i) == "Z" and "Y" or "Z") .. base:sub(i + 1)
        end
        sends[#sends + 1] = base
      end
      for i = 1, 300 do sends[#sends + 1] = string.format("distinct datagram %06d", i) end
      for i = 1, 20 do sends[#sends + 1] = string.rep("x", 32) .. (i % 2 == 0 and "" or "!") end
      for i = 1, #sends, 50 do
        local batch = math.min(i + 49, #sends)
        for j = i, batch do assert(cli:write(sends[j])) end
        for j = i, batch do
          local data, from = srv:read_from(1500, 2)
          assert.are.equal(sends[j], data, "datagram " .. j)
          assert(srv:write_to(data, from))
          assert.are.equal(sends[j], (cli:read(1500, 2)), "echo " .. j)
        end
      end
      srv:close(); cli:close()
    end)
  end)

  it("serves 200 concurrent clients from one process", function()
    S.run(function()
      local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local n = 200
      local server = nh.spawn(function()
        for _ = 1, n do
          local data, from = assert(srv:read_from(1500, 5))
          assert(srv:write_to("echo:" .. data, from))
        end
      end)
      local clients = {}
      for i = 1, n do
        clients[i] = nh.spawn(function()
          local c = assert(nh.dial("udp", tostring(srv:local_addr())))
          assert(c:write("client " .. i))
          local reply = assert(c:read(1500, 5))
          c:close()
          return reply
        end)
      end
      for i = 1, n do
        local ok, reply = clients[i]:wait(10)
        assert.is_true(ok, reply)
        assert.are.equal("echo:client " .. i, reply)
      end
      assert.is_true((server:wait(5)))
      srv:close()
    end, 20)
  end)
end)
