-- netharness.test, the kit for users' specs: its failures are busted
-- failures with the right message, its processes stop with the spec, its
-- leak checks name what leaked, its assertions pass and fail as they say.
local net = require "netharness"
local T = require "netharness.test"
local json = require "dkjson"
local S = require "support"

-- Run spec/fixtures/kit_outcomes.lua in a busted of its own; name -> {status, message}.
local function outcomes()
  local pid_file = os.tmpname()
  local p = S.popen("KIT_PID_FILE=" .. pid_file .. " NH_BUILD=build busted --lua=lua5.4 -o json "
    .. "-p kit_outcomes spec/fixtures/kit_outcomes.lua 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(pid_file)
  local doc = json.decode(out:match("({.*})%s*$") or "")
  assert(doc, "busted's json output: " .. out)
  local by_name = {}
  for status, list in pairs({ success = doc.successes, failure = doc.failures, error = doc.errors,
                              pending = doc.pendings }) do
    for _, t in ipairs(list) do
      local msg = t.message
      if type(msg) == "table" then msg = msg.message end
      by_name[t.element.name] = { status = status, message = tostring(msg or "") }
    end
  end
  return by_name
end

describe("netharness.test", function()
  describe("as busted sees it", function()
    local got
    setup(function() got = outcomes() end)

    local function check(name, status, pattern)
      local o = got[name]
      assert(o, "no outcome for " .. name)
      assert.are.equal(status, o.status, name .. ": " .. o.message)
      if pattern then assert.matches(pattern, o.message, 1, false) end
    end

    it("a failed assertion in the body is a failure with the assertion's message", function()
      check("assertion in the body", "failure", "^spec/fixtures/kit_outcomes.lua:13: Expected objects to be equal")
    end)
    it("an error in a task the body started fails the spec, naming it", function()
      check("error in a task the body started", "failure",
        "^spec/fixtures/kit_outcomes.lua:16: a task the spec started failed: spec/fixtures/kit_outcomes.lua:17: boom in a task")
    end)
    it("the time limit fails the spec and cancels the body", function()
      check("time limit", "failure",
        "did not finish within 0.2s %(the time limit%); it was waiting here:\nstack traceback:\n.*"
        .. "spec/fixtures/kit_outcomes.lua:22")
    end)
    it("leak checks name the fd and the listening socket", function()
      check("leaked listener", "failure", "leaked: fd %d+ open: socket:%[%d+%]; socket still open: tcp listener port %d+")
      check("no leak", "success")
    end)
    it("a failing spec shows what its processes printed; they are stopped after it", function()
      check("process output shown", "failure", "failing on purpose.*%-%-%- output of sh %-c "
        .. "echo the server says hello; sleep 30 %(pid %d+, running%) %-%-%-\nthe server says hello\n")
      check("process stopped when the spec ended", "success")
      check("not ready", "failure",
        "T.process: wait_output: sh exited %(exit status 4%) without printing \"listening\"; it printed:\nstarting up")
    end)
    it("processes of setup live through the file; of before_each, through their test", function()
      check("setup's process serves the tests", "success")
      check("before_each's process is stopped when its test ends; setup's lives on", "success")
    end)
    it("the assertions say what they expected and what they got", function()
      check("eventually", "failure", "condition not met within 0.1s %(%d+ tries%); last, it returned false")
      check("net_error", "failure",
        "Expected a netharness error with code ETIMEDOUT, got dial tcp 127.0.0.1:1: connect: connection refused %(code ECONNREFUSED%)")
      check("http_status", "failure", "Expected HTTP status 200, got 404; body: no such page")
      check("passes", "success")
    end)
  end)

  it("T.run returns the body's results", function()
    assert.are.same({ 1, "two" }, { T.run(function() return 1, "two" end, 2) })
    assert.matches("bad argument #1 to 'run'", S.error_of(T.run, "x"))
    assert.matches("limit: seconds expected", S.error_of(T.run, function() end, { limit = -1 }))
  end)

  it("T.process hands over a listening socket: ready before the child runs", T.async(function()
    local child = S.child_script([[
local ln = assert(require("netharness.process").inherited_listeners())[1]
while true do
  local c = assert(ln:accept())
  c:write("pong " .. c:read_line(5) .. "\n")
  c:close()
end
]])
    local p = T.process{ cmd = { S.lua, child }, listen = true }
    assert.matches("^127.0.0.1:%d+$", p.addr)
    for i = 1, 3 do
      local c = assert(net.dial("tcp", p.addr, 2))
      c:write("ping " .. i .. "\n")
      assert.are.equal("pong ping " .. i, c:read_line(5))
      c:close()
    end
    os.remove(child)
  end, 10))

  it("T.process waits for a port, or for a line, and keeps the captures", T.async(function()
    local p = T.process{ cmd = { "python3", "-u", "-m", "http.server", "--bind", "127.0.0.1", "0" },
      ready = "port (%d+)" }
    local port = tonumber(p.ready[1])
    local q = T.process{ cmd = { "python3", "-c", "import time; time.sleep(30)" }, ready = port }
    assert.is_true(q:running())
    local http = require "netharness.http"
    local res, err = http.get("http://127.0.0.1:" .. port .. "/", { timeout = 5 })
    assert.http_status(200, res, err)
    assert.eventually(function() return p:output():find("GET / HTTP/1.1\" 200") end, 5)
  end, 15))

  it("T.process fails the spec when the program is missing", function()
    local ok, err = pcall(T.process, { cmd = { "netharness-no-such-program" } })
    assert.is_false(ok)
    assert.matches('T.process: exec: "netharness%-no%-such%-program": no such file or directory', tostring(err))
    assert.matches("ready: a port number or a Lua pattern expected",
      S.error_of(T.process, { cmd = { "true" }, ready = {} }))
  end)

  it("T.leaks and T.check_leaks see fds, tasks and bound sockets come and go", function()
    local before = T.leaks()
    assert.is_nil(T.check_leaks(before))
    local pc = assert(net.listen_packet("udp", "127.0.0.1:0"))
    local t = net.spawn(function() net.sleep(10) end)
    local msg = T.check_leaks(before)
    assert.matches("1 task%(s%) still running", msg)
    assert.matches("socket still open: udp port " .. pc:local_addr().port, msg)
    assert.matches("fd %d+ open: socket:%[%d+%]", msg)
    assert.is_nil(T.check_leaks(before, { fds = false, sockets = false, tasks = false }))
    t:cancel()
    pc:close()
    net.sleep(0)
    assert.is_nil(T.check_leaks(before))
  end)

  it("T.free_port gives a port that refuses connections", T.async(function()
    local port = T.free_port()
    local _, err = net.dial("tcp", "127.0.0.1:" .. port, 2)
    assert.net_error("ECONNREFUSED", err)
    assert.is_number(T.free_port("udp"))
  end, 5))

  it("assert.eventually passes once the condition holds, on the loop", T.async(function()
    local flag = false
    net.spawn(function() net.sleep(0.05); flag = true end)
    assert.eventually(function() return flag end, 2)
    -- a body of assertions passes once none fails
    local n = 0
    assert.eventually(function() n = n + 1; assert.is_true(n >= 3) end, 2)
    assert.is_true(n >= 3)
    assert.has_error(function() assert.eventually("x") end)
  end, 5))
end)
