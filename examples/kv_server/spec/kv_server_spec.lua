-- Testing a line-based TCP service: kv_server.lua runs as a process of its
-- own, exactly as in production; the spec talks to it over loopback.
--
-- T.process{listen = true} binds a port first and hands the socket to the
-- server as fd 3 (LISTEN_FDS, as systemd does), so the server accepts from
-- its first instruction on: no "wait until it listens" and no port race.
local net = require "netharness"
local T = require "netharness.test"

-- This example's folder, wherever busted was started from.
local here = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]+$")
here = (here == nil or here == "") and "." or here

-- A client that sends one command and reads one reply line.
local function client(addr)
  local c = assert(net.dial("tcp", addr, 2))
  return {
    conn = c,
    call = function(line)
      assert(c:write(line .. "\r\n", 2))
      return c:read_line(2)
    end,
  }
end

describe("kv_server", function()
  local server
  before_each(function()
    server = T.process{ cmd = { "lua5.4", here .. "/kv_server.lua" }, listen = true }
  end)

  it("answers PING, SET, GET and DEL", T.async(function()
    local kv = client(server.addr)
    assert.are.equal("+PONG", kv.call("PING"))
    assert.are.equal("+OK", kv.call("SET greeting hello world"))
    assert.are.equal("$hello world", kv.call("GET greeting"))
    assert.are.equal(":1", kv.call("DEL greeting"))
    assert.are.equal(":0", kv.call("DEL greeting"))
    assert.are.equal("_", kv.call("GET greeting"))
    assert.are.equal("+BYE", kv.call("quit"))
    local _, err = kv.conn:read_line(2)
    assert.are.equal(net.EOF, err)   -- the server closed after QUIT
    kv.conn:close()
  end, 10))

  it("refuses bad commands with an error reply, and keeps the connection", T.async(function()
    local kv = client(server.addr)
    assert.are.equal("-ERR unknown command 'FLY'", kv.call("fly away"))
    assert.are.equal("-ERR usage: SET key value", kv.call("SET lonely"))
    assert.are.equal("+PONG", kv.call("PING"))
    kv.conn:close()
  end, 10))

  it("shares one store between clients served at the same time", T.async(function()
    local tasks = {}
    for i = 1, 20 do
      tasks[i] = net.spawn(function()
        local kv = client(server.addr)
        assert.are.equal("+OK", kv.call("SET k" .. i .. " v" .. i))
        kv.conn:close()
      end)
    end
    assert(net.wait_all(tasks, 5))
    local kv = client(server.addr)
    for i = 1, 20 do assert.are.equal("$v" .. i, kv.call("GET k" .. i)) end
    kv.conn:close()
  end, 10))

  it("drops a client whose line never ends, and serves the others", T.async(function()
    local flood = assert(net.dial("tcp", server.addr, 2))
    -- 100 KiB without a newline: past the server's 64 KiB line limit
    assert(flood:write(string.rep("x", 100 * 1024), 5))
    assert.are.equal("-ERR line too long", flood:read_line(5))
    local _, err = flood:read_line(5)
    assert.is_true(net.is_eof(err) or err.code == "ECONNRESET")
    flood:close()
    assert.are.equal("+PONG", client(server.addr).call("PING"))
  end, 10))

  it("survives clients that vanish mid-command", T.async(function()
    for _ = 1, 10 do
      local c = assert(net.dial("tcp", server.addr, 2))
      c:write("SET half")   -- no end of line, then gone
      c:close()
    end
    assert.are.equal("+PONG", client(server.addr).call("PING"))
    assert.is_true(server:running())
  end, 10))

  it("exits on SIGTERM, as a service manager stops it", T.async(function()
    assert.is_true(server:signal("TERM"))
    local st = assert(server:wait_exit(5))
    assert.are.equal("SIGTERM", st.signal)
  end, 10))
end)
