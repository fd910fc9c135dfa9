-- netharness.fault: proxies that break the network on purpose.
--
--   local fault = require "netharness.fault"
--   local p <close> = fault.proxy{ listen = "127.0.0.1:0", upstream = "127.0.0.1:5432" }
--   p:add{ type = "latency", attributes = { latency = 50, jitter = 5 } }
--
-- TCP proxies take Toxiproxy's toxics (names, attributes, units); UDP proxies
-- take netem-like per-datagram toxics. The data path is C (core/fault*.c);
-- this module checks what scripts ask for and keeps the toxics' descriptions.
-- Every random decision is seeded from the proxy's seed, the toxic's name and
-- the connection's or flow's index, so a rerun decides the same way.

local net = require "netharness"

local M = {}

-- Toxics: for each protocol, attribute names in the core's order, with
-- defaults and ranges. Units: ms unless said; rate in KB/s (1000 bytes).
local function num(name, def, lo, hi, int) return { name = name, def = def, lo = lo, hi = hi, int = int } end
local MS_MAX = 24 * 3600 * 1000

local TCP = {
  noop = {},
  latency = { num("latency", 0, 0, MS_MAX), num("jitter", 0, 0, MS_MAX) },
  bandwidth = { num("rate", 0, 0, 1e9) },
  slow_close = { num("delay", 0, 0, MS_MAX) },
  timeout = { num("timeout", 0, 0, MS_MAX) },
  reset_peer = { num("timeout", 0, 0, MS_MAX) },
  slicer = { num("average_size", 0, 0, 1 << 30, true), num("size_variation", 0, 0, 1 << 30, true),
             num("delay", 0, 0, 1e12) },
  limit_data = { num("bytes", 0, 0, 2^53, true) },
}

local DISTRIBUTIONS = { uniform = 0, normal = 1 }
local UDP = {
  noop = {},
  latency = { num("latency", 0, 0, MS_MAX), num("jitter", 0, 0, MS_MAX),
              { name = "distribution", def = "uniform", enum = DISTRIBUTIONS } },
  loss = { num("probability", 0, 0, 1), num("correlation", 0, 0, 1) },
  duplicate = { num("probability", 0, 0, 1) },
  reorder = { num("probability", 0, 0, 1), num("gap", 1, 1, 1e6, true), num("delay", 10, 0, MS_MAX) },
  corrupt = { num("probability", 0, 0, 1) },
  truncate = { num("size", 0, 0, 65535, true) },
  bandwidth = { num("rate", 0, 0, 1e9), num("queue", 1000, 0, 4096, true) },
  down = {},
}

M.toxic_types = { tcp = TCP, udp = UDP }

-- Toxics a proxy may hold: each added or removed one re-syncs every link
-- (O(toxics) a link), and nobody needs more; past it, add says so.
M.MAX_TOXICS = 1000

local registry = setmetatable({}, { __mode = "v" })   -- name -> proxy, for reset()
local unnamed = 0

local Proxy = {}
Proxy.__index = Proxy

local function argerror(what, msg)
  error("netharness.fault: " .. what .. ": " .. msg, 3)
end

-- Attributes table -> the core's four numbers, and the full attributes shown.
-- lenient: unknown keys are ignored (Toxiproxy's clients send some).
local function check_attributes(spec, attrs, old, lenient)
  if attrs ~= nil and type(attrs) ~= "table" then
    argerror("attributes", "must be a table (got " .. type(attrs) .. ")")
  end
  attrs = attrs or {}
  local known = {}
  for _, a in ipairs(spec) do known[a.name] = true end
  for k in pairs(attrs) do
    if not known[k] and not lenient then
      local names = {}
      for _, a in ipairs(spec) do names[#names + 1] = a.name end
      argerror("attributes", ("unknown attribute %q (this toxic takes: %s)"):format(
        tostring(k), #names > 0 and table.concat(names, ", ") or "none"))
    end
  end
  local shown, core = {}, {}
  for i, a in ipairs(spec) do
    local v = attrs[a.name]
    if v == nil and old then v = old[a.name] end
    if v == nil then v = a.def end
    if a.enum then
      if a.enum[v] == nil then
        argerror("attributes." .. a.name, ("must be one of uniform, normal (got %s)"):format(tostring(v)))
      end
      core[i] = a.enum[v]
    else
      if type(v) ~= "number" or v ~= v then
        argerror("attributes." .. a.name, "must be a number (got " .. type(v) .. ")")
      end
      if v < a.lo or v > a.hi then
        argerror("attributes." .. a.name, ("must be from %s to %s (got %s)"):format(a.lo, a.hi, v))
      end
      if a.int and math.type(v) ~= "integer" and v ~= math.floor(v) then
        argerror("attributes." .. a.name, "must be a whole number (got " .. v .. ")")
      end
      core[i] = v
    end
    shown[a.name] = v
  end
  if spec == TCP.slicer and shown.average_size > 0 and shown.size_variation >= shown.average_size then
    argerror("attributes.size_variation", "must be less than average_size")
  end
  return shown, core
end

local function check_toxicity(v)
  if v == nil then return 1 end
  if type(v) ~= "number" or v ~= v or v < 0 or v > 1 then
    argerror("toxicity", "must be a number from 0 to 1 (got " .. tostring(v) .. ")")
  end
  return v
end

local function copy_toxic(t)
  local attrs = {}
  for k, v in pairs(t.attributes) do attrs[k] = v end
  return { name = t.name, type = t.type, stream = t.stream, toxicity = t.toxicity, attributes = attrs }
end

-- fault.proxy{ listen, upstream, protocol = "tcp" | "udp", name, seed, enabled,
--              idle_timeout, max_flows } -> proxy | nil, err
function M.proxy(opts)
  if type(opts) ~= "table" then argerror("proxy", "takes a table of options") end
  local protocol = opts.protocol or "tcp"
  if protocol ~= "tcp" and protocol ~= "udp" then
    argerror("protocol", "must be \"tcp\" or \"udp\" (got " .. tostring(protocol) .. ")")
  end
  if type(opts.upstream) ~= "string" and type(opts.upstream) ~= "userdata" then
    argerror("upstream", "the address to forward to is required (\"host:port\")")
  end
  local listen = opts.listen or "127.0.0.1:0"
  local seed = opts.seed
  if seed == nil then seed = math.random(0, 2^31) end
  if math.type(seed) ~= "integer" then argerror("seed", "must be an integer") end
  unnamed = unnamed + 1
  local name = opts.name or ("proxy_" .. unnamed)
  if type(name) ~= "string" then argerror("name", "must be a string") end
  local up, err = net.resolve(protocol, opts.upstream)
  if not up then return nil, err end
  local la
  la, err = net.resolve(protocol, listen)
  if not la then return nil, err end
  local core
  core, err = net._fault_proxy(protocol, la, up, seed)
  if not core then return nil, err end
  local p = setmetatable({ core = core, name = name, protocol = protocol, seed = seed,
                           list = {}, enabled_ = true, upstream = up }, Proxy)
  if protocol == "udp" then
    p.idle_timeout = opts.idle_timeout or 60
    p.max_flows = opts.max_flows or 4096
    core:set_flow_limits(p.idle_timeout, p.max_flows)
  end
  if opts.enabled == false then p:set_enabled(false) end
  registry[name] = p
  return p
end

function Proxy:listen_addr() return self.core:listen_addr() end
function Proxy:upstream_addr() return self.upstream end
function Proxy:enabled() return self.enabled_ end

local function find(self, name)
  for i, t in ipairs(self.list) do
    if t.name == name then return t, i end
  end
end

-- add{ type, name, stream = "upstream" | "downstream", toxicity, attributes }
-- -> the toxic (a copy) | nil, err when the name is taken.
function Proxy:add(spec, lenient)
  if type(spec) ~= "table" then argerror("add", "takes a table { type = ..., attributes = {...} }") end
  local types = M.toxic_types[self.protocol]
  local ty = spec.type
  if types[ty] == nil then
    local names = {}
    for k in pairs(types) do names[#names + 1] = k end
    table.sort(names)
    argerror("type", ("invalid toxic type %q for a %s proxy (one of: %s)"):format(
      tostring(ty), self.protocol, table.concat(names, ", ")))
  end
  local stream = spec.stream or "downstream"
  if stream ~= "upstream" and stream ~= "downstream" then
    argerror("stream", "stream was invalid, can be either upstream or downstream")
  end
  local name = spec.name or (ty .. "_" .. stream)
  if type(name) ~= "string" or name == "" then argerror("name", "must be a non-empty string") end
  local toxicity = check_toxicity(spec.toxicity)
  local shown, core = check_attributes(types[ty], spec.attributes, nil, lenient)
  if #self.list >= M.MAX_TOXICS then
    return nil, ("too many toxics (a proxy holds at most %d)"):format(M.MAX_TOXICS)
  end
  local ok, err = self.core:add(name, ty, stream, toxicity, core[1], core[2], core[3], core[4])
  if not ok then return nil, err end
  local t = { name = name, type = ty, stream = stream, toxicity = toxicity, attributes = shown }
  self.list[#self.list + 1] = t
  return copy_toxic(t)
end

-- update(name, { toxicity = ?, attributes = {...} }) merges into the toxic.
function Proxy:update(name, changes, lenient)
  local t = find(self, name)
  if not t then return nil, "toxic not found" end
  if type(changes) ~= "table" then argerror("update", "takes the toxic's name and a table of changes") end
  local toxicity = changes.toxicity == nil and t.toxicity or check_toxicity(changes.toxicity)
  local shown, core = check_attributes(M.toxic_types[self.protocol][t.type], changes.attributes,
                                       t.attributes, lenient)
  assert(self.core:update(name, toxicity, core[1], core[2], core[3], core[4]))
  t.toxicity, t.attributes = toxicity, shown
  return copy_toxic(t)
end

function Proxy:remove(name)
  local t, i = find(self, name)
  if not t then return nil, "toxic not found" end
  table.remove(self.list, i)
  assert(self.core:remove(name))
  return true
end

function Proxy:toxic(name)
  local t = find(self, name)
  return t and copy_toxic(t)
end

function Proxy:toxics()
  local out = {}
  for i, t in ipairs(self.list) do out[i] = copy_toxic(t) end
  return out
end

function Proxy:remove_all()
  for i = #self.list, 1, -1 do self:remove(self.list[i].name) end
end

-- Down (false): a TCP proxy stops listening and closes its connections; a
-- UDP proxy drops every datagram. Up (true) listens again on the same port.
function Proxy:set_enabled(on)
  if type(on) ~= "boolean" then argerror("set_enabled", "takes true or false") end
  local ok, err = self.core:set_enabled(on)
  if not ok then return nil, err end
  self.enabled_ = on
  return true
end

function Proxy:set_upstream(addr)
  local up, err = net.resolve(self.protocol, addr)
  if not up then return nil, err end
  self.core:set_upstream(up)
  self.upstream = up
  return true
end

-- Counters: connections (or flows), bytes each way, and per toxic what it did.
function Proxy:stats()
  local s = self.core:stats()
  s.toxics = {}
  for _, t in ipairs(self.list) do s.toxics[t.name] = self.core:toxic_stats(t.name) end
  return s
end

function Proxy:close()
  if registry[self.name] == self then registry[self.name] = nil end
  self.core:close()
end
Proxy.__close = Proxy.close

-- Every proxy made here and not closed, by name.
function M.proxies()
  local out = {}
  for name, p in pairs(registry) do out[name] = p end
  return out
end

-- HTTP-level faults (netharness.fault.http): a reverse proxy, or a wrapper
-- around an http.serve handler.
function M.http_proxy(opts) return require("netharness.fault.http").proxy(opts) end
function M.http_wrap(handler, rules, opts) return require("netharness.fault.http").wrap(handler, rules, opts) end

-- Toxiproxy's reset: every proxy up again and without toxics.
function M.reset()
  for _, p in pairs(registry) do
    p:remove_all()
    p:set_enabled(true)
  end
end

return M
