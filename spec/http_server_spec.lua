-- http.serve, driven byte by byte over raw TCP where the framing matters, and
-- by netharness's own client elsewhere.
local net = require "netharness"
local http = require "netharness.http"
local S = require "support"

local start = S.http_server

local function echo(req, res)
  res.headers:set("Content-Type", "text/plain")
  res.headers:set("X-Method", req.method)
  res.body = req.method .. " " .. req.target .. " " .. #req.body .. " " .. req.body
end

-- Send raw bytes, then read responses with our reader.
local function raw(addr, bytes, method)
  local c = assert(net.dial("tcp", addr, 2))
  assert(c:write(bytes))
  return c, function(m)
    return http.read_response(c, { method = m or method or "GET" }, { timeout = 2 })
  end
end

describe("http.serve", function()
  it("answers a GET with status, length, date and the handler's headers", function()
    S.run(function()
      local ln, addr = start(echo)
      local c, read = raw(addr, "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n")
      local res = assert(read())
      assert.are.equal(200, res.status_code)
      assert.are.equal("HTTP/1.1", res.proto)
      assert.are.equal("GET /hello?x=1 0 ", res.body)
      assert.are.equal(tostring(#res.body), res.headers:get("content-length"))
      assert.is_truthy(res.headers:get("date"))
      assert.are.equal("GET", res.headers:get("x-method"))
      c:close(); ln:close()
    end)
  end)

  it("keeps HTTP/1.1 connections alive and answers pipelined requests in order", function()
    S.run(function()
      local ln, addr = start(echo)
      local c, read = raw(addr, "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
        .. "POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        .. "GET /3 HTTP/1.1\r\nHost: t\r\n\r\n")
      assert.are.equal("GET /1 0 ", assert(read()).body)
      assert.are.equal("POST /2 3 abc", assert(read()).body)
      local third = assert(read())
      assert.are.equal("GET /3 0 ", third.body)
      assert.is_false(third.close)
      -- still open: one more on the same connection
      assert(c:write("GET /4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
      local last = assert(read())
      assert.are.equal("GET /4 0 ", last.body)
      assert.is_true(last.close)
      assert.are.equal(net.EOF, select(2, c:read(1, 2)))
      c:close(); ln:close()
    end)
  end)

  it("sends the bytes each answer calls for when answers repeat and change", function()
    S.run(function()
      local by_path = {
        ["/a"] = function(_, res) res.body = "A" end,
        ["/b"] = function(_, res) res.body = "BB" end,
        ["/204"] = function(_, res) res.status_code, res.body = 204, "A" end,
        ["/teapot"] = function() return 418, "A" end,
        ["/reason"] = function(_, res) res.reason, res.body = "Fine", "A" end,
        ["/hdr"] = function(_, res) res.headers:set("X-H", "1"); res.body = "A" end,
      }
      local ln, addr = start(function(req, res) return by_path[req.url.path](req, res) end)
      local seq = {
        { "GET", "/a", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA" },
        { "GET", "/a", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA" },
        { "HEAD", "/a", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" },
        { "GET", "/a", "1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nA" },
        { "GET", "/b", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nBB" },
        { "GET", "/204", "1.1", "HTTP/1.1 204 No Content\r\n\r\n" },
        { "GET", "/204", "1.1", "HTTP/1.1 204 No Content\r\n\r\n" },
        { "GET", "/teapot", "1.1", "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 1\r\n\r\nA" },
        { "GET", "/reason", "1.1", "HTTP/1.1 200 Fine\r\nContent-Length: 1\r\n\r\nA" },
        { "GET", "/a", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA" },
        { "GET", "/hdr", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-H: 1\r\n\r\nA" },
        { "GET", "/a", "1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA" },
      }
      local c = assert(net.dial("tcp", addr, 2))
      for i, step in ipairs(seq) do
        local extra = step[3] == "1.0" and "Connection: keep-alive\r\n" or ""
        assert(c:write(step[1] .. " " .. step[2] .. " HTTP/" .. step[3] .. "\r\nHost: t\r\n" .. extra .. "\r\n"))
        local head = assert(c:read_header_block(2))
        local want_head, want_body = step[4]:match("^(.-\r\n\r\n)(.*)$")
        -- the Date line is the one part that may change between answers
        local date = head:match("\r\n(Date: [^\r]*\r\n)")
        assert.is_truthy(date, "answer " .. i)
        assert.are.equal(want_head, (head:gsub("Date: [^\r]*\r\n", "")), "answer " .. i)
        assert.are.equal(want_body, want_body == "" and "" or assert(c:read_full(#want_body, 2)), "answer " .. i)
      end
      c:close(); ln:close()
    end)
  end)

  it("closes after an HTTP/1.0 request unless it asks for keep-alive", function()
    S.run(function()
      local ln, addr = start(echo)
      local c, read = raw(addr, "GET /old HTTP/1.0\r\n\r\n")
      local res = assert(read())
      assert.are.equal("HTTP/1.0", res.proto)
      assert.are.equal("GET /old 0 ", res.body)
      assert.are.equal(net.EOF, select(2, c:read(1, 2)))
      c:close()
      c, read = raw(addr, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
      res = assert(read())
      assert.are.equal("keep-alive", res.headers:get("connection"))
      assert(c:write("GET /b HTTP/1.0\r\n\r\n"))
      assert.are.equal("GET /b 0 ", assert(read()).body)
      c:close(); ln:close()
    end)
  end)

  it("reads chunked request bodies", function()
    S.run(function()
      local ln, addr = start(echo)
      local c, read = raw(addr, "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
      assert.are.equal("POST /up 11 hello world", assert(read()).body)
      c:close(); ln:close()
    end)
  end)

  it("answers Expect: 100-continue before the client sends the body", function()
    S.run(function()
      local ln, addr = start(echo)
      local c = assert(net.dial("tcp", addr, 2))
      assert(c:write("PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"))
      assert.are.equal("HTTP/1.1 100 Continue", c:read_line(2))
      assert.are.equal("", c:read_line(2))
      assert(c:write("data"))
      local res = assert(http.read_response(c, { method = "PUT" }, { timeout = 2 }))
      assert.are.equal("PUT /x 4 data", res.body)
      c:close(); ln:close()
    end)
  end)

  it("sends no body for HEAD, 204 and 304", function()
    S.run(function()
      local ln, addr = start(function(req, res)
        if req.target == "/204" then return 204 end
        if req.target == "/304" then return 304 end
        res.body = "the body of GET"
      end)
      local c, read = raw(addr, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /204 HTTP/1.1\r\nHost: t\r\n\r\n"
        .. "GET /304 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
      local head = assert(read("HEAD"))
      assert.are.equal("", head.body)
      assert.are.equal("15", head.headers:get("content-length"))
      local r204 = assert(read())
      assert.are.equal(204, r204.status_code)
      assert.is_nil(r204.headers:get("content-length"))
      assert.are.equal(304, assert(read()).status_code)
      assert.are.equal("the body of GET", assert(read()).body) -- framing intact after them
      c:close(); ln:close()
    end)
  end)

  it("reuses the bytes of an answer only for an answer that is alike", function()
    S.run(function()
      local ln, addr = start(function(req, res)
        if req.target == "/empty" then res.body = "" return end
        if req.target == "/404" then return 404, "abc" end
        res.body = req.target == "/xyz" and "xyz" or "abc"
      end)
      local heads = { { "HEAD", "/" }, { "GET", "/empty" }, { "GET", "/" }, { "GET", "/" }, { "GET", "/xyz" },
        { "GET", "/404" }, { "GET", "/" }, { "HEAD", "/" }, { "GET", "/empty" } }
      local raw_requests = {}
      for i, h in ipairs(heads) do raw_requests[i] = h[1] .. " " .. h[2] .. " HTTP/1.1\r\nHost: t\r\n\r\n" end
      local c, read = raw(addr, table.concat(raw_requests))
      local want = { { 200, "", "3" }, { 200, "", "0" }, { 200, "abc", "3" }, { 200, "abc", "3" },
        { 200, "xyz", "3" }, { 404, "abc", "3" }, { 200, "abc", "3" }, { 200, "", "3" }, { 200, "", "0" } }
      for i, w in ipairs(want) do
        local res = assert(read(heads[i][1]))
        assert.are.same(w, { res.status_code, res.body, res.headers:get("content-length") }, "answer " .. i)
      end
      c:close(); ln:close()
    end)
  end)

  it("gives a failing handler's client a 500 and keeps serving others", function()
    S.run(function()
      local errors = {}
      local ln, addr = start(function(req, res)
        if req.target == "/boom" then error("handler exploded") end
        res.body = "fine"
      end, { on_error = function(msg) errors[#errors + 1] = msg end })
      local c, read = raw(addr, "GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
      local res = assert(read())
      assert.are.equal(500, res.status_code)
      assert.is_true(res.close)
      c:close()
      assert.matches("handler exploded", errors[1])
      assert.matches("stack traceback", errors[1])
      for _ = 1, 3 do
        local ok = assert(http.get("http://" .. addr .. "/", { timeout = 2 }))
        assert.are.equal("fine", ok.body)
      end
      ln:close()
    end)
  end)

  it("lets a handler return status, body and headers", function()
    S.run(function()
      local ln, addr = start(function() return 201, "made", { Location = "/new" } end)
      local res = assert(http.request{ method = "POST", url = "http://" .. addr .. "/", body = "x", timeout = 2 })
      assert.are.equal(201, res.status_code)
      assert.are.equal("made", res.body)
      assert.are.equal("/new", res.headers:get("location"))
      ln:close()
    end)
  end)

  describe("answers malformed requests and closes the connection", function()
    local cases = {
      { 400, "GARBAGE\r\n\r\n" },
      { 400, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
      { 400, "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n" },
      { 400, "GET / HTTP/1.1\r\n\r\n" },
      { 414, "GET /" .. string.rep("u", 10000) .. " HTTP/1.1\r\nHost: t\r\n\r\n" },
      { 431, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " .. string.rep("h", 3000) .. "\r\n\r\n" },
      { 501, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" },
      { 505, "GET / HTTP/3.0\r\nHost: t\r\n\r\n" },
    }
    for _, case in ipairs(cases) do
      it(tostring(case[1]) .. " for " .. string.format("%q", case[2]:sub(1, 40)), function()
        S.run(function()
          local ln, addr = start(echo, { max_header_bytes = 2048 })
          local c, read = raw(addr, case[2])
          local res = assert(read())
          assert.are.equal(case[1], res.status_code)
          assert.is_true(res.close)
          assert.are.equal(net.EOF, select(2, c:read(1, 2)))
          c:close(); ln:close()
        end)
      end)
    end
  end)

  it("closes idle keep-alive connections after idle_timeout", function()
    S.run(function()
      local ln, addr = start(echo, { idle_timeout = 0.05, read_timeout = 0.05 })
      local c, read = raw(addr, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
      assert(read())
      local t0 = net.now()
      assert.are.equal(net.EOF, select(2, c:read(1, 2)))
      assert.is_true(net.now() - t0 < 1)
      c:close(); ln:close()
    end)
  end)

  it("stops when its listener is closed, closing its connections", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local server = net.spawn(http.serve, ln, echo)
      local c, read = raw(tostring(ln:addr()), "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
      assert(read())
      ln:close()
      assert.are.same({ true, true }, { server:wait(2) })
      assert.are.equal(net.EOF, select(2, c:read(1, 2)))
      c:close()
    end)
  end)

  it("serves 100 concurrent clients with several keep-alive requests each", function()
    S.run(function()
      local ln, addr = start(echo)
      local tasks = {}
      for i = 1, 100 do
        tasks[i] = net.spawn(function()
          local client = http.new_client()
          for j = 1, 5 do
            local res = assert(client:request{ method = "POST", url = "http://" .. addr .. "/" .. i,
              body = string.rep("b", j * 100), timeout = 10 })
            assert.are.equal("POST /" .. i .. " " .. j * 100 .. " " .. string.rep("b", j * 100), res.body)
          end
          assert.are.equal(1, client:idle_count())
          client:close()
        end)
      end
      assert(net.wait_all(tasks, 20))
      ln:close()
    end, 30)
  end)
end)
