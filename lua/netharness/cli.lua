-- Command-line options for scenario scripts, parsed by argparse (Debian
-- lua-argparse): --name value, --name=value, --flag, and short aliases as
-- wrk's (-c 10, -c10, -d 5s). Unknown options, missing values and bad numbers
-- are errors with the usage text, so a typo never silently runs the default
-- scenario. A library does not end the program: the script prints the text
-- and exits, as in
--
--   local opts, why, status = cli.parse(arg, spec)
--   if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
local argparse = require "argparse"

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
  local function usage(msg, status)
    return nil, (msg and msg .. "\n" or "") .. spec.usage, status
  end
  -- argparse parses; the script's own usage text is what people read, and
  -- --help is ours so that it returns (argparse's would exit).
  local p = argparse():usage(spec.usage):add_help(false)
  p:flag("-h --help")
  local letter = {}
  for l, name in pairs(spec.short or {}) do letter[name] = l end
  local function names(key)
    local long = "--" .. key:gsub("_", "-")
    return letter[key] and ("-" .. letter[key] .. " " .. long) or long
  end
  for key, default in pairs(spec.options) do
    if default == false then p:flag(names(key)) else p:option(names(key)) end
  end
  for key in pairs(spec.lists or {}) do p:option(names(key)):count("*") end
  if spec.positional then p:argument("args"):args("*") end
  local ok, parsed = p:pparse(args)
  if not ok then return usage(parsed, 2) end
  if parsed.help then return usage(nil, 0) end
  local out = { args = parsed.args or {} }
  for key, default in pairs(spec.options) do
    if default == false then out[key] = parsed[key] or false
    elseif parsed[key] ~= nil then out[key] = parsed[key]
    else out[key] = default end
  end
  for key in pairs(spec.lists or {}) do out[key] = parsed[key] or {} end
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
