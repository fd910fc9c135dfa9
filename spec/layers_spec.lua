-- The layout's rule: dependencies run one way. Within core/ and within
-- bindings/, no two files call each other in a circle (read from the
-- symbols each object file defines and uses), and core/ calls nothing above.
local S = require "support"   -- (its commands run without the ASan pass's preload)
local function objects(dir, tmp)
  local files = {}
  for f in S.popen("ls " .. dir .. "/*.c"):lines() do
    local o = tmp .. "/" .. f:gsub("/", "_") .. ".o"
    assert(S.execute(("cc -c -std=c11 -D_GNU_SOURCE -O0 %s -o %s %s")
      :format(os.getenv("LUA_INC") or "-I/usr/include/lua5.4", o, f)), "cannot compile " .. f)
    files[#files + 1] = { src = f, obj = o }
  end
  return files
end

local function edges(files)
  local def, uses = {}, {}
  for _, f in ipairs(files) do
    uses[f.src] = {}
    for line in S.popen("nm " .. f.obj):lines() do
      local kind, sym = line:match("^%x*%s+(%u)%s+(%S+)$")
      if kind == "U" then uses[f.src][sym] = true
      elseif kind and kind:match("[TDBRC]") then def[sym] = f.src end
    end
  end
  local e = {}
  for src, syms in pairs(uses) do
    e[src] = {}
    for sym in pairs(syms) do
      local to = def[sym]
      if to and to ~= src then e[src][to] = true end
    end
  end
  return e
end

-- A circle as "a -> b -> a", or nil.
local function circle(e)
  local state, path = {}, {}
  local function visit(n)
    state[n] = "open"; path[#path + 1] = n
    for m in pairs(e[n] or {}) do
      if state[m] == "open" then
        local from
        for i, p in ipairs(path) do if p == m then from = i end end
        return table.concat(path, " -> ", from) .. " -> " .. m
      elseif not state[m] then
        local c = visit(m)
        if c then return c end
      end
    end
    state[n] = "done"; path[#path] = nil
  end
  for n in pairs(e) do
    if not state[n] then
      local c = visit(n)
      if c then return c end
    end
  end
end

describe("the layout", function()
  local tmp
  setup(function() tmp = S.popen("mktemp -d"):read("l") end)
  teardown(function() S.execute("rm -rf " .. tmp) end)

  it("has no circle among the files of core/ or of bindings/", function()
    local core, bindings = objects("core", tmp), objects("bindings", tmp)
    assert.is_nil(circle(edges(core)))
    local all = {}
    for _, f in ipairs(core) do all[#all + 1] = f end
    for _, f in ipairs(bindings) do all[#all + 1] = f end
    local e = edges(all)
    assert.is_nil(circle(e))
    for src, to in pairs(e) do   -- core knows nothing of the bindings
      if src:match("^core/") then
        for dst in pairs(to) do assert.is_nil(dst:match("^bindings/"), src .. " calls " .. dst) end
      end
    end
  end)

  it("has no circle among the Lua modules", function()
    local e = {}
    for f in S.popen("find lua -name '*.lua'"):lines() do
      local module = f:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/", ".")
      e[module] = {}
      for line in io.lines(f) do
        local dep = line:match('require%s*%(?%s*"([%w%.]+)"')
        if dep and dep ~= module then e[module][dep] = true end
      end
    end
    assert.is_truthy(e["netharness.http.wire"]["netharness.http.parse"]) -- (the scan sees requires)
    assert.is_nil(circle(e))
  end)
end)
