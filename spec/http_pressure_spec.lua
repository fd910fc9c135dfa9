-- http.serve under pressure a peer controls: connections that trickle, fds
-- running out, bodies that would take the server's memory. Servers that need
-- a low fd limit or a memory reading of their own run as child processes.
local net = require "netharness"
local http = require "netharness.http"
local wire = require "netharness.http.wire"
local S = require "support"

-- Start a child running `body` (after `net` and `http` are loaded), which
-- prints "port N" when it listens; returns the process and its address.
local function child_server(body, fd_limit)
  local script = S.child_script('local http = require "netharness.http"\n' .. body)
  local prefix = fd_limit and ("ulimit -n " .. fd_limit .. "; ") or ""
  local proc = S.start(prefix .. "exec " .. S.lua .. " " .. script, 60)
  proc.script = script
  local out = S.wait_output(proc, "port %d+", 10)
  assert(out, "child did not start: " .. S.output(proc))
  return proc, "127.0.0.1:" .. out:match("port (%d+)")
end

local function stop(proc)
  S.stop(proc)
  os.remove(proc.script)
end

-- The child's peak resident memory (VmHWM) and CPU seconds so far.
local function child_pid(proc)
  local pids = S.pids(proc, "lua5.4")
  return assert(pids[1], "no lua5.4 in the child's session")
end

local function peak_kib(pid)
  local status = S.read_file("/proc/" .. pid .. "/status") or ""
  return tonumber(status:match("VmHWM:%s*(%d+)"))
end

local function cpu_seconds(pid)
  local stat = S.read_file("/proc/" .. pid .. "/stat") or ""
  local rest = stat:match("%) (.*)$")
  local f = {}
  for x in rest:gmatch("%S+") do f[#f + 1] = x end
  return (tonumber(f[12]) + tonumber(f[13])) / 100 -- utime, stime in ticks
end

local function get(addr, path, timeout)
  local c, err = net.dial("tcp", addr, timeout)
  if not c then return nil, err end
  c:write("GET " .. (path or "/") .. " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
  local res, rerr = http.read_response(c, { method = "GET" }, { timeout = timeout })
  c:close()
  return res, rerr
end

describe("http.serve under pressure", function()
  it("answers normal requests while 300 slowloris connections hold its 256 fds", function()
    local proc, addr = child_server([[
      local ln = assert(net.listen("tcp", "127.0.0.1:0", { backlog = 512 }))
      print("port " .. ln:addr().port)
      io.stdout:flush()
      http.serve(ln, function(_, res) res.body = "ok" end)
    ]], 256)
    S.run(function()
      local loris, stop_loris = {}, false
      for i = 1, 300 do
        loris[i] = net.spawn(function()
          local c = net.dial("tcp", addr, 5)
          if not c then return end
          c:write("GET / HTTP/1.1\r\nHost: a\r\n")
          while not stop_loris do
            if not c:write("X-A: b\r\n", 1) then break end
            net.sleep(0.5)
          end
          c:close()
        end)
      end
      net.sleep(1.5) -- they have taken every fd, and are over a second old
      local worst = 0
      for _ = 1, 5 do
        local t0 = net.now()
        local res, err = get(addr, "/", 10)
        assert(res, tostring(err))
        assert.are.equal("ok", res.body)
        worst = math.max(worst, net.now() - t0)
      end
      stop_loris = true
      net.wait_all(loris, 5)
      assert.is_true(worst < 5, "slowest answer: " .. worst .. " s")
    end, 40)
    stop(proc)
  end)

  it("gives a trickled head header_timeout, not idle and read time", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      net.spawn(http.serve, ln, function(_, res) res.body = "ok" end,
        { header_timeout = 0.3, idle_timeout = 5, read_timeout = 5 })
      local c = assert(net.dial("tcp", tostring(ln:addr()), 1))
      local t0 = net.now()
      c:write("GET / HTTP/1.1\r\n")
      local closed_after
      for _ = 1, 40 do
        net.sleep(0.05)
        local data, err = c:read(100, 0)
        if (not data and not err.timeout) or not c:write("X: y\r\n", 1) then
          closed_after = net.now() - t0
          break
        end
      end
      assert.is_truthy(closed_after, "the server never closed the trickling connection")
      assert.is_true(closed_after >= 0.25 and closed_after < 1.5, "closed after " .. tostring(closed_after))
      -- an idle connection waits idle_timeout for its first byte, then gets its answer
      local c2 = assert(net.dial("tcp", tostring(ln:addr()), 1))
      net.sleep(0.5)
      c2:write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
      assert.are.equal("ok", assert(http.read_response(c2, { method = "GET" }, { timeout = 2 })).body)
      -- and between kept-alive requests too, past the last one's header_timeout
      net.sleep(0.5)
      c2:write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
      assert.are.equal("ok", assert(http.read_response(c2, { method = "GET" }, { timeout = 2 })).body)
      c:close(); c2:close(); ln:close()
    end)
  end)

  it("backs off when out of fds with every connection busy, then serves again", function()
    local proc, addr = child_server([[
      local ln = assert(net.listen("tcp", "127.0.0.1:0", { backlog = 64 }))
      print("port " .. ln:addr().port)
      io.stdout:flush()
      http.serve(ln, function(req, res)
        if req.target == "/slow" then net.sleep(2) end
        res.body = "ok " .. req.target
      end)
    ]], 24)
    S.run(function()
      -- more slow requests than the child has fds: every connection it has is in a handler
      local slow = {}
      for i = 1, 30 do slow[i] = net.spawn(get, addr, "/slow", 10) end
      net.sleep(0.5)
      local pid = child_pid(proc)
      local cpu0 = cpu_seconds(pid)
      net.sleep(1)
      local spent = cpu_seconds(pid) - cpu0
      assert.is_true(spent < 0.3, "the child spent " .. spent .. " s of CPU in 1 s out of fds")
      for i = 1, 30 do
        local ok, res = slow[i]:wait(15)
        assert.is_true(ok)
        assert.are.equal("ok /slow", res and res.body, tostring(select(3, slow[i]:wait())))
      end
      assert.are.equal("ok /fast", assert(get(addr, "/fast", 5)).body)
    end, 30)
    stop(proc)
  end)

  it("refuses bodies past max_body (1 MiB by default) and keeps its memory", function()
    local proc, addr = child_server([[
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      print("port " .. ln:addr().port)
      io.stdout:flush()
      http.serve(ln, function(req, res) res.body = tostring(#req.body) end)
    ]])
    S.run(function()
      local pid = child_pid(proc)
      local base = peak_kib(pid)
      local chunk = string.rep("x", 65536)
      local tasks = {}
      for i = 1, 10 do
        tasks[i] = net.spawn(function()
          local c = assert(net.dial("tcp", addr, 2))
          local piece = chunk
          if i % 2 == 0 then
            c:write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " .. (60 << 20) .. "\r\n\r\n")
          else
            c:write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = string.format("%x\r\n", #chunk) .. chunk .. "\r\n"
          end
          for _ = 1, 960 do -- 60 MiB, unless the server stops reading
            if not c:write(piece, 1) then break end
          end
          local res = http.read_response(c, { method = "POST" }, { timeout = 5 })
          c:close()
          return res and res.status_code
        end)
      end
      for i = 1, 10 do
        local ok, code = tasks[i]:wait(30)
        assert.is_true(ok)
        assert.are.equal(413, code)
      end
      local grown = peak_kib(pid) - base
      assert.is_true(grown < 32 * 1024, "peak grew by " .. grown .. " KiB")
      assert.are.equal("0", assert(get(addr, "/", 5)).body) -- and serves on
    end, 60)
    stop(proc)
  end)

  it("answers 503 once the bodies held at once reach max_body_total", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      local inside = 0
      net.spawn(http.serve, ln, function(req, res)
        inside = inside + 1
        net.sleep(0.3)
        res.body = tostring(#req.body)
      end, { max_body = 4 << 20, max_body_total = 8 << 20 })
      local body = string.rep("b", 3 << 20)
      local tasks = {}
      for i = 1, 4 do
        tasks[i] = net.spawn(function()
          local c = assert(net.dial("tcp", addr, 2))
          c:write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " .. #body .. "\r\n\r\n")
          c:write(body, 5)
          local res = http.read_response(c, { method = "POST" }, { timeout = 5 })
          c:close()
          return res and res.status_code
        end)
      end
      local codes = {}
      for i = 1, 4 do codes[#codes + 1] = select(2, assert(tasks[i]:wait(10))) end
      table.sort(codes)
      assert.are.same({ 200, 200, 503, 503 }, codes)
      -- the budget comes back when requests end
      local c = assert(net.dial("tcp", addr, 2))
      c:write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
      assert.are.equal(tostring(#body), assert(http.read_response(c, { method = "POST" }, { timeout = 5 })).body)
      c:close()
      ln:close()
    end, 20)
  end)

  it("holds a body of 1-byte chunks in about one byte a byte", function()
    local script = S.child_script([[
      local wire = require "netharness.http.wire"
      local function peak()
        return tonumber(io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)"))
      end
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local n = 2 << 20
      net.spawn(function()
        local c = assert(net.dial("tcp", tostring(ln:addr())))
        c:write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        local batch = string.rep("1\r\nx\r\n", 4096)
        for _ = 1, n // 4096 do c:write(batch) end
        c:write("0\r\n\r\n")
        c:close()
      end)
      local s = assert(ln:accept())
      collectgarbage("collect")
      local base = peak()
      local req = assert(wire.read_request(s, { max_body = 1 << 30 }))
      assert(#req.body == n)
      print("grew " .. (peak() - base) .. " KiB for " .. (n // 1024) .. " KiB")
    ]])
    local proc = S.start(S.lua .. " " .. script, 60)
    local code, out = S.wait_exit(proc, 50)
    S.stop(proc)
    os.remove(script)
    assert.are.equal(0, code, out)
    local grew, body = out:match("grew (%-?%d+) KiB for (%d+) KiB")
    grew, body = tonumber(grew), tonumber(body)
    -- the body gathered in a C buffer, then the body string: ~2 times the
    -- body (it was ~18 times: a table slot per chunk)
    assert.is_true(grew < 3 * body, out)
  end)

  it("bounds the head cache by bytes: distinct large heads are not kept", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local c = assert(net.dial("tcp", tostring(ln:addr()), 1))
      local s = assert(ln:accept(1))
      S.full_gc()
      local before = collectgarbage("count")
      local filler = string.rep("v", 64 * 1024)
      for i = 1, 60 do
        local head = "GET /" .. i .. " HTTP/1.1\r\nHost: a\r\nX-Big: " .. filler .. "\r\n\r\n"
        for _ = 1, 2 do -- a second sighting is what makes a template
          c:write(head)
          assert(wire.read_request(s, { timeout = 1 }))
        end
      end
      S.full_gc()
      local grown = collectgarbage("count") - before
      local _, _, bytes = wire.cached_heads()
      assert.is_true(bytes <= 256 * 1024)
      assert.is_true(grown < 1024, "the Lua heap kept " .. grown .. " KiB")
      c:close(); s:close(); ln:close()
    end)
  end)

  it("closes the connection that has sent the least to stay within max_conns", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      net.spawn(http.serve, ln, function(_, res) res.body = "ok" end, { max_conns = 3 })
      local kept = {}
      for i = 1, 2 do -- two kept-alive connections that have each sent a request
        kept[i] = assert(net.dial("tcp", addr, 1))
        kept[i]:write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert(http.read_response(kept[i], { method = "GET" }, { timeout = 2 }))
      end
      local loris = assert(net.dial("tcp", addr, 1))
      loris:write("GET / HTTP/1.1\r\nHost: a\r\n") -- half a head, and no more
      net.sleep(1.2)
      assert.are.equal("ok", assert(get(addr, "/", 5)).body) -- a fourth is served
      local data, err = loris:read(100, 2)
      assert.is_nil(data)
      assert.is_false(err.timeout) -- closed by the server for the newcomer
      for i = 1, 2 do
        kept[i]:write("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert.are.equal("ok", assert(http.read_response(kept[i], { method = "GET" }, { timeout = 2 })).body)
        kept[i]:close()
      end
      loris:close()
      ln:close()
    end)
  end)
end)

describe("http.serve with stream_body", function()
  it("lets a handler read a large body piece by piece, within bounded memory", function()
    S.run(function()
      local got = {}
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      net.spawn(http.serve, ln, function(req, res)
        local n, pieces, largest = 0, 0, 0
        for piece in req:body_chunks() do
          n, pieces = n + #piece, pieces + 1
          largest = math.max(largest, #piece)
        end
        got[#got + 1] = { n = n, done = req.body_done, err = req.body_error, largest = largest }
        res.body = tostring(n)
      end, { stream_body = true, max_body = 1024 })
      local big = string.rep("z", 5 << 20) -- far past max_body, which a stream does not count
      local c = assert(net.dial("tcp", addr, 1))
      c:write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " .. #big .. "\r\nExpect: 100-continue\r\n\r\n")
      local interim = assert(http.read_response(c, { method = "POST" }, { timeout = 2 }))
      assert.are.equal(100, interim.status_code)
      c:write(big, 5)
      assert.are.equal(tostring(#big), assert(http.read_response(c, { method = "POST" }, { timeout = 5 })).body)
      -- chunked, on the same connection
      c:write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "3\r\nabc\r\n1;x=y\r\nd\r\n0\r\nX-T: 1\r\n\r\n")
      assert.are.equal("4", assert(http.read_response(c, { method = "POST" }, { timeout = 5 })).body)
      c:close()
      assert.is_true(got[1].done)
      assert.is_true(got[1].largest <= 65536)
      assert.are.equal(4, got[2].n)
      -- a malformed chunk is the handler's error to see
      c = assert(net.dial("tcp", addr, 1))
      c:write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n")
      assert(http.read_response(c, { method = "POST" }, { timeout = 5 }))
      c:close()
      assert.are.equal(400, got[3].err.status)
      ln:close()
    end)
  end)

  it("closes the connection when a handler leaves the body unread", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      net.spawn(http.serve, ln, function(_, res) res.body = "ignored it" end, { stream_body = true })
      local c = assert(net.dial("tcp", tostring(ln:addr()), 1))
      c:write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nGET /x HTTP/1.1\r\n")
      local res = assert(http.read_response(c, { method = "POST" }, { timeout = 2 }))
      assert.are.equal("ignored it", res.body)
      assert.is_true(res.close)
      c:close()
      ln:close()
    end)
  end)
end)
