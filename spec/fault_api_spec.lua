local nh = require "netharness"
local http = require "netharness.http"
local json = require "dkjson"
local S = require "support"

-- scripts/fault_proxy.lua on a port of its choosing; its API's base URL.
local function start_api(args)
  local proc = S.start(S.lua .. " scripts/fault_proxy.lua --port 0 " .. (args or ""), 60)
  local out = S.wait_output(proc, "API on http://[%d.]+:%d+", 10)
  assert(out, "fault_proxy.lua did not start: " .. S.output(proc))
  return proc, out:match("API on (http://[%d.]+:%d+)")
end

local function echo_server()
  local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
  nh.spawn(function()
    while true do
      local c = ln:accept()
      if not c then return end
      nh.spawn(function()
        while true do
          local d = c:read(65536)
          if not d or not c:write(d) then break end
        end
        c:close()
      end)
    end
  end)
  return ln
end

local function call(base, method, path, body)
  local res, err = http.request{ method = method, url = base .. path, timeout = 5,
                                 body = body and (type(body) == "string" and body or json.encode(body)) }
  assert(res, tostring(err))
  return res.status_code, res.body ~= "" and json.decode(res.body) or nil, res
end

describe("fault_proxy.lua: Toxiproxy's control API", function()
  it("is driven by Toxiproxy's own Node client, and the latency it sets is measured", function()
    if not S.execute("test -d spec/npm/node_modules/toxiproxy-node-client") then
      pending("npm packages not installed (make test installs them into spec/npm)")
      return
    end
    S.run(function()
      local ln = echo_server()
      local proc, base = start_api("--seed 5")
      local client = S.start(("node spec/npm/toxiproxy_client.js %s %s"):format(base, tostring(ln:addr())), 30)
      local code, out = S.wait_exit(client, 30)
      S.stop(proc)
      assert.are.equal(0, code, out)
      local r = json.decode(out:match("{.*}"))
      assert.are.equal('{"version": "2.8.0"}\n', r.version)
      assert.are.equal("ping", r.before.echo)
      assert.is_true(r.before.ms < 50)
      assert.are.same({ name = "slow", type = "latency", stream = "downstream",
                        attributes = { latency = 100, jitter = 0 } }, r.toxic)
      assert.is_true(r.slow.ms >= 100 and r.slow.ms < 150, "with the toxic: " .. r.slow.ms)
      assert.are.same({ "echo" }, r.listed)
      assert.are.same({ "slow" }, r.listed_toxics)
      assert.are.equal("slow", r.got_toxic)
      assert.is_true(r.after.ms < 50, "after removing it: " .. r.after.ms)
      assert.are.equal(0, r.after_reset_toxics)
      assert.is_true(r.after_reset.ms < 50)
      assert.matches("400", r.bad_toxic)
      assert.are.same({}, r.remaining)
    end, 60)
  end)

  it("answers with Toxiproxy's status codes and error bodies", function()
    S.run(function()
      local ln = echo_server()
      local proc, base = start_api()
      local up = tostring(ln:addr())
      local code, body = call(base, "POST", "/proxies", { name = "a", listen = "127.0.0.1:0", upstream = up })
      assert.are.equal(201, code)
      assert.are.same({}, body.toxics)
      assert.is_true(body.enabled)
      code, body = call(base, "POST", "/proxies", { name = "a", upstream = up })
      assert.are.same({ 409, { error = "proxy already exists", status = 409 } }, { code, body })
      local res
      code, body, res = call(base, "POST", "/proxies", { listen = "127.0.0.1:0", upstream = up })
      assert.are.same({ 400, { error = "missing required field: name", status = 400 } }, { code, body })
      assert.are.equal("text/plain; charset=utf-8", res.headers:get("Content-Type"))
      code, body = call(base, "POST", "/proxies", { name = "b" })
      assert.are.same({ 400, "missing required field: upstream" }, { code, body.error })
      code, body = call(base, "POST", "/proxies", "{not json")
      assert.are.equal(400, code)
      assert.matches("^bad request body: ", body.error)
      code, body = call(base, "GET", "/proxies/nope")
      assert.are.same({ 404, "proxy not found" }, { code, body.error })
      code, body = call(base, "POST", "/proxies/a/toxics", { type = "latency", stream = "sideways" })
      assert.are.same({ 400, "stream was invalid, can be either upstream or downstream" }, { code, body.error })
      code, body = call(base, "POST", "/proxies/a/toxics", { type = "latency", toxicity = 7 })
      assert.are.equal(400, code)   -- Toxiproxy accepts 7; we say why not
      assert.matches("toxicity", body.error)
      code, body = call(base, "POST", "/proxies/a/toxics", { type = "latency", attributes = { latency = 20, extra = 1 } })
      assert.are.equal(200, code)   -- unknown attributes are ignored, as Toxiproxy does
      assert.are.same({ name = "latency_downstream", type = "latency", stream = "downstream", toxicity = 1,
                        attributes = { latency = 20, jitter = 0 } }, body)
      code, body = call(base, "PATCH", "/proxies/a/toxics/latency_downstream", { attributes = { jitter = 5 } })
      assert.are.same({ 200, 20, 5 }, { code, body.attributes.latency, body.attributes.jitter })
      code, body = call(base, "GET", "/proxies/a/toxics/zzz")
      assert.are.same({ 404, "toxic not found" }, { code, body.error })
      code = call(base, "DELETE", "/proxies/a/toxics/latency_downstream")
      assert.are.equal(204, code)
      code, body = call(base, "DELETE", "/proxies/a/toxics/latency_downstream")
      assert.are.same({ 404, "toxic not found" }, { code, body.error })
      code, body = call(base, "PATCH", "/proxies/a", { enabled = false })
      assert.are.same({ 200, false }, { code, body.enabled })
      local d, err = nh.dial("tcp", body.listen, 2)
      assert.is_nil(d)
      assert.are.equal("ECONNREFUSED", err.code)
      code = call(base, "POST", "/reset")
      assert.are.equal(204, code)
      code, body = call(base, "GET", "/proxies/a")
      assert.are.same({ 200, true }, { code, body.enabled })
      assert.are.equal(0, body.stats.active)
      code, body = call(base, "POST", "/populate", {
        { name = "a", listen = "127.0.0.1:0", upstream = up },
        { name = "u", listen = "127.0.0.1:0", upstream = "127.0.0.1:9", protocol = "udp" } })
      assert.are.equal(201, code)
      assert.are.equal(2, #body.proxies)
      assert.are.equal("udp", body.proxies[2].protocol)
      code, body = call(base, "POST", "/populate", { { name = "x" } })
      assert.are.same({ 400, "missing required field: upstream" }, { code, body.error })
      assert.is_true(body.proxies == json.null or body.proxies == nil)
      code = call(base, "PUT", "/proxies")
      assert.are.equal(405, code)
      local r = assert(http.request{ url = base .. "/version", headers = { ["User-Agent"] = "Mozilla/5.0" }, timeout = 5 })
      assert.are.same({ 403, "User agent not allowed" }, { r.status_code, r.body })
      code = call(base, "DELETE", "/proxies/a")
      assert.are.equal(204, code)
      body = select(2, call(base, "GET", "/proxies"))
      assert.are.same({ "u" }, (function() local k = {} for n in pairs(body) do k[#k + 1] = n end return k end)())
      S.stop(proc)
    end, 30)
  end)

  it("loads proxies from --config at start", function()
    S.run(function()
      local ln = echo_server()
      local cfg = os.tmpname()
      local f = assert(io.open(cfg, "w"))
      f:write(json.encode({ { name = "db", listen = "127.0.0.1:0", upstream = tostring(ln:addr()) } }))
      f:close()
      local proc, base = start_api("--config " .. cfg)
      local code, body = call(base, "GET", "/proxies/db")
      S.stop(proc)
      os.remove(cfg)
      assert.are.equal(200, code)
      assert.are.equal(tostring(ln:addr()), body.upstream)
    end, 20)
  end)
end)

-- The API in this process (no child), for the checks that need many calls.
local function api_here()
  local api = require "netharness.fault.api"
  local server = api.new{ seed = 1 }
  local ln = S.http_server(server.handler)
  return "http://" .. tostring(ln:addr()), function() ln:close() server.close() end
end

-- A JSON value's shape as Go's encoding/json needs it: dkjson marks what it
-- decoded as "object" or "array", and a map field given [] fails there.
local function shape(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt and mt.__jsontype
end

describe("fault API under attack (issue 27)", function()
  it("sends {} where Toxiproxy's Go client decodes a map", function()
    S.run(function()
      local base, stop = api_here()
      local _, _, res = call(base, "GET", "/proxies")
      assert.are.equal("{}", res.body)
      local ln = echo_server()
      call(base, "POST", "/proxies", { name = "a", listen = "127.0.0.1:0", upstream = tostring(ln:addr()) })
      local code, body = call(base, "POST", "/proxies/a/toxics", { type = "noop" })
      assert.are.equal(200, code)
      assert.are.equal("object", shape(body.attributes))
      assert.matches('"attributes":{}', (select(3, call(base, "GET", "/proxies/a/toxics"))).body, 1, true)
      body = select(2, call(base, "GET", "/proxies"))
      assert.are.equal("object", shape(body))
      assert.are.equal("object", shape(body.a.toxics[1].attributes))
      assert.are.equal("array", shape(body.a.toxics))
      body = select(2, call(base, "GET", "/proxies/a"))
      assert.are.equal("object", shape(body.stats.toxics.noop_downstream and body.stats.toxics))
      stop()
      ln:close()
    end, 20)
  end)

  it("answers 400, never 500 or a traceback, and a 400 changes nothing", function()
    S.run(function()
      local base, stop = api_here()
      local ln = echo_server()
      local up = tostring(ln:addr())
      local deep = string.rep("[", 100000) .. string.rep("]", 100000)
      local code, body = call(base, "POST", "/proxies", deep)
      assert.are.same({ 400, "bad request body: nested too deeply" }, { code, body.error })
      call(base, "POST", "/proxies", { name = "a", listen = "127.0.0.1:0", upstream = up })
      code, body = call(base, "PATCH", "/proxies/a", { upstream = 5 })
      assert.are.same({ 400, "bad request body: upstream must be a non-empty string" }, { code, body.error })
      -- A bad field beside a good upstream: nothing is applied.
      code = call(base, "PATCH", "/proxies/a", { upstream = "127.0.0.1:9", enabled = "yes" })
      assert.are.equal(400, code)
      code, body = call(base, "PATCH", "/proxies/a", { upstream = "[::1" })
      assert.are.equal(400, code)
      assert.matches("upstream", body.error)
      body = select(2, call(base, "GET", "/proxies/a"))
      assert.are.equal(up, body.upstream)
      code, body = call(base, "POST", "/populate", { name = "x", upstream = up })
      assert.are.same({ 400, "bad request body: expected an array" }, { code, body.error })
      code = call(base, "POST", "/populate", "{}")
      assert.are.equal(400, code)
      code = call(base, "POST", "/populate", "[]")
      assert.are.equal(201, code)
      stop()
      ln:close()
    end, 20)
  end)

  it("--config with a hostile body says why and exits, without a traceback", function()
    local cfg = os.tmpname()
    local f = assert(io.open(cfg, "w"))
    f:write(string.rep("[", 100000))
    f:close()
    local pipe = S.popen(S.lua .. " scripts/fault_proxy.lua --port 0 --config " .. cfg .. " 2>&1; echo exit=$?")
    local out = pipe:read("a")
    pipe:close()
    os.remove(cfg)
    assert.matches("bad config: nested too deeply", out, 1, true)
    assert.not_matches("traceback", out)
    assert.matches("exit=1", out, 1, true)
  end)

  it("caps toxics per proxy with a 400; adding many stays quick per add", function()
    S.run(function()
      local fault = require "netharness.fault"
      local ln = echo_server()
      local p <close> = assert(fault.proxy{ upstream = tostring(ln:addr()) })
      -- 20 live connections: each add re-syncs every link.
      local conns = {}
      for i = 1, 20 do conns[i] = assert(nh.dial("tcp", tostring(p:listen_addr()), 5)) end
      for i = 1, fault.MAX_TOXICS do
        assert(p:add{ name = "t" .. i, type = "latency", attributes = { latency = 0 } })
      end
      local t, err = p:add{ name = "one_more", type = "noop" }
      assert.is_nil(t)
      assert.matches("too many toxics", err)
      -- Still forwarding after it all.
      assert(conns[1]:write("hi"))
      assert.are.equal("hi", conns[1]:read_full(2, 5))
      for i = 1, 500 do p:remove("t" .. (i * 2)) end
      assert.are.equal(500, #p:toxics())
      assert(conns[2]:write("yo"))
      assert.are.equal("yo", conns[2]:read_full(2, 5))
      for _, c in ipairs(conns) do c:close() end
      ln:close()
      local base, stop = api_here()
      call(base, "POST", "/proxies", { name = "a", listen = "127.0.0.1:0", upstream = "127.0.0.1:9" })
      for i = 1, fault.MAX_TOXICS do
        local code = call(base, "POST", "/proxies/a/toxics", { name = "n" .. i, type = "noop" })
        if code ~= 200 then error("add " .. i .. ": " .. code) end
      end
      local code, body = call(base, "POST", "/proxies/a/toxics", { name = "over", type = "noop" })
      assert.are.equal(400, code)
      assert.matches("too many toxics", body.error)
      stop()
    end, 60)
  end)
end)
