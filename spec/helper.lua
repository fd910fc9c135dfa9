-- Loaded by busted before the specs: find the module being tested. NH_BUILD
-- picks the build (build, or build-asan for the sanitizer pass).
local build = os.getenv("NH_BUILD") or "build"
package.path = "lua/?.lua;spec/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

-- Every spec is bounded in time, whatever it waits in: a watchdog process
-- sends this process SIGINT when one test has run NH_SPEC_LIMIT seconds
-- (default 60). Lua's own SIGINT handler then makes the running Lua code
-- raise "interrupted!", and so does a netharness wait, in the loop or in a
-- system call, so the test fails and the run goes on. Tests with finer
-- limits use S.run(fn, limit) too.
local busted = require "busted"
local limit = tonumber(os.getenv("NH_SPEC_LIMIT")) or 60
local pid = io.open("/proc/self/stat"):read("n")
local watchdog
busted.subscribe({ "test", "start" }, function()
  -- setsid: a group of its own, so the kill at the end reaches its sleep,
  -- which would otherwise hold our stderr open for the rest of the minute.
  local p = io.popen(("env -u LD_PRELOAD setsid sh -c 'sleep %d; echo \"spec time limit (%d s) reached\" >&2; "
    .. "kill -INT %d' </dev/null >/dev/null & echo $!"):format(limit, limit, pid))
  watchdog = p:read("n")
  p:close()
  return nil, true
end)
busted.subscribe({ "test", "end" }, function()
  if watchdog then os.execute("kill -TERM -" .. watchdog .. " " .. watchdog .. " 2>/dev/null") end
  watchdog = nil
  return nil, true
end)

-- Programs the specs start (T.process) never get the sanitizer runtime the
-- ASan pass preloads into this process: S.start's commands do not either.
require("netharness.test").defaults.env = { LD_PRELOAD = false, ASAN_OPTIONS = false, UBSAN_OPTIONS = false }
