-- Capture packets as tcpdump does, on netharness's loop: one line per packet,
-- or a pcap file for Wireshark, and a summary with drops at the end. Ctrl-C
-- stops cleanly and flushes the file. Needs root (CAP_NET_RAW).
--
--   lua scripts/capture.lua -i lo udp port 8888
--   lua scripts/capture.lua -w run.pcap -c 100 --duration 10 tcp port 8080
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
package.path = here .. "/../lua/?.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local net = require "netharness"
local capture = require "netharness.capture"
local cli = require "netharness.cli"

local usage = [[
usage: lua scripts/capture.lua [-i IFACE] [-w FILE] [-c N] [--duration S] [-s SNAPLEN]
                               [-B KIB] [--print] [-q] [FILTER...]
  -i, --interface  the interface to capture on (default lo; "any" for all)
  -w, --write      write the packets to this pcap file (Wireshark, tshark, tcpdump -r);
                   lines are then not printed, unless --print
  -c, --count      stop after N packets
  --duration       stop after this long (10, 500ms, 2m)
  -s, --snaplen    bytes kept of each packet (default 262144)
  -B, --buffer-size  the kernel's buffer, in KiB as tcpdump's -B (default libpcap's)
  --print          print lines even when writing a file
  --immediate-mode hand each packet over as it arrives also when only writing a file
                   (by default a file is written in blocks, as tcpdump -w does)
  -q, --quiet      no lines, only the summary
  FILTER           a BPF expression, as tcpdump takes it ("udp port 8888")]]

local opts, why, status = cli.parse(arg, { usage = usage, positional = true,
  options = { interface = "lo", write = "", count = "0", duration = "0", snaplen = "262144",
              buffer_size = "0", print = false, quiet = false,
              immediate_mode = false },
  numbers = { count = true, snaplen = true, buffer_size = true }, durations = { duration = true },
  short = { i = "interface", w = "write", c = "count", s = "snaplen", B = "buffer_size", q = "quiet" } })
if not opts then (status == 0 and io.stdout or io.stderr):write(why, "\n") os.exit(status) end
if opts.count % 1 ~= 0 or opts.snaplen % 1 ~= 0 or opts.snaplen < 1 or opts.buffer_size % 1 ~= 0 then
  io.stderr:write("--count, --snaplen and --buffer-size take whole numbers (snaplen at least 1)\n", usage, "\n")
  os.exit(2)
end

local filter = table.concat(opts.args, " ")
local file = opts.write ~= "" and opts.write or nil
local show = not opts.quiet and (opts.print or not file)
local out = io.stdout
out:setvbuf(show and "line" or "full")

local printed = 0
local ok, cap, err = pcall(capture.start, {
  interface = opts.interface, filter = filter, file = file,
  snaplen = math.tointeger(opts.snaplen), buffer_size = math.tointeger(opts.buffer_size * 1024),
  count = math.tointeger(opts.count), keep = show and 100000 or 0,
  -- writing a file only: in blocks, as tcpdump -w (a flood fits the buffer)
  immediate = show or opts.immediate_mode,
  on_packet = show and function(p)
    printed = printed + 1
    out:write(capture.format(p), "\n")
  end or nil })
if not ok then
  io.stderr:write("capture: ", (tostring(cap):gsub("^bad argument #1 to 'start' %((.*)%)$", "%1")), "\n")
  os.exit(2)
end
if not cap then
  io.stderr:write(tostring(err), "\n")
  os.exit(err.code == "EPERM" and 1 or 2)
end
io.stderr:write(("capture: listening on %s%s%s\n"):format(opts.interface,
  filter ~= "" and (", filter \"" .. filter .. "\"") or "", file and (", writing " .. file) or ""))

-- Wait for the count or the duration; Ctrl-C ("interrupted!") stops as well.
local waited, problem = pcall(function()
  local want = opts.count > 0 and math.tointeger(opts.count) or math.maxinteger
  local timeout = opts.duration > 0 and opts.duration or nil
  local done, werr = cap:wait(want, timeout)
  if not done and not net.is_timeout(werr) then error(tostring(werr), 0) end
end)
local summary = cap:stop()
out:flush()
if summary.error then io.stderr:write("capture: ", summary.error, "\n") end
io.stderr:write(("%d packets captured\n%d packets received by filter\n%d packets dropped by kernel\n")
  :format(summary.packets, summary.received, summary.dropped))
if summary.interface_dropped > 0 then
  io.stderr:write(("%d packets dropped by interface\n"):format(summary.interface_dropped))
end
if not waited and not tostring(problem):match("interrupted!$") then
  io.stderr:write("capture: ", tostring(problem), "\n")
  os.exit(1)
end
os.exit(summary.error and 1 or 0)
