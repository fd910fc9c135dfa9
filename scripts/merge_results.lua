-- Merge the results of load workers (scripts/http_load.lua or udp_load.lua
-- run as shards: --shard/--shards, or the pods of a Kubernetes Indexed Job)
-- into one summary, and optionally one JSON lines file, .hlog and report.
-- Counts are added and histograms merged, never percentiles averaged.
--
--   lua scripts/merge_results.lua [--json F] [--hlog F] [--report F] DIR|BASE...
--
-- DIR is a results folder holding worker-I.jsonl and worker-I.hlog files;
-- BASE names one worker's pair (BASE.jsonl, BASE.hlog).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local cli = require "netharness.cli"
local results = require "netharness.load.results"
local report = require "netharness.load.report"
local runner = require "netharness.load.runner"

local usage = [[
usage: lua scripts/merge_results.lua [options] DIR|BASE...
  --json FILE    the merged JSON lines (intervals, then the summary)
  --hlog FILE    the merged histograms as an HdrHistogram log
  --report FILE  an HTML report of the merged run]]

local opts, why, status = cli.parse(arg, { usage = usage, positional = true,
  options = { json = "", hlog = "", report = "" } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
if #opts.args == 0 then io.stderr:write("a results folder or worker files are needed\n", usage, "\n") os.exit(2) end

-- A folder's workers, in shard order; a base as it is.
local bases = {}
for _, a in ipairs(opts.args) do
  local p = io.popen("ls -1 '" .. a:gsub("'", "'\\''") .. "' 2>/dev/null")
  local found = {}
  for name in p:lines() do
    local i = name:match("^worker%-(%d+)%.jsonl$")
    if i then found[#found + 1] = { tonumber(i), a .. "/worker-" .. i } end
  end
  p:close()
  if #found == 0 then
    bases[#bases + 1] = a:gsub("%.jsonl$", "")
  else
    table.sort(found, function(x, y) return x[1] < y[1] end)
    for _, f in ipairs(found) do bases[#bases + 1] = f[2] end
  end
end

local out = results.writer{ json = opts.json ~= "" and opts.json or nil, hlog = opts.hlog ~= "" and opts.hlog or nil,
  keep = opts.report ~= "" }
local merged, err = results.merge(bases, out)
if not merged then io.stderr:write("merge_results: ", err, "\n") os.exit(1) end
if opts.report ~= "" then
  local f = assert(io.open(opts.report, "w"))
  f:write(report.html{ title = ("merged run of %d workers"):format(#bases), summary = merged.summary,
    intervals = merged.intervals, corrected = merged.corrected, uncorrected = merged.uncorrected })
  f:close()
end

local s, c, u = merged.summary, merged.corrected, merged.uncorrected
local fmt = runner.fmt_time
print(("%d workers, %s model, %.2fs"):format(#bases, s.model or "?", s.duration or 0))
if s.asked_rate then print(("  asked %.2f/s, achieved %.2f/s"):format(s.asked_rate, s.achieved_rate)) end
if not s.asked_rate then print(("  achieved %.2f/s"):format(s.achieved_rate)) end
print(("  %d completed: %d succeeded, %d failed; %d dropped (over capacity)"):format(s.completed, s.success,
  s.failure, s.dropped))
if next(s.status) then print("  status: " .. runner.causes(s.status)) end
if next(s.errors) then print("  errors: " .. runner.causes(s.errors)) end
if next(s.notes) then print("  notes: " .. runner.causes(s.notes)) end
if c:count() > 0 then
  print("  Latency Distribution       corrected   uncorrected")
  for _, p in ipairs({ 50, 90, 99, 99.9, 100 }) do
    print(("  %5g%%               %11s   %11s"):format(p, fmt(c:percentile(p)), fmt(u:percentile(p))))
  end
else
  print("  no latency recorded")
end
print(("result completed=%d success=%d p50=%.6f p99=%.6f"):format(s.completed, s.success,
  c:percentile(50) or 0, c:percentile(99) or 0))
