-- Case 7: the load generator's own throughput, with a transaction that does
-- no I/O (a little arithmetic), so the generator is the bottleneck: what
-- --workers N buys on N cores, without a server competing for them.
-- usage: lua5.4 bench/load_noop.lua [http_load-style options]
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath
local runner = require "netharness.load.runner"

runner.main{
  name = "load_noop",
  usage = "usage: lua5.4 bench/load_noop.lua [options]\n" .. runner.COMMON_USAGE,
  options = {},
  prepare = function()
    return { transaction = function(vu)
      local x = vu.id
      for i = 1, 50 do x = (x * 31 + i) % 1000003 end
      vu.x = x
      return true
    end }
  end,
  banner = function() end,
  print = function(s)
    print(("result completed=%d seconds=%.3f rate=%.1f"):format(s.completed, s.duration, s.completed / s.duration))
  end,
}
