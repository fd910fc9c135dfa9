-- netharness.http against real peers: curl and Python's http.client as clients
-- of our server, Python's http.server and nginx as servers for our client,
-- and the seed's HTTP scripts as processes. Everything on 127.0.0.1, every
-- process bounded in time and stopped by the spec that started it.
local net = require "netharness"
local http = require "netharness.http"
local S = require "support"

local function start_server(handler)
  local ln = assert(net.listen("tcp", "127.0.0.1:0"))
  net.spawn(http.serve, ln, handler)
  return ln, ln:addr().port
end

local function echo(req, res)
  res.headers:set("Content-Type", "text/plain")
  res.body = req.method .. " " .. req.target .. " proto=" .. req.proto .. " len=" .. #req.body
    .. " te=" .. tostring(req.transfer_encoding and req.transfer_encoding[1]) .. "\n" .. req.body
end

local function run_tool(cmd, limit)
  local p = S.start(cmd, limit or 20)
  local code, out = S.wait_exit(p, limit or 20)
  S.stop(p)
  return code, out
end

local function tmpdir()
  local p = S.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  S.execute("chmod 755 " .. dir)
  return dir
end

-- 10 MiB that would show any lost, repeated or reordered block.
local function big_body()
  local parts = {}
  for i = 1, 10 * 1024 * 1024 // 16 do parts[i] = string.format("%015d\n", i) end
  return table.concat(parts)
end

describe("HTTP with real peers", function()
  describe("curl against http.serve", function()
    it("GET", function()
      S.run(function()
        local ln, port = start_server(echo)
        local code, out = run_tool("curl -sS --max-time 10 http://127.0.0.1:" .. port .. "/path?q=1")
        assert.are.equal(0, code, out)
        assert.are.equal("GET /path?q=1 proto=HTTP/1.1 len=0 te=nil\n", out)
        ln:close()
      end, 30)
    end)

    it("POST with a body", function()
      S.run(function()
        local ln, port = start_server(echo)
        local code, out = run_tool("curl -sS --max-time 10 --data-binary 'a=1&b=2' http://127.0.0.1:" .. port .. "/form")
        assert.are.equal(0, code, out)
        assert.are.equal("POST /form proto=HTTP/1.1 len=7 te=nil\na=1&b=2", out)
        ln:close()
      end, 30)
    end)

    it("a chunked upload", function()
      S.run(function()
        local ln, port = start_server(echo)
        local code, out = run_tool("printf 'streamed body' | curl -sS --max-time 10 -H 'Transfer-Encoding: chunked' "
          .. "--data-binary @- http://127.0.0.1:" .. port .. "/up")
        assert.are.equal(0, code, out)
        assert.are.equal("POST /up proto=HTTP/1.1 len=13 te=chunked\nstreamed body", out)
        ln:close()
      end, 30)
    end)

    it("keep-alive: several requests on one connection", function()
      S.run(function()
        local accepted = 0
        local ln = assert(net.listen("tcp", "127.0.0.1:0"))
        -- count connections by wrapping the listener's accept
        local counting = setmetatable({ accept = function(_, ...)
          local c, e = ln:accept(...)
          if c then accepted = accepted + 1 end
          return c, e
        end }, { __index = function(_, k) return function(_, ...) return ln[k](ln, ...) end end })
        net.spawn(http.serve, counting, echo)
        local base = "http://127.0.0.1:" .. ln:addr().port
        local code, out = run_tool("curl -sv --max-time 10 " .. base .. "/1 " .. base .. "/2 " .. base .. "/3")
        assert.are.equal(0, code, out)
        assert.matches("GET /1 ", out)
        assert.matches("GET /3 ", out)
        assert.matches("Re%-using existing connection", out)
        assert.are.equal(1, accepted)
        ln:close()
      end, 30)
    end)

    it("HTTP/1.0", function()
      S.run(function()
        local ln, port = start_server(echo)
        local code, out = run_tool("curl -sS -0 -i --max-time 10 http://127.0.0.1:" .. port .. "/old")
        assert.are.equal(0, code, out)
        assert.matches("^HTTP/1%.0 200 OK\r\n", out)
        assert.matches("Connection: close\r\n", out)
        assert.matches("GET /old proto=HTTP/1%.0 len=0", out)
        ln:close()
      end, 30)
    end)
  end)

  describe("Python", function()
    it("http.client against http.serve: keep-alive, POST, HEAD", function()
      S.run(function()
        local ln, port = start_server(echo)
        local script = [[
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(3):
    c.request("GET", "/n%d" % i)
    r = c.getresponse()
    print(r.status, r.read().decode().split("\n")[0])
c.request("POST", "/p", body=b"xyz", headers={"Content-Type": "text/plain"})
r = c.getresponse(); print(r.status, r.read().decode().replace("\n", "|"))
c.request("HEAD", "/h")
r = c.getresponse(); print(r.status, repr(r.read()), r.getheader("Content-Length"))
print("sock reused", c.sock is not None)
]]
        local code, out = run_tool("python3 -c " .. S.quote(script) .. " " .. port)
        assert.are.equal(0, code, out)
        assert.are.equal("200 GET /n0 proto=HTTP/1.1 len=0 te=nil\n200 GET /n1 proto=HTTP/1.1 len=0 te=nil\n"
          .. "200 GET /n2 proto=HTTP/1.1 len=0 te=nil\n200 POST /p proto=HTTP/1.1 len=3 te=nil|xyz\n"
          .. "200 b'' 36\nsock reused True\n", out)
        ln:close()
      end, 30)
    end)

    it("our client against http.server", function()
      S.run(function()
        local dir = tmpdir()
        local f = assert(io.open(dir .. "/hello.txt", "wb"))
        f:write("hello from python\n")
        f:close()
        local py = S.start("cd " .. dir .. " && exec python3 -u -m http.server --bind 127.0.0.1 0", 30)
        local said = assert(S.wait_output(py, "port %d+", 10))
        local port = said:match("port (%d+)")
        local res, err = http.get("http://127.0.0.1:" .. port .. "/hello.txt", { timeout = 2 })
        assert.is_truthy(res, tostring(err))
        assert.are.equal(200, res.status_code)
        assert.are.equal("hello from python\n", res.body)
        res = assert(http.get("http://127.0.0.1:" .. port .. "/missing", { timeout = 2 }))
        assert.are.equal(404, res.status_code)
        S.stop(py)
        S.execute("rm -rf " .. dir)
      end, 40)
    end)
  end)

  describe("nginx as the server for our client", function()
    local dir, port, proc, body

    setup(function()
      dir = tmpdir()
      port = S.free_port("tcp") -- nginx cannot listen on port 0: a port that was free a moment ago
      body = big_body()
      local f = assert(io.open(dir .. "/big.bin", "wb"))
      f:write(body)
      f:close()
      f = assert(io.open(dir .. "/nginx.conf", "w"))
      f:write((([[
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
worker_processes 1;
daemon off;
pid DIR/nginx.pid;
error_log DIR/error.log;
events { worker_connections 256; }
http {
  access_log DIR/access.log;
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:PORT;
    root DIR;
    add_header X-Conn $connection always;
    location = /hello { return 200 "hello from nginx\n"; }
    location = /chunked { echo "first"; echo_flush; echo "second"; }
    location = /bigchunked { echo_duplicate 655360 "0123456789abcdef"; }
  }
}
]]):gsub("DIR", dir):gsub("PORT", port)))
      f:close()
      proc = S.start("exec nginx -p " .. dir .. " -c " .. dir .. "/nginx.conf", 120)
    end)

    teardown(function()
      S.stop(proc)
      S.execute("rm -rf " .. dir)
    end)

    local function get(client, path)
      return client:get("http://127.0.0.1:" .. port .. path, { timeout = 10 })
    end

    local function wait_ready(client)
      for _ = 1, 100 do
        local res = get(client, "/hello")
        if res then return res end
        net.sleep(0.05)
      end
      error("nginx did not start: " .. S.output(proc))
    end

    it("keeps the connection alive across requests", function()
      S.run(function()
        local client = http.new_client()
        wait_ready(client)
        local first = assert(get(client, "/hello"))
        assert.are.equal("hello from nginx\n", first.body)
        for _ = 1, 5 do
          local res = assert(get(client, "/hello"))
          assert.are.equal(first.headers:get("x-conn"), res.headers:get("x-conn"))
        end
        assert.are.equal(1, client:idle_count())
        client:close()
      end, 30)
    end)

    it("decodes chunked responses", function()
      S.run(function()
        local client = http.new_client()
        wait_ready(client)
        local res = assert(get(client, "/chunked"))
        assert.are.same({ "chunked" }, res.transfer_encoding)
        assert.are.equal("first\nsecond\n", res.body)
        client:close()
      end, 30)
    end)

    it("carries 10 MiB bodies intact, by length and chunked", function()
      S.run(function()
        local client = http.new_client()
        wait_ready(client)
        local res = assert(get(client, "/big.bin"))
        assert.are.equal(#body, tonumber(res.headers:get("content-length")))
        assert.are.equal(#body, #res.body)
        assert.is_true(res.body == body)
        res = assert(get(client, "/bigchunked"))
        assert.are.same({ "chunked" }, res.transfer_encoding)
        assert.are.equal(10 * 1024 * 1024, #res.body)
        assert.is_true(res.body == string.rep("0123456789abcdef", 655360))
        -- and the connection is still good for more
        assert.are.equal("hello from nginx\n", assert(get(client, "/hello")).body)
        client:close()
      end, 60)
    end)
  end)

  describe("the seed's HTTP scripts", function()
    it("http_client against http_server prints the seed's dumps", function()
      S.run(function()
        local srv = S.start(S.lua .. " scripts/http_server.lua --addr 127.0.0.1:0 --count 1", 20)
        local port = assert(S.wait_output(srv, "listening on .-:%d+\n", 5)):match("listening on .-:(%d+)\n")
        local code, out = run_tool(S.lua .. " scripts/http_client.lua --addr 127.0.0.1:" .. port)
        assert.are.equal(0, code, out)
        assert.are.equal("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nTCP connection\n", out)
        local scode, sout = S.wait_exit(srv, 10)
        assert.are.equal(0, scode, sout)
        assert.matches("GET / HTTP/1%.1\r\nHost: 127%.0%.0%.1:" .. port .. "\r\nUser%-Agent: netharness/[%d.]+\r\n\r\n\n$", sout)
        S.stop(srv)
      end, 30)
    end)

    it("curl against http_server shows TCP connection", function()
      S.run(function()
        local srv = S.start(S.lua .. " scripts/http_server.lua --addr :0 --count 2", 20)
        local port = assert(S.wait_output(srv, "listening on .-:%d+\n", 5)):match("listening on .-:(%d+)\n")
        local code, out = run_tool("curl -sS --max-time 10 http://localhost:" .. port)
        assert.are.equal(0, code, out)
        assert.are.equal("TCP connection", out)
        code, out = run_tool("curl -sS -i --max-time 10 http://127.0.0.1:" .. port)
        assert.are.equal(0, code, out)
        assert.are.equal("HTTP/1.0 200 OK\r\n\r\nTCP connection", out)
        local _, sout = S.wait_exit(srv, 10)
        assert.matches("User%-Agent: curl/", sout)
        S.stop(srv)
      end, 30)
    end)

    it("http_client fails clearly when nothing listens", function()
      S.run(function()
        local port = S.free_port("tcp")
        local code, out = run_tool(S.lua .. " scripts/http_client.lua --addr 127.0.0.1:" .. port)
        assert.are.equal(1, code)
        assert.matches("http_client: cannot connect to 127%.0%.0%.1:" .. port
          .. " %(dial tcp 127%.0%.0%.1:" .. port .. ": connect: connection refused%)", out)
      end, 30)
    end)
  end)

  describe("the load generator (scripts/http_load.lua)", function()
    it("loads a server over keep-alive connections and reports like wrk", function()
      S.run(function()
        local ln = assert(net.listen("tcp", "127.0.0.1:0"))
        local served = 0
        local srv = net.spawn(http.serve, ln, function(_, res)
          served = served + 1
          res.body = "TCP connection"
        end)
        local code, out = run_tool(S.lua .. " scripts/http_load.lua --connections 3 --duration 1 http://"
          .. tostring(ln:addr()) .. "/")
        assert.are.equal(0, code, out)
        assert.matches("Running 1s test @ http://127%.0%.0%.1:%d+/", out)
        assert.matches("  3 connections", out, 1, true)
        assert.matches("Latency Distribution", out, 1, true)
        for _, p in ipairs({ "50%%", "75%%", "90%%", "99%%" }) do
          assert.matches("\n +" .. p .. " +[%d.]+[mu]?s\n", out)
        end
        assert.matches("Requests/sec: +[%d.]+", out)
        local requests, errors = out:match("result requests=(%d+) .* errors=(%d+)")
        -- A transaction still out when the run ends (after its 0.2 s drain:
        -- a busy CI machine) is counted as "unfinished at end", not as a
        -- failure of the server; nothing else may fail.
        local unfinished = tonumber(out:match("unfinished at end (%d+)")) or 0
        assert.are.equal(0, tonumber(errors) - unfinished, out)
        assert.is_true(unfinished <= 3, out)
        assert.is_true(tonumber(requests) > 0)
        assert.is_true(served >= tonumber(requests) and served <= tonumber(requests) + unfinished,
          served .. " served, " .. out)
        ln:close()
        assert(srv:wait(5))
      end, 30)
    end)

    it("redials, without counting an error, when the server closes a kept connection", function()
      S.run(function()
        -- two answers per connection, then a close without "Connection: close"
        local ln = assert(net.listen("tcp", "127.0.0.1:0"))
        local served, conns = 0, 0
        net.spawn(function()
          while true do
            local c = ln:accept()
            if not c then return end
            conns = conns + 1
            net.spawn(function()
              for _ = 1, 2 do
                if not http.read_request(c, { timeout = 5 }) then break end
                served = served + 1
                if not c:write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") then break end
              end
              c:close()
            end)
          end
        end)
        local code, out = run_tool(S.lua .. " scripts/http_load.lua --connections 2 --duration 0.5 http://"
          .. tostring(ln:addr()) .. "/")
        assert.are.equal(0, code, out)
        local requests, errors = out:match("result requests=(%d+) .* errors=(%d+)")
        requests = tonumber(requests)
        -- the closes cost no error; transactions still out when the run
        -- ended (its 0.2 s drain, slow under ASan) are another cause
        local unfinished = tonumber(out:match("unfinished at end (%d+)")) or 0
        assert.are.equal(0, tonumber(errors) - unfinished, out)
        assert.is_true(unfinished <= 2, out)
        assert.is_true(served >= requests and served <= requests + unfinished, served .. " served, " .. out)
        assert.is_true(conns >= requests / 2, conns .. " connections for " .. requests)
        ln:close()
      end, 30)
    end)

    it("reads past interim 1xx answers, and counts a malformed answer as an error", function()
      S.run(function()
        -- per connection: three answers after a 103, then a broken one and a close
        local ln = assert(net.listen("tcp", "127.0.0.1:0"))
        local good, bad = 0, 0
        net.spawn(function()
          while true do
            local c = ln:accept()
            if not c then return end
            net.spawn(function()
              for i = 1, 4 do
                if not http.read_request(c, { timeout = 5 }) then break end
                if i < 4 then
                  if not c:write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                    .. "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") then break end
                  good = good + 1
                else
                  c:write("HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok")
                  bad = bad + 1
                end
              end
              c:close()
            end)
          end
        end)
        local code, out = run_tool(S.lua .. " scripts/http_load.lua --connections 1 --duration 0.3 http://"
          .. tostring(ln:addr()) .. "/")
        assert.are.equal(0, code, out)
        local requests, errors = out:match("result requests=(%d+) .* errors=(%d+)")
        requests, errors = tonumber(requests), tonumber(errors)
        assert.are.equal(good, requests, out)
        assert.are.equal(bad, errors, out)
        assert.is_true(bad >= 1, out)
        assert.matches('Errors: %d+ %(bad_content_length %d+%)\n  first: invalid Content%-Length "2x"', out)
        ln:close()
      end, 30)
    end)

    it("reports errors and exits non-zero when nothing answers", function()
      S.run(function()
        local port = S.free_port("tcp")
        local code, out = run_tool(S.lua .. " scripts/http_load.lua --connections 2 --duration 0.3 http://127.0.0.1:"
          .. port .. "/")
        assert.are.equal(1, code, out)
        assert.matches("Errors: %d+ %(ECONNREFUSED %d+%)\n  first: dial tcp 127%.0%.0%.1:" .. port
          .. ": connect: connection refused", out)
        assert.matches("result requests=0 ", out, 1, true)
      end, 30)
    end)

    it("refuses bad options and URLs with a usage message", function()
      S.run(function()
        local code, out = run_tool(S.lua .. " scripts/http_load.lua --connections 0 http://127.0.0.1:1/")
        assert.are.equal(2, code)
        assert.matches("--connections must be a whole number >= 1", out, 1, true)
        code, out = run_tool(S.lua .. " scripts/http_load.lua ftp://example/")
        assert.are.equal(2, code)
        assert.matches("http_load: bad URL ftp://example/", out, 1, true)
        code = run_tool(S.lua .. " scripts/http_load.lua --duration soon http://127.0.0.1:1/")
        assert.are.equal(2, code)
      end, 30)
    end)
  end)
end)
