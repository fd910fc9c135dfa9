-- Command-line options for scenario scripts: --name value, --name=value,
-- --flag, and short aliases as wrk's (-c 10, -c10, -d 5s). Unknown options,
-- missing values and bad numbers are errors with the usage text, so a typo
-- never silently runs the default scenario. A library does not end the
-- program: the script prints the text and exits, as in
--
--   local opts, why, status = cli.parse(arg, spec)
--   if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
local M = {}

-- "10", "10s", "500ms", "2m", "1h" -> seconds, or nil.
function M.duration(s)
  local n, unit = tostring(s):match("^(%d*%.?%d+)(%a*)$")
  local scale = ({ [""] = 1, s = 1, ms = 0.001, m = 60, h = 3600 })[unit or ""]
  n = tonumber(n)
  if not n or not scale then return nil end
  return n * scale
end

-- spec: { usage = "text", options = { addr = "default", count = "0", ... },
--         numbers = { count = true, ... }, durations = { duration = true },
--         short = { c = "connections", ... }, lists = { header = true },
--         positional = true }
-- Options whose default is `false` are flags; options named in `numbers` must
-- be non-negative numbers and come back as numbers, those in `durations` take
-- s/ms/m/h suffixes and come back in seconds; `lists` may be given many times
-- and come back as lists; with `positional`, other arguments are collected in
-- out.args. Returns the values, or nil, text to print, exit status (0 for
-- --help, 2 for a mistake).
function M.parse(args, spec)
  local out = { args = {} }
  for k, v in pairs(spec.options) do out[k] = v end
  for k in pairs(spec.lists or {}) do out[k] = {} end
  local function usage(msg, status)
    return nil, (msg and msg .. "\n" or "") .. spec.usage, status
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then return usage(nil, 0) end
    local name, value = a:match("^%-%-([%w-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w-]+)$") end
    local shown = "--" .. tostring(name)
    if not name and a:match("^%-%a") then
      local letter = a:sub(2, 2)
      name = (spec.short or {})[letter]
      shown = "-" .. letter
      if not name then return usage("unknown option: -" .. letter, 2) end
      if #a > 2 then value = a:sub(3) end
    end
    if not name then
      if not spec.positional then return usage("unexpected argument: " .. a, 2) end
      out.args[#out.args + 1] = a
    else
      local key = name:gsub("-", "_")
      if spec.options[key] == nil and not (spec.lists or {})[key] then
        return usage("unknown option: " .. shown, 2)
      end
      if spec.options[key] == false then
        out[key] = true
      else
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then return usage("option " .. shown .. " needs a value", 2) end
        end
        if (spec.lists or {})[key] then
          out[key][#out[key] + 1] = value
        else
          out[key] = value
        end
      end
    end
    i = i + 1
  end
  for key in pairs(spec.numbers or {}) do
    local n = tonumber(out[key])
    if not n or n < 0 or n ~= n then
      return usage("--" .. key:gsub("_", "-") .. " must be a non-negative number, got " .. tostring(out[key]), 2)
    end
    out[key] = n
  end
  for key in pairs(spec.durations or {}) do
    local n = M.duration(out[key])
    if not n then
      return usage("--" .. key:gsub("_", "-") .. " must be a duration (10, 10s, 500ms, 2m), got "
        .. tostring(out[key]), 2)
    end
    out[key] = n
  end
  return out
end

return M
