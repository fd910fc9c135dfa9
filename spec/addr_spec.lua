local nh = require "netharness"
local S = require "support"

-- A name that /etc/hosts maps to a loopback address, other than "localhost"
-- (which netharness answers without a lookup).
local function hosts_name()
  local f = io.open("/etc/hosts")
  if not f then return nil end
  for line in f:lines() do
    local ip, names = line:match("^%s*(127%.[%d.]+)%s+(.+)$")
    if ip then
      for name in names:gmatch("[^%s#]+") do
        if name ~= "localhost" and not name:find("^localhost%.") then
          f:close()
          return name, ip
        end
      end
    end
  end
  f:close()
end

describe("addresses", function()
  it("resolve() answers literals and localhost at once, as Addr objects", function()
    local a = assert(nh.resolve("udp", "127.0.0.1:8888"))
    assert.are.equal("127.0.0.1:8888", tostring(a))
    assert.are.equal("127.0.0.1", a.ip)
    assert.are.equal(8888, a.port)
    assert.are.equal("udp", a.network)
    assert.are.equal("inet", a.family)
    assert.are.equal("127.0.0.1:8888", tostring(assert(nh.resolve("udp", "localhost:8888"))))
    assert.are.equal("[::1]:8888", tostring(assert(nh.resolve("udp6", "localhost:8888"))))
    local v6 = assert(nh.resolve("tcp", "[::1]:80"))
    assert.are.equal("::1", v6.ip)
    assert.are.equal("tcp", v6.network)
    assert.are.equal("inet6", v6.family)
    assert.are.equal("[::1]:80", tostring(v6))
    assert.are.equal("127.0.0.1:0", tostring(assert(nh.resolve("tcp4", ":0"))))
    assert.are.equal("[fe80::1%lo]:80", tostring(assert(nh.resolve("udp6", "[fe80::1%lo]:80"))))
    assert.are.equal("[fe80::1%lo]:80", tostring(assert(nh.resolve("udp6", "[fe80::1%1]:80"))))
    -- IPv4-mapped IPv6 prints as IPv4, as Go does
    assert.are.equal("127.0.0.1:9", tostring(assert(nh.resolve("udp", "[::ffff:127.0.0.1]:9"))))
  end)

  it("compares, concatenates and refuses changes", function()
    local a = assert(nh.resolve("udp", "127.0.0.1:1"))
    local b = assert(nh.resolve("udp", "localhost:1"))
    local c = assert(nh.resolve("udp", "127.0.0.1:2"))
    assert.is_true(a == b)
    assert.is_false(a == c)
    assert.are.equal("to 127.0.0.1:1!", "to " .. a .. "!")
    assert.matches("immutable", S.error_of(function() a.port = 3 end))
    assert.is_nil(a.nonsense)
  end)

  it("rejects malformed addresses with Go's messages", function()
    local cases = {
      ["127.0.0.1"] = "address 127.0.0.1: missing port in address",
      ["[::1]"] = "address %[::1%]: missing port in address",
      ["::1:80"] = "address ::1:80: too many colons in address",
      ["[::1:80"] = "address %[::1:80: missing ']' in address",
      ["host:port"] = "address port: invalid port",
      ["host:-1"] = "address %-1: invalid port",
      ["host:"] = "address : invalid port",
      ["a]b:1"] = "unexpected ']' in address",
    }
    for text, msg in pairs(cases) do
      assert.matches(msg, S.error_of(nh.resolve, "udp", text), nil, false, text)
    end
    assert.matches("unknown network ip", S.error_of(nh.resolve, "ip", "127.0.0.1:1"))
    assert.matches("address string or netharness.Addr expected", S.error_of(nh.resolve, "udp", 80))
  end)

  it("returns nil, err for an address of the wrong family", function()
    local a, err = nh.resolve("tcp4", "[::1]:80")
    assert.is_nil(a)
    assert.matches("no suitable address found", tostring(err))
    local c, err2 = nh.dial("tcp6", "127.0.0.1:80")
    assert.is_nil(c)
    assert.matches("^dial tcp6: address 127%.0%.0%.1: no suitable address found$", tostring(err2))
  end)

  it("looks names up on a thread, so other tasks keep running", function()
    local name, ip = hosts_name()
    if not name then
      pending("/etc/hosts has no loopback name other than localhost")
      return
    end
    S.run(function()
      local a = assert(nh.resolve("udp4", name .. ":53"))
      assert.are.equal(ip .. ":53", tostring(a))
      -- dial, listen and write_to take names too
      local srv = assert(nh.listen_packet("udp4", name .. ":0"))
      local c = assert(nh.dial("udp4", name .. ":" .. srv:local_addr().port, 2))
      assert(c:write("by name"))
      assert.are.equal("by name", (srv:read_from(100, 2)))
      local other = assert(nh.listen_packet("udp4", "127.0.0.1:0"))
      assert(other:write_to("again", name .. ":" .. srv:local_addr().port))
      assert.are.equal("again", (srv:read_from(100, 2)))
      local ln = assert(nh.listen("tcp4", name .. ":0"))
      local tc = assert(nh.dial("tcp4", name .. ":" .. ln:addr().port, 2))
      tc:close(); ln:close(); c:close(); srv:close(); other:close()
      -- many lookups at once, each in its own task
      local tasks = {}
      for i = 1, 20 do tasks[i] = nh.spawn(nh.resolve, "tcp4", name .. ":" .. i) end
      for i = 1, 20 do
        local ok, addr = tasks[i]:wait(5)
        assert.is_true(ok)
        assert.are.equal(i, addr.port)
      end
    end)
  end)

  it("returns a clean error for a name that does not resolve", function()
    S.run(function()
      local a, err = nh.resolve("tcp", "no-such-host.invalid:80", 3)
      assert.is_nil(a)
      assert.is_truthy(err.err:find("^lookup no%-such%-host%.invalid: ") ~= nil, tostring(err))
      local c, err2 = nh.dial("tcp", "no-such-host.invalid:80", 3)
      assert.is_nil(c)
      assert.matches("^dial tcp: lookup no%-such%-host%.invalid: ", tostring(err2))
    end)
  end)
end)
