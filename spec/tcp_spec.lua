local nh = require "netharness"
local S = require "support"

-- A listener on loopback and a connected pair (client, server side).
local function pair(network, host)
  local ln = assert(nh.listen(network or "tcp", (host or "127.0.0.1") .. ":0"))
  local accepted
  local acceptor = nh.spawn(function() accepted = assert(ln:accept(5)) end)
  local c = assert(nh.dial(network or "tcp", tostring(ln:addr()), 5))
  assert(acceptor:wait(5))
  return c, accepted, ln
end

-- Write bytes one at a time with pauses, so reads see every split.
-- Write bytes one at a time, pausing every `every` bytes (3 unless given), so
-- that the reader sees them arrive in pieces.
local function net_spawn_bytes(conn, bytes, every)
  every = every or 3
  return nh.spawn(function()
    for i = 1, #bytes do
      assert(conn:write(bytes:sub(i, i)))
      if i % every == 0 then nh.sleep(0.001) end
    end
  end)
end

local function pattern(n)
  local parts = {}
  for i = 1, n // 16 + 1 do parts[i] = string.format("%015d\n", i) end
  return table.concat(parts):sub(1, n)
end

describe("TCP", function()
  describe("listen / accept / dial", function()
    it("connects and exchanges data both ways, with addresses", function()
      S.run(function()
        local c, s, ln = pair()
        assert.are.equal(tostring(ln:addr()), tostring(c:remote_addr()))
        assert.are.equal(tostring(c:local_addr()), tostring(s:remote_addr()))
        assert.are.equal("tcp", c:local_addr().network)
        assert.matches("^Conn tcp 127%.0%.0%.1:%d+%->127%.0%.0%.1:%d+$", tostring(c))
        assert.are.equal(5, c:write("hello"))
        assert.are.equal("hello", s:read(100, 2))
        assert(s:write("world"))
        assert.are.equal("world", c:read(100, 2))
        c:close(); s:close(); ln:close()
        assert.are.equal("Conn tcp (closed)", tostring(c))
      end)
    end)

    it("listens on :0 dual-stack and accepts IPv4 and IPv6 clients", function()
      S.run(function()
        local ln = assert(nh.listen("tcp", ":0"))
        local port = ln:addr().port
        assert.matches("^%[::%]:%d+$", tostring(ln:addr()))
        for _, host in ipairs({ "127.0.0.1", "[::1]", "localhost" }) do
          local server = nh.spawn(function()
            local s = assert(ln:accept(5))
            local from = s:remote_addr()
            s:write(from.ip)
            s:close()
          end)
          local c = assert(nh.dial("tcp", host .. ":" .. port, 5))
          local ip = assert(c:read(100, 2))
          assert.are.equal(host == "[::1]" and "::1" or "127.0.0.1", ip)
          assert(server:wait(5))
          c:close()
        end
        ln:close()
      end)
    end)

    it("works on IPv6 loopback with tcp6", function()
      S.run(function()
        local c, s, ln = pair("tcp6", "[::1]")
        assert.matches("^%[::1%]:%d+$", tostring(c:local_addr()))
        assert(c:write("six"))
        assert.are.equal("six", s:read(10, 2))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("returns Go's error for a refused connection", function()
      local port = S.free_port("tcp")
      local c, err = nh.dial("tcp", "127.0.0.1:" .. port)
      assert.is_nil(c)
      assert.are.equal("dial tcp 127.0.0.1:" .. port .. ": connect: connection refused", tostring(err))
      assert.are.equal("ECONNREFUSED", err.code)
      assert.are.equal("dial", err.op)
      assert.are.equal("127.0.0.1:" .. port, err.addr)
      assert.is_false(err.timeout)
    end)

    it("returns nil, err when the address is in use", function()
      local a = assert(nh.listen("tcp", "127.0.0.1:0"))
      local b, err = nh.listen("tcp", tostring(a:addr()))
      assert.is_nil(b)
      assert.are.equal("listen tcp " .. tostring(a:addr()) .. ": bind: address already in use", tostring(err))
      a:close()
    end)

    it("raises on misuse", function()
      assert.matches("unknown network tcp5", S.error_of(nh.listen, "tcp5", ":0"))
      assert.matches("listen needs tcp", S.error_of(nh.listen, "udp", ":0"))
      assert.matches("invalid port", S.error_of(nh.dial, "tcp", "127.0.0.1:65536"))
      assert.matches("missing port", S.error_of(nh.dial, "tcp", "127.0.0.1"))
      assert.matches("backlog", S.error_of(nh.listen, "tcp", ":0", { backlog = -1 }))
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      assert.matches("netharness.Listener expected", S.error_of(function() ln.accept(42) end))
      assert.is_nil(ln.remote_addr)
      local c = assert(nh.dial("tcp", tostring(ln:addr())))
      assert.matches("netharness.Conn expected, got netharness.Listener",
        S.error_of(function() c.read(ln) end))
      c:close()
      ln:close()
    end)
  end)

  describe("buffered reads", function()
    it("reads lines with LF or CRLF endings, and up to a delimiter", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("one\r\ntwo\n\nthree;;four;;tail"))
        assert.are.equal("one", s:read_line(2))
        assert.are.equal("two", s:read_line(2))
        assert.are.equal("", s:read_line(2))
        assert.are.equal("three;;", s:read_until(";;", 2))
        assert.are.equal("four;;", s:read_until(";;", 2))
        assert.are.equal("ta", s:read(2, 2))
        assert.are.equal("il", s:read(100, 2))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("assembles lines and delimiters split across many small writes", function()
      S.run(function()
        local c, s, ln = pair()
        local writer = nh.spawn(function()
          local msg = "alpha\r\nbeta\r\n\r\nBODY"
          for i = 1, #msg do
            assert(c:write(msg:sub(i, i)))
            nh.sleep(0.001)
          end
        end)
        assert.are.equal("alpha", s:read_line(5))
        assert.are.equal("beta\r\n\r\n", s:read_until("\r\n\r\n", 5))
        assert.are.equal("BODY", s:read_full(4, 5))
        assert(writer:wait(5))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("reads exactly n bytes with read_full, across segments", function()
      S.run(function()
        local c, s, ln = pair()
        local body = pattern(300000)
        local writer = nh.spawn(function() assert(c:write(body)) end)
        assert.are.equal("", s:read_full(0))
        local got = assert(s:read_full(#body, 5))
        assert.is_true(got == body)
        assert(writer:wait(5))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("distinguishes EOF, and returns partial data with it", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("partial line"))
        c:close()
        local line, err, partial = s:read_line(2)
        assert.is_nil(line)
        assert.are.equal(nh.EOF, err)
        assert.is_true(nh.is_eof(err))
        assert.are.equal("EOF", tostring(err))
        assert.are.equal("partial line", partial)
        local data, err2 = s:read(10, 2)
        assert.is_nil(data)
        assert.are.equal(nh.EOF, err2)
        s:close(); ln:close()
      end)
    end)

    it("reports unexpected EOF when read_full gets too little", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("abc"))
        c:close()
        local data, err, partial = s:read_full(10, 2)
        assert.is_nil(data)
        assert.are.equal(nh.ErrUnexpectedEOF, err)
        assert.are.equal("unexpected EOF", tostring(err))
        assert.are.equal("abc", partial)
        assert.are.equal(nh.EOF, select(2, s:read_full(1, 2)))
        s:close(); ln:close()
      end)
    end)

    it("does not allocate a huge read_full up front", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("only this"))
        c:close()
        local data, err, partial = s:read_full(1 << 40, 2)
        assert.is_nil(data)
        assert.are.equal(nh.ErrUnexpectedEOF, err)
        assert.are.equal("only this", partial)
        s:close(); ln:close()
      end)
    end)

    it("gives up on a line longer than the limit, keeping the data", function()
      S.run(function()
        local c, s, ln = pair()
        s:set_line_limit(16)
        assert(c:write(string.rep("x", 40) .. "\n" .. string.rep("y", 15) .. "\n"))
        local line, err = s:read_line(2)
        assert.is_nil(line)
        assert.are.equal("EBUFFULL", err.code)
        assert.matches("buffer full", tostring(err))
        local _, err2 = s:read_until("!", 2)
        assert.are.equal("EBUFFULL", err2.code)
        s:set_line_limit(1024)
        assert.are.equal(string.rep("x", 40), s:read_line(2))
        s:set_line_limit(16)
        assert.are.equal(string.rep("y", 15), s:read_line(2)) -- 16 bytes with the newline
        c:close(); s:close(); ln:close()
      end)
    end)

    it("reads a header block up to its empty line, CRLF or bare LF", function()
      S.run(function()
        local c, s, ln = pair()
        local writer = net_spawn_bytes(c, "A: 1\r\nB: 2\r\n\r\nbodyX: 1\nY: 2\n\n\r\nrest")
        assert.are.equal("A: 1\r\nB: 2\r\n\r\n", s:read_header_block(5))
        assert.are.equal("body", s:read_full(4, 5))
        assert.are.equal("X: 1\nY: 2\n\n", s:read_header_block(5))
        assert.are.equal("\r\n", s:read_header_block(5)) -- a block that is just its empty line
        assert(writer:wait(5))
        s:set_line_limit(8)
        assert(c:write("0123456789\r\n\r\n"))
        local block, err = s:read_header_block(2)
        assert.is_nil(block)
        assert.are.equal("EBUFFULL", err.code)
        s:set_line_limit(1024)
        assert.are.equal("rest0123456789\r\n\r\n", s:read_header_block(2))
        assert(c:write("half: a block\r\n"))
        c:close()
        local none, eof, partial = s:read_header_block(2)
        assert.is_nil(none)
        assert.are.equal(nh.EOF, eof)
        assert.are.equal("half: a block\r\n", partial)
        s:close(); ln:close()
      end)
    end)

    it("bounds one header block read by its own max, leaving the line limit as it was", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("0123456789\r\n\r\nabc\r\n\r\n0123456789012\r\n"))
        local block, err = s:read_header_block(2, 8)
        assert.is_nil(block)
        assert.are.equal("EBUFFULL", err.code)
        assert.matches("within 8 bytes", tostring(err))
        assert.are.equal("0123456789\r\n\r\n", s:read_header_block(2, 14.0)) -- exactly max
        assert.are.equal("abc\r\n\r\n", s:read_header_block(2))             -- the default limit
        s:set_line_limit(6)
        assert.are.equal("EBUFFULL", select(2, s:read_line(2)).code)      -- set_line_limit still rules read_line
        s:set_line_limit(64)
        assert.are.equal("0123456789012", s:read_line(2))
        for _, bad in ipairs({ 0, -1, 2 ^ 31, "x", 1.5 }) do
          assert.has_error(function() s:read_header_block(1, bad) end)
        end
        assert.matches("max must be between 1 byte and 2 GiB", S.error_of(s.read_header_block, s, 1, 0))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("returns repeated header blocks byte for byte, however alike they are", function()
      S.run(function()
        local c, s, ln = pair()
        -- Equal blocks (the binding hands back the string it made before),
        -- blocks that differ in one byte at every position, of one length
        -- (they may share a slot), and blocks too short or too long to keep.
        local base = "HTTP/1.1 200 OK\r\nDate: Sun, 22 Nov 2026 02:00:00 GMT\r\nX-Id: 0000000000\r\n\r\n"
        local blocks = {}
        for _ = 1, 3 do blocks[#blocks + 1] = base end
        for i = 1, #base - 4 do
          local b = base:byte(i)
          if b ~= 13 and b ~= 10 then
            blocks[#blocks + 1] = base:sub(1, i - 1) .. string.char(b == 90 and 89 or 90) .. base:sub(i + 1)
            blocks[#blocks + 1] = base
          end
        end
        blocks[#blocks + 1] = "A: 1\r\n\r\n"
        blocks[#blocks + 1] = "A: 1\r\n\r\n"
        -- the shortest kept (16 bytes, and Lua's own short strings up to 40)
        for _, short in ipairs({ "X: 012345678\r\n\r\n", "GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n" }) do
          for i = 1, #short - 4 do
            blocks[#blocks + 1] = short
            blocks[#blocks + 1] = short:sub(1, i - 1) .. (short:sub(i, i) == "Z" and "Y" or "Z") .. short:sub(i + 1)
          end
          blocks[#blocks + 1] = short
        end
        local big = "B: " .. string.rep("b", 5000) .. "\r\n\r\n"
        blocks[#blocks + 1] = big
        blocks[#blocks + 1] = big
        local all = table.concat(blocks)
        local writer = net_spawn_bytes(c, all, 29) -- (23 KB: pieces of 29 bytes split most blocks)
        for i, want in ipairs(blocks) do
          assert.are.equal(want, s:read_header_block(5), "block " .. i)
        end
        assert(writer:wait(5))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("raises on bad arguments to the read methods", function()
      S.run(function()
        local c, s, ln = pair()
        assert.matches("delimiter must not be empty", S.error_of(function() s:read_until("") end))
        assert.matches("must not be negative", S.error_of(function() s:read_full(-1) end))
        assert.matches("at least 1", S.error_of(function() s:read(0) end))
        assert.matches("number expected", S.error_of(function() s:read(10, "soon") end))
        c:close(); s:close(); ln:close()
      end)
    end)
  end)

  describe("writes", function()
    it("waits for the peer (backpressure) without blocking other tasks", function()
      S.run(function()
        local c, s, ln = pair()
        -- small kernel buffers: loopback's autotuned ones can hold the whole
        -- body, and the writer would never have to wait
        assert(c:set_write_buffer(65536))
        assert(s:set_read_buffer(65536))
        local body = pattern(8 * 1024 * 1024)
        local ticks = 0
        local ticker = nh.spawn(function()
          while true do ticks = ticks + 1; nh.sleep(0.005) end
        end)
        local writer = nh.spawn(function() return c:write(body, 20) end)
        local chunks = {}
        local total = 0
        local seen_waiting = false
        while total < #body do
          local d = assert(s:read(65536, 5))
          chunks[#chunks + 1] = d
          total = total + #d
          if #chunks % 8 == 0 then
            nh.sleep(0.01) -- a slow reader: the writer must wait for it
            seen_waiting = seen_waiting or writer:status() == "waiting"
          end
        end
        assert.is_true(seen_waiting)
        local ok, n = writer:wait(20)
        assert.is_true(ok)
        assert.are.equal(#body, n)
        assert.is_true(table.concat(chunks) == body)
        assert.is_true(ticks > 5, "the ticker ran " .. ticks .. " times")
        ticker:cancel()
        c:close(); s:close(); ln:close()
      end, 30)
    end)

    it("fails a write to a vanished peer with EPIPE or ECONNRESET, never SIGPIPE", function()
      S.run(function()
        local c, s, ln = pair()
        s:close()
        local err
        for _ = 1, 50 do
          local n, e = c:write(string.rep("z", 65536), 2)
          if not n then err = e; break end
          nh.sleep(0.01)
        end
        assert.is_truthy(err)
        assert.is_truthy(err.code == "EPIPE" or err.code == "ECONNRESET", err.code)
        assert.matches("^write tcp ", tostring(err))
        c:close(); ln:close()
      end)
    end)

    it("half-closes with close_write: the peer sees EOF and can still answer", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("request"))
        assert(c:close_write())
        assert.are.equal("request", s:read_full(7, 2))
        assert.are.equal(nh.EOF, select(2, s:read(10, 2)))
        assert(s:write("response"))
        s:close()
        assert.are.equal("response", c:read_full(8, 2))
        assert.are.equal(nh.EOF, select(2, c:read(10, 2)))
        c:close(); ln:close()
      end)
    end)
  end)

  describe("deadlines", function()
    it("times out a read, keeping Go's text", function()
      S.run(function()
        local c, s, ln = pair()
        s:set_read_deadline(nh.now() + 0.03)
        local data, err = s:read(10)
        assert.is_nil(data)
        assert.is_true(err.timeout)
        assert.are.equal(string.format("read tcp %s->%s: i/o timeout", s:local_addr(), s:remote_addr()),
          tostring(err))
        -- the connection still works once the deadline is cleared
        s:set_read_deadline(nil)
        assert(c:write("ok"))
        assert.are.equal("ok", s:read(10, 2))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("serves a deadline per request with the timer it left running, ending no wait early", function()
      S.run(function()
        local c, s, ln = pair()
        -- the peer answers three requests 0.12 s late each, then goes silent
        local peer = nh.spawn(function()
          for _ = 1, 3 do
            local d = s:read(10, 2)
            if not d then return end
            nh.sleep(0.12)
            s:write(d)
          end
        end)
        -- every request's deadline is 0.3 s from its start: later each time,
        -- so the timer started for the first serves them all. It fires during
        -- the third request, before that one's deadline, and must not end it.
        for i = 1, 3 do
          c:set_deadline(nh.now() + 0.3)
          assert(c:write(tostring(i)))
          assert.are.equal(tostring(i), c:read(10))
        end
        local t0 = nh.now()
        c:set_deadline(t0 + 0.3)
        assert(c:write("4"))
        local data, err = c:read(10)
        local took = nh.now() - t0
        assert.is_nil(data)
        assert.is_true(err.timeout)
        assert.is_true(took >= 0.29 and took < 1.5, "took " .. took)
        assert(peer:wait(2))
        -- an earlier deadline than the running timer's starts it anew
        c:set_deadline(nil)
        assert(c:write("5"))
        t0 = nh.now()
        data, err = c:read(10, 0.05)
        took = nh.now() - t0
        assert.is_nil(data)
        assert.is_true(err.timeout)
        assert.is_true(took >= 0.049 and took < 1.5, "took " .. took)
        c:close(); s:close(); ln:close()
      end)
    end)

    it("bounds a whole read by its per-call timeout, however many waits it takes", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:write("ab"))
        assert.are.equal("ab", s:read(10, 0))         -- data there: a zero timeout still reads it
        local none, err = s:read(10, 0)               -- nothing there: at once
        assert.is_nil(none)
        assert.is_true(err.timeout)
        -- a byte every 50 ms never completes 10 bytes: the call ends at its
        -- timeout, not a timeout after the last byte
        local writer = nh.spawn(function()
          for _ = 1, 12 do
            nh.sleep(0.05)
            if not c:write("x") then return end
          end
        end)
        local t0 = nh.now()
        local got, ferr, partial = s:read_full(10, 0.2)
        local took = nh.now() - t0
        assert.is_nil(got)
        assert.is_true(ferr.timeout)
        assert.is_nil(partial)
        assert.is_true(took >= 0.19 and took < 0.45, "took " .. took)
        assert(writer:wait(2))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("wakes every task reading one connection: by a deadline moved into the past, and by close", function()
      S.run(function()
        local c, s, ln = pair()
        local function readers(n)
          local ts = {}
          for i = 1, n do ts[i] = nh.spawn(function() return s:read(10, 2) end) end
          S.parked(ts)   -- all of them in read
          return ts
        end
        local ts = readers(4)
        s:set_read_deadline(nh.now() - 1)
        for i = 1, 4 do
          local ok, data, err = ts[i]:wait(1)
          assert.is_true(ok)
          assert.is_nil(data)
          assert.is_true(err.timeout)
        end
        s:set_read_deadline(nil)
        -- one reader gets the data, the others go on waiting until close
        ts = readers(3)
        assert(c:write("x"))
        repeat nh.sleep(0) until ts[1]:status() == "done" or ts[2]:status() == "done" or ts[3]:status() == "done"
        ts[4] = nh.spawn(function() return s:read(10, 2) end)
        S.parked({ ts[4] })
        s:close()
        local got, closed = 0, 0
        for i = 1, 4 do
          local ok, data, err = ts[i]:wait(1)
          assert.is_true(ok)
          if data then
            assert.are.equal("x", data)
            got = got + 1
          else
            assert.is_true(err.closed)
            closed = closed + 1
          end
        end
        assert.are.equal(1, got)
        assert.are.equal(3, closed)
        c:close(); ln:close()
      end)
    end)

    it("times out a write to a peer that does not read, reporting what was written", function()
      S.run(function()
        local c, s, ln = pair()
        local big = string.rep("w", 64 * 1024 * 1024)
        local t0 = nh.now()
        c:set_write_deadline(nh.now() + 0.2)
        local n, err, written = c:write(big)
        assert.is_true(nh.now() - t0 >= 0.19)
        assert.is_nil(n)
        assert.is_true(err.timeout)
        assert.are.equal("write", err.op)
        assert.is_true(written > 0 and written < 64 * 1024 * 1024, "written: " .. tostring(written))
        c:close(); s:close(); ln:close()
      end)
    end)

    it("bounds a whole write by its per-call timeout, across many waits", function()
      S.run(function()
        local c, s, ln = pair()
        -- the peer takes 256 KiB every 16 ms (16 MiB/s) for at most 3 s: each
        -- wait of the write ends well within its timeout, but the call as a
        -- whole must end at it (a deadline remade per wait would write on)
        local stop = nh.now() + 3
        local reader = nh.spawn(function()
          while nh.now() < stop do
            if not s:read_full(256 * 1024, 1) then break end
            nh.sleep(0.016)
          end
        end)
        local big = string.rep("w", 64 * 1024 * 1024)
        local t0 = nh.now()
        local n, err, written = c:write(big, 0.3)
        local took = nh.now() - t0
        assert.is_nil(n)
        assert.is_true(err.timeout, tostring(err))
        assert.is_true(written > 0, "written: " .. tostring(written))
        assert.is_true(took >= 0.29 and took < 1.5, "took " .. took)
        c:close(); s:close(); ln:close()
        assert.is_true((reader:wait(5)))
      end)
    end)

    it("finishes a write that had to wait once the peer reads, and wakes a waiting write on close", function()
      S.run(function()
        local c, s, ln = pair()
        assert(c:set_write_deadline(nil)) -- clearing a deadline never set
        local big = string.rep("w", 8 * 1024 * 1024)
        local reader = nh.spawn(function()
          local got = 0
          while got < #big do
            local data = assert(s:read(1 << 20, 5))
            got = got + #data
          end
          return got
        end)
        c:set_write_deadline(nh.now() + 10)
        assert.are.equal(#big, c:write(big))
        local ok, got = reader:wait(10)
        assert.is_true(ok)
        assert.are.equal(#big, got)
        -- a write parked on a full socket, then the socket closed under it
        local huge = string.rep("h", 64 * 1024 * 1024)
        local writer = nh.spawn(function() return c:write(huge) end)
        nh.sleep(0.1)
        c:close()
        local done, n, err = writer:wait(5)
        assert.is_true(done)
        assert.is_nil(n)
        assert.is_true(err.closed, tostring(err))
        s:close(); ln:close()
      end)
    end)

    it("times out an accept", function()
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      local conn, err = ln:accept(0.03)
      assert.is_nil(conn)
      assert.are.equal("accept tcp " .. tostring(ln:addr()) .. ": i/o timeout", tostring(err))
      ln:set_deadline(nh.now() + 0.02)
      assert.is_true(select(2, ln:accept()).timeout)
      ln:close()
    end)

    it("times out a dial that gets no answer (full accept queue)", function()
      S.run(function()
        local ln = assert(nh.listen("tcp", "127.0.0.1:0", { backlog = 0 }))
        local held, err = {}, nil
        for _ = 1, 10 do
          local c, e = nh.dial("tcp", tostring(ln:addr()), 0.3)
          if not c then err = e; break end
          held[#held + 1] = c
        end
        assert.is_truthy(err, "every dial was accepted")
        assert.is_true(err.timeout)
        assert.are.equal("dial tcp " .. tostring(ln:addr()) .. ": i/o timeout", tostring(err))
        for _, c in ipairs(held) do c:close() end
        ln:close()
      end)
    end)
  end)

  it("serves 200 concurrent connections exchanging data both ways", function()
    S.run(function()
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      local n = 200
      local server = nh.spawn(function()
        local handlers = {}
        for i = 1, n do
          local conn = assert(ln:accept(10))
          handlers[i] = nh.spawn(function()
            local name = assert(conn:read_line(10))
            local size = tonumber(assert(conn:read_line(10)))
            local body = assert(conn:read_full(size, 10))
            assert(conn:write(name:upper() .. "\n" .. #body .. "\n" .. body:reverse()))
            conn:close()
          end)
        end
        return nh.wait_all(handlers, 20)
      end)
      local clients = {}
      for i = 1, n do
        clients[i] = nh.spawn(function()
          local c = assert(nh.dial("tcp", tostring(ln:addr()), 10))
          local body = pattern(1000 + i * 37)
          assert(c:write("client-" .. i .. "\n" .. #body .. "\n" .. body))
          local name = assert(c:read_line(10))
          local size = tonumber(assert(c:read_line(10)))
          local back = assert(c:read_full(size, 10))
          assert.are.equal(nh.EOF, select(2, c:read(1, 10)))
          c:close()
          return name, back == body:reverse()
        end)
      end
      for i = 1, n do
        local ok, name, same = clients[i]:wait(20)
        assert.is_true(ok, name)
        assert.are.equal("CLIENT-" .. i, name)
        assert.is_true(same)
      end
      local ok, all = server:wait(20)
      assert.is_true(ok, all)
      assert.is_true(all)
      ln:close()
    end, 40)
  end)
end)
