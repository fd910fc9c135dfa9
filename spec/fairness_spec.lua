-- One busy peer must not starve the others: calls that complete without
-- waiting still let the loop run now and then. Each case counts the ticks of
-- a task that sleeps 5 ms while something keeps another task busy for 0.5 s:
-- ~100 when the loop is fair; 2 to 8 before fair turns.
local net = require "netharness"
local http = require "netharness.http"
local S = require "support"

local function ticks_during(secs)
  local t = net.spawn(function()
    local n, t0 = 0, net.now()
    while net.now() - t0 < secs do
      net.sleep(0.005)
      n = n + 1
    end
    return n
  end)
  local ok, n = t:wait(secs + 5)
  assert.is_true(ok)
  return n
end

local MIN_TICKS = 40 -- of ~100 possible

describe("fair turns", function()
  it("serves others while one client pipelines requests without pause", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      net.spawn(http.serve, ln, function(_, res) res.body = "ok" end)
      local stop = false
      local flooder = net.spawn(function()
        local c = assert(net.dial("tcp", addr, 1))
        local batch = string.rep("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200)
        local reader = net.spawn(function()
          while not stop and c:read(65536, 1) do end
        end)
        while not stop and c:write(batch, 1) do end
        c:close()
        reader:wait(2)
      end)
      net.sleep(0.05)
      -- another client's requests are answered promptly meanwhile
      local client = http.new_client()
      local worst = 0
      for _ = 1, 20 do
        local t0 = net.now()
        assert(client:get("http://" .. addr .. "/", { timeout = 5 }))
        worst = math.max(worst, net.now() - t0)
      end
      local n = ticks_during(0.5)
      stop = true
      assert(flooder:wait(5))
      client:close()
      ln:close()
      assert.is_true(n >= MIN_TICKS, "ticks: " .. n)
      assert.is_true(worst < 0.25, "slowest request of another client: " .. worst .. " s")
    end, 20)
  end)

  it("serves others while a request body arrives in 1-byte chunks", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      net.spawn(http.serve, ln, function(_, res) res.body = "ok" end, { max_body = 1 << 30 })
      local stop = false
      local sender = net.spawn(function()
        local c = assert(net.dial("tcp", addr, 1))
        c:write("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        local batch = string.rep("1\r\nx\r\n", 10000)
        while not stop and c:write(batch, 1) do end
        c:close()
      end)
      local n = ticks_during(0.5)
      stop = true
      assert(sender:wait(5))
      ln:close()
      assert.is_true(n >= MIN_TICKS, "ticks: " .. n)
    end, 20)
  end)

  it("lets other tasks run while a client reads a stream that never runs dry", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local stop = false
      local writer = net.spawn(function()
        local c = assert(ln:accept(1))
        local block = string.rep("x", 65536)
        while not stop and c:write(block, 1) do end
        c:close()
      end)
      local reader = net.spawn(function()
        local c = assert(net.dial("tcp", tostring(ln:addr()), 1))
        while not stop and c:read(100, 1) do end
        c:close()
      end)
      local n = ticks_during(0.5)
      stop = true
      assert(net.wait_all({ writer, reader }, 5))
      ln:close()
      assert.is_true(n >= MIN_TICKS, "ticks: " .. n)
    end, 20)
  end)

  it("lets the main chunk's loop of timeout-0 reads run the tasks", function()
    local u = assert(net.listen_packet("udp", "127.0.0.1:0"))
    local n = 0
    local ticker = net.spawn(function()
      for _ = 1, 10 do net.sleep(0.005); n = n + 1 end
    end)
    local t0 = net.now()
    while n < 10 and net.now() - t0 < 3 do u:read_from(100, 0) end
    assert.are.equal(10, n)
    assert(ticker:wait(1))
    u:close()
  end)

  it("gets a Go-style accept loop that retries at once on EMFILE through", function()
    -- A child with 32 fds: tasks hold connections and close them after 0.2 s;
    -- the accept loop retries at once when out of fds, and must let them.
    local script = S.child_script([[
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local addr = tostring(ln:addr())
      local held, dialled = {}, {}
      -- fill the table of fds with connections to ourselves
      while true do
        local c = net.dial("tcp", addr, 1)
        if not c then break end
        dialled[#dialled + 1] = c
      end
      net.spawn(function()
        net.sleep(0.2)
        for i = 1, #dialled do dialled[i]:close() end
      end)
      local accepted, emfile = 0, 0
      local t = net.spawn(function()
        while accepted < 3 do
          local c, err = ln:accept(5)
          if c then accepted = accepted + 1; c:close()
          elseif err.code == "EMFILE" then emfile = emfile + 1
          else error(tostring(err)) end
        end
      end)
      assert(t:wait(5))
      print("accepted " .. accepted .. " after " .. emfile .. " EMFILE")
    ]])
    local proc = S.start("ulimit -n 32; " .. S.lua .. " " .. script, 20)
    local code, out = S.wait_exit(proc, 15)
    S.stop(proc)
    os.remove(script)
    assert.are.equal(0, code, out)
    assert.matches("accepted 3 after %d+ EMFILE", out)
  end)
end)
