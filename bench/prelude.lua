-- Shared by the bench programs: find the module in this repository.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath
io.stdout:setvbuf("line")
return require "netharness"
