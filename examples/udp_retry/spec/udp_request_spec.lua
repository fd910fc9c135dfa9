-- A UDP request/answer client with a deadline and retries, tested against a
-- server the spec plays itself: one that answers, one that loses the first
-- datagrams, one that never answers, one that sends strays first.
local net = require "netharness"
local T = require "netharness.test"

local here = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]+$")
here = (here == nil or here == "") and "." or here
package.path = here .. "/?.lua;" .. package.path
local request = require "udp_request"

-- A UDP server on a fresh port, as a task: behave(n, id, payload) says what to
-- send back to the n-th datagram (a string, a list of strings, or nil to drop it).
local function server(behave)
  local pc = assert(net.listen_packet("udp", "127.0.0.1:0"))
  local seen = { count = 0 }
  net.spawn(function()
    while true do
      local data, from = pc:read_from(1500)
      if not data then return end
      seen.count = seen.count + 1
      local id, payload = data:match("^(%S+) (.*)$")
      local reply = behave(seen.count, id, payload)
      if type(reply) == "string" then reply = { reply } end
      for _, r in ipairs(reply or {}) do pc:write_to(r, from) end
    end
  end)
  return tostring(pc:local_addr()), seen, pc
end

describe("udp_request", function()
  it("gets the answer on the first try", T.async(function()
    local addr, seen, pc = server(function(_, id, payload) return id .. " echo:" .. payload end)
    local answer, tries = request(addr, "hello", { timeout = 0.2, retries = 3 })
    assert.are.equal("echo:hello", answer)
    assert.are.equal(1, tries)
    assert.are.equal(1, seen.count)
    pc:close()
  end, 5))

  it("sends again when the first datagrams are lost", T.async(function()
    local addr, seen, pc = server(function(n, id) if n >= 3 then return id .. " third time lucky" end end)
    local t0 = net.now()
    local answer, tries = request(addr, "anyone?", { timeout = 0.1, retries = 3 })
    assert.are.equal("third time lucky", answer)
    assert.are.equal(3, tries)
    assert.are.equal(3, seen.count)
    assert.is_true(net.now() - t0 >= 0.2)   -- two tries waited out
    pc:close()
  end, 5))

  it("gives up after its retries, with a timeout error, on time", T.async(function()
    local addr, seen, pc = server(function() return nil end)
    local t0 = net.now()
    local answer, err = request(addr, "hello?", { timeout = 0.1, retries = 2 })
    local took = net.now() - t0
    assert.is_nil(answer)
    assert.net_error("ETIMEDOUT", err)
    assert.matches("no answer after 3 tries of 0.1s", tostring(err))
    assert.are.equal(3, seen.count)
    assert.is_true(took >= 0.3 and took < 1, "took " .. took)
    pc:close()
  end, 5))

  it("ignores strays and late answers to another request", T.async(function()
    local addr, _, pc = server(function(_, id)
      return { "999 not yours", "garbage without an id", "", id .. " yours" }
    end)
    assert.are.equal("yours", (request(addr, "x", { timeout = 0.5, retries = 0 })))
    pc:close()
  end, 5))

  it("keeps retrying while nothing listens (ICMP port unreachable)", T.async(function()
    local port = T.free_port("udp")
    local answer, err = request("127.0.0.1:" .. port, "x", { timeout = 0.05, retries = 1 })
    assert.is_nil(answer)
    assert.net_error("ETIMEDOUT", err)
  end, 5))
end)
