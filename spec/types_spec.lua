-- types/ (LuaCATS annotations for lua-language-server) stays true: every
-- function declared there exists, and every public function and method of
-- the core and of the capture, http, fault, load and histogram modules is
-- declared.
local nh = require "netharness"
local capture = require "netharness.capture"
local S = require "support"

local declared = {}   -- class -> { name = true }
for _, file in ipairs({ "types/netharness.lua", "types/modules.lua", "types/kit.lua" }) do
  for class, sep, name in S.read_file(file):gmatch("\nfunction ([%w_]+)([.:])([%w_]+)%(") do
    declared[class] = declared[class] or {}
    declared[class][name] = sep
  end
end

local function methods(obj)
  local idx = getmetatable(obj).__index
  local out = {}
  for k, v in pairs(idx) do if type(v) == "function" and not k:match("^_") then out[k] = true end end
  return out
end

local function same_names(class, runtime)
  local missing, extra = {}, {}
  for name in pairs(runtime) do if not declared[class][name] then missing[#missing + 1] = name end end
  for name in pairs(declared[class]) do if not runtime[name] then extra[#extra + 1] = name end end
  table.sort(missing)
  table.sort(extra)
  assert.same({ missing = {}, extra = {} }, { missing = missing, extra = extra }, class)
end

describe("types/netharness.lua", function()
  it("declares the module's functions and no others", function()
    local fns = {}
    for k, v in pairs(nh) do
      -- capture_* and process_* are netharness.capture's and .process's, declared there
      if type(v) == "function" and not k:match("^_") and not k:match("^capture_")
        and not k:match("^process_") then fns[k] = true end
    end
    same_names("net", fns)
    local cfns = {}
    for k, v in pairs(capture) do if type(v) == "function" then cfns[k] = true end end
    same_names("capture", cfns)
  end)

  it("declares every method of every type", function()
    local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
    local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
    local c = assert(nh.dial("tcp", tostring(ln:addr())))
    local socket = {}
    for name in pairs(declared.Socket) do socket[name] = true end
    for class, obj in pairs({ PacketConn = pc, Conn = c, Listener = ln }) do
      local own = {}
      for name in pairs(methods(obj)) do if not socket[name] then own[name] = true end end
      same_names(class, own)
      for name in pairs(socket) do assert.is_function(obj[name], class .. ":" .. name) end
    end
    same_names("Task", methods(nh.spawn(function() end)))
    same_names("Histogram", methods(nh.new_histogram()))
    same_names("Signal", methods(nh.signal()))
    same_names("Buffer", methods(nh.buffer()))
    c:close()
    ln:close()
    pc:close()
    nh.run(1)
  end)

  it("declares the modules' functions and their objects' methods", function()
    local function functions(t)
      local out = {}
      for k, v in pairs(t) do if type(v) == "function" then out[k] = true end end
      return out
    end
    local http = require "netharness.http"
    same_names("http", functions(http))
    same_names("fault", functions(require "netharness.fault"))
    same_names("load", functions(require "netharness.load"))
    same_names("histogram", functions(require "netharness.histogram"))
    same_names("Client", methods(http.new_client()))
    local req = http.new_request("GET", "http://127.0.0.1/")
    assert.is_function(req.write)
    same_names("Response", methods(http.new_response(200)))
    -- Header's metatable also holds the module's internals: declared ones exist
    local h = http.new_header()
    for name in pairs(declared.Header) do assert.is_function(h[name], "Header:" .. name) end
    local process = require "netharness.process"
    same_names("process", functions(process))
    same_names("test", functions(require "netharness.test"))
    local child = assert(process.start{ cmd = { "true" } })
    local own_p = methods(child)
    own_p.__close, own_p.__tostring = nil, nil
    same_names("Process", own_p)
    child:close()
    local fault = require "netharness.fault"
    local p = assert(fault.proxy{ listen = "127.0.0.1:0", upstream = "127.0.0.1:9" })
    local own = methods(p)
    own.__close = nil
    same_names("Proxy", own)
    p:close()
  end)

  it("is what docs/api.md says (docs/gen_api.lua made it from these files)", function()
    local p = S.popen(S.lua .. " docs/gen_api.lua")
    local fresh = p:read("a")
    p:close()
    assert.is_true(#fresh > 10000)
    assert.equal(fresh, S.read_file("docs/api.md"), "run: lua5.4 docs/gen_api.lua > docs/api.md")
  end)

  it("declares every method of a capture file", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.pack("<I4I2I2i4I4I4I4", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    f:close()
    local file = assert(capture.open_file(path))
    same_names("CaptureFile", methods(file))
    file:close()
    os.remove(path)
  end)

  it("declares every method of a capture", function()
    S.need_capture(pending)
    local cap = assert(capture.start{ filter = "udp port 9" })
    same_names("Capture", methods(cap))
    cap:stop()
  end)
end)
