local nh = require "netharness"
local S = require "support"

describe("resources", function()
  it("close() releases the fd and a second close reports it, like Go", function()
    local before = S.open_fds()
    local c = assert(nh.listen_packet("udp", "127.0.0.1:0"))
    assert.are.equal(before + 1, S.open_fds())
    assert.is_true(c:close())
    assert.are.equal(before, S.open_fds())
    local ok, err = c:close()
    assert.is_nil(ok)
    assert.is_true(err.closed)
    assert.matches("use of closed network connection$", tostring(err))
    assert.are.equal("PacketConn udp (closed)", tostring(c))
    local _, rerr = c:read_from(10)
    assert.are.equal("ECLOSED", rerr.code)
    local _, werr = c:write_to("x", "127.0.0.1:9")
    assert.is_true(werr.closed)
  end)

  it("<close> variables close sockets at the end of their scope", function()
    local before = S.open_fds()
    do
      local _a <close> = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local _b <close> = assert(nh.listen("tcp", "127.0.0.1:0"))
      assert.are.equal(before + 2, S.open_fds())
    end
    assert.are.equal(before, S.open_fds())
  end)

  it("the garbage collector closes forgotten sockets of every kind", function()
    S.full_gc()
    local before = S.open_fds()
    S.run(function()
      for _ = 1, 50 do
        local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
        local c = assert(nh.dial("tcp", tostring(ln:addr())))
        local s = assert(ln:accept(2))
        assert(nh.listen_packet("udp", "127.0.0.1:0"))
        assert(nh.dial("udp", "127.0.0.1:9"))
        assert(c:write("x"))
        assert.are.equal("x", s:read(1, 2))
      end
    end)
    assert.is_true(S.open_fds() > before)
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)

  it("failed dials and listens leave no fd behind", function()
    local before = S.open_fds()
    local port = S.free_port("tcp")
    for _ = 1, 20 do
      assert.is_nil(nh.dial("tcp", "127.0.0.1:" .. port))
    end
    local a = assert(nh.listen("tcp", "127.0.0.1:0"))
    for _ = 1, 20 do
      assert.is_nil(nh.listen("tcp", tostring(a:addr())))
    end
    a:close()
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)

  it("closing a socket wakes every task waiting on it with a closed error", function()
    S.run(function()
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      local c = assert(nh.dial("tcp", tostring(ln:addr())))
      local s = assert(ln:accept(2))
      local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local waiters = {
        nh.spawn(function() return s:read(10) end),
        nh.spawn(function() return s:read_line() end),
        nh.spawn(function() return pc:read_from(10) end),
        nh.spawn(function() return pc:read_from(10) end),
        nh.spawn(function() return ln:accept() end),
      }
      nh.sleep(0.02)
      for _, w in ipairs(waiters) do assert.are.equal("waiting", w:status()) end
      s:close(); pc:close(); ln:close()
      for i, w in ipairs(waiters) do
        local ok, v, err = w:wait(1)
        assert.is_true(ok, "waiter " .. i)
        assert.is_nil(v)
        assert.is_true(err.closed, "waiter " .. i .. ": " .. tostring(err))
        assert.matches("use of closed network connection$", tostring(err))
      end
      c:close()
    end)
  end)

  it("a socket closed from the main chunk wakes its waiters too", function()
    local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
    local w = nh.spawn(function() return pc:read_from(10) end)
    S.parked({ w })
    pc:close()
    local ok, v, err = w:wait(1)
    assert.is_true(ok)
    assert.is_nil(v)
    assert.is_true(err.closed)
  end)

  it("cancelled tasks and their sockets are collected", function()
    S.full_gc()
    local before = S.open_fds()
    local tasks = {}
    for i = 1, 20 do
      tasks[i] = nh.spawn(function()
        local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
        return pc:read_from(10)
      end)
    end
    S.parked(tasks)
    for _, t in ipairs(tasks) do assert.is_true(t:cancel()) end
    tasks = nil   -- luacheck: ignore tasks (dropped for the collector)
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)
end)
