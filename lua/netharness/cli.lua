-- Command-line options for scenario scripts: --name value, --name=value, --flag.
-- Unknown options, missing values and bad numbers are errors with the usage
-- text, so a typo never silently runs the default scenario. A library does
-- not end the program: the script prints the text and exits, as in
--
--   local opts, why, status = cli.parse(arg, spec)
--   if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
local M = {}

-- spec: { usage = "text", options = { addr = "default", count = "0", ... },
--         numbers = { count = true, ... } }
-- Options whose default is `false` are flags; options named in `numbers` must
-- be non-negative numbers and come back as numbers. Returns the values, or
-- nil, text to print, exit status (0 for --help, 2 for a mistake).
function M.parse(args, spec)
  local out = {}
  for k, v in pairs(spec.options) do out[k] = v end
  local function usage(msg, status)
    return nil, (msg and msg .. "\n" or "") .. spec.usage, status
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then return usage(nil, 0) end
    local name, value = a:match("^%-%-([%w-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w-]+)$") end
    if not name then return usage("unexpected argument: " .. a, 2) end
    local key = name:gsub("-", "_")
    if out[key] == nil and spec.options[key] == nil then return usage("unknown option: --" .. name, 2) end
    if spec.options[key] == false then
      out[key] = true
    else
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then return usage("option --" .. name .. " needs a value", 2) end
      end
      out[key] = value
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
  return out
end

return M
