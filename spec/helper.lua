-- Loaded by busted before the specs: find the module being tested. NH_BUILD
-- picks the build (build, or build-asan for the sanitizer pass).
local build = os.getenv("NH_BUILD") or "build"
package.path = "lua/?.lua;spec/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath
