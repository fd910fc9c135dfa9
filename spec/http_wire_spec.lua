-- Reading, writing and dumping HTTP messages, against Go's real output
-- (spec/golden/http, made by spec/golden/gen.go) and RFC 9112's framing rules.
local net = require "netharness"
local http = require "netharness.http"
local wire = require "netharness.http.wire"
local S = require "support"

local GOLDEN = "spec/golden/http/"

local read_file = S.read_file

local function golden_names(ext)
  local names = {}
  local p = io.popen("ls " .. GOLDEN)
  for name in p:lines() do
    if name:match("%." .. ext .. "$") then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

-- A connection whose peer sent `raw` and closed its side.
local listener
local function fed(raw)
  listener = listener or assert(net.listen("tcp", "127.0.0.1:0"))
  local c = assert(net.dial("tcp", tostring(listener:addr())))
  local s = assert(listener:accept(2))
  assert(c:write(raw))
  c:close()
  return s
end

local function read_req(raw, opts)
  local s = fed(raw)
  local req, err = http.read_request(s, opts)
  s:close()
  return req, err
end

local function read_res(raw, method)
  local s = fed(raw)
  local res, err = http.read_response(s, { method = method or "GET" })
  s:close()
  return res, err
end

describe("HTTP wire format", function()
  describe("matches Go byte for byte", function()
    -- Go's ReadRequest accepts these; RFC 9112 lets a server reject them, and
    -- a harness should (the server-side checks Go does later are not enough).
    local STRICTER = { ["bare_cr.req"] = true, ["both_cl_te.req"] = true, ["obs_fold.req"] = true,
      ["space_colon.req"] = true, ["no_host11.req"] = true }

    it("httputil.DumpRequest of every golden request", function()
      S.run(function()
        local checked, rejected = 0, 0
        for _, name in ipairs(golden_names("req")) do
          local req, err = read_req(read_file(GOLDEN .. name))
          if STRICTER[name] or read_file(GOLDEN .. name .. ".err") then
            assert.is_nil(req, name)
            assert.is_true(http.is_http_error(err), name)
            rejected = rejected + 1
          else
            assert.is_truthy(req, name .. ": " .. tostring(err))
            assert.are.equal(read_file(GOLDEN .. name .. ".dump"), http.dump_request(req, true), name)
            assert.are.equal(read_file(GOLDEN .. name .. ".head"), http.dump_request(req, false), name)
            checked = checked + 1
          end
        end
        assert.are.equal(7, rejected)
        assert.is_true(checked >= 12, "checked " .. checked)
      end)
    end)

    it("httputil.DumpResponse of every golden response", function()
      S.run(function()
        local checked = 0
        for _, name in ipairs(golden_names("resp")) do
          local res, err = read_res(read_file(GOLDEN .. name), name:find("^head_") and "HEAD" or "GET")
          assert.is_truthy(res, name .. ": " .. tostring(err))
          assert.are.equal(read_file(GOLDEN .. name .. ".dump"), http.dump_response(res, true), name)
          assert.are.equal(read_file(GOLDEN .. name .. ".head"), http.dump_response(res, false), name)
          checked = checked + 1
        end
        assert.is_true(checked >= 10)
      end)
    end)

    it("Request.Write and Response.Write", function()
      local ua = http.USER_AGENT
      local function as_go(s) return (s:gsub("User%-Agent: [^\r]*", "User-Agent: " .. ua)) end
      local req = assert(http.new_request("GET", "http://localhost:8080"))
      assert.are.equal(as_go(read_file(GOLDEN .. "go_get.out"):gsub("Go%-http%-client/1%.1", ua)),
        http.format_request(req))
      req = assert(http.new_request("POST", "http://127.0.0.1:9000/submit?a=1", "name=value"))
      req.headers:set("Content-Type", "application/x-www-form-urlencoded")
      req.headers:add("X-Multi", "1")
      req.headers:add("X-Multi", "2")
      assert.are.equal(as_go(read_file(GOLDEN .. "go_post.out")), http.format_request(req))
      req = assert(http.new_request("POST", "http://h/empty"))
      assert.are.equal(as_go(read_file(GOLDEN .. "go_post_empty.out")), http.format_request(req))

      local res = http.new_response(200, "TCP connection")
      res.proto_major, res.proto_minor = 1, 0
      assert.are.equal(read_file(GOLDEN .. "go_seed_response.out"), http.format_response(res))
      res.proto_minor = 1
      assert.are.equal(read_file(GOLDEN .. "go_response11_unknown_length.out"), http.format_response(res))
      res = http.new_response(404, "not found", http.new_header{ ["Content-Type"] = "text/plain" })
      res.content_length = 9
      assert.are.equal(read_file(GOLDEN .. "go_response11_cl.out"), http.format_response(res))
      assert.are.equal(read_file(GOLDEN .. "go_response_204.out"), http.format_response(http.new_response(204)))
    end)
  end)

  describe("reading", function()
    it("exposes method, target, proto, host, headers and body", function()
      S.run(function()
        local req = assert(read_req("POST /submit?x=1 HTTP/1.1\r\nHost: h:1\r\ncontent-TYPE: text/plain\r\n"
          .. "X-Multi: a\r\nx-multi: b\r\nContent-Length: 5\r\n\r\nhello"))
        assert.are.equal("POST", req.method)
        assert.are.equal("/submit?x=1", req.target)
        assert.are.equal("/submit", req.url.path)
        assert.are.equal("x=1", req.url.query)
        assert.are.equal("HTTP/1.1", req.proto)
        assert.are.equal(1, req.proto_minor)
        assert.are.equal("h:1", req.host)
        assert.are.equal("text/plain", req.headers:get("Content-Type"))
        assert.are.same({ "a", "b" }, req.headers:values("X-MULTI"))
        assert.are.equal("hello", req.body)
        assert.are.equal(5, req.content_length)
        assert.is_false(req.close)
      end)
    end)

    it("decodes chunked bodies with extensions and trailers", function()
      S.run(function()
        local req = assert(read_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          .. "3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 42\r\n\r\n"))
        assert.are.equal("abc0123456789abcdef", req.body)
        assert.are.same({ "chunked" }, req.transfer_encoding)
        assert.are.equal("42", req.trailers:get("x-sum"))
      end)
    end)

    it("reads responses framed by length, chunks, EOF, or nothing", function()
      S.run(function()
        local res = assert(read_res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA"))
        assert.are.equal("abc", res.body)
        assert.are.equal(200, res.status_code)
        assert.are.equal("200 OK", res.status)
        res = assert(read_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"))
        assert.are.equal("ab", res.body)
        res = assert(read_res("HTTP/1.0 200 OK\r\n\r\nuntil the end"))
        assert.are.equal("until the end", res.body)
        assert.is_true(res.close)
        res = assert(read_res("HTTP/1.1 204 No Content\r\n\r\n"))
        assert.are.equal("", res.body)
        res = assert(read_res("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD"))
        assert.are.equal("", res.body)
        assert.are.equal(10, res.content_length)
        res = assert(read_res("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"))
        assert.are.equal(404, res.status_code)
      end)
    end)

    it("returns netharness.EOF when the peer closes before a request", function()
      S.run(function()
        local req, err = read_req("")
        assert.is_nil(req)
        assert.are.equal(net.EOF, err)
        req, err = read_req("\r\n\r\n")
        assert.is_nil(req)
        assert.are.equal(net.EOF, err)
      end)
    end)

    it("skips empty lines before a start line (RFC 9112 2.2), up to max_line bytes of them", function()
      S.run(function()
        local req = assert(read_req("\r\n\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n"))
        assert.are.equal("/after", req.url.path)
        local res = assert(read_res("\r\nHTTP/1.1 204 No Content\r\n\r\n"))
        assert.are.equal(204, res.status_code)
        assert(read_req(string.rep("\r\n", 100) .. "GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        local _, err = read_req(string.rep("\r\n", 4097) .. "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert.are.equal(400, err.status)
        _, err = read_req("\r\nGET / HTTP/1.1\r\nHost: h\r\n")
        assert.are.equal("unexpected_eof", err.code)
      end)
    end)
  end)

  describe("rejects what RFC 9112 forbids, with the status a server owes", function()
    local cases = {
      { "both Content-Length and Transfer-Encoding", 400, "conflicting_length",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
      { "differing Content-Lengths", 400, "bad_content_length",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd" },
      { "a Content-Length list that differs", 400, "bad_content_length",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd" },
      { "a signed Content-Length", 400, "bad_content_length",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc" },
      { "a non-hex chunk size", 400, "bad_chunk",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" },
      { "a chunk size with junk after it", 400, "bad_chunk",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n" },
      { "a huge chunk size", 400, "bad_chunk",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n" },
      { "chunk data not followed by CRLF", 400, "bad_chunk",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n" },
      { "obsolete line folding", 400, "obs_fold",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n" },
      { "a bare CR in a header", 400, "bare_cr",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: o\rne\r\n\r\n" },
      { "a bare CR in the request line", 400, "bare_cr", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n" },
      { "a bare CR at the end of a header value", 400, "bare_cr",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\r\n\r\n" },
      { "a bare CR where the empty line should be", 400, "bare_cr",
        "GET / HTTP/1.1\r\nHost: a\r\n\rX-A: b\r\n\r\n" },
      { "a bare CR at the start of a header line", 400, "bare_cr",
        "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n" },
      { "folding right after the request line", 400, "obs_fold",
        "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n" },
      { "folding with LF line ends", 400, "obs_fold",
        "GET / HTTP/1.1\nHost: a\nX-A: one\n two\n\n" },
      { "whitespace before a colon", 400, "space_before_colon",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A : one\r\n\r\n" },
      { "a NUL in a header value", 400, "bad_header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n" },
      { "a header line without a colon", 400, "bad_header", "GET / HTTP/1.1\r\nHost: a\r\nnonsense\r\n\r\n" },
      { "HTTP/1.1 without Host", 400, "missing_host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n" },
      { "two Host headers", 400, "bad_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" },
      { "an unknown transfer coding", 501, "unsupported_transfer_encoding",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" },
      { "a final coding other than chunked", 400, "bad_transfer_encoding",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" },
      { "Transfer-Encoding in HTTP/1.0", 400, "bad_transfer_encoding",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
      { "a malformed request line", 400, "bad_request_line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n" },
      { "a malformed version", 400, "bad_version", "GET / HTTP/one\r\nHost: a\r\n\r\n" },
      { "HTTP/2 in HTTP/1 syntax", 505, "unsupported_version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n" },
      { "a body cut short", 400, "unexpected_eof", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc" },
      { "headers cut short", 400, "unexpected_eof", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        S.run(function()
          local req, err = read_req(case[4])
          assert.is_nil(req)
          assert.is_true(http.is_http_error(err), tostring(err))
          assert.are.equal(case[2], err.status)
          assert.are.equal(case[3], err.code)
          assert.is_string(tostring(err))
        end)
      end)
    end

    it("accepts a Content-Length list of identical values, as one", function()
      S.run(function()
        local req = assert(read_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc"))
        assert.are.equal("abc", req.body)
        assert.are.same({ "3" }, req.headers:values("content-length"))
      end)
    end)

    it("rejects both framings in a response too", function()
      S.run(function()
        local res, err = read_res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert.is_nil(res)
        assert.are.equal("conflicting_length", err.code)
        res, err = read_res("HTTP/1.1 2000 OK\r\n\r\n")
        assert.is_nil(res)
        assert.are.equal("bad_status_line", err.code)
      end)
    end)
  end)

  describe("limits", function()
    it("414 for a request line over max_line", function()
      S.run(function()
        local _, err = read_req("GET /" .. string.rep("a", 9000) .. " HTTP/1.1\r\nHost: a\r\n\r\n")
        assert.are.equal(414, err.status)
        local req = assert(read_req("GET /" .. string.rep("a", 9000) .. " HTTP/1.1\r\nHost: a\r\n\r\n",
          { max_line = 10000 }))
        assert.are.equal(9001, #req.target)
      end)
    end)

    it("431 for too many or too large header fields", function()
      S.run(function()
        local many = { "GET / HTTP/1.1\r\nHost: a\r\n" }
        for i = 1, 120 do many[#many + 1] = "X-" .. i .. ": v\r\n" end
        many[#many + 1] = "\r\n"
        local _, err = read_req(table.concat(many), { max_headers = 100 })
        assert.are.equal(431, err.status)
        assert.are.equal("too_many_headers", err.code)
        _, err = read_req("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " .. string.rep("b", 5000) .. "\r\n\r\n",
          { max_header_bytes = 4096 })
        assert.are.equal(431, err.status)
        assert.are.equal("header_too_large", err.code)
      end)
    end)

    it("413 for a body over max_body, however it is framed", function()
      S.run(function()
        local _, err = read_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", { max_body = 1000 })
        assert.are.equal(413, err.status)
        _, err = read_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"
          .. string.rep("x", 1024) .. "\r\n400\r\n", { max_body = 1500 })
        assert.are.equal(413, err.status)
      end)
    end)
  end)

  describe("headers and URLs", function()
    it("looks fields up case-insensitively and keeps repeats in order", function()
      local h = http.new_header()
      h:add("x-a", "1")
      h:add("X-A", "2")
      h:add("Content-Type", "text/plain")
      assert.are.equal("1", h:get("X-a"))
      assert.are.same({ "1", "2" }, h:values("x-A"))
      assert.is_true(h:has("content-type"))
      h:set("X-A", "3")
      assert.are.same({ "3" }, h:values("x-a"))
      h:del("x-a")
      assert.is_nil(h:get("X-A"))
      assert.are.equal("Content-Type: text/plain\r\n", tostring(h))
      h:add("Connection", "Keep-Alive, Upgrade")
      assert.is_true(h:has_token("connection", "upgrade"))
      assert.are.equal("Content-Type", http.Header.canonical("content-type"))
      assert.are.equal("Etag", http.Header.canonical("ETag"))
    end)

    it("gives a new request a Header of its own on first use", function()
      local a = assert(http.new_request("GET", "http://h/"))
      local b = assert(http.new_request("GET", "http://h/"))
      a.headers:set("X-A", "1")
      assert.are.equal("1", a.headers:get("x-a"))
      assert.is_nil(b.headers:get("x-a"))
      assert.are.equal(0, b.headers:count())
      assert.matches("X%-A: 1\r\n", http.format_request(a))
      assert.is_nil(http.format_request(b):find("X-A", 1, true))
      assert.are.equal("function", type(a.write))
    end)

    it("parses http URLs and refuses others", function()
      local u = assert(http.parse_url("http://[::1]:8080/a/b?c=d"))
      assert.are.equal("[::1]:8080", u.dial_address)
      assert.are.equal("/a/b", u.path)
      assert.are.equal("c=d", u.query)
      u = assert(http.parse_url("http://example.com"))
      assert.are.equal("example.com:80", u.dial_address)
      assert.are.equal("/", u.path)
      assert.is_nil(http.parse_url("https://example.com/"))
      assert.is_nil(http.parse_url("example.com/"))
      assert.is_nil(http.parse_url("http:///path"))
      assert.is_nil((http.new_request("GET", "ftp://x/")))
      assert.matches("invalid method", S.error_of(http.new_request, "GET /", "http://x/"))
    end)
  end)

  -- wire.lua keeps what the parse of a head found from the second time that
  -- head comes; the third and later messages are built from it.
  describe("heads seen before", function()
    local function snapshot(m)
      local fields = {}
      for name, value in m.headers:each() do fields[#fields + 1] = name .. "=" .. value end
      local copy = {}
      for k, v in pairs(m) do
        if k ~= "headers" and k ~= "request" then copy[k] = v end
      end
      copy.fields = fields
      return copy
    end

    it("give the same message every time, for every golden request and response", function()
      S.run(function()
        for _, name in ipairs(golden_names("req")) do
          local raw = read_file(GOLDEN .. name)
          local first, err1 = read_req(raw)
          for round = 2, 4 do
            local again, err = read_req(raw)
            if first then
              assert.are.same(snapshot(first), snapshot(again), name .. " round " .. round)
              assert.are.equal(read_file(GOLDEN .. name .. ".dump"), http.dump_request(again, true), name)
            else
              assert.is_nil(again, name)
              assert.are.equal(err1.code, err.code, name)
            end
          end
        end
        for _, name in ipairs(golden_names("resp")) do
          local raw, method = read_file(GOLDEN .. name), name:find("^head_") and "HEAD" or "GET"
          local first = assert(read_res(raw, method))
          for round = 2, 4 do
            local again = assert(read_res(raw, method))
            assert.are.same(snapshot(first), snapshot(again), name .. " round " .. round)
            assert.are.equal(read_file(GOLDEN .. name .. ".dump"), http.dump_response(again, true), name)
          end
        end
      end)
    end)

    it("share nothing that one message's reader can change", function()
      S.run(function()
        local head = "GET /a?q=1 HTTP/1.1\r\nHost: h\r\nX-Multi: 1\r\nX-Multi: 2\r\nAccept: */*\r\n\r\n"
        local s = fed(string.rep(head, 6))
        local reqs = {}
        for i = 1, 6 do reqs[i] = assert(http.read_request(s)) end
        s:close()
        local want = snapshot(reqs[1])
        -- change the messages the cached parse came from and was used for
        for i = 2, 4 do
          local r = reqs[i]
          r.headers:add("X-Multi", "3")
          r.headers:set("Host", "other")
          r.headers:del("Accept")
          r.headers:add("X-New", "n")
          r.url.path, r.url.query = "/changed", nil
          r.method = "POST"
        end
        assert.are.same({ "1", "2", "3" }, reqs[3].headers:values("X-Multi"))
        assert.is_nil(reqs[4].headers:get("Accept"))
        for _, i in ipairs({ 1, 5, 6 }) do assert.are.same(want, snapshot(reqs[i]), "request " .. i) end
        assert.are.same({ "1", "2" }, reqs[6].headers:values("X-Multi"))
        assert.are.equal("/a", reqs[6].url.path)
        local again = assert(read_req(head))
        assert.are.same(want, snapshot(again))
      end)
    end)

    it("make url and headers on first use, each message its own, and show them to pairs", function()
      S.run(function()
        local head = "GET /lazy?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"
        local s = fed(string.rep(head, 5))
        local reqs = {}
        for i = 1, 5 do reqs[i] = assert(http.read_request(s)) end
        s:close()
        local a, b, c = reqs[3], reqs[4], reqs[5]
        assert.is_nil(rawget(a, "url"))
        assert.is_nil(rawget(a, "headers"))
        local keys = {}
        for k in pairs(a) do keys[k] = true end
        assert.is_true(keys.url and keys.headers and keys.method and true)
        assert.are.equal("/lazy", b.url.path)
        assert.are.equal("x=1", b.url.query)
        assert.are_not.equal(a.url, b.url)
        assert.are_not.equal(a.headers, b.headers)
        assert.are.equal(b.url, b.url)
        b.url.path = "/moved"
        assert.are.equal("/moved", b.url.path)
        assert.are.equal("/lazy", c.url.path)
        local own = http.new_header{ ["X-Own"] = "o" }
        c.headers = own
        assert.are.equal(own, c.headers)
        assert.are.equal("1", b.headers:get("X-A"))
        assert.are.equal("netharness.http.Request", getmetatable(c).__name)
        assert.are.equal("function", type(c.write))
        assert.are.equal(http.dump_request(reqs[1], true), http.dump_request(a, true))
        local raw = "HTTP/1.1 200 OK\r\nX-B: 2\r\nContent-Length: 2\r\n\r\nok"
        local r1, r2, r3 = assert(read_res(raw)), assert(read_res(raw)), assert(read_res(raw))
        assert.is_nil(rawget(r3, "headers"))
        assert.are.equal("2", r3.headers:get("X-B"))
        r3.headers:set("X-B", "3")
        assert.are.equal("2", assert(read_res(raw)).headers:get("X-B"))
        assert.are.equal("netharness.http.Response", getmetatable(r3).__name)
        assert.are.equal(http.dump_response(r1, true), http.dump_response(r2, true))
      end)
    end)

    it("still meet the limits of each call", function()
      S.run(function()
        local head = "GET /limits HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: " .. string.rep("b", 100) .. "\r\n\r\n"
        for _ = 1, 3 do assert(read_req(head)) end
        local _, err = read_req(head, { max_headers = 2 })
        assert.are.equal("too_many_headers", err.code)
        _, err = read_req(head, { max_header_bytes = 50 })
        assert.are.equal("header_too_large", err.code)
        _, err = read_req(head, { max_line = 10 })
        assert.are.equal(414, err.status)
        assert(read_req(head))
      end)
    end)

    it("keep rejecting a bad head, and tell GET from HEAD", function()
      S.run(function()
        for _ = 1, 3 do
          local _, err = read_req("GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n")
          assert.are.equal("bad_header", err.code)
        end
        local raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        for _ = 1, 3 do assert.are.equal("hello", assert(read_res(raw)).body) end
        for _ = 1, 3 do
          local res = assert(read_res(raw, "HEAD"))
          assert.are.equal("", res.body)
          assert.are.equal(5, res.content_length)
        end
        assert.are.equal("hello", assert(read_res(raw)).body)
        local chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        local a, b, c = assert(read_res(chunked)), assert(read_res(chunked)), assert(read_res(chunked))
        assert.are.equal("abc", c.body)
        assert.are_not.equal(b.transfer_encoding, c.transfer_encoding)
        assert.are.same(a.transfer_encoding, c.transfer_encoding)
      end)
    end)

    it("are kept in bounded memory, and right after the cache starts over", function()
      S.run(function()
        local heads = {}
        for i = 1, 700 do heads[i] = "GET /p" .. i .. " HTTP/1.1\r\nHost: h" .. i .. "\r\n\r\n" end
        local s = fed(table.concat(heads) .. table.concat(heads) .. table.concat(heads))
        for round = 1, 3 do
          for i = 1, 700 do
            local req = assert(http.read_request(s))
            assert.are.equal("/p" .. i, req.url.path, "round " .. round)
            assert.are.equal("h" .. i, req.host)
            assert.is_true(wire.cached_heads() <= 256)
          end
        end
        s:close()
      end)
    end)
  end)
end)
