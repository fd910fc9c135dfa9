-- HTTP header fields: looked up case-insensitively, repeated fields kept in
-- the order they came, names remembered as first seen. Go's canonical form
-- ("content-type" -> "Content-Type") is used when writing and dumping, as
-- net/http does.
local Header = {}
Header.__index = Header
Header.__name = "netharness.http.Header"

local lower = string.lower

-- Go's textproto.CanonicalMIMEHeaderKey: a name with bytes outside the token
-- set is left as it is. Names come from the network: the cache is bounded.
local canonical_cache, cached = {}, 0
local function canonical(name)
  local c = canonical_cache[name]
  if c then return c end
  if name:find("[^%w!#$%%&'*+%-.^_`|~]") then
    c = name
  else
    c = lower(name):gsub("^%l", string.upper):gsub("%-%l", string.upper)
  end
  if cached >= 512 then canonical_cache, cached = {}, 0 end
  canonical_cache[name], cached = c, cached + 1
  return c
end
Header.canonical = canonical

-- Header.new() or Header.new{ ["Content-Type"] = "text/plain", ["X-A"] = {"1", "2"} }
function Header.new(init)
  local h = setmetatable({ _values = {}, _order = {}, _names = {} }, Header)
  if init then
    local keys = {}
    for k in pairs(init) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = init[k]
      if type(v) == "table" then
        for _, x in ipairs(v) do h:add(k, x) end
      else
        h:add(k, v)
      end
    end
  end
  return h
end

function Header:add(name, value)
  local key = lower(name)
  local vs = self._values[key]
  if not vs then
    vs = {}
    self._values[key] = vs
    self._order[#self._order + 1] = key
    self._names[key] = name
  end
  vs[#vs + 1] = tostring(value)
end

function Header:set(name, value)
  self:del(name)
  if value ~= nil then self:add(name, value) end
end

function Header:get(name)
  local vs = self._values[lower(name)]
  return vs and vs[1]
end

-- All values of a field, in order (a new table), or nil.
function Header:values(name)
  local vs = self._values[lower(name)]
  if not vs then return nil end
  return table.move(vs, 1, #vs, 1, {})
end

function Header:has(name)
  return self._values[lower(name)] ~= nil
end

function Header:del(name)
  local key = lower(name)
  if not self._values[key] then return end
  self._values[key] = nil
  self._names[key] = nil
  for i, k in ipairs(self._order) do
    if k == key then
      table.remove(self._order, i)
      break
    end
  end
end

-- Does a comma-separated field (Connection, ...) hold this token?
function Header:has_token(name, token)
  local vs = self._values[lower(name)]
  if not vs then return false end
  token = lower(token)
  for _, v in ipairs(vs) do
    for t in v:gmatch("[^,]+") do
      if lower(t:match("^[ \t]*(.-)[ \t]*$")) == token then return true end
    end
  end
  return false
end

-- Iterate name, value for every field, in arrival order of the names.
function Header:each()
  local i, j, vs, key = 0, 0, nil, nil
  return function()
    while true do
      if vs and j < #vs then
        j = j + 1
        return self._names[key], vs[j]
      end
      i = i + 1
      key = self._order[i]
      if not key then return nil end
      vs, j = self._values[key], 0
    end
  end
end

function Header:count()
  return #self._order
end

-- Go's Header.WriteSubset: canonical names sorted, values with newlines made
-- spaces and outer blanks trimmed, one "Name: value\r\n" per value.
function Header:write_subset(out, exclude)
  local keys = {}
  for _, key in ipairs(self._order) do
    local name = canonical(self._names[key])
    if not (exclude and exclude[name]) then keys[#keys + 1] = { name, key } end
  end
  table.sort(keys, function(a, b) return a[1] < b[1] end)
  for _, k in ipairs(keys) do
    for _, v in ipairs(self._values[k[2]]) do
      v = v:gsub("[\r\n]", " "):match("^[ \t]*(.-)[ \t]*$")
      out[#out + 1] = k[1] .. ": " .. v .. "\r\n"
    end
  end
  return out
end

function Header:__tostring()
  return table.concat(self:write_subset({}))
end

return Header
