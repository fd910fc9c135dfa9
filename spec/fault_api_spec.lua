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
