-- Command-line options for scenario scripts: --name value, --name=value, --flag.
-- Unknown options and missing values stop the script with its usage text, so a
-- typo never silently runs the default scenario.
local M = {}

-- spec: { usage = "text", options = { addr = "default", count = "0", ... } }
-- Options whose default is `false` are flags. Returns a table of values.
function M.parse(args, spec)
  local out = {}
  for k, v in pairs(spec.options) do out[k] = v end
  local function usage(msg, code)
    local stream = code == 0 and io.stdout or io.stderr
    if msg then stream:write(msg, "\n") end
    stream:write(spec.usage, "\n")
    os.exit(code)
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then usage(nil, 0) end
    local name, value = a:match("^%-%-([%w-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w-]+)$") end
    if not name then usage("unexpected argument: " .. a, 2) end
    local key = name:gsub("-", "_")
    if out[key] == nil and spec.options[key] == nil then usage("unknown option: --" .. name, 2) end
    if spec.options[key] == false then
      out[key] = true
    else
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then usage("option --" .. name .. " needs a value", 2) end
      end
      out[key] = value
    end
    i = i + 1
  end
  return out
end

-- A number option, or stop with a clear message.
function M.number(opts, key, usage)
  local n = tonumber(opts[key])
  if not n or n < 0 then
    io.stderr:write("--", key:gsub("_", "-"), " must be a non-negative number, got ",
      tostring(opts[key]), "\n", usage or "", "\n")
    os.exit(2)
  end
  return n
end

return M
