local nh = require "netharness"
local fault = require "netharness.fault"
local S = require "support"

-- A UDP echo server, or a sink that keeps what arrives in order.
local function udp_server(sink)
  local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
  pc:set_read_buffer(4 << 20)
  local got = {}
  nh.spawn(function()
    while true do
      local d, from = pc:read_from(65536)
      if not d then return end
      if sink then got[#got + 1] = d else pc:write_to(d, from) end
    end
  end)
  return pc, got
end

local function proxied(sink, opts)
  local pc, got = udp_server(sink)
  opts = opts or {}
  opts.protocol = "udp"
  opts.upstream = tostring(pc:local_addr())
  return assert(fault.proxy(opts)), got, pc
end

local function client(p)
  return assert(nh.dial("udp", tostring(p:listen_addr())))
end

local function wait_for(cond, limit)
  local deadline = nh.now() + (limit or 5)
  while not cond() do
    if nh.now() > deadline then return false end
    nh.sleep(0.001)
  end
  return true
end

-- What the toxics have let through so far: sent - dropped + duplicated, less
-- one for each reorder toxic (it may hold one back).
local function let_through(p)
  local s = p:stats()
  local n = s.datagrams_upstream
  for name, t in pairs(s.toxics) do
    n = n - t.dropped + t.duplicated
    if p:toxic(name).type == "reorder" then n = n - 1 end
  end
  return n
end

-- Send n datagrams (payload(i)) in paced batches, each batch through the
-- proxy and into the sink before the next, so that no socket buffer drops
-- any (a slow sink, as under the sanitizers, included): only the toxics decide.
local function pump(p, c, n, payload, got)
  for i = 1, n do
    assert(c:write(payload(i)))
    if i % 100 == 0 or i == n then
      assert(wait_for(function() return p:stats().datagrams_upstream >= i end))
      if got then assert(wait_for(function() return #got >= let_through(p) end)) end
    end
  end
end

-- Everything the toxics let through has arrived (and nothing more comes).
local function settle(p, got)
  local function expected()
    local s = p:stats()
    local n = s.datagrams_upstream
    for _, t in pairs(s.toxics) do n = n - t.dropped + t.duplicated end
    return n
  end
  assert(wait_for(function() return #got >= expected() end, 5))
  nh.sleep(0.02)
  assert.are.equal(expected(), #got)
end

local function seq(i) return string.format("%08d", i) end

-- The 99.9% interval of a binomial count: mean +- 3.29 deviations.
local function within(count, n, prob)
  local mean, sd = n * prob, math.sqrt(n * prob * (1 - prob))
  return math.abs(count - mean) <= 3.29 * sd, ("%d of %d (expected %.0f +- %.0f)"):format(
    count, n, mean, 3.29 * sd)
end

describe("fault.proxy (UDP)", function()
  it("forwards datagrams and routes each reply to its own client", function()
    S.run(function()
      local p <close> = proxied()
      local a <close> = client(p)
      local b <close> = client(p)
      for i = 1, 5 do
        assert(a:write("from a " .. i))
        assert(b:write("from b " .. i))
        assert.are.equal("from a " .. i, a:read(100, 5))
        assert.are.equal("from b " .. i, b:read(100, 5))
      end
      local s = p:stats()
      assert.are.equal(2, s.flows)
      assert.are.equal(2, s.active)
      assert.are.equal(10, s.datagrams_upstream)
      assert.are.equal(10, s.datagrams_downstream)
    end)
  end)

  it("loss 0.25 over 20,000 datagrams: delivered inside the 99.9% interval", function()
    S.run(function()
      local p <close>, got = proxied(true, { seed = 3 })
      p:add{ type = "loss", stream = "upstream", attributes = { probability = 0.25 } }
      local c <close> = client(p)
      pump(p, c, 20000, seq, got)
      settle(p, got)
      local ok, msg = within(#got, 20000, 0.75)
      assert.is_true(ok, msg)
      local last = 0
      for _, d in ipairs(got) do   -- in order, none twice
        local i = tonumber(d)
        assert.is_true(i > last)
        last = i
      end
    end, 60)
  end)

  it("loss with correlation comes in bursts", function()
    -- P(lost | the one before was lost) against the loss rate: about equal
    -- without correlation, well above it with.
    local function burstiness(corr)
      return S.run(function()
        local p <close>, got = proxied(true, { seed = 5 })
        p:add{ type = "loss", stream = "upstream", attributes = { probability = 0.3, correlation = corr } }
        local c <close> = client(p)
        local n = 10000
        pump(p, c, n, seq, got)
        settle(p, got)
        local kept = {}
        for _, d in ipairs(got) do kept[tonumber(d)] = true end
        local lost, pairs_lost = 0, 0
        for i = 2, n do
          if not kept[i] then
            lost = lost + 1
            if not kept[i - 1] then pairs_lost = pairs_lost + 1 end
          end
        end
        return (pairs_lost / lost) / (lost / n)
      end, 30)
    end
    local plain, bursty = burstiness(0), burstiness(0.6)
    assert.is_true(plain > 0.85 and plain < 1.15, "without correlation: " .. plain)
    assert.is_true(bursty > 1.5, "with correlation 0.6: " .. bursty)
  end)

  it("duplicate 0.1: copies inside the 99.9% interval", function()
    S.run(function()
      local p <close>, got = proxied(true)
      p:add{ type = "duplicate", stream = "upstream", attributes = { probability = 0.1 } }
      local c <close> = client(p)
      pump(p, c, 20000, seq, got)
      settle(p, got)
      local dups = #got - 20000
      assert.are.equal(dups, p:stats().toxics.duplicate_upstream.duplicated)
      local ok, msg = within(dups, 20000, 0.1)
      assert.is_true(ok, msg)
    end, 60)
  end)

  it("reorder 0.1, gap 2: every datagram arrives, some after the next two", function()
    S.run(function()
      local p <close>, got = proxied(true)
      -- delay 2 s: only the last one held can leave by its delay (in place)
      p:add{ type = "reorder", stream = "upstream", attributes = { probability = 0.1, gap = 2, delay = 2000 } }
      local c <close> = client(p)
      pump(p, c, 20000, seq, got)
      settle(p, got)
      local seen, late = {}, 0
      for pos, d in ipairs(got) do
        local i = tonumber(d)
        seen[i] = true
        if i < pos then late = late + 1 end   -- came after later ones
      end
      for i = 1, 20000 do assert.is_true(seen[i], "datagram " .. i .. " is missing") end
      local reordered = p:stats().toxics.reorder_upstream.reordered
      -- A held datagram lets the next two pass unexamined: about p / (1 + 2p) are held.
      assert.is_true(reordered > 1400 and reordered < 1950, reordered .. " held")
      assert.is_true(late == reordered or late == reordered - 1, late .. " late, " .. reordered .. " held")
    end, 60)
  end)

  it("a reorder toxic updated to toxicity 0, or removed, lets the datagram it holds go (issue 27)", function()
    S.run(function()
      local p <close>, got = proxied(true)
      -- holds every datagram it can for a minute
      p:add{ name = "re", type = "reorder", stream = "upstream", attributes = { probability = 1, gap = 5, delay = 60000 } }
      local c <close> = client(p)
      assert(c:write("first"))
      assert(wait_for(function() return p:stats().toxics.re.reordered == 1 end, 5))
      assert.are.equal(0, #got)
      p:update("re", { toxicity = 0 })
      assert(wait_for(function() return #got == 1 end, 2), "the held datagram was lost")
      assert.are.equal("first", got[1])
      p:update("re", { toxicity = 1 })
      assert(c:write("second"))
      assert(wait_for(function() return p:stats().toxics.re.reordered == 2 end, 5))
      p:remove("re")
      assert(wait_for(function() return #got == 2 end, 2), "the held datagram was lost")
      assert.are.equal("second", got[2])
    end, 20)
  end)

  it("corrupt 0.1: one bit flipped in the datagrams it picks", function()
    local payload = string.rep("\0\255\85", 10)
    S.run(function()
      local p <close>, got = proxied(true)
      p:add{ type = "corrupt", stream = "upstream", attributes = { probability = 0.1 } }
      local c <close> = client(p)
      pump(p, c, 20000, function() return payload end, got)
      settle(p, got)
      local bad = 0
      for _, d in ipairs(got) do
        if d ~= payload then
          bad = bad + 1
          local bits = 0
          for k = 1, #d do
            local x = d:byte(k) ~ payload:byte(k)
            while x > 0 do bits = bits + (x & 1); x = x >> 1 end
          end
          assert.are.equal(1, bits)
        end
      end
      assert.are.equal(bad, p:stats().toxics.corrupt_upstream.corrupted)
      local ok, msg = within(bad, 20000, 0.1)
      assert.is_true(ok, msg)
    end, 60)
  end)

  it("the same seed over the same traffic delivers the same sequence", function()
    local function run(seed)
      return S.run(function()
        local p <close>, got = proxied(true, { seed = seed })
        p:add{ type = "loss", stream = "upstream", attributes = { probability = 0.2, correlation = 0.3 } }
        p:add{ type = "duplicate", stream = "upstream", attributes = { probability = 0.1 } }
        p:add{ type = "reorder", stream = "upstream", attributes = { probability = 0.1, gap = 1, delay = 200 } }
        p:add{ type = "corrupt", stream = "upstream", attributes = { probability = 0.05 } }
        local c <close> = client(p)
        pump(p, c, 3000, seq, got)
        settle(p, got)
        return table.concat(got, ",")
      end, 30)
    end
    local a, b, c = run(42), run(42), run(43)
    assert.are.equal(a, b)
    assert.are_not.equal(a, c)
  end)

  it("adding a toxic leaves another toxic's decisions as they were", function()
    -- The datagrams loss drops, alone and with a duplicate toxic added after
    -- it (one added before would double what loss sees).
    local function lost(with_duplicates)
      return S.run(function()
        local p <close>, got = proxied(true, { seed = 9 })
        p:add{ type = "loss", name = "loss", stream = "upstream", attributes = { probability = 0.3 } }
        if with_duplicates then
          p:add{ type = "duplicate", name = "dup", stream = "upstream", attributes = { probability = 0.5 } }
        end
        local c <close> = client(p)
        pump(p, c, 1000, seq, got)
        settle(p, got)
        local kept = {}
        for _, d in ipairs(got) do kept[d] = true end
        local out = {}
        for i = 1, 1000 do if not kept[seq(i)] then out[#out + 1] = i end end
        return table.concat(out, ",")
      end, 30)
    end
    assert.are.equal(lost(false), lost(true))
  end)

  it("latency 20 ms delays each datagram; a normal jitter spreads it", function()
    S.run(function()
      local p <close> = proxied(false, { seed = 1 })
      p:add{ type = "latency", attributes = { latency = 20 } }
      local c <close> = client(p)
      for _ = 1, 10 do
        local t0 = nh.now()
        assert(c:write("x"))
        assert.are.equal("x", c:read(10, 5))
        local ms = (nh.now() - t0) * 1000
        assert.is_true(ms >= 20 and ms < 30, ms .. " ms")
      end
      p:update("latency_downstream", { attributes = { jitter = 5, distribution = "normal" } })
      local sum, sq, n = 0, 0, 100
      for _ = 1, n do
        local t0 = nh.now()
        assert(c:write("y"))
        assert.are.equal("y", c:read(10, 5))
        local ms = (nh.now() - t0) * 1000
        sum, sq = sum + ms, sq + ms * ms
      end
      local mean = sum / n
      local sd = math.sqrt(sq / n - mean * mean)
      assert.is_true(mean > 18 and mean < 22.5, "mean " .. mean)
      assert.is_true(sd > 3 and sd < 7.5, "deviation " .. sd)
    end, 20)
  end)

  it("truncate cuts datagrams to size", function()
    S.run(function()
      local p <close> = proxied()
      p:add{ type = "truncate", stream = "upstream", attributes = { size = 10 } }
      local c <close> = client(p)
      assert(c:write("0123456789abcdef"))
      assert.are.equal("0123456789", c:read(100, 5))
      assert(c:write("short"))
      assert.are.equal("short", c:read(100, 5))
      assert.are.equal(1, p:stats().toxics.truncate_upstream.truncated)
    end)
  end)

  it("bandwidth paces datagrams and drops beyond its queue", function()
    S.run(function()
      local p <close>, got = proxied(true)
      p:add{ type = "bandwidth", stream = "upstream", attributes = { rate = 100, queue = 10 } }
      local c <close> = client(p)
      local block = string.rep("b", 1000)
      local t0 = nh.now()
      for _ = 1, 50 do assert(c:write(block)) end
      assert(wait_for(function() return p:stats().datagrams_upstream == 50 end))
      local st = p:stats().toxics.bandwidth_upstream
      assert(wait_for(function() return #got == 50 - st.dropped end))
      local secs = nh.now() - t0
      assert.is_true(#got >= 10 and #got <= 14, #got .. " delivered")
      assert.is_true(secs >= #got * 0.01 * 0.9, "took " .. secs .. " s")
    end)
  end)

  it("down drops everything; so does a disabled proxy, until enabled", function()
    S.run(function()
      local p <close> = proxied()
      local c <close> = client(p)
      p:add{ type = "down", stream = "upstream" }
      assert(c:write("gone"))
      local d, err = c:read(10, 0.2)
      assert.is_nil(d)
      assert.is_true(nh.is_timeout(err))
      p:remove("down_upstream")
      assert(c:write("back"))
      assert.are.equal("back", c:read(10, 5))
      assert.is_true(p:set_enabled(false))
      assert.are.equal(0, p:stats().active)
      assert(c:write("gone"))
      d, err = c:read(10, 0.2)
      assert.is_nil(d)
      assert.is_true(nh.is_timeout(err))   -- dropped, not refused
      assert.is_true(p:stats().dropped >= 1)
      assert.is_true(p:set_enabled(true))
      assert(c:write("up"))
      assert.are.equal("up", c:read(10, 5))
    end)
  end)

  it("closes idle flows; at the flow limit the least recently used goes (issue 27)", function()
    S.run(function()
      local p <close> = proxied(false, { idle_timeout = 0.1, max_flows = 3 })
      local cs = {}
      for i = 1, 5 do cs[i] = client(p) end
      local answered = 0
      for i = 1, 5 do
        assert(cs[i]:write("hi"))
        if cs[i]:read(10, 0.3) then answered = answered + 1 end
      end
      assert.are.equal(5, answered)   -- each new client made room: the oldest flow went
      local st = p:stats()
      assert.are.same({ 3, 2, 0, 3 }, { st.active, st.evicted, st.refused, st.max_flows })
      -- client 3 was used last of the three kept (3, 4, 5) ... then 4 and 5:
      -- touching 3 again makes 4 the least recently used
      assert(cs[3]:write("again"))
      assert.are.equal("again", cs[3]:read(10, 2))
      assert(cs[1]:write("back"))        -- a new flow for client 1: 4's goes
      assert.are.equal("back", cs[1]:read(10, 2))
      assert.are.equal(3, p:stats().evicted)
      assert(cs[5]:write("five"))      -- 5 kept its flow: no eviction
      assert.are.equal("five", cs[5]:read(10, 2))
      assert.are.equal(3, p:stats().evicted)
      assert(wait_for(function() return p:stats().active == 0 end, 3))
      assert(cs[5]:write("now"))
      assert.are.equal("now", cs[5]:read(10, 5))
      for _, c in ipairs(cs) do c:close() end
    end)
  end)

  it("never takes the descriptors the rest of the process needs (issue 27)", function()
    -- scripts/fault_proxy.lua with 256 descriptors; 600 clients each send
    -- one datagram through its UDP proxy. Before, the flows took every
    -- descriptor and the control API stopped answering.
    S.run(function()
      local json = require "dkjson"
      local http = require "netharness.http"
      local up = udp_server(false)
      local proc = S.start("ulimit -n 256 && exec " .. S.lua .. " scripts/fault_proxy.lua --port 0", 60)
      local out = assert(S.wait_output(proc, "API on http://[%d.]+:%d+", 10))
      local base = out:match("API on (http://[%d.]+:%d+)")
      local res = assert(http.request{ method = "POST", url = base .. "/proxies", timeout = 5,
        body = json.encode{ name = "u", protocol = "udp", listen = "127.0.0.1:0", upstream = tostring(up:local_addr()) } })
      local listen = json.decode(res.body).listen
      local answered = 0
      for _ = 1, 600 do
        local c = assert(nh.dial("udp", listen))
        assert(c:write("hi"))
        if c:read(10, 1) then answered = answered + 1 end
        c:close()
      end
      res = assert(http.request{ url = base .. "/proxies/u", timeout = 5 })
      assert.are.equal(200, res.status_code)
      local st = json.decode(res.body).stats
      S.stop(proc)
      up:close()
      assert.are.equal(600, answered)
      assert.is_true(st.max_flows < 128, "max_flows " .. st.max_flows)
      assert.is_true(st.active <= st.max_flows)
      -- (a client port the kernel hands out again finds its flow: fewer than 600)
      assert.is_true(st.flows > 500, "flows " .. st.flows)
      assert.are.same({ st.flows - st.active, 0 }, { st.evicted, st.refused })
    end, 60)
  end)

  it("200 flows through toxics, then no descriptor left open", function()
    S.full_gc()
    local before = S.open_fds()
    S.run(function()
      local p <close>, _, _pc = proxied()
      p:add{ type = "latency", attributes = { latency = 5, jitter = 2 } }
      p:add{ type = "duplicate", stream = "upstream", attributes = { probability = 0.2 } }
      local tasks = {}
      for i = 1, 200 do
        tasks[i] = nh.spawn(function()
          local c <close> = client(p)
          assert(c:write("flow " .. i))
          assert.are.equal("flow " .. i, c:read(100, 10))
        end)
      end
      assert(nh.wait_all(tasks, 20))
      assert.are.equal(200, p:stats().flows)
    end, 30)
    S.full_gc()
    assert.are.equal(before, S.open_fds())
  end)

  it("holds at most 4096 datagrams per direction; the rest are dropped and counted", function()
    S.run(function()
      local p <close>, got = proxied(true)
      p:add{ type = "latency", stream = "upstream", attributes = { latency = 300 } }
      local c <close> = client(p)
      pump(p, c, 6000, seq)   -- (no waiting for the sink: nothing arrives before 300 ms)
      local s = p:stats()
      assert.are.equal(6000 - 4096, s.dropped)
      assert(wait_for(function() return #got == 4096 end, 5))
    end)
  end)

  it("checks what it is asked for", function()
    S.run(function()
      local p <close> = proxied()
      assert.matches("invalid toxic type \"slicer\" for a udp proxy", S.error_of(p.add, p, { type = "slicer" }))
      assert.matches("attributes.probability: must be from 0 to 1",
                     S.error_of(p.add, p, { type = "loss", attributes = { probability = 2 } }))
      assert.matches("attributes.distribution: must be one of uniform, normal",
                     S.error_of(p.add, p, { type = "latency", attributes = { distribution = "pareto" } }))
      assert.matches("attributes.gap: must be a whole number",
                     S.error_of(p.add, p, { type = "reorder", attributes = { gap = 1.5 } }))
      assert.matches("protocol: must be", S.error_of(fault.proxy, { upstream = "127.0.0.1:1", protocol = "sctp" }))
    end)
  end)
end)
