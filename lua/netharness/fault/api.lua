-- netharness.fault.api: Toxiproxy's HTTP control API over netharness.fault,
-- so Toxiproxy's clients (Go, Ruby, Python, Node, Java) drive our proxies.
--
--   local api = require "netharness.fault.api"
--   local server = api.new{ seed = 42 }
--   net.spawn(http.serve, listener, server.handler)
--
-- Endpoints, bodies, status codes and error texts are those of Toxiproxy
-- 2.8.0 (../shared/reference/toxiproxy-api.md). Extensions are extra fields
-- old clients ignore: "protocol" ("udp" makes a UDP proxy), "seed", and
-- "stats" on GET /proxies/{name}. Where Toxiproxy accepts nonsense (a
-- toxicity of 7, negative times) we answer 400 with the reason.
local json = require "dkjson"
local net = require "netharness"
local fault = require "netharness.fault"

local M = {}
M.VERSION = "2.8.0"   -- the Toxiproxy API we speak

-- dkjson writes an empty table as [] unless told: Toxiproxy's Go client
-- decodes maps (the proxies by name, a toxic's attributes) and fails on [].
local ARRAY, OBJECT = { __jsontype = "array" }, { __jsontype = "object" }
local function array(t) return setmetatable(t or {}, ARRAY) end
local function object(t) return setmetatable(t or {}, OBJECT) end

local function toxic_json(t)
  return { attributes = object(t.attributes), name = t.name, type = t.type, stream = t.stream,
           toxicity = t.toxicity }
end

-- A JSON body, or nil and why not. A body nested past what the decoder's
-- recursion can take is a bad request, not a traceback.
local function decode_json(text)
  local okc, v, _, err = pcall(json.decode, text, 1, nil)
  if not okc then return nil, "nested too deeply" end
  if err then return nil, err end
  return v
end

local function is_array(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  if mt and mt.__jsontype then return mt.__jsontype == "array" end
  return next(v) == nil or v[1] ~= nil
end

local KEYS = { "name", "listen", "upstream", "enabled", "protocol", "seed", "toxics", "stats",
               "attributes", "type", "stream", "toxicity", "error", "status", "proxies", "version" }

local function encode(v)
  return json.encode(v, { keyorder = KEYS })
end

-- An error as Toxiproxy sends it: JSON in a text/plain body, with a newline.
local function fail(status, message, extra)
  local body = { error = message, status = status }
  for k, v in pairs(extra or {}) do body[k] = v end
  return status, encode(body) .. "\n", { ["Content-Type"] = "text/plain; charset=utf-8" }
end

local function ok(status, value)
  if value == nil then return status, "" end
  return status, encode(value), { ["Content-Type"] = "application/json" }
end

-- What netharness.fault raised for a bad request, as Toxiproxy words it.
local function bad_request(err)
  local msg = tostring(err):gsub("^.-netharness%.fault: ", "")
  if msg:find("invalid toxic type", 1, true) then return fail(400, "invalid toxic type") end
  if msg:find("stream was invalid", 1, true) then
    return fail(400, "stream was invalid, can be either upstream or downstream")
  end
  return fail(400, "bad request body: " .. msg)
end

function M.new(opts)
  opts = opts or {}
  local self = { proxies = {}, order = {}, seed = opts.seed }

  local function proxy_json(e, with_stats)
    local toxics = array()
    for i, t in ipairs(e.proxy:toxics()) do toxics[i] = toxic_json(t) end
    local listen = e.proxy:enabled() and tostring(e.proxy:listen_addr()) or e.listen
    local stats = with_stats and e.proxy:stats() or nil
    if stats then object(stats.toxics) end
    return { name = e.name, listen = listen, upstream = e.upstream, enabled = e.proxy:enabled(),
             protocol = e.protocol, seed = e.proxy.seed, toxics = toxics,
             stats = stats }
  end

  local function remove(name)
    local e = self.proxies[name]
    if not e then return end
    e.proxy:close()
    self.proxies[name] = nil
    for i, n in ipairs(self.order) do
      if n == name then table.remove(self.order, i) break end
    end
  end

  -- Make a proxy from a request body: the entry, or status, body, headers.
  local function create(body)
    if type(body) ~= "table" then return nil, fail(400, "bad request body: expected an object") end
    if type(body.name) ~= "string" or body.name == "" then return nil, fail(400, "missing required field: name") end
    if type(body.upstream) ~= "string" or body.upstream == "" then
      return nil, fail(400, "missing required field: upstream")
    end
    local listen = body.listen
    if listen == nil or listen == "" then listen = ":0" end
    if type(listen) ~= "string" then return nil, fail(400, "bad request body: listen must be a string") end
    local protocol = body.protocol or "tcp"
    local seed = body.seed or self.seed
    local okc, p, err = pcall(fault.proxy, { name = body.name, listen = listen, upstream = body.upstream,
                                             protocol = protocol, seed = seed,
                                             enabled = body.enabled ~= false })
    if not okc then return nil, bad_request(p) end
    if not p then return nil, fail(500, tostring(err)) end
    return { name = body.name, proxy = p, upstream = body.upstream, listen = listen, protocol = protocol }
  end

  local function add_entry(e)
    self.proxies[e.name] = e
    self.order[#self.order + 1] = e.name
  end

  local function decode(req)
    local body = req.body or ""
    if body == "" then return nil end
    local v, err = decode_json(body)
    if err then return nil, "bad request body: " .. err end
    return v
  end

  local routes = {}

  routes["GET /version"] = function()
    return 200, '{"version": "' .. M.VERSION .. '"}\n',
      { ["Content-Type"] = "application/json;charset=utf-8" }
  end

  routes["GET /proxies"] = function()
    local out = object()
    for _, name in ipairs(self.order) do out[name] = proxy_json(self.proxies[name]) end
    return ok(200, out)
  end

  routes["POST /proxies"] = function(_, body)
    if type(body) == "table" and self.proxies[body.name] then return fail(409, "proxy already exists") end
    local e, status, text, headers = create(body)
    if not e then return status, text, headers end
    add_entry(e)
    return ok(201, proxy_json(e))
  end

  routes["POST /populate"] = function(_, body)
    if not is_array(body) then return fail(400, "bad request body: expected an array", { proxies = json.null }) end
    local out = array()
    for _, b in ipairs(body) do
      local old = type(b) == "table" and self.proxies[b.name]
      if old and (b.listen or ":0") == old.listen and b.upstream == old.upstream then
        out[#out + 1] = proxy_json(old)
      else
        if old then remove(b.name) end
        local e, status, text = create(b)
        if not e then
          local msg = json.decode(text).error
          return fail(status, msg, { proxies = json.null })
        end
        add_entry(e)
        out[#out + 1] = proxy_json(e)
      end
    end
    return ok(201, { proxies = out })
  end

  routes["POST /reset"] = function()
    for _, name in ipairs(self.order) do
      local p = self.proxies[name].proxy
      p:remove_all()
      p:set_enabled(true)
    end
    return 204, ""
  end

  -- /proxies/{name}...
  local function proxy_routes(method, name, rest, body)
    local e = self.proxies[name]
    if not e then return fail(404, "proxy not found") end
    local p = e.proxy
    if rest == "" then
      if method == "GET" then return ok(200, proxy_json(e, true)) end
      if method == "DELETE" then remove(name) return 204, "" end
      if method == "PATCH" or method == "POST" then
        if type(body) ~= "table" then return fail(400, "bad request body: expected an object") end
        -- Check everything before changing anything: a 400 changes nothing.
        for _, k in ipairs{ "upstream", "listen" } do
          if body[k] ~= nil and (type(body[k]) ~= "string" or body[k] == "") then
            return fail(400, "bad request body: " .. k .. " must be a non-empty string")
          end
        end
        if body.enabled ~= nil and type(body.enabled) ~= "boolean" then
          return fail(400, "bad request body: enabled must be a boolean")
        end
        local upstream = body.upstream or e.upstream
        if upstream ~= e.upstream then
          -- A malformed address raises (misuse); one that does not resolve returns why.
          local okc, resolved, rerr = pcall(net.resolve, e.protocol, upstream)
          if not (okc and resolved) then
            rerr = tostring(okc and rerr or resolved):gsub("^bad argument #2 to '[^']*' %((.*)%)$", "%1")
            return fail(400, "bad request body: upstream: " .. rerr)
          end
        end
        if body.listen and body.listen ~= e.listen then
          -- A new listener: a new proxy with the same toxics (connections
          -- drop); if it cannot listen, the old one stays as it was.
          local toxics = p:toxics()
          local n, status, text, headers = create{ name = name, listen = body.listen, upstream = upstream,
                                                   protocol = e.protocol, seed = p.seed,
                                                   enabled = p:enabled() }
          if not n then return status, text, headers end
          for _, t in ipairs(toxics) do n.proxy:add(t) end
          p:close()
          e.proxy, e.listen, p = n.proxy, body.listen, n.proxy
        elseif upstream ~= e.upstream then
          assert(p:set_upstream(upstream))
        end
        e.upstream = upstream
        if body.enabled ~= nil then
          local done, err = p:set_enabled(body.enabled)
          if not done then return fail(500, tostring(err)) end
        end
        return ok(200, proxy_json(e))
      end
      return 405, ""
    end
    if rest == "/toxics" then
      if method == "GET" then
        local out = array()
        for i, t in ipairs(p:toxics()) do out[i] = toxic_json(t) end
        return ok(200, out)
      end
      if method == "POST" then
        if type(body) ~= "table" then return fail(400, "bad request body: expected an object") end
        local okc, t, err = pcall(p.add, p, body, true)
        if not okc then return bad_request(t) end
        if not t then return fail(err == "toxic already exists" and 409 or 400, err) end
        return ok(200, toxic_json(t))
      end
      return 405, ""
    end
    local tname = rest:match("^/toxics/([^/]+)$")
    if not tname then return fail(404, "not found") end
    if method == "GET" then
      local t = p:toxic(tname)
      if not t then return fail(404, "toxic not found") end
      return ok(200, toxic_json(t))
    end
    if method == "DELETE" then
      if not p:remove(tname) then return fail(404, "toxic not found") end
      return 204, ""
    end
    if method == "PATCH" or method == "POST" then
      if not p:toxic(tname) then return fail(404, "toxic not found") end
      if type(body) ~= "table" then return fail(400, "bad request body: expected an object") end
      local okc, t = pcall(p.update, p, tname, body, true)
      if not okc then return bad_request(t) end
      return ok(200, toxic_json(t))
    end
    return 405, ""
  end

  local function route(req)
    local ua = req.headers:get("User-Agent")
    if ua and ua:find("^Mozilla/") then
      return 403, "User agent not allowed", { ["Content-Type"] = "text/plain; charset=utf-8" }
    end
    local method, path = req.method, req.url.path
    local body, err = decode(req)
    if err then return fail(400, err) end
    local fixed = routes[method .. " " .. path]
    if fixed then return fixed(req, body) end
    if routes["GET " .. path] or routes["POST " .. path] then return 405, "" end
    local name, rest = path:match("^/proxies/([^/]+)(.*)$")
    if name then return proxy_routes(method, name, rest, body) end
    return fail(404, "not found")
  end

  -- The http.serve handler.
  function self.handler(req, res)
    local status, text, headers = route(req)
    res.status_code = status
    res.body = text
    for k, v in pairs(headers or {}) do res.headers:set(k, v) end
  end

  -- Proxies from a JSON array (Toxiproxy's -config file): true | nil, message.
  function self.populate(text)
    local list, err = decode_json(text)
    if err or not is_array(list) then return nil, "bad config: " .. tostring(err or "expected an array") end
    local status, out = routes["POST /populate"](nil, list)
    if status ~= 201 then return nil, json.decode(out).error end
    return true
  end

  function self.close()
    for _, name in ipairs(self.order) do self.proxies[name].proxy:close() end
    self.proxies, self.order = {}, {}
  end

  return self
end

return M
