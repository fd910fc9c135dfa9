local nh = require "netharness"
local fault = require "netharness.fault"
local S = require "support"

-- A TCP server on loopback: `serve(conn)` runs per connection.
local function server(serve)
  local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
  nh.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      nh.spawn(function() serve(c); c:close() end)
    end
  end)
  return ln
end

local function echo(c)
  while true do
    local d = c:read(65536)
    if not d or not c:write(d) then return end
  end
end

-- A proxy in front of a fresh server; closed with the spec's task.
local function proxied(serve, opts)
  local ln = server(serve or echo)
  opts = opts or {}
  opts.upstream = tostring(ln:addr())
  local p = assert(fault.proxy(opts))
  return p, ln
end

local function dial(p)
  return assert(nh.dial("tcp", tostring(p:listen_addr()), 5))
end

-- Milliseconds of one write-and-read-back.
local function round_trip(c, msg)
  msg = msg or "ping"
  local t0 = nh.now()
  assert(c:write(msg))
  assert.are.equal(msg, assert(c:read_full(#msg, 5)))
  return (nh.now() - t0) * 1000
end

local function read_all(c, limit)
  local parts, sizes = {}, {}
  while true do
    local d, err = c:read(65536, limit or 10)
    if not d then return table.concat(parts), sizes, err end
    parts[#parts + 1] = d
    sizes[#sizes + 1] = #d
  end
end

local function pattern(n)
  local parts = {}
  for i = 1, n // 8 + 1 do parts[i] = string.format("%07d\n", i) end
  return table.concat(parts):sub(1, n)
end

describe("fault.proxy (TCP)", function()
  it("forwards both ways with no toxics and counts bytes", function()
    S.run(function()
      local p <close>, _ln = proxied()
      local c <close> = dial(p)
      for _ = 1, 3 do round_trip(c, "hello") end
      local big = pattern(300000)
      local reader = nh.spawn(function() return assert(c:read_full(#big, 5)) end)
      assert(c:write(big))
      local ok, got = reader:wait(5)
      assert.is_true(ok)
      assert.are.equal(big, got)
      local s = p:stats()
      assert.are.equal(1, s.connections)
      assert.are.equal(1, s.active)
      assert.are.equal(15 + #big, s.bytes_upstream)
      assert.are.equal(15 + #big, s.bytes_downstream)
    end)
  end)

  it("latency 50 ms: every round trip takes 50 ms or a little more", function()
    S.run(function()
      local p <close>, _ln = proxied()
      local c <close> = dial(p)
      round_trip(c)
      p:add{ type = "latency", attributes = { latency = 50, jitter = 0 } }
      local rtts = {}
      -- The collector's pauses in this (busy) process are the client's, not
      -- the proxy's: keep them out of the measurement.
      collectgarbage("collect")
      collectgarbage("stop")
      for i = 1, 100 do rtts[i] = round_trip(c) end
      collectgarbage("restart")
      table.sort(rtts)
      assert.is_true(rtts[1] >= 50, "fastest round trip " .. rtts[1] .. " ms")
      -- Never early, and about 50 ms. How precise (p99 within 51 ms) is a
      -- timing target, so make bench holds it (case 6, a quiet machine);
      -- here the machine's scheduling hiccups would make it a flaky test
      -- (a CI run's ASan pass saw p99 63 ms): the bounds only catch a delay
      -- applied twice or not at all.
      local figures = ("p50 %.3f, p99 %.3f ms"):format(rtts[50], rtts[99])
      assert.is_true(rtts[50] < 55 and rtts[99] < 100, figures)
      local s = p:stats()
      assert.are.equal(100, s.timed)   -- every echo waited for its time
      assert.is_true(s.late_p50 >= 0 and s.late_p99 < 0.05, "late by " .. s.late_p99 .. " s at p99")
      local st = s.toxics.latency_downstream
      assert.are.equal(1, st.links)
      assert.are.equal(100, st.chunks)
      assert.are.equal(100, st.delayed)
    end, 20)
  end)

  it("latency with jitter stays within latency +- jitter and keeps the order", function()
    S.run(function()
      local p <close>, _ln = proxied()
      p:add{ type = "latency", stream = "upstream", attributes = { latency = 20, jitter = 10 } }
      local c <close> = dial(p)
      local lo, hi = math.huge, 0
      for _ = 1, 30 do
        local ms = round_trip(c)
        lo, hi = math.min(lo, ms), math.max(hi, ms)
      end
      assert.is_true(lo >= 10 and hi <= 40, ("round trips %.2f..%.2f ms"):format(lo, hi))
      assert.is_true(hi - lo > 2, "jitter should spread the round trips")
    end, 20)
  end)

  it("bandwidth 1000 KB/s over 5 s: throughput within 5%", function()
    local size = 5000000
    local body = pattern(size)
    S.run(function()
      local p <close>, _ln = proxied(function(c) c:write(body) end)
      p:add{ type = "bandwidth", attributes = { rate = 1000 } }
      local t0 = nh.now()
      local c <close> = dial(p)
      local got = read_all(c, 10)
      local secs = nh.now() - t0
      assert.are.equal(size, #got)
      assert.are.equal(body, got)
      local rate = size / secs / 1000
      assert.is_true(rate >= 950 and rate <= 1050, ("measured %.1f KB/s"):format(rate))
    end, 20)
  end)

  it("slicer: every read is at most average_size + size_variation", function()
    local body = pattern(1500)
    S.run(function()
      local p <close>, _ln = proxied(function(c) c:write(body) end)
      -- 10 ms apart: a reader would have to be that late to see two at once
      p:add{ type = "slicer", attributes = { average_size = 100, size_variation = 20, delay = 10000 } }
      local c <close> = dial(p)
      local got, sizes = read_all(c, 5)
      assert.are.equal(body, got)
      assert.is_true(#sizes >= 1500 / 120)
      for _, n in ipairs(sizes) do assert.is_true(n <= 120, "a read of " .. n .. " bytes") end
      assert.is_true(p:stats().toxics.slicer_downstream.bytes == 1500)
    end)
  end)

  it("limit_data: exactly that many bytes, then EOF", function()
    local body = pattern(50000)
    S.run(function()
      local p <close>, _ln = proxied(function(c) c:write(body); c:read(1, 5) end)
      p:add{ type = "limit_data", attributes = { bytes = 12345 } }
      local c <close> = dial(p)
      local got, _, err = read_all(c, 5)
      assert.are.equal(body:sub(1, 12345), got)
      assert.is_true(nh.is_eof(err), tostring(err))
      assert.are.equal(1, p:stats().toxics.limit_data_downstream.closed)
    end)
  end)

  it("limit_data counts per connection and direction", function()
    S.run(function()
      local got = {}
      local p <close>, _ln = proxied(function(c)
        local who = c:read_full(1, 5)
        local all = read_all(c, 5)
        got[who] = all
      end)
      p:add{ type = "limit_data", stream = "upstream", attributes = { bytes = 10 } }
      local a <close> = dial(p)
      local b <close> = dial(p)
      assert(a:write("a1234"))
      assert(b:write("b1234567"))
      assert(a:write("567890123456"))   -- only 5 more get through, then the end
      local _, _, err = read_all(a, 5)
      assert.is_true(nh.is_eof(err), tostring(err))
      local deadline = nh.now() + 5
      while not got.a and nh.now() < deadline do nh.sleep(0.01) end
      assert.are.equal("123456789", got.a)
      assert.is_nil(got.b)   -- still open, under its own limit
      assert(b:close_write())
      while not got.b and nh.now() < deadline do nh.sleep(0.01) end
      assert.are.equal("1234567", got.b)
    end)
  end)

  it("reset_peer: the client sees ECONNRESET", function()
    S.run(function()
      local p <close>, _ln = proxied()
      p:add{ type = "reset_peer", stream = "upstream", attributes = { timeout = 20 } }
      local c <close> = dial(p)
      local t0 = nh.now()
      assert(c:write("hello"))
      local d, err = c:read(10, 5)
      assert.is_nil(d)
      assert.are.equal("ECONNRESET", err.code, tostring(err))
      assert.is_true(nh.now() - t0 >= 0.019)
      assert.are.equal(1, p:stats().toxics.reset_peer_upstream.resets)
    end)
  end)

  it("reset_peer added to a live connection resets it too (Toxiproxy only FINs)", function()
    S.run(function()
      local p <close>, _ln = proxied()
      local c <close> = dial(p)
      round_trip(c)
      p:add{ type = "reset_peer", stream = "upstream" }
      assert(c:write("x"))
      local _, err = c:read(10, 5)
      assert.are.equal("ECONNRESET", err.code, tostring(err))
    end)
  end)

  it("timeout 0: no bytes and no close while it lasts; removing it lets data through", function()
    S.run(function()
      local p <close>, _ln = proxied()
      p:add{ type = "timeout", attributes = { timeout = 0 } }
      local c <close> = dial(p)
      assert(c:write("lost"))
      local d, err = c:read(10, 0.3)
      assert.is_nil(d)
      assert.is_true(nh.is_timeout(err), tostring(err))
      p:remove("timeout_downstream")
      assert.is_true(round_trip(c, "found") < 1000)
      assert.are.equal(1, p:stats().toxics.timeout_downstream == nil and 1 or 0)
    end)
  end)

  it("timeout 100: the connection is closed after 100 ms", function()
    S.run(function()
      local p <close>, _ln = proxied()
      p:add{ type = "timeout", attributes = { timeout = 100 } }
      local t0 = nh.now()
      local c <close> = dial(p)
      local _, err = c:read(10, 5)
      local secs = nh.now() - t0
      assert.is_true(nh.is_eof(err), tostring(err))
      assert.is_true(secs >= 0.099 and secs < 1, "closed after " .. secs .. " s")
    end)
  end)

  it("slow_close: the end of stream comes late, the data does not", function()
    S.run(function()
      local p <close>, _ln = proxied(function(c) c:write("bye") end)
      p:add{ type = "slow_close", attributes = { delay = 200 } }
      local t0 = nh.now()
      local c <close> = dial(p)
      assert.are.equal("bye", c:read(10, 5))
      assert.is_true(nh.now() - t0 < 0.15)
      local _, err = c:read(10, 5)
      assert.is_true(nh.is_eof(err))
      assert.is_true(nh.now() - t0 >= 0.199)
    end)
  end)

  it("passes a half close on and keeps the other direction open", function()
    S.run(function()
      local p <close>, _ln = proxied(function(c)
        local all = read_all(c, 5)
        c:write("got " .. #all)
      end)
      local c <close> = dial(p)
      assert(c:write("12345"))
      assert(c:close_write())
      assert.are.equal("got 5", read_all(c, 5))
    end)
  end)

  it("adds, updates and removes toxics on a live connection", function()
    S.run(function()
      local p <close>, _ln = proxied()
      local c <close> = dial(p)
      assert.is_true(round_trip(c) < 20)
      p:add{ type = "latency", name = "slow", attributes = { latency = 60 } }
      assert.is_true(round_trip(c) >= 60)
      local t = p:update("slow", { attributes = { latency = 120 } })
      assert.are.equal(120, t.attributes.latency)
      assert.is_true(round_trip(c) >= 120)
      assert.is_true(p:remove("slow"))
      assert.is_true(round_trip(c) < 20)
      assert.are.same({}, p:toxics())
    end)
  end)

  it("applies toxics in the order added and lists them so", function()
    S.run(function()
      local p <close>, _ln = proxied(function(c) c:write(pattern(1000)) end)
      -- slicer first, then limit_data: the limit cuts a slice, not the chunk.
      p:add{ type = "slicer", attributes = { average_size = 300, delay = 0 } }
      p:add{ type = "limit_data", attributes = { bytes = 450 } }
      local names = {}
      for i, t in ipairs(p:toxics()) do names[i] = t.name end
      assert.are.same({ "slicer_downstream", "limit_data_downstream" }, names)
      local c <close> = dial(p)
      assert.are.equal(pattern(450), (read_all(c, 5)))
    end)
  end)

  it("toxicity: the toxic applies to each connection with that probability", function()
    S.run(function()
      local p <close>, _ln = proxied(nil, { seed = 7 })
      p:add{ type = "latency", toxicity = 0.5, attributes = { latency = 40 } }
      local slow = 0
      for _ = 1, 40 do
        local c <close> = dial(p)
        if round_trip(c) >= 40 then slow = slow + 1 end
      end
      assert.are.equal(slow, p:stats().toxics.latency_downstream.links)
      assert.is_true(slow >= 8 and slow <= 32, slow .. " of 40")   -- 99.99% binomial bounds
    end, 20)
  end)

  it("the same seed decides the same way for the same connections", function()
    local function pattern_of(seed)
      return S.run(function()
        local p <close>, _ln = proxied(nil, { seed = seed })
        p:add{ type = "latency", toxicity = 0.5, attributes = { latency = 30 } }
        local marks = {}
        for i = 1, 16 do
          local c <close> = dial(p)
          marks[i] = round_trip(c) >= 30 and "x" or "."
        end
        return table.concat(marks)
      end, 20)
    end
    local a, b, other = pattern_of(11), pattern_of(11), pattern_of(12)
    assert.are.equal(a, b)
    assert.are_not.equal(a, other)
  end)

  it("down: refuses new connections and closes open ones; up again on the same port", function()
    S.run(function()
      local p <close>, _ln = proxied()
      local addr = tostring(p:listen_addr())
      local c <close> = dial(p)
      round_trip(c)
      assert.is_true(p:set_enabled(false))
      local _, err = c:read(10, 5)
      assert.is_true(nh.is_eof(err) or err.code == "ECONNRESET", tostring(err))
      local d, derr = nh.dial("tcp", addr, 5)
      assert.is_nil(d)
      assert.are.equal("ECONNREFUSED", derr.code)
      assert.is_true(p:set_enabled(true))
      assert.are.equal(addr, tostring(p:listen_addr()))
      local c2 <close> = dial(p)
      assert.is_true(round_trip(c2) < 100)
      assert.are.equal(0, p:stats().refused)
    end)
  end)

  it("an upstream that refuses resets the client's connection", function()
    S.run(function()
      local p <close> = assert(fault.proxy{ upstream = "127.0.0.1:" .. S.free_port("tcp") })
      local c <close> = dial(p)
      local _, err = c:read(10, 5)
      assert.are.equal("ECONNRESET", err.code, tostring(err))
      assert.are.equal(1, p:stats().refused)
    end)
  end)

  it("a client's reset reaches the server as a reset", function()
    S.run(function()
      local result
      local p <close>, _ln = proxied(function(c)
        c:write("hi")
        local _, err = c:read(10, 5)
        result = err
      end)
      -- Lua has no SO_LINGER: a python client closes with a reset.
      local proc = S.start(("python3 -c %s"):format(S.quote(([[
import socket, struct
s = socket.create_connection(("127.0.0.1", %d))
s.recv(2)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()]]):format(p:listen_addr().port))), 10)
      assert.are.equal(0, S.wait_exit(proc, 10))
      local deadline = nh.now() + 5
      while not result and nh.now() < deadline do nh.sleep(0.01) end
      assert.are.equal("ECONNRESET", result and result.code, tostring(result))
    end)
  end)

  it("checks what it is asked for, with the argument's name", function()
    S.run(function()
      local p <close>, _ln = proxied()
      assert.matches("invalid toxic type \"lag\"", S.error_of(p.add, p, { type = "lag" }))
      assert.matches("attributes.latency: must be a number",
                     S.error_of(p.add, p, { type = "latency", attributes = { latency = "50" } }))
      assert.matches("toxicity: must be a number from 0 to 1",
                     S.error_of(p.add, p, { type = "latency", toxicity = 7 }))
      assert.matches("unknown attribute \"latncy\"",
                     S.error_of(p.add, p, { type = "latency", attributes = { latncy = 5 } }))
      assert.matches("stream was invalid",
                     S.error_of(p.add, p, { type = "latency", stream = "sideways" }))
      assert.matches("must be less than average_size",
                     S.error_of(p.add, p, { type = "slicer", attributes = { average_size = 10, size_variation = 10 } }))
      assert.matches("attributes.rate: must be from 0",
                     S.error_of(p.add, p, { type = "bandwidth", attributes = { rate = -1 } }))
      assert.matches("invalid toxic type \"loss\" for a tcp proxy", S.error_of(p.add, p, { type = "loss" }))
      assert.truthy(p:add{ type = "latency" })
      local t, err = p:add{ type = "latency" }
      assert.is_nil(t)
      assert.are.equal("toxic already exists", err)
      assert.are.same({ nil, "toxic not found" }, { p:remove("nope") })
      assert.matches("upstream", S.error_of(fault.proxy, {}))
      local np, perr = fault.proxy{ upstream = "127.0.0.1:1", listen = tostring(p:listen_addr()) }
      assert.is_nil(np)
      assert.are.equal("EADDRINUSE", perr.code)
    end)
  end)

  it("200 connections through latency and slicer, then no descriptor left open", function()
    S.full_gc()
    local before = S.open_fds()
    S.run(function()
      local p <close>, _ln = proxied()
      p:add{ type = "latency", attributes = { latency = 5, jitter = 2 } }
      p:add{ type = "slicer", stream = "upstream", attributes = { average_size = 64, delay = 100 } }
      local tasks = {}
      for i = 1, 200 do
        tasks[i] = nh.spawn(function()
          local c <close> = dial(p)
          local msg = pattern(1000 + i)
          assert(c:write(msg))
          assert.are.equal(msg, assert(c:read_full(#msg, 10)))
        end)
      end
      assert(nh.wait_all(tasks, 20))
      assert.are.equal(200, p:stats().connections)
    end, 30)
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)

  it("holds at most 4 MiB per link for a reader that does not read", function()
    S.run(function()
      local written = 0
      local done = false
      local p <close>, _ln = proxied(function(c)
        local block = string.rep("z", 65536)
        while written < 64 << 20 do
          if not c:write(block, 1) then break end   -- blocks once every buffer is full
          written = written + #block
        end
        done = true
      end)
      p:add{ type = "latency", attributes = { latency = 10 } }
      local _c <close> = dial(p)
      local deadline = nh.now() + 10
      while not done and nh.now() < deadline do nh.sleep(0.05) end
      assert.is_true(done)
      -- the proxy's 4 MiB plus the kernel's buffers on both sockets
      assert.is_true(written < 24 << 20, (written >> 20) .. " MiB went in")
      assert.are.equal(1, p:stats().active)
    end, 20)
  end)

  it("fault.reset() takes every toxic away and brings every proxy up", function()
    S.run(function()
      local a <close>, _la = proxied()
      local b <close>, _lb = proxied()
      a:add{ type = "latency", attributes = { latency = 100 } }
      b:add{ type = "timeout" }
      assert.is_true(b:set_enabled(false))
      fault.reset()
      assert.are.same({}, a:toxics())
      assert.are.same({}, b:toxics())
      assert.is_true(b:enabled())
      local c <close> = dial(b)
      assert.is_true(round_trip(c) < 50)
    end)
  end)

  it("is closed by <close> and by the garbage collector", function()
    S.full_gc()
    local before = S.open_fds()
    do
      local _p <close> = assert(fault.proxy{ upstream = "127.0.0.1:9" })
      assert.are.equal(before + 2, S.open_fds())   -- the listener, the timers' timerfd
    end
    assert.are.equal(before, S.open_fds())
    fault.proxy{ upstream = "127.0.0.1:9" }
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)
end)

-- Issue 27: a link's bound counts what it really holds. The proxy runs in a
-- child (scripts/fault_proxy.lua, the plain build in both passes), so its
-- resident memory is its own and free of the sanitizer's quarantine.
describe("fault.proxy memory under slicer and bandwidth (issue 27)", function()
  local json = require "dkjson"
  local http = require "netharness.http"

  local function post(base, path, body)
    local res = assert(http.request{ method = "POST", url = base .. path, body = json.encode(body), timeout = 5 })
    assert(res.status_code < 300, res.body)
    return json.decode(res.body)
  end

  -- The proxy in a child, in front of `upstream`, with one toxic upstream:
  -- its listen address and the child's pid.
  local function proxy_child(upstream, toxic)
    local proc = S.start(S.lua .. " scripts/fault_proxy.lua --port 0", 60)
    local out = assert(S.wait_output(proc, "API on http://[%d.]+:%d+", 10))
    local base = out:match("API on (http://[%d.]+:%d+)")
    local pr = post(base, "/proxies", { name = "p", listen = "127.0.0.1:0", upstream = upstream })
    toxic.stream = "upstream"
    post(base, "/proxies/p/toxics", toxic)
    local pid = assert(S.pids(proc, "lua5.4")[1])
    return proc, pr.listen, pid
  end

  -- Write to the proxy for at most `seconds` (or `most` bytes), until a
  -- write blocks for 1 s: the bytes written.
  local function upload(addr, seconds, most)
    local c <close> = assert(nh.dial("tcp", addr, 5))
    local block = string.rep("u", 65536)
    local written, deadline = 0, nh.now() + seconds
    while nh.now() < deadline and written < (most or math.huge) do
      if not c:write(block, 1) then break end
      written = written + #block
    end
    return written
  end

  local function growth(pid, base_kib)
    return ((S.rss_kib(pid, true) or 0) - base_kib) / 1024
  end

  it("slicer average_size 1 towards an upstream that never reads: a few MiB, not GiB", function()
    S.run(function()
      local ln = server(function(c) nh.sleep(30) c:close() end)   -- accepts, never reads
      local proc, addr, pid = proxy_child(tostring(ln:addr()),
        { type = "slicer", attributes = { average_size = 1, size_variation = 0, delay = 10 } })
      local base = S.rss_kib(pid)
      local written = upload(addr, 6, 4 << 20)
      local grew = growth(pid, base)
      S.stop(proc)
      ln:close()
      assert.is_true(written >= 256 << 10, written .. " bytes went in")
      assert.is_true(grew < 32, ("RSS grew %.1f MiB for %d KiB written"):format(grew, written >> 10))
    end, 40)
  end)

  it("Toxiproxy's usual slicer on a 3 s upload: bounded, and every byte arrives", function()
    S.run(function()
      local got = 0
      local ln = server(function(c)
        while true do
          local d = c:read(65536, 10)
          if not d then return end
          got = got + #d
        end
      end)
      local proc, addr, pid = proxy_child(tostring(ln:addr()),
        { type = "slicer", attributes = { average_size = 64, size_variation = 32, delay = 10 } })
      local base = S.rss_kib(pid)
      local written = upload(addr, 3)
      local grew = growth(pid, base)
      local deadline = nh.now() + 20
      while got < written and nh.now() < deadline do nh.sleep(0.05) end
      S.stop(proc)
      ln:close()
      assert.are.equal(written, got)
      assert.is_true(grew < 32, ("RSS grew %.1f MiB for %d MiB written"):format(grew, written >> 20))
    end, 40)
  end)

  it("bandwidth 10 KB/s: one link holds its bound, not a copy per piece", function()
    S.run(function()
      local ln = server(function(c) nh.sleep(30) c:close() end)
      local proc, addr, pid = proxy_child(tostring(ln:addr()), { type = "bandwidth", attributes = { rate = 10 } })
      local base = S.rss_kib(pid)
      local written = upload(addr, 6, 32 << 20)
      local grew = growth(pid, base)
      S.stop(proc)
      ln:close()
      assert.is_true(written >= 4 << 20, written .. " bytes went in")
      assert.is_true(grew < 24, ("RSS grew %.1f MiB for %d MiB written"):format(grew, written >> 20))
    end, 40)
  end)
end)
