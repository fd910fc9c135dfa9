-- Thousands of garbled and truncated requests and responses, fed through real
-- TCP connections: the reader must answer each with a message or a clean
-- `nil, err` — never a Lua error, never a hang. The generator is seeded, so
-- a failure names the case that reproduces it.
local net = require "netharness"
local http = require "netharness.http"
local wire = require "netharness.http.wire"
local S = require "support"

local REQUESTS = {
  "GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: x\r\n\r\n",
  "POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
  "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;e=1\r\npedia\r\n0\r\nT: v\r\n\r\n",
  "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
}

local RESPONSES = {
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  "HTTP/1.0 200 OK\r\n\r\nTCP connection",
  "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
}

local SPECIAL = { "\r", "\n", "\r\n", "\0", " ", "\t", ":", ";", ",", "\255", "0", "f", "-", "\r\n\r\n" }

-- Deterministic pseudo-random numbers (xorshift), independent of math.random.
local function rng(seed)
  local x = seed
  return function(n)
    x = x ~ (x << 13); x = x ~ (x >> 7); x = x ~ (x << 17)
    return (x & 0x7fffffff) % n + 1
  end
end

local function mutate(msg, r)
  local kind = r(6)
  local at = r(math.max(#msg, 1))
  if kind == 1 then -- truncate
    return msg:sub(1, at - 1)
  elseif kind == 2 then -- flip a byte
    return msg:sub(1, at - 1) .. string.char(r(256) - 1) .. msg:sub(at + 1)
  elseif kind == 3 then -- insert something special
    return msg:sub(1, at - 1) .. SPECIAL[r(#SPECIAL)] .. msg:sub(at)
  elseif kind == 4 then -- delete a run
    return msg:sub(1, at - 1) .. msg:sub(at + r(8))
  elseif kind == 5 then -- duplicate a run (repeated headers, lengths)
    local len = r(24)
    return msg:sub(1, at + len) .. msg:sub(at, at + len) .. msg:sub(at + len + 1)
  end
  local junk = {}
  for i = 1, r(64) do junk[i] = string.char(r(256) - 1) end
  return msg:sub(1, at - 1) .. table.concat(junk) .. msg:sub(at)
end

-- Every clean outcome: a message table, or nil + an HTTP error or a network
-- error (netharness.EOF when nothing at all came).
local function clean(msg, err)
  if msg ~= nil then return type(msg) == "table" and type(msg.headers) == "table" end
  if http.is_http_error(err) then return type(err.status) == "number" and type(tostring(err)) == "string" end
  return err == net.EOF or (type(err) == "table" and type(tostring(err)) == "string")
end

local function run_cases(corpus, count, seed, reader)
  local ln = assert(net.listen("tcp", "127.0.0.1:0"))
  local r = rng(seed)
  local outcomes = { ok = 0, http = 0, other = 0 }
  for i = 1, count do
    local input = corpus[r(#corpus)]
    for _ = 1, r(3) do input = mutate(input, r) end
    local c = assert(net.dial("tcp", tostring(ln:addr()), 2))
    local s = assert(ln:accept(2))
    assert(c:write(input, 2))
    c:close()
    local ok, msg, err = pcall(reader, s)
    s:close()
    if not ok then
      error(string.format("case %d (seed %d) raised %s for input %q", i, seed, tostring(msg), input), 0)
    end
    if not clean(msg, err) then
      error(string.format("case %d (seed %d) gave %s, %s for input %q", i, seed, tostring(msg), tostring(err), input), 0)
    end
    if msg then outcomes.ok = outcomes.ok + 1
    elseif http.is_http_error(err) then outcomes.http = outcomes.http + 1
    else outcomes.other = outcomes.other + 1 end
  end
  ln:close()
  return outcomes
end

describe("HTTP readers under garbage", function()
  it("read_request survives 4000 garbled and truncated requests", function()
    local outcomes = S.run(function()
      return run_cases(REQUESTS, 4000, 12345, function(s)
        return http.read_request(s, { timeout = 2, max_body = 1 << 20 })
      end)
    end, 120)
    -- the mutations reach every kind of outcome, not only one
    assert.is_true(outcomes.ok > 100, "accepted: " .. outcomes.ok)
    assert.is_true(outcomes.http > 1000, "rejected: " .. outcomes.http)
  end)

  it("read_response survives 4000 garbled and truncated responses", function()
    local outcomes = S.run(function()
      return run_cases(RESPONSES, 4000, 987654, function(s)
        return http.read_response(s, { method = "GET" }, { timeout = 2, max_body = 1 << 20 })
      end)
    end, 120)
    assert.is_true(outcomes.ok > 100, "accepted: " .. outcomes.ok)
    assert.is_true(outcomes.http > 1000, "rejected: " .. outcomes.http)
  end)

  it("read_status answers as read_response does, for 2000 garbled responses read twice", function()
    -- each input is read by both, in both orders: the first sighting of a
    -- head parses it, the second builds the template the fast paths use
    local agreed = S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local r = rng(31337)
      local opts = { timeout = 2, max_body = 1 << 20 }
      local function read(input, f)
        local c = assert(net.dial("tcp", tostring(ln:addr()), 2))
        local s = assert(ln:accept(2))
        assert(c:write(input .. input, 2)) -- the same answer twice on one connection
        c:close()
        local got = { f(s) }
        local again = { f(s) }
        s:close()
        return got, again
      end
      local by_response = function(s)
        local res, err = http.read_response(s, { method = "GET" }, opts)
        if not res then return nil, tostring(err) end
        return res.status_code, res.body, res.close
      end
      local by_status = function(s)
        local code, body, close = wire.read_status(s, { method = "GET" }, opts)
        if not code then return nil, tostring(body) end
        return code, body, close
      end
      local ok = 0
      for i = 1, 2000 do
        local input = RESPONSES[r(#RESPONSES)]
        for _ = 1, r(3) - 1 do input = mutate(input, r) end
        local first, second = by_response, by_status
        if i % 2 == 0 then first, second = by_status, by_response end
        local a1, a2 = read(input, first)
        local b1, b2 = read(input, second)
        assert.are.same(a1, b1, string.format("case %d, first answer, input %q", i, input))
        assert.are.same(a2, b2, string.format("case %d, second answer, input %q", i, input))
        if a1[1] then ok = ok + 1 end
      end
      ln:close()
      return ok
    end, 120)
    assert.is_true(agreed > 200, "accepted: " .. agreed)
  end)

  it("read_status_discard accepts what read_response accepts, with the same status and body", function()
    -- (issue 27: the load generator reads with it; only the errors' words may differ)
    local agreed = S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local r = rng(4242)
      local opts = { timeout = 2, max_body = 1 << 20 }
      local function read(input, f)
        local c = assert(net.dial("tcp", tostring(ln:addr()), 2))
        local s = assert(ln:accept(2))
        assert(c:write(input .. input, 2))
        c:close()
        local got = { f(s) }
        s:close()
        return got
      end
      local function by_response(s)
        local res = http.read_response(s, { method = "GET" }, opts)
        if not res then return false end
        return res.status_code, res.body, res.close
      end
      local function by_discard(s)
        local seen = 0
        local code, body, close = wire.read_status_discard(s, { method = "GET" }, opts,
          function(n) seen = seen + n end, 1 << 20)
        if not code then return false end
        assert(seen >= #body)
        return code, body, close
      end
      local ok = 0
      for _ = 1, 1000 do
        local input = RESPONSES[r(#RESPONSES)]
        for _ = 1, r(3) - 1 do input = mutate(input, r) end
        local a, b = read(input, by_response), read(input, by_discard)
        if a[1] then
          assert.are.same(a, b, string.format("input %q", input))
          ok = ok + 1
        end
      end
      ln:close()
      return ok
    end, 120)
    assert.is_true(agreed > 100, "accepted: " .. agreed)
  end)

  it("the dumps of whatever is accepted never raise", function()
    S.run(function()
      local ln = assert(net.listen("tcp", "127.0.0.1:0"))
      local r = rng(424242)
      for _ = 1, 1000 do
        local input = mutate(REQUESTS[r(#REQUESTS)], r)
        local c = assert(net.dial("tcp", tostring(ln:addr()), 2))
        local s = assert(ln:accept(2))
        assert(c:write(input, 2))
        c:close()
        local req = http.read_request(s, { timeout = 2 })
        s:close()
        if req then
          assert.is_string(http.dump_request(req, true))
          assert.is_string(http.dump_request(req, false))
        end
      end
      ln:close()
    end, 60)
  end)
end)
