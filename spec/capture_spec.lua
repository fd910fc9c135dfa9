-- netharness.capture: packets read on the loop while tasks make them, decoded
-- when asked; the pcap file as tshark reads it; options and errors; the
-- decoder fed garbage; the pcap kept for a failed spec. Capturing needs
-- CAP_NET_RAW: without it these specs are pending and say so.
local nh = require "netharness"
local capture = require "netharness.capture"
local S = require "support"

local function need_capture() S.need_capture(pending) end

local function tmpfile(suffix)
  local path = os.tmpname()
  os.remove(path)
  return path .. suffix
end

-- A UDP exchange on loopback: `n` datagrams each way between two sockets.
local function udp_exchange(host, n, size)
  local srv = assert(nh.listen_packet("udp", host .. ":0"))
  local cli = assert(nh.dial("udp", tostring(srv:local_addr())))
  for i = 1, n do
    local msg = ("request %d"):format(i)
    if size then msg = msg .. ("x"):rep(size - #msg) end
    assert(cli:write(msg))
    local data, from = assert(srv:read_from(65536, 2))
    assert(srv:write_to("answer " .. data:sub(1, 12), from))
    assert(cli:read(65536, 2))
  end
  local port = srv:local_addr().port
  cli:close()
  srv:close()
  return port
end

-- tshark's view of a file: one { len, payload } per frame.
local function tshark(path)
  local p = S.popen("tshark -r " .. S.quote(path)
    .. " -T fields -E separator=/t -e frame.len -e udp.payload -e tcp.payload 2>/dev/null")
  local frames = {}
  for line in p:lines() do
    local len, a, b = line:match("^(%d+)\t([^\t]*)\t?([^\t]*)$")
    local hex = ((a ~= "" and a) or b or ""):gsub(":", "")
    frames[#frames + 1] = { len = tonumber(len), payload = hex:gsub("%x%x", function(h)
      return string.char(tonumber(h, 16)) end) }
  end
  p:close()
  return frames
end

describe("capture", function()
  it("sees a UDP exchange on lo with addresses, ports, payloads and times", function()
    need_capture()
    local before = nh.now()
    local cap <close> = assert(capture.start{ filter = "udp and host 127.0.0.1" })
    local port
    S.run(function()
      port = udp_exchange("127.0.0.1", 3)
      assert(cap:wait(6, 5))
    end)
    local after = nh.now()
    local ps = cap:packets()
    assert.equal(6, #ps)
    assert.equal(6, cap:count())
    for i, p in ipairs(ps) do
      local k = (i + 1) // 2
      assert.equal("inet", p.family)
      assert.equal("udp", p.protocol)
      assert.equal("127.0.0.1", p.src.ip)
      assert.equal("127.0.0.1", p.dst.ip)
      if i % 2 == 1 then
        assert.equal(port, p.dst.port)
        assert.equal(("request %d"):format(k), p.payload)
      else
        assert.equal(port, p.src.port)
        assert.equal(ps[i - 1].src, p.dst)   -- the answer goes back to the asker
        assert.equal(("answer request %d"):format(k), p.payload)
      end
      assert.equal(#p.payload, p.payload_length)
      assert.equal(14 + 20 + 8 + #p.payload, p.length)   -- lo shows an Ethernet header
      assert.equal(p.length, p.captured_length)
      assert.equal(64, p.ttl)
      assert.is_nil(p.truncated or p.malformed or p.fragment or p.ip_options)
      -- time is net.now()'s clock; wall is the wall clock
      assert.is_true(p.time >= before - 0.01 and p.time <= after + 0.01)
      assert.is_true(math.abs(p.wall - os.time()) < 5)
      if i > 1 then assert.is_true(p.time >= ps[i - 1].time) end
    end
    local summary = cap:stop()
    assert.equal(6, summary.packets)
    assert.equal(0, summary.dropped)
    assert.equal(0, summary.not_kept)
    assert.equal("lo", summary.interface)
    assert.equal(1, summary.link)
    assert.equal(summary, cap:stop())   -- twice: the same summary
    assert.equal(6, #cap:packets())     -- still there after the stop
  end)

  it("decodes IPv6 and TCP: flags, sequence numbers, windows, the close", function()
    need_capture()
    local cap <close> = assert(capture.start{ filter = "tcp and host ::1" })
    local port
    S.run(function()
      local ln = assert(nh.listen("tcp", "[::1]:0"))
      port = ln:addr().port
      nh.spawn(function()
        local c = assert(ln:accept())
        assert.equal("ping", c:read(4))
        assert(c:write("pong"))
        c:close()
      end)
      local c = assert(nh.dial("tcp", "[::1]:" .. port))
      assert(c:write("ping"))
      assert.equal("pong", c:read(4))
      assert.is_true(nh.is_eof(select(2, c:read(1))))
      c:close()
      ln:close()
      -- SYN, SYN-ACK, ACK, two data segments, FINs and their ACKs
      assert(cap:wait(8, 5))
      nh.sleep(0.05)
    end)
    local ps = cap:packets()
    assert.equal("SYN", ps[1].flags)
    assert.equal("SYN,ACK", ps[2].flags)
    assert.equal("ACK", ps[3].flags)
    assert.equal(ps[1].seq + 1, ps[2].ack)
    assert.equal(ps[2].seq + 1, ps[3].ack)
    for _, p in ipairs(ps) do
      assert.equal("inet6", p.family)
      assert.equal("tcp", p.protocol)
      assert.equal("::1", p.src.ip)
      assert.is_number(p.window)
      assert.is_true(p.length >= 14 + 40 + 20 + p.payload_length)
    end
    local data, fins = {}, {}
    for _, p in ipairs(ps) do
      if #p.payload > 0 then data[#data + 1] = p end
      if p.flags:find("FIN") then fins[#fins + 1] = p end
    end
    assert.equal(2, #data)
    assert.equal("ping", data[1].payload)
    assert.equal(port, data[1].dst.port)
    assert.equal("pong", data[2].payload)
    assert.equal(2, #fins)
    assert.equal(port, fins[1].src.port)   -- the server closed first
  end)

  it("writes a pcap file that tshark reads with the same packets", function()
    need_capture()
    local path = tmpfile(".pcap")
    local cap = assert(capture.start{ filter = "udp and host 127.0.0.1", file = path })
    S.run(function()
      udp_exchange("127.0.0.1", 5, 300)
      assert(cap:wait(10, 5))
    end)
    local summary = cap:stop()
    assert.equal(path, summary.file)
    local ours = cap:packets()
    local theirs = tshark(path)
    assert.equal(10, #theirs)
    for i, p in ipairs(ours) do
      assert.equal(p.length, theirs[i].len)
      assert.equal(p.payload, theirs[i].payload)
    end
    -- and we read it back the same way
    local back, link = assert(capture.read_file(path))
    assert.equal(1, link)
    assert.equal(10, #back)
    for i, p in ipairs(back) do
      assert.equal(ours[i].payload, p.payload)
      assert.equal(tostring(ours[i].src), tostring(p.src))
      assert.is_true(math.abs(ours[i].wall - p.wall) < 1e-5)
    end
    os.remove(path)
  end)

  it("marks packets the snaplen cut and keeps what is whole", function()
    need_capture()
    local cap <close> = assert(capture.start{ filter = "udp and host 127.0.0.1", snaplen = 60 })
    S.run(function()
      udp_exchange("127.0.0.1", 1, 100)
      assert(cap:wait(2, 5))
    end)
    local p = cap:packets()[1]
    assert.is_true(p.captured_length <= 60 and p.captured_length > 42)
    assert.equal(14 + 20 + 8 + 100, p.length)
    assert.is_true(p.truncated)
    assert.equal(100, p.payload_length)
    assert.equal(("request 1" .. ("x"):rep(91)):sub(1, p.captured_length - 42), p.payload)
    assert.is_number(p.dst.port)
  end)

  it("bounds what it keeps, and stops reading at count", function()
    need_capture()
    local path = tmpfile(".pcap")
    local kept <close> = assert(capture.start{ filter = "udp and host 127.0.0.1", keep = 3 })
    local counted <close> = assert(capture.start{ filter = "udp and host 127.0.0.1", count = 4, file = path })
    S.run(function()
      udp_exchange("127.0.0.1", 5)
      assert(kept:wait(10, 5))
      assert(counted:wait(4, 5))
    end)
    assert.equal(3, #kept:packets())
    assert.equal(2, #kept:packets(2))
    local s = kept:stop()
    assert.equal(10, s.packets)
    assert.equal(7, s.not_kept)
    assert.equal(4, counted:stop().packets)
    assert.equal(4, #tshark(path))
    os.remove(path)
  end)

  it("reads in blocks when not immediate, and a stop still takes the last block", function()
    need_capture()
    local path = tmpfile(".pcap")
    local cap = assert(capture.start{ filter = "udp and host 127.0.0.1", immediate = false, file = path })
    S.run(function() udp_exchange("127.0.0.1", 3) end)
    local s = cap:stop()   -- at once: the packets sit in a block the kernel has not handed over
    assert.equal(6, s.packets)
    assert.equal(6, #cap:packets())
    assert.equal(6, #tshark(path))
    os.remove(path)
  end)

  it("hands packets to on_packet as they arrive, in order, then stops", function()
    need_capture()
    local seen, during = {}, nil
    local cap = assert(capture.start{ filter = "udp and host 127.0.0.1",
                                      on_packet = function(p) seen[#seen + 1] = p.payload end })
    S.run(function()
      udp_exchange("127.0.0.1", 4)
      local deadline = nh.now() + 5
      while #seen < 8 and nh.now() < deadline do nh.sleep(0.01) end
      during = #seen
    end)
    local s = cap:stop()
    assert.equal(8, during)   -- delivered while the traffic went on, not at the stop
    assert.equal(8, s.packets)
    assert.same({ "request 1", "answer request 1", "request 2", "answer request 2",
                  "request 3", "answer request 3", "request 4", "answer request 4" }, seen)
    assert.is_nil(s.error)
    assert.equal(0, #cap:packets())   -- handed on, not kept

    -- a callback that fails: the summary says so, nothing more is delivered
    -- (as any task's failure, reported to on_task_error)
    local calls, reported = 0, {}
    local failing = assert(capture.start{ filter = "udp and host 127.0.0.1",
      on_packet = function() calls = calls + 1 error("boom") end })
    local previous = nh.on_task_error(function(_, msg) reported[#reported + 1] = msg end)
    udp_exchange("127.0.0.1", 2)
    nh.sleep(0.05)
    nh.on_task_error(previous)
    local fs = failing:stop()
    assert.equal(1, calls)
    assert.matches("boom", fs.error)
    assert.equal(1, #reported)
    assert.matches("on_packet: .*boom", reported[1])
  end)

  it("waits with a timeout, and says when it was stopped", function()
    need_capture()
    local cap = assert(capture.start{ filter = "udp port 9 and host 127.0.0.1" })
    local t0 = nh.now()
    local ok, err = cap:wait(1, 0.1)
    assert.is_nil(ok)
    assert.is_true(nh.is_timeout(err))
    assert.equal("ETIMEDOUT", err.code)
    assert.matches("0 of 1 packets", tostring(err))
    assert.is_true(nh.now() - t0 < 3)
    assert.is_true(cap:wait(0))
    -- a task waiting when the capture stops is woken
    local result
    S.run(function()
      local waiter = nh.spawn(function() result = { cap:wait(5) } end)
      nh.sleep(0.02)
      cap:stop()
      waiter:wait(2)
    end)
    assert.is_nil(result[1])
    assert.equal("ECLOSED", result[2].code)
    assert.matches("stopped", tostring(cap))
  end)

  it("captures on the any device (Linux cooked capture)", function()
    need_capture()
    local cap <close> = assert(capture.start{ interface = "any", filter = "udp and host 127.0.0.1" })
    assert.equal(113, cap:link())
    S.run(function()
      udp_exchange("127.0.0.1", 1)
      assert(cap:wait(2, 5))
    end)
    local p = cap:packets()[1]
    assert.equal("request 1", p.payload)
    assert.equal(20 + 8 + 9, p.length - 16)
    assert.equal("127.0.0.1", p.src.ip)
  end)

  it("refuses bad options with the reason, and reports a missing device", function()
    need_capture()
    assert.matches("filter \"udp prot 1\": .*syntax error", S.error_of(capture.start, { filter = "udp prot 1" }))
    assert.matches("pcapng", S.error_of(capture.start, { file = "/tmp/x.pcapng" }))
    assert.matches("unknown option intreface", S.error_of(capture.start, { intreface = "lo" }))
    assert.matches("snaplen: a number expected", S.error_of(capture.start, { snaplen = "big" }))
    assert.matches("snaplen: 0 is out of range", S.error_of(capture.start, { snaplen = 0 }))
    assert.matches("keep: an integer expected", S.error_of(capture.start, { keep = 1.5 }))
    assert.matches("options table expected", S.error_of(capture.start, "lo"))
    local cap, err = capture.start{ interface = "nosuch0" }
    assert.is_nil(cap)
    assert.equal("ENODEV", err.code)
    assert.matches("^capture: nosuch0: ", tostring(err))
    cap, err = capture.start{ file = "/nonexistent/dir/x.pcap" }
    assert.is_nil(cap)
    assert.equal("ENOENT", err.code)
    assert.matches("/nonexistent/dir/x.pcap", tostring(err))
  end)

  it("says which capability is missing when not root", function()
    need_capture()   -- root, to become someone else
    local script = S.child_script([[
      local capture = require "netharness.capture"
      local cap, err = capture.start{}
      print(cap, err and err.code)
      print(err)
      print(capture.permitted())
    ]])
    assert(os.execute("chmod 644 " .. script))
    local p = S.popen("setpriv --reuid=nobody --regid=nogroup --clear-groups " .. S.lua .. " " .. script .. " 2>&1")
    local out = p:read("a")
    p:close()
    os.remove(script)
    assert.matches("nil\tEPERM", out, 1, true)
    assert.matches("capture: lo: capturing needs the CAP_NET_RAW capability", out, 1, true)
    assert.matches("false\tcapture: lo: capturing needs the CAP_NET_RAW", out, 1, true)
  end)

  it("closes everything on stop, <close> and collection", function()
    need_capture()
    S.full_gc()
    local base = S.open_fds()
    for _ = 1, 10 do
      local cap = assert(capture.start{ filter = "udp port 9" })
      cap:stop()
    end
    do
      local _cap <close> = assert(capture.start{ filter = "udp port 9" })
    end
    for _ = 1, 10 do assert(capture.start{ filter = "udp port 9" }) end
    S.full_gc()
    assert.is_true(S.open_fds() <= base)
  end)

  it("keeps a pcap of a failed spec and removes that of a passing one", function()
    need_capture()
    local dir = tmpfile("")
    assert(os.execute("mkdir -p " .. dir))
    local passing = capture.on_failure({ filter = "udp and host 127.0.0.1", dir = dir, name = "fine" },
      function() S.run(function() udp_exchange("127.0.0.1", 1) end) end)
    passing()
    assert.is_nil(io.open(dir .. "/fine.pcap"))

    local failure = { message = "expected 2, got 3" }   -- what luassert raises
    local said
    local failing = capture.on_failure({ filter = "udp and host 127.0.0.1", dir = dir, name = "broken spec",
                                         report = function(path, summary) said = { path, summary.packets } end },
      function() S.run(function() udp_exchange("127.0.0.1", 2) end) error(failure) end)
    local ok, err = pcall(failing)
    assert.is_false(ok)
    assert.equal(failure, err)   -- passed on untouched: busted counts a failure
    assert.same({ dir .. "/broken_spec.pcap", 4 }, said)
    local frames = tshark(dir .. "/broken_spec.pcap")
    assert.equal(4, #frames)
    assert.equal("request 1", frames[1].payload)
    os.execute("rm -rf " .. dir)
  end)

  it("formats packets as tcpdump's lines", function()
    local frame = ("\0"):rep(12) .. "\8\0"
      .. "\69\0\0\45\0\1\0\0\64\17\0\0\127\0\0\1\127\0\0\1"   -- IPv4, 45 bytes, UDP
      .. "\200\34\34\184\0\25\0\0" .. "Hello from client"       -- 51234 -> 8888
    local p = capture.decode(frame)
    p.wall = os.time{ year = 2026, month = 12, day = 1, hour = 12, min = 0, sec = 0 } + 0.000001
    assert.equal("12:00:00.000001 IP 127.0.0.1.51234 > 127.0.0.1.8888: UDP, length 17", capture.format(p))
    local syn = ("\0"):rep(12) .. "\8\0" .. "\69\0\0\40\0\1\0\0\64\6\0\0\127\0\0\1\127\0\0\1"
      .. "\200\34\31\144" .. "\0\0\0\100" .. "\0\0\0\0" .. "\80\18" .. "\255\255\0\0\0\0"
    p = capture.decode(syn)
    p.wall = 0
    assert.equal("SYN,ACK", p.flags)
    assert.matches("IP 127.0.0.1.51234 > 127.0.0.1.8080: Flags %[S%.%], seq 100, ack 0, win 65535, length 0$",
      capture.format(p))
    p = capture.decode(frame:sub(1, 30), capture.links.ethernet, #frame)
    p.wall = 0
    assert.matches("%[|IPv4 header cut by the capture%]$", capture.format(p))
  end)

  it("decodes any bytes without reading past them", function()
    -- The C tests fuzz the decoder under ASan; this feeds it through the
    -- binding, which copies the payload out of the frame.
    local links = { 0, 1, 12, 101, 108, 113, 228, 229, 276, 7 }
    local udp = capture.decode(("\0"):rep(12) .. "\8\0\69\0\0\30\0\1\0\0\64\17\0\0\127\0\0\1\127\0\0\1\0\1\0\2\0\10\0\0ab")
    assert.equal("ab", udp.payload)
    math.randomseed(18)
    for i = 1, 20000 do
      local n = math.random(0, 120)
      local bytes = {}
      for k = 1, n do bytes[k] = string.char(math.random(0, 255)) end
      if i % 2 == 0 and n > 15 then bytes[13], bytes[14], bytes[15] = "\8", "\0", "\69" end
      local frame = table.concat(bytes)
      local p = capture.decode(frame, links[i % #links + 1], n + math.random(0, 40))
      assert(#p.payload <= n and p.captured_length == n and p.length >= n)
      if p.truncated or p.malformed then assert(type(p.problem) == "string") end
    end
    assert.matches("number expected, got string", S.error_of(capture.decode, "x", "ethernet"))
    assert.matches("not negative", S.error_of(capture.decode, "x", 1, -1))
  end)
end)

describe("scripts/capture.lua", function()
  local function capture_script(args)
    return S.start(S.lua .. " scripts/capture.lua " .. args, 20)
  end

  it("prints a line per packet as tcpdump does, and stops at -c", function()
    need_capture()
    S.run(function()
      local srv = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local pt = srv:local_addr().port
      local p = capture_script("-c 2 udp port " .. pt)
      assert(S.wait_output(p, "listening on lo", 5))
      local cli = assert(nh.dial("udp", "127.0.0.1:" .. pt))
      for _ = 1, 3 do assert(cli:write("Hello from client")) end
      local code, out = S.wait_exit(p, 10)
      assert.equal(0, code, out)
      local lines = {}
      for l in out:gmatch("[^\n]+") do
        if l:match("^%d%d:%d%d:%d%d%.%d%d%d%d%d%d ") then lines[#lines + 1] = l end
      end
      assert.equal(2, #lines, out)
      assert.matches("^%d%d:%d%d:%d%d%.%d+ IP 127%.0%.0%.1%.%d+ > 127%.0%.0%.1%." .. pt .. ": UDP, length 17$", lines[1])
      assert.matches("\n2 packets captured\n", out)
      assert.matches("\n0 packets dropped by kernel\n", out)
      S.stop(p)
      cli:close()
      srv:close()
    end, 20)
  end)

  it("writes a file that Ctrl-C flushes, and tshark reads", function()
    need_capture()
    local path = tmpfile(".pcap")
    S.run(function()
      local p = capture_script("-w " .. path .. " udp and host 127.0.0.1")
      assert(S.wait_output(p, "listening on lo", 5))
      udp_exchange("127.0.0.1", 4)
      nh.sleep(0.1)
      local pid = S.pids(p, "lua5.4")[1]
      S.execute("kill -INT " .. pid)
      local code, out = S.wait_exit(p, 10)
      assert.equal(0, code, out)
      assert.matches("\n8 packets captured\n", out)
      assert.not_matches("UDP, length", out)   -- -w alone prints no lines, as tcpdump
      local frames = tshark(path)
      assert.equal(8, #frames)
      assert.equal("request 1", frames[1].payload)
      assert.equal("answer request 4", frames[8].payload)
      S.stop(p)
    end, 20)
    os.remove(path)
  end)

  it("stops after --duration, and refuses mistakes with exit 2", function()
    need_capture()
    S.run(function()
      local t0 = nh.now()
      local p = capture_script("--duration 300ms -q udp port 9")
      local code, out = S.wait_exit(p, 10)
      assert.equal(0, code, out)
      assert.is_true(nh.now() - t0 < 5)
      assert.matches("0 packets captured", out)
      S.stop(p)
      for args, want in pairs({ ["udp prot 1"] = "syntax error", ["-w x.pcapng"] = "pcapng",
                                ["--count x"] = "count", ["-i"] = "", ["-i nosuch0"] = "nosuch0" }) do
        p = capture_script(args)
        code, out = S.wait_exit(p, 10)
        assert.equal(2, code, args .. ": " .. out)
        assert.matches(want, out, 1, true)
        S.stop(p)
      end
      p = capture_script("--help")
      code, out = S.wait_exit(p, 10)
      assert.equal(0, code)
      assert.matches("usage: lua scripts/capture.lua", out)
      S.stop(p)
    end, 30)
  end)
end)

-- Files made here, byte by byte: no privilege needed (issue 27).
describe("capture.read_file and open_file", function()
  local HEADER = string.pack("<I4I2I2i4I4I4I4", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 12)   -- raw IP
  -- An IPv4/UDP packet from 127.0.0.1:1000+i to 127.0.0.1:53 carrying `payload`.
  local function udp_packet(i, payload)
    local udp = string.pack(">I2I2I2I2", 1000 + i, 53, 8 + #payload, 0) .. payload
    return string.pack(">BBI2I2I2BBI2", 0x45, 0, 20 + #udp, i, 0, 64, 17, 0)
      .. "\127\0\0\1\127\0\0\1" .. udp
  end
  local function record(data, t)
    return string.pack("<I4I4I4I4", 1700000000 + (t or 0), 0, #data, #data) .. data
  end
  local function write(bytes)
    local path = tmpfile(".pcap")
    local f = assert(io.open(path, "wb"))
    f:write(bytes)
    f:close()
    return path
  end

  it("returns the whole packets of a file cut mid-record, and says it was cut", function()
    local whole = HEADER .. record(udp_packet(1, "one"), 1) .. record(udp_packet(2, "two"), 2)
      .. record(udp_packet(3, "three"), 3)
    local path = write(whole .. record(udp_packet(4, "four")):sub(1, 30))   -- a capture killed mid-write
    local ps, link, info = capture.read_file(path)
    assert.are.equal(12, link)
    assert.are.same({ "one", "two", "three" }, { ps[1].payload, ps[2].payload, ps[3].payload })
    assert.are.equal(3, #ps)
    assert.are.equal(1700000003, ps[3].wall)
    assert.is_true(info.truncated)
    assert.are.equal("ETRUNCATED", info.error.code)
    assert.matches("truncated dump file", tostring(info.error))
    -- as tcpdump -r prints them
    local pipe = S.popen("tcpdump -n -r " .. path .. " 2>/dev/null | wc -l")
    assert.are.equal(3, pipe:read("n"))
    pipe:close()
    -- cut inside a record's header, too
    path = write(whole .. string.pack("<I4I4", 1, 2))
    local _
    ps, _, info = capture.read_file(path)
    assert.are.equal(3, #ps)
    assert.is_true(info.truncated)
    -- the stream form says the same at its end
    local f <close> = assert(capture.open_file(path))
    local n, err = 0
    while true do
      local p, perr = f:next()
      if not p then err = perr break end
      n = n + 1
    end
    assert.are.same({ 3, "ETRUNCATED" }, { n, err.code })
    assert.matches("capture file", tostring(f))
    f:close()
    assert.matches("closed", tostring(f))
    assert.has_error(function() f:next() end, "use of a closed capture file")
    -- a file that is not a capture at all: nil, err
    local none, nerr = capture.read_file(write("not a pcap file at all"))
    assert.is_nil(none)
    assert.matches("capture", tostring(nerr))
  end)

  it("keeps at most `keep` packets of a huge file, and streams with on_packet", function()
    -- 300,000 empty records (4.8 MB): read whole, they took 943 MB for
    -- two million before; now the list is bounded like a live capture's
    local path = write(HEADER .. string.rep(string.pack("<I4I4I4I4", 1700000000, 0, 0, 0), 300000))
    collectgarbage()
    local base = collectgarbage("count")
    local ps, _, info = capture.read_file(path)
    local grew = (collectgarbage("count") - base) / 1024
    assert.are.same({ 100000, 300000, 200000 }, { #ps, info.packets, info.not_kept })
    assert.is_nil(info.error)
    assert.is_true(grew < 80, ("the list took %.0f MiB"):format(grew))
    ps = nil   -- luacheck: ignore
    ps, _, info = capture.read_file(path, { keep = 10 })
    assert.are.same({ 10, 299990 }, { #ps, info.not_kept })
    collectgarbage()
    base = collectgarbage("count")
    local n, peak = 0, 0
    ps, _, info = capture.read_file(path, { on_packet = function(p)
      n = n + 1
      if n % 50000 == 0 then   -- what is alive, not the garbage the collector has yet to reach
        collectgarbage()
        peak = math.max(peak, collectgarbage("count") - base)
      end
      assert(p.captured_length == 0)
    end })
    assert.are.same({ 0, 300000, 300000 }, { #ps, n, info.packets })
    assert.is_true(peak / 1024 < 4, ("streaming held %.1f MiB"):format(peak / 1024))
    assert.has_error(function() capture.read_file(path, { keep = -1 }) end)
    assert.has_error(function() capture.read_file(path, { kept = 1 }) end)
  end)
end)
