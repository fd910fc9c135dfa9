local net = require "netharness"
local http = require "netharness.http"
local S = require "support"

-- A raw TCP server: `respond(conn, n)` handles the n-th connection.
local function raw_server(respond)
  local ln = assert(net.listen("tcp", "127.0.0.1:0"))
  local state = { accepted = 0 }
  net.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      state.accepted = state.accepted + 1
      net.spawn(respond, c, state.accepted)
    end
  end)
  return ln, "http://127.0.0.1:" .. ln:addr().port, state
end

-- Answer every request on the connection with `answer(req)` (raw bytes).
local function answering(answer)
  return function(c)
    while true do
      local req = http.read_request(c, { timeout = 5 })
      if not req then break end
      local bytes = answer(req)
      if not c:write(bytes) or bytes:find("Connection: close", 1, true) then break end
    end
    c:close()
  end
end

describe("http client", function()
  it("reuses one keep-alive connection for sequential requests", function()
    S.run(function()
      local ln, base, state = raw_server(answering(function(req)
        return "HTTP/1.1 200 OK\r\nContent-Length: " .. #req.target .. "\r\n\r\n" .. req.target
      end))
      local client = http.new_client()
      for i = 1, 10 do
        local res = assert(client:get(base .. "/" .. i, { timeout = 2 }))
        assert.are.equal("/" .. i, res.body)
      end
      assert.are.equal(1, state.accepted)
      assert.are.equal(1, client:idle_count())
      client:close()
      ln:close()
    end)
  end)

  it("sends its own User-Agent, Host, and the headers and body it is given", function()
    S.run(function()
      local seen
      local ln, base = raw_server(answering(function(req)
        seen = req
        return "HTTP/1.1 204 No Content\r\n\r\n"
      end))
      local res = assert(http.request{ method = "PUT", url = base .. "/thing?x=1", body = "payload",
        headers = { ["X-Test"] = "yes" }, timeout = 2 })
      assert.are.equal(204, res.status_code)
      assert.are.equal("PUT", seen.method)
      assert.are.equal("/thing?x=1", seen.target)
      assert.are.equal(http.USER_AGENT, seen.headers:get("user-agent"))
      assert.matches("^netharness/", http.USER_AGENT)
      assert.are.equal(base:match("//(.*)"), seen.host)
      assert.are.equal("yes", seen.headers:get("x-test"))
      assert.are.equal("payload", seen.body)
      ln:close()
    end)
  end)

  it("keeps the bytes of plain requests per method and URL, and never for ones with headers or a body", function()
    S.run(function()
      local seen = {}
      local ln, base = raw_server(answering(function(req)
        seen[#seen + 1] = http.dump_request(req, true)
        return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
      end))
      local client = http.new_client()
      assert(client:request{ url = base .. "/a", timeout = 2 })
      assert(client:request{ url = base .. "/a", timeout = 2 })
      assert(client:request{ method = "HEAD", url = base .. "/a", timeout = 2 })
      assert(client:request{ url = base .. "/a", headers = { ["X-N"] = "1" }, timeout = 2 })
      assert(client:request{ method = "POST", url = base .. "/a", body = "xy", timeout = 2 })
      assert(client:request{ url = base .. "/b", timeout = 2 })
      assert.are.equal(6, #seen)
      assert.are.equal(seen[1], seen[2])
      assert.matches("^GET /a HTTP/1.1\r\n", seen[1])
      assert.matches("^HEAD /a HTTP/1.1\r\n", seen[3])
      assert.matches("X%-N: 1\r\n", seen[4])
      assert.is_nil(seen[1]:find("X-N", 1, true))
      assert.matches("^POST /a HTTP/1.1\r\n.*\r\n\r\nxy$", seen[5])
      assert.matches("^GET /b HTTP/1.1\r\n", seen[6])
      client:close()
      ln:close()
    end)
  end)

  it("reads chunked and close-delimited responses, closing after the latter", function()
    S.run(function()
      local ln, base, state = raw_server(answering(function(req)
        if req.target == "/chunked" then
          return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        end
        return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end"
      end))
      local client = http.new_client()
      assert.are.equal("abcde", assert(client:get(base .. "/chunked")).body)
      assert.are.equal(1, client:idle_count())
      local res = assert(client:get(base .. "/eof"))
      assert.are.equal("to the end", res.body)
      assert.is_true(res.close)
      assert.are.equal(0, client:idle_count())
      assert.are.equal(1, state.accepted)
      client:close()
      ln:close()
    end)
  end)

  it("does not follow redirects unless asked to", function()
    S.run(function()
      local ln, base = raw_server(answering(function(req)
        if req.target == "/old" then
          return "HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"
        end
        return "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\narrived"
      end))
      local res = assert(http.get(base .. "/old", { timeout = 2 }))
      assert.are.equal(302, res.status_code)
      assert.are.equal("/new", res.headers:get("location"))
      res = assert(http.get(base .. "/old", { timeout = 2, follow_redirects = 3 }))
      assert.are.equal(200, res.status_code)
      assert.are.equal("arrived", res.body)
      ln:close()
    end)
  end)

  it("skips 100 Continue before the final answer", function()
    S.run(function()
      local ln, base = raw_server(answering(function()
        return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      end))
      assert.are.equal("ok", assert(http.get(base .. "/", { timeout = 2 })).body)
      ln:close()
    end)
  end)

  it("puts a deadline on every request", function()
    S.run(function()
      local ln, base = raw_server(function(c)
        c:read_line(5) -- read the request line, never answer
        net.sleep(5)
        c:close()
      end)
      local t0 = net.now()
      local res, err = http.get(base .. "/slow", { timeout = 0.2 })
      assert.is_nil(res)
      assert.is_true(err.timeout, tostring(err))
      assert.is_true(net.now() - t0 < 2)
      ln:close()
    end)
  end)

  it("reuses a kept connection after the deadline of its last request has passed", function()
    S.run(function()
      local ln, base, state = raw_server(answering(function()
        return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      end))
      local client = http.new_client()
      assert.are.equal("ok", assert(client:get(base .. "/", { timeout = 0.1 })).body)
      net.sleep(0.3)
      assert.are.equal("ok", assert(client:get(base .. "/", { timeout = 2 })).body)
      assert.are.equal(1, state.accepted)
      client:close()
      ln:close()
    end)
  end)

  it("retries once on a fresh connection when a kept one was closed by the server", function()
    S.run(function()
      local ln, base, state = raw_server(function(c, n)
        local req = http.read_request(c, { timeout = 5 })
        if req then
          c:write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" .. n)
        end
        c:close() -- without saying Connection: close
      end)
      local client = http.new_client()
      assert.are.equal("1", assert(client:get(base .. "/", { timeout = 2 })).body)
      net.sleep(0.05)
      assert.are.equal("2", assert(client:get(base .. "/", { timeout = 2 })).body)
      assert.are.equal(2, state.accepted)
      client:close()
      ln:close()
    end)
  end)

  it("reports bad URLs, refused connections and malformed answers as errors", function()
    S.run(function()
      local res, err = http.get("https://127.0.0.1/")
      assert.is_nil(res)
      assert.matches("unsupported protocol scheme", tostring(err))
      local port = S.free_port("tcp")
      res, err = http.get("http://127.0.0.1:" .. port .. "/", { timeout = 2 })
      assert.is_nil(res)
      assert.are.equal("ECONNREFUSED", err.code)
      local ln, base = raw_server(function(c)
        http.read_request(c, { timeout = 5 })
        c:write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        c:close()
      end)
      res, err = http.get(base .. "/", { timeout = 2 })
      assert.is_nil(res)
      assert.are.equal("conflicting_length", err.code)
      ln:close()
    end)
  end)
end)
