-- The HTTP gaps that attacks and outside test corpora found: each case here
-- failed before its fix.
local net = require "netharness"
local http = require "netharness.http"
local wire = require "netharness.http.wire"
local S = require "support"

local start = S.http_server

-- Send raw bytes to addr; the responses read back (status and body, or the error).
local function exchange(addr, bytes, n)
  local c = assert(net.dial("tcp", addr, 2))
  assert(c:write(bytes))
  local out = {}
  for _ = 1, n or 1 do
    local res, err = http.read_response(c, { method = "GET" }, { timeout = 2 })
    out[#out + 1] = res and (res.status_code .. " " .. res.body) or ("error: " .. tostring(err))
    if not res then break end
  end
  c:close()
  return table.concat(out, " | ")
end

-- A raw server that answers each connection with fn(conn, n) (n counts connections).
local function raw_server(fn)
  local ln = assert(net.listen("tcp", "127.0.0.1:0"))
  local n = 0
  net.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      n = n + 1
      net.spawn(fn, c, n)
    end
  end)
  return ln, tostring(ln:addr()), function() return n end
end

local function read_head(c)
  return c:read_header_block(2)
end

describe("HTTP hardening", function()
  describe("client", function()
    it("never reads a response nobody asked for on a kept connection", function()
      S.run(function()
        for _, later in ipairs({ false, true }) do
          -- the first answer is followed by a second, unsolicited one: at once, or a little later
          local ln, addr, conns = raw_server(function(c, n)
            while read_head(c) do
              if n == 1 then
                c:write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                if later then net.sleep(0.05) end
                c:write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
              else
                c:write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
              end
            end
            c:close()
          end)
          local client = http.new_client()
          assert.are.equal("ok", assert(client:get("http://" .. addr .. "/")).body)
          net.sleep(0.1)
          assert.are.equal("real", assert(client:get("http://" .. addr .. "/")).body)
          assert.are.equal(2, conns())
          client:close()
          ln:close()
        end
      end)
    end)

    it("never pools a connection after 101 Switching Protocols", function()
      S.run(function()
        local ln, addr, conns = raw_server(function(c)
          if read_head(c) then
            c:write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
            c:read(100, 5) -- speaks the new protocol now: never HTTP again
          end
          c:close()
        end)
        local client = http.new_client()
        assert.are.equal(101, assert(client:get("http://" .. addr .. "/")).status_code)
        assert.are.equal(0, client:idle_count())
        local t0 = net.now()
        assert.are.equal(101, assert(client:get("http://" .. addr .. "/", { timeout = 1 })).status_code)
        assert.is_true(net.now() - t0 < 0.5)
        assert.are.equal(2, conns())
        client:close()
        ln:close()
      end)
    end)

    it("drops credentials on a redirect to another host, as Go does", function()
      S.run(function()
        local seen = {}
        local lb, baddr = start(function(req, res)
          seen[#seen + 1] = { auth = req.headers:get("authorization"), cookie = req.headers:get("cookie"),
            other = req.headers:get("x-other") }
          res.body = "landed"
        end)
        local port = baddr:match(":(%d+)$")
        local la, aaddr = start(function(req, res)
          res.status_code = 302
          res.headers:set("Location", req.target == "/same" and ("http://127.0.0.1:" .. port .. "/")
            or ("http://localhost:" .. port .. "/"))
        end)
        local client = http.new_client{ follow_redirects = 3 }
        local headers = { Authorization = "Bearer secret", Cookie = "s=1", ["X-Other"] = "kept" }
        assert.are.equal("landed", assert(client:request{ url = "http://" .. aaddr .. "/other", headers = headers }).body)
        assert.are.same({ other = "kept" }, seen[1])
        -- the same host name (another port) keeps them, as in Go
        assert(client:request{ url = "http://" .. aaddr .. "/same", headers = headers })
        assert.are.same({ auth = "Bearer secret", cookie = "s=1", other = "kept" }, seen[2])
        client:close()
        la:close()
        lb:close()
      end)
    end)

    it("refuses CR, LF and NUL in the header names and values and URLs it sends", function()
      local client = http.new_client()
      assert.matches("invalid header value for X%-A", S.error_of(function()
        client:request{ url = "http://127.0.0.1:1/", headers = { ["X-A"] = "a\r\nInjected: 1" } }
      end))
      assert.matches("invalid header name", S.error_of(function()
        client:request{ url = "http://127.0.0.1:1/", headers = { ["X-A\r\nB"] = "1" } }
      end))
      local res, err = client:request("http://127.0.0.1:1/a\r\nInjected: 1")
      assert.is_nil(res)
      assert.matches("invalid control character", tostring(err))
    end)

    it("refuses responses of another major version than 1", function()
      S.run(function()
        for _, version in ipairs({ "HTTP/5.6", "HTTP/2.0", "HTTP/0.9" }) do
          local ln, addr = raw_server(function(c)
            read_head(c)
            c:write(version .. " 200 OK\r\nContent-Length: 2\r\n\r\nok")
            c:close()
          end)
          local res, err = http.new_client():get("http://" .. addr .. "/")
          assert.is_nil(res)
          assert.matches("unsupported HTTP version", tostring(err))
          ln:close()
        end
      end)
    end)

    it("reads a response whose Transfer-Encoding does not end in chunked until the close", function()
      S.run(function()
        local ln, addr = raw_server(function(c)
          read_head(c)
          c:write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nrest of the stream")
          c:close()
        end)
        local client = http.new_client()
        local res = assert(client:get("http://" .. addr .. "/"))
        assert.are.equal("rest of the stream", res.body)
        assert.is_true(res.close)
        assert.are.equal(0, client:idle_count())
        ln:close()
      end)
    end)

    it("dials the host of --url in scripts/http_client.lua", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = "hello from " .. req.target end)
        local proc = S.start(S.lua .. " scripts/http_client.lua --url http://" .. addr .. "/x", 10)
        local code, out = S.wait_exit(proc, 8)
        S.stop(proc)
        ln:close()
        assert.are.equal(0, code, out)
        assert.matches("hello from /x", out)
      end, 15)
    end)
  end)

  describe("server", function()
    it("answers 500 when a handler sets a reason or header with CR, LF or NUL", function()
      S.run(function()
        local errors = {}
        local ln, addr = start(function(req, res)
          if req.target == "/reason" then res.reason = "OK\r\nSet-Cookie: x=1"
          elseif req.target == "/value" then res.headers:set("X-A", "1\r\nSet-Cookie: x=1")
          elseif req.target == "/name" then res.headers:set("Set-Cookie: x=1\r\nX", "1")
          else return 200, "ok", { ["X-B"] = "a\0b" } end
        end, { on_error = function(msg) errors[#errors + 1] = msg end })
        for _, path in ipairs({ "/reason", "/value", "/name", "/returned" }) do
          local c = assert(net.dial("tcp", addr, 1))
          c:write("GET " .. path .. " HTTP/1.1\r\nHost: a\r\n\r\n")
          local head = assert(c:read_header_block(2))
          assert.matches("^HTTP/1.1 500", head)
          assert.is_nil(head:find("Set-Cookie", 1, true))
          c:close()
        end
        assert.are.equal(4, #errors)
        assert.matches("CR, LF", errors[1])
        ln:close()
      end)
    end)

    it("answers 500 and keeps its fds when a handler raises an object that cannot be a string", function()
      S.run(function()
        S.full_gc()
        local before = S.open_fds()
        local bad = setmetatable({}, { __tostring = function() return {} end })
        local errors = {}
        local ln, addr = start(function() error(bad) end,
          { on_error = function(msg) errors[#errors + 1] = msg end })
        for _ = 1, 20 do
          assert.matches("^500 ", exchange(addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        end
        ln:close()
        net.sleep(0.05)
        S.full_gc()
        assert.are.equal(before, S.open_fds())
        assert.are.equal(20, #errors)
        assert.matches("cannot be converted to a string", errors[1])
      end)
    end)

    it("ignores empty lines before a request line (RFC 9112 2.2)", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = req.method end)
        assert.are.equal("200 GET", exchange(addr, "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        assert.are.equal("200 POST | 200 GET", exchange(addr,
          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 2))
        ln:close()
      end)
    end)

    it("answers 400 for an invalid Host (RFC 9112 3.2)", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = req.host end)
        for _, host in ipairs({ "{", "}", "\255", "a@b", "a/b", "a b", "[::1", "a:b", "%zz" }) do
          assert.matches("^400 invalid Host", exchange(addr, "GET / HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"), 1)
        end
        for _, host in ipairs({ "example.com", "example.com:8080", "[::1]:80", "a%20b", "127.0.0.1", "" }) do
          assert.are.equal("200 " .. host, exchange(addr, "GET / HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"))
        end
        ln:close()
      end)
    end)

    it("checks chunk extensions and refuses a chunk line ended by a bare LF (RFC 9112 7.1)", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = req.body end)
        local function post(chunk_line)
          return exchange(addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            .. chunk_line .. "hi\r\n0\r\n\r\n")
        end
        for _, bad in ipairs({ "2;\r\n", "2;a=\"x\r\n", "2;a=\0\r\n", "2;=b\r\n", "2;a b\r\n", "2\n", "2;a=b\n" }) do
          assert.matches("^400 ", post(bad))
        end
        for _, good in ipairs({ "2\r\n", "2;a\r\n", "2 ; a=b ;c=\"d \\\" e\"\r\n", "2;a=\"\"\r\n" }) do
          assert.are.equal("200 hi", post(good))
        end
        ln:close()
      end)
    end)

    it("refuses a head that mixes CRLF and bare LF, and accepts one with LF throughout", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = req.method .. " " .. #req.body end)
        assert.matches("^400 .*mixes CRLF and bare LF", exchange(addr,
          "GET / HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"))
        assert.matches("^400 ", exchange(addr, "GET / HTTP/1.1\nHost: a\r\n\r\n"))
        assert.are.equal("200 GET 0", exchange(addr, "GET / HTTP/1.1\nHost: a\n\n"))
        ln:close()
      end)
    end)

    -- issue 27: found by the third-party corpora after the last round
    it("refuses a bare LF in the trailer section after CRLF chunk lines (RFC 9112 7.1.2)", function()
      S.run(function()
        local n = 0
        local ln, addr = start(function(req, res) n = n + 1 res.body = req.method .. " " .. req.url.path end)
        local out = exchange(addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          .. "2\r\nhi\r\n0\r\n\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 2)
        assert.matches("^400 .*trailer section has a bare LF", out)
        assert.not_matches("smuggled", out)
        assert.are.equal(0, n)
        out = exchange(addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          .. "2\r\nhi\r\n0\r\nX-T: 1\nGET /smuggled HTTP/1.1\r\n\r\n", 2)
        assert.matches("^400 ", out)
        -- CRLF throughout, trailers or none: read as one request each
        assert.are.equal("200 POST / | 200 GET /next", exchange(addr, "POST / HTTP/1.1\r\nHost: a\r\n"
          .. "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n", 2))
        ln:close()
      end)
    end)

    it("refuses an absolute-form target with an empty host or userinfo, blaming the target", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = req.host end)
        for _, target in ipairs({ "http:///p", "https:///", "http://user@a/p", "http://u:p@a/" }) do
          assert.matches("^400 invalid request target", exchange(addr, "GET " .. target .. " HTTP/1.1\r\nHost: a\r\n\r\n"),
            1, false)
        end
        assert.are.equal("200 b:8", exchange(addr, "GET http://b:8/p HTTP/1.1\r\nHost: a\r\n\r\n"))
        ln:close()
      end)
    end)

    it("takes only an authority-form target for CONNECT", function()
      S.run(function()
        local ln, addr = start(function(req, res) res.body = req.url.host end)
        for _, target in ipairs({ "/x", "foo", "foo:", ":443", "a b:1", "http://a:1/", "a@b:1" }) do
          assert.matches("^400 ", exchange(addr, "CONNECT " .. target .. " HTTP/1.1\r\nHost: a\r\n\r\n"))
        end
        assert.are.equal("200 example.com:443",
          exchange(addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"))
        ln:close()
      end)
    end)

    it("leaves the connection's line limit as it was after reading a message", function()
      S.run(function()
        local ln = assert(net.listen("tcp", "127.0.0.1:0"))
        local c = assert(net.dial("tcp", tostring(ln:addr()), 1))
        local s = assert(ln:accept(1))
        local long = string.rep("x", 10000)
        c:write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" .. long .. "\n")
        assert(wire.read_request(s, { timeout = 1 }))
        assert.are.equal(long, s:read_line(1)) -- failed: "no end of line within 4096 bytes"
        c:write(string.rep("y", 9000) .. "\r\n\r\n" .. long .. "\n")
        local req, err = wire.read_request(s, { timeout = 1 })
        assert.is_nil(req)
        assert.are.equal(414, err.status)
        assert.are.equal(1024 * 1024, s:set_line_limit(100)) -- set_line_limit returns the previous limit
        c:close(); s:close(); ln:close()
      end)
    end)
  end)

  describe("timeouts", function()
    it("treats a negative per-call timeout as expired, and 0 as what is there now", function()
      S.run(function()
        local ln = assert(net.listen("tcp", "127.0.0.1:0"))
        local c = assert(net.dial("tcp", tostring(ln:addr()), 1))
        local s = assert(ln:accept(1))
        for _, call in ipairs({
          function(t) return s:read(10, t) end,
          function(t) return s:read_line(t) end,
          function(t) return s:read_full(3, t) end,
          function(t) return s:peek(1, t) end,
          function(t) return ln:accept(t) end,
        }) do
          for _, t in ipairs({ -1, 0 }) do
            local t0 = net.now()
            local v, err = call(t)
            assert.is_nil(v)
            assert.is_true(err.timeout)
            assert.is_true(net.now() - t0 < 0.05)
          end
        end
        c:write("abc\n")
        local got
        for _ = 1, 100 do
          got = s:peek(3, 0)
          if got then break end
          net.sleep(0.001)
        end
        assert.are.equal("abc", got)
        assert.is_true(s:buffered() >= 3)
        assert.are.equal("abc", s:read_line(0))
        c:close(); s:close(); ln:close()
      end)
    end)
  end)
end)
