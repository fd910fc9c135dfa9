-- An HTTP API under test: a real server (Python's http.server serving a
-- folder of JSON documents) started by T.process, tested with netharness's
-- HTTP client. The server binds port 0 and prints the port it got; `ready`
-- waits for that line and keeps the number, so no port is guessed.
local net = require "netharness"
local http = require "netharness.http"
local T = require "netharness.test"
local json = require "dkjson"

-- A folder of documents for the server: path -> content.
local function documents(files)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. "/api/users"))
  for path, content in pairs(files) do
    local f = assert(io.open(dir .. "/" .. path, "w"))
    f:write(content)
    f:close()
  end
  return dir
end

describe("an HTTP API served by python3 -m http.server", function()
  local dir, server, base
  setup(function()
    dir = documents{
      ["api/status.json"] = json.encode({ ok = true, version = "1.2.3" }),
      ["api/users/1.json"] = json.encode({ id = 1, name = "Ada" }),
    }
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  before_each(function()
    -- -u: Python buffers stdout in a pipe; the port line must come out now
    server = T.process{
      cmd = { "python3", "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "0" },
      ready = "port (%d+)",
    }
    base = "http://127.0.0.1:" .. server.ready[1]
  end)

  it("serves a JSON document with its type", T.async(function()
    local res, err = http.get(base .. "/api/status.json", { timeout = 5 })
    assert.http_status(200, res, err)
    assert.are.equal("application/json", res.headers:get("Content-Type"))
    assert.are.same({ ok = true, version = "1.2.3" }, json.decode(res.body))
  end, 10))

  it("answers 404 for what is not there", T.async(function()
    local res, err = http.get(base .. "/api/users/2.json", { timeout = 5 })
    assert.http_status(404, res, err)
  end, 10))

  it("answers HEAD with the length and no body", T.async(function()
    local res, err = http.request{ method = "HEAD", url = base .. "/api/users/1.json", timeout = 5 }
    assert.http_status(200, res, err)
    assert.are.equal(tostring(#json.encode({ id = 1, name = "Ada" })), res.headers:get("Content-Length"))
    assert.are.equal("", res.body or "")
  end, 10))

  it("refuses a method it does not implement with 501", T.async(function()
    local res, err = http.request{ method = "DELETE", url = base .. "/api/users/1.json", timeout = 5 }
    assert.http_status(501, res, err)
  end, 10))

  it("serves 30 clients at once, and logs every request", T.async(function()
    local tasks = {}
    for i = 1, 30 do
      tasks[i] = net.spawn(function()
        local res, err = http.get(base .. "/api/status.json", { timeout = 5 })
        assert.http_status(200, res, err)
      end)
    end
    assert(net.wait_all(tasks, 10))
    -- the access log goes to stderr, which T.process reads too
    assert.eventually(function()
      local _, n = server:output():gsub('"GET /api/status.json HTTP/1.1" 200', "")
      return n == 30
    end, 5)
  end, 20))
end)
