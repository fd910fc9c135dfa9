local nh = require "netharness"
local http = require "netharness.http"
local fault = require "netharness.fault"
local S = require "support"

local BODY = string.rep("0123456789", 100)

-- A real service: python's http.server is not ours; an http.serve of our own
-- is quicker to start and answers with a known body and header.
local function service()
  return S.http_server(function(req, res)
    res.headers:set("X-Service", "yes")
    res.headers:set("Content-Type", "text/plain")
    res.body = req.method == "POST" and ("got " .. req.body) or BODY
  end)
end

local function raw_get(addr, path, limit)
  local c = assert(nh.dial("tcp", tostring(addr), 5))
  assert(c:write("GET " .. path .. " HTTP/1.1\r\nHost: x\r\n\r\n"))
  local parts, sizes = {}, {}
  while true do
    local d = c:read(65536, limit or 5)
    if not d then break end
    parts[#parts + 1] = d
    sizes[#sizes + 1] = #d
  end
  c:close()
  return table.concat(parts), sizes
end

-- An upstream that serves each connection with serve(conn), raw bytes, and
-- closes it after; its listener.
local function raw_upstream(serve)
  local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
  nh.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      nh.spawn(function() serve(c) c:close() end)
    end
  end)
  return ln
end

describe("fault.http_proxy", function()
  it("forwards requests and answers unchanged when no rule applies", function()
    S.run(function()
      local ln, addr = service()
      local p <close> = assert(fault.http_proxy{ upstream = addr, rules = {} })
      local base = "http://" .. tostring(p:listen_addr())
      local res = assert(http.get(base .. "/x", { timeout = 5 }))
      assert.are.same({ 200, BODY, "yes" }, { res.status_code, res.body, res.headers:get("X-Service") })
      res = assert(http.request{ method = "POST", url = base .. "/echo", body = "abc", timeout = 5 })
      assert.are.equal("got abc", res.body)
      ln:close()
    end)
  end)

  it("answers 503 for 10% of requests, reproducibly with a seed", function()
    local function run(seed)
      return S.run(function()
        local ln, addr = service()
        local p <close> = assert(fault.http_proxy{ upstream = addr, seed = seed, rules = {
          { name = "flaky", path = "/api", probability = 0.1, status = 503, body = "try later\n" } } })
        local base = "http://" .. tostring(p:listen_addr())
        local marks, n503 = {}, 0
        for i = 1, 1000 do
          local res = assert(http.get(base .. "/api/" .. i, { timeout = 5 }))
          if res.status_code == 503 then
            n503 = n503 + 1
            assert.are.equal("try later\n", res.body)
          end
          marks[i] = res.status_code == 503 and "x" or "."
        end
        local res = assert(http.get(base .. "/other", { timeout = 5 }))
        assert.are.equal(200, res.status_code)
        local st = p:stats().flaky
        assert.are.same({ 1000, n503 }, { st.matched, st.applied })
        ln:close()
        return n503, table.concat(marks)
      end, 60)
    end
    local n, a = run(1)
    local _, b = run(1)
    assert.is_true(n >= 68 and n <= 132, n .. " of 1000")   -- 99.9% binomial bounds
    assert.are.equal(a, b)
  end)

  it("delays, drips, aborts, breaks chunking, lies about length, edits headers", function()
    S.run(function()
      local ln, addr = service()
      local p <close> = assert(fault.http_proxy{ upstream = addr, rules = {
        { method = "GET", path = "/slow", delay = 100 },
        { path = "/late", delay_response = 100 },
        { path = "/drip", drip = { bytes = 100, every = 20 } },
        { path = "/abort", abort_after = 10 },
        { path = "/chunked", break_chunked = true },
        { pattern = "^/long/%d+$", wrong_length = 5 },
        { path = "/headers", set_headers = { ["X-Fault"] = "1" }, remove_headers = { "X-Service" } },
      } })
      local a = p:listen_addr()
      local base = "http://" .. tostring(a)
      local t0 = nh.now()
      local res = assert(http.get(base .. "/slow", { timeout = 5 }))
      assert.is_true(nh.now() - t0 >= 0.1)
      assert.are.equal(BODY, res.body)
      t0 = nh.now()
      assert(http.get(base .. "/late", { timeout = 5 }))
      assert.is_true(nh.now() - t0 >= 0.1)
      t0 = nh.now()
      local got, sizes = raw_get(a, "/drip", 0.5)
      assert.is_true(nh.now() - t0 >= 9 * 0.02)
      assert.truthy(got:find(BODY, 1, true))
      assert.is_true(#sizes >= 8, #sizes .. " reads")
      local _, err = http.get(base .. "/abort", { timeout = 5 })
      assert.truthy(err)
      got = raw_get(a, "/abort")
      assert.matches("\r\n\r\n0123456789$", got)
      _, err = http.get(base .. "/chunked", { timeout = 5 })
      assert.truthy(err, "a broken chunk must fail the client")
      got = raw_get(a, "/chunked")
      assert.matches("Transfer%-Encoding: chunked", got)
      assert.matches("\r\nzz\r\n", got)
      _, err = http.get(base .. "/long/1", { timeout = 5 })
      assert.truthy(err, "a short body must fail the client")
      got = raw_get(a, "/long/2")
      assert.matches("Content%-Length: 1005\r\n", got)
      res = assert(http.get(base .. "/headers", { timeout = 5 }))
      assert.are.same({ "1", nil }, { res.headers:get("X-Fault"), res.headers:get("X-Service") })
      ln:close()
    end, 20)
  end)

  -- issue 27: answers were read whole before they went on (12 x 60 MiB
  -- took 1.7 GB); now they stream through, the body actions on the stream
  it("streams a chunked answer through, the body actions working on the stream", function()
    S.run(function()
      local piece = string.rep("z", 1000)
      -- an upstream whose answers are chunked: /endless never ends
      local ln = raw_upstream(function(c)
        while true do
          local head = c:read_header_block(5)
          if not head then break end
          local path = head:match("^%u+ (%S+)")
          local ok = c:write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n", 5)
          local n = path == "/endless" and math.huge or 10
          local i = 0
          while ok and i < n do
            ok = c:write(("%x\r\n%s\r\n"):format(#piece, piece), 5)
            i = i + 1
          end
          if not ok or not c:write("0\r\n\r\n", 5) then break end
        end
      end)
      local p <close> = assert(fault.http_proxy{ upstream = tostring(ln:addr()), rules = {
        { path = "/endless", abort_after = 5000 },
        { path = "/measured", wrong_length = -3 },
        { path = "/broken", break_chunked = true },
        { path = "/drip", drip = { bytes = 2500, every = 20 } },
      } })
      local a = p:listen_addr()
      -- as it is: chunked on to an HTTP/1.1 client, kept alive
      local res = assert(http.get("http://" .. tostring(a) .. "/plain", { timeout = 5 }))
      assert.are.same({ 200, 10000, "1" }, { res.status_code, #res.body, res.headers:get("X-Up") })
      assert.are.same({ "chunked" }, res.transfer_encoding)
      res = assert(http.get("http://" .. tostring(a) .. "/plain", { timeout = 5 }))
      assert.are.equal(10000, #res.body)
      -- to an HTTP/1.0 client: the close ends the body
      local c = assert(nh.dial("tcp", tostring(a), 5))
      assert(c:write("GET /plain HTTP/1.0\r\n\r\n"))
      local got = {}
      while true do
        local d = c:read(65536, 5)
        if not d then break end
        got[#got + 1] = d
      end
      c:close()
      got = table.concat(got)
      assert.matches("Connection: close\r\n", got)
      assert.not_matches("Transfer%-Encoding", got)
      assert.are.equal(10000, #got - got:find("\r\n\r\n", 1, true) - 3)
      -- an endless answer cut after 5000 bytes of body
      got = raw_get(a, "/endless")
      local body = got:sub(got:find("\r\n\r\n", 1, true) + 4)
      assert.are.equal(5000, #(body:gsub("%x+\r\n", ""):gsub("\r\n", "")))
      -- wrong_length on a body of unknown length: measured first
      got = raw_get(a, "/measured")
      assert.matches("Content%-Length: 9997\r\n", got)
      -- break_chunked on the stream
      got = raw_get(a, "/broken")
      assert.matches("Transfer%-Encoding: chunked", got)
      assert.matches("\r\nzz\r\n", got)
      -- drip on the stream: 10,000 bytes in 2,500-byte writes 20 ms apart
      local t0 = nh.now()
      res = assert(http.get("http://" .. tostring(a) .. "/drip", { timeout = 5 }))
      assert.are.equal(10000, #res.body)
      assert.is_true(nh.now() - t0 >= 0.1)
      ln:close()
    end, 20)
  end)

  it("holds a piece of each answer at a time, not the answer (12 x 60 MiB)", function()
    S.run(function()
      local SIZE = 60 << 20
      local block = string.rep("x", 1 << 20)
      local ln = raw_upstream(function(c)
        if c:read_header_block(5) and c:write("HTTP/1.1 200 OK\r\nContent-Length: " .. SIZE .. "\r\n\r\n", 5) then
          for _ = 1, SIZE >> 20 do
            if not c:write(block, 10) then break end
          end
        end
      end)
      -- the proxy in a child: its memory is its own (and free of the ASan pass's)
      local script = S.child_script(([[
        local fault = require "netharness.fault"
        local p = assert(fault.http_proxy{ upstream = %q })
        print("proxy on " .. tostring(p.listen_addr()))
        io.stdout:flush()
        net.sleep(60)
      ]]):format(tostring(ln:addr())))
      local proc = S.start(S.lua .. " " .. script, 60)
      local out = assert(S.wait_output(proc, "proxy on [%d.]+:%d+", 10))
      local addr = out:match("proxy on ([%d.]+:%d+)")
      local pid = S.pids(proc, "lua5.4")[1]
      local base = S.rss_kib(pid)
      local received, tasks = {}, {}
      for i = 1, 12 do
        tasks[i] = nh.spawn(function()
          local c <close> = assert(nh.dial("tcp", addr, 5))
          assert(c:write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
          local head = assert(c:read_header_block(10))
          assert(head:find("Content-Length: " .. SIZE, 1, true), head)
          local n = 0
          while n < SIZE do
            local d = c:read(1 << 20, 20)
            if not d then break end
            n = n + #d
          end
          received[i] = n
        end)
      end
      assert(nh.wait_all(tasks, 60))
      local grew = ((S.rss_kib(pid, true) or 0) - base) / 1024
      S.stop(proc)
      os.remove(script)
      ln:close()
      for i = 1, 12 do assert.are.equal(SIZE, received[i]) end
      assert.is_true(grew < 64, ("the proxy grew %.0f MiB for 12 x 60 MiB"):format(grew))
    end, 90)
  end)

  it("answers 502 when the upstream is not there", function()
    S.run(function()
      local p <close> = assert(fault.http_proxy{ upstream = "127.0.0.1:" .. S.free_port("tcp"), rules = {} })
      local res = assert(http.get("http://" .. tostring(p:listen_addr()) .. "/", { timeout = 5 }))
      assert.are.equal(502, res.status_code)
    end)
  end)

  it("wraps an http.serve handler with the same rules", function()
    S.run(function()
      local h, faults = fault.http_wrap(function() return 200, "fine" end,
        { { name = "boom", path = "/boom", status = 500, body = "injected\n" },
          { name = "cut", path = "/cut", abort_after = 2 } }, { seed = 3 })
      local ln, addr = S.http_server(h)
      local base = "http://" .. addr
      assert.are.equal("fine", assert(http.get(base .. "/ok", { timeout = 5 })).body)
      local res = assert(http.get(base .. "/boom", { timeout = 5 }))
      assert.are.same({ 500, "injected\n" }, { res.status_code, res.body })
      assert.is_nil((http.get(base .. "/cut", { timeout = 5 })))
      assert.are.same({ matched = 1, applied = 1 }, faults:stats().boom)
      ln:close()
    end)
  end)

  it("checks its rules", function()
    assert.matches("rules%[1%]%.probability: must be from 0 to 1",
                   S.error_of(fault.http_wrap, function() end, { { probability = 2 } }))
    assert.matches("unknown field \"stauts\"", S.error_of(fault.http_wrap, function() end, { { stauts = 503 } }))
    assert.matches("drip%.bytes: must be from 1", S.error_of(fault.http_wrap, function() end, { { drip = { bytes = 0 } } }))
    assert.matches("upstream is required", S.error_of(fault.http_proxy, {}))
  end)

  -- issue 27: these passed the checks and failed only when a request met them
  it("refuses NaN, infinities and fractions when the rules are given, naming the field", function()
    local function why(rule) return S.error_of(fault.http_wrap, function() end, { rule }) end
    local nan, inf = 0 / 0, math.huge
    assert.matches("rules%[1%]%.drip%.bytes: must be a number %(got [-]?nan%)", why{ drip = { bytes = nan, every = 1 } })
    assert.matches("drip%.every: must be a number", why{ drip = { bytes = 1, every = nan } })
    assert.matches("drip%.every: must be a number", why{ drip = { bytes = 1 } })
    assert.matches("drip: unknown field \"byte\"", why{ drip = { byte = 1, every = 1 } })
    assert.matches("wrong_length: must be a whole number %(got 0%.5%)", why{ wrong_length = 0.5 })
    assert.matches("abort_after: must be a whole number", why{ abort_after = 2.5 })
    assert.matches("probability: must be a number", why{ probability = nan })
    assert.matches("status: must be a whole number", why{ status = 200.5 })
    assert.matches("delay: must be from 0", why{ delay = inf })
    assert.matches("delay_response: must be a number", why{ delay_response = nan })
    assert.matches("set_headers: a header name", why{ set_headers = { ["X-A"] = "a\r\nX-B: b" } })
    assert.matches("remove_headers: a header name", why{ remove_headers = { 5 } })
    local p <close> = assert(fault.http_proxy{ upstream = "127.0.0.1:9", rules = {} })
    assert.matches("wrong_length: must be a whole number", S.error_of(p.set_rules, p, { { wrong_length = 0.5 } }))
  end)

  it("removes the headers Connection names, both ways (RFC 9110 7.6.1)", function()
    S.run(function()
      local seen
      local _, up = S.http_server(function(req, res)
        seen = req.headers
        res.headers:set("Connection", "X-Down-Hop, close")
        res.headers:set("X-Down-Hop", "secret")
        res.headers:set("X-Down-End", "kept")
        res.headers:set("Proxy-Authenticate", "Basic")
        res.body = "ok"
      end)
      local p <close> = assert(fault.http_proxy{ upstream = up, rules = {} })
      local res = assert(http.request{ url = "http://" .. tostring(p.listen_addr()) .. "/", timeout = 5,
        headers = { Connection = "x-up-hop", ["X-Up-Hop"] = "1", ["X-Up-End"] = "2", TE = "trailers",
                    ["Proxy-Authorization"] = "Basic eA==" } })
      assert.are.equal(200, res.status_code)
      assert.is_nil(seen:get("X-Up-Hop"))
      assert.is_nil(seen:get("TE"))
      assert.is_nil(seen:get("Proxy-Authorization"))
      assert.are.equal("2", seen:get("X-Up-End"))
      assert.is_nil(res.headers:get("X-Down-Hop"))
      assert.is_nil(res.headers:get("Proxy-Authenticate"))
      assert.are.equal("kept", res.headers:get("X-Down-End"))
    end, 10)
  end)
end)
