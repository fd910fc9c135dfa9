-- luacheck (Debian lua-check), run by make test: every Lua file of the
-- project, as Lua 5.4; specs also see busted's globals.
std = "lua54"
max_line_length = 140
exclude_files = { "spec/npm/node_modules/**", "build/**", "build-asan/**" }
files["spec"] = { std = "+busted" }
-- A name that starts with _ is kept on purpose: a <close> variable held for
-- its scope, a listener kept from the collector.
ignore = { "21[123]/_.+", "241/_.+" }
-- types/: LuaCATS declarations, bodies left empty on purpose.
files["types"] = { ignore = { "212", "241" }, max_line_length = false }
