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

-- Fields are kept as _values[lowercased name] = value, or a list of values
-- once a name repeats (most fields never do: no table per field); the array
-- part of the Header itself holds the names as first seen.

-- Header.new() or Header.new{ ["Content-Type"] = "text/plain", ["X-A"] = {"1", "2"} }
function Header.new(init)
  local h = setmetatable({ _values = {} }, Header)
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

-- An __index for messages whose Header is made on first use, other keys
-- coming from `class`.
function Header.lazy_index(class)
  return function(msg, k)
    if k == "headers" then
      local h = Header.new()
      rawset(msg, "headers", h)
      return h
    end
    return class[k]
  end
end

-- Lower-cased names, cached like canonical ones: parsing a message looks up
-- the same few names again and again, and string.lower makes a new string.
local lower_cache, lowered = {}, 0
local function lower_key(name)
  local k = lower_cache[name]
  if k then return k end
  k = lower(name)
  if lowered >= 512 then lower_cache, lowered = {}, 0 end
  lower_cache[name], lowered = k, lowered + 1
  return k
end

-- A Header made from a parsed head the parser has seen before shares that
-- head's _values table (marked _shared): reading costs nothing, and the
-- first change copies it, so no message sees another's changes.
local function own(self)
  local copy = {}
  for k, v in pairs(self._values) do
    copy[k] = type(v) == "table" and table.move(v, 1, #v, 1, {}) or v
  end
  self._values, self._shared = copy, nil
end

local unpack = table.unpack

-- A new Header with the given names (in order) over a values table that is
-- shared until the first change.
function Header.shared(names, n, values)
  return setmetatable({ _values = values, _shared = true, unpack(names, 1, n) }, Header)
end

-- Mark this Header's values as shared and return them: a parser that keeps
-- them for later messages calls it, so a change through this Header copies
-- them first.
function Header.share(self)
  rawset(self, "_shared", true)
  return self._values
end

-- add for a value known to be a string (the parser's fields).
local function add_string(self, name, value)
  if rawget(self, "_shared") then own(self) end
  local key = lower_key(name)
  local values = self._values
  local vs = values[key]
  if vs == nil then
    values[key] = value
    self[#self + 1] = name
  elseif type(vs) == "table" then
    vs[#vs + 1] = value
  else
    values[key] = { vs, value }
  end
end
Header.add_string = add_string

-- What a caller adds is checked (the parser's fields are checked as they are
-- read): a name is a token (RFC 9110 5.1), a value has no CR, LF or NUL
-- (5.5). Anything else would let one header write others into the message.
local valid_names, nvalid = {}, 0 -- names already checked (bounded)
local function check_field(name, value, fn)
  if not valid_names[name] then
    if type(name) ~= "string" or name == "" or name:find("[^%w!#$%%&'*+%-.^_`|~]") then
      error("bad argument #1 to '" .. fn .. "' (invalid header name " .. string.format("%q", tostring(name)) .. ")", 3)
    end
    if nvalid >= 256 then valid_names, nvalid = {}, 0 end
    valid_names[name], nvalid = true, nvalid + 1
  end
  if value:find("[%z\r\n]") then
    error("bad argument #2 to '" .. fn .. "' (invalid header value for " .. name
      .. ": CR, LF and NUL are not allowed)", 3)
  end
end

function Header:add(name, value)
  if type(value) ~= "string" then value = tostring(value) end
  check_field(name, value, "add")
  add_string(self, name, value)
end

function Header:set(name, value)
  if value ~= nil then
    if type(value) ~= "string" then value = tostring(value) end
    check_field(name, value, "set")
  end
  self:del(name)
  if value ~= nil then add_string(self, name, value) end
end

function Header:get(name)
  local v = self._values[lower(name)]
  if type(v) == "table" then return v[1] end
  return v
end

-- All values of a field, in order (a new table), or nil.
function Header:values(name)
  local v = self._values[lower(name)]
  if v == nil then return nil end
  if type(v) == "table" then return table.move(v, 1, #v, 1, {}) end
  return { v }
end

-- How many values a field has (0 when absent).
function Header:count_values(name)
  local v = self._values[lower(name)]
  if v == nil then return 0 end
  return type(v) == "table" and #v or 1
end

function Header:has(name)
  return self._values[lower(name)] ~= nil
end

function Header:del(name)
  local key = lower(name)
  if self._values[key] == nil then return end
  if rawget(self, "_shared") then own(self) end
  self._values[key] = nil
  for i, n in ipairs(self) do
    if lower(n) == key then
      table.remove(self, i)
      break
    end
  end
end

local function token_in(v, token)
  for t in v:gmatch("[^,]+") do
    if lower(t:match("^[ \t]*(.-)[ \t]*$")) == token then return true end
  end
  return false
end

-- Does a comma-separated field (Connection, ...) hold this token?
function Header:has_token(name, token)
  local v = self._values[lower(name)]
  if v == nil then return false end
  token = lower(token)
  if type(v) == "string" then return token_in(v, token) end
  for _, x in ipairs(v) do
    if token_in(x, token) then return true end
  end
  return false
end

-- Iterate name, value for every field, in arrival order of the names.
function Header:each()
  local order, values = self, self._values
  local i, j, name, v = 0, 0, nil, nil
  return function()
    while true do
      if type(v) == "table" and j < #v then
        j = j + 1
        return name, v[j]
      end
      i = i + 1
      name = order[i]
      if not name then return nil end
      v = values[lower(name)]
      if type(v) ~= "table" then
        local single = v
        v = nil
        return name, single
      end
      j = 0
    end
  end
end

function Header:count()
  return #self
end

-- Go's Header.WriteSubset: canonical names sorted, values with newlines made
-- spaces and outer blanks trimmed, one "Name: value\r\n" per value.
function Header:write_subset(out, exclude)
  local keys = {}
  for _, name in ipairs(self) do
    local c = canonical(name)
    if not (exclude and exclude[c]) then keys[#keys + 1] = { c, lower(name) } end
  end
  table.sort(keys, function(a, b) return a[1] < b[1] end)
  for _, k in ipairs(keys) do
    local v = self._values[k[2]]
    if type(v) ~= "table" then v = { v } end
    for _, x in ipairs(v) do
      x = x:gsub("[\r\n]", " "):match("^[ \t]*(.-)[ \t]*$")
      out[#out + 1] = k[1] .. ": " .. x .. "\r\n"
    end
  end
  return out
end

function Header:__tostring()
  return table.concat(self:write_subset({}))
end

return Header
