-- netharness.capture: what went over the wire, captured with libpcap on the
-- same event loop as the traffic, for specs to assert on and for Wireshark.
--
--   local capture = require "netharness.capture"
--   local cap <close> = capture.start{ interface = "lo", filter = "udp port 8888",
--                                      file = "run.pcap" }
--   ... make traffic ...
--   assert(cap:wait(2, 5))                 -- two packets matched, within 5 s
--   for _, p in ipairs(cap:packets()) do print(p.src, p.dst, p.payload) end
--   local summary = cap:stop()             -- packets, dropped, ... ; file flushed
--
-- Capturing needs the CAP_NET_RAW capability (root); without it start
-- returns nil and an error whose code is "EPERM". capture.permitted() says
-- whether this process may capture, and why not.
--
-- The reading path (core/capture.c) writes the file and copies packets into
-- memory; it never decodes. cap:packets() decodes when asked.
local net = require "netharness"

local M = { decode = net.capture_decode, lib_version = net.capture_lib_version }

-- Link types (pcap's LINKTYPE_ numbers) that decode() and read_file know.
M.links = { null = 0, ethernet = 1, raw = 12, loop = 108, linux_sll = 113,
            ipv4 = 228, ipv6 = 229, linux_sll2 = 276 }

local OPTIONS = { interface = "string", filter = "string", file = "string", snaplen = "number",
                  buffer_size = "number", keep = "number", keep_bytes = "number", count = "number",
                  immediate = "boolean",
                  on_packet = "function" }

local Capture = {}
Capture.__index = Capture
Capture.__name = "netharness.capture"

-- opts: interface ("lo"), filter (a BPF expression, as tcpdump's), file (a
-- .pcap to write), snaplen (bytes kept of each packet, 262144), buffer_size
-- (the kernel's buffer in bytes; 32 MiB in immediate mode, else libpcap's
-- 2 MiB), keep (packets kept
-- for cap:packets(), 100000; 0 to keep none) and keep_bytes (64 MiB), count
-- (read no more than this many packets: the file holds exactly these),
-- immediate (true: each packet is read as it arrives; false: in blocks, as
-- tcpdump -w does, up to 10 ms later but far cheaper under a flood: for
-- writing files of heavy traffic; see core/capture.h), and
-- on_packet(p): called with each decoded packet as it arrives (from a task;
-- the packets are then not kept). Returns the capture, or nil, err.
function M.start(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'start' (options table expected, got " .. type(opts) .. ")", 2)
  end
  local copy = {}
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then error("bad argument #1 to 'start' (unknown option " .. tostring(k) .. ")", 2) end
    if type(v) ~= want then
      error(("bad argument #1 to 'start' (%s: a %s expected, got %s)"):format(k, want, type(v)), 2)
    end
    if k ~= "on_packet" then copy[k] = v end
  end
  local ok, c, err = pcall(net.capture_start, copy)
  if not ok then error((tostring(c):gsub("'netharness%.capture_start'", "'start'")), 2) end
  if not c then return nil, err end
  local self = setmetatable({ _c = c, _on_packet = opts.on_packet, interface = opts.interface or "lo",
                              filter = opts.filter, file = opts.file }, Capture)
  if self._on_packet then self:_deliver_live() end
  return self
end

-- The live form: a task hands each packet to on_packet as it is read.
function Capture:_deliver_live()
  local c, on_packet = self._c, self._on_packet
  self._task = net.spawn(function()
    local delivered = 0
    while true do
      local ok = c:wait(delivered + 1)
      if not ok then return end
      delivered = c:count()
      for _, p in ipairs(c:take()) do
        local fine, err = pcall(on_packet, p)
        if not fine then
          self._error = tostring(err)
          error("on_packet: " .. tostring(err), 0)
        end
      end
    end
  end)
end

-- Wait until n packets in all have matched the filter; true, or nil, err
-- (err.timeout after `timeout` seconds; code ECLOSED once stopped).
function Capture:wait(n, timeout) return self._c:wait(n, timeout) end

-- Packets matched so far (read from the kernel; kept or not).
function Capture:count() return self._c:count() end

-- The kept packets, decoded, from the first-th (1 by default): a list of
--   { time, wall, length, captured_length, family, src, dst, protocol, ttl,
--     payload, payload_length, flags, seq, ack, window (TCP),
--     icmp_type, icmp_code, ip_options, fragment, fragment_offset,
--     more_fragments, ip_id, truncated, malformed, problem, ethertype }
function Capture:packets(first) return self._c:packets(first) end

-- pcap's link type of the interface (1: Ethernet, as lo is; 113: "any").
function Capture:link() return self._c:link() end

-- Stop, flush the file, and return a summary: packets (matched and read),
-- received and dropped (pcap_stats: received counts lo's packets twice, as
-- tcpdump's "received by filter" does), interface_dropped, not_kept, and
-- error when reading or on_packet failed. Safe to call again.
function Capture:stop()
  if not self._summary then
    local c = self._c
    local summary = c:stop()
    if self._on_packet and not self._error then
      -- what was read by the stop itself, delivered here, in order
      for _, p in ipairs(c:take()) do
        local fine, err = pcall(self._on_packet, p)
        if not fine then self._error = tostring(err) break end
      end
    end
    if self._task then self._task:cancel() end
    summary.error = summary.error or self._error
    summary.file = self.file
    self._summary = summary
  end
  return self._summary
end

Capture.__close = Capture.stop
function Capture.__tostring(self) return tostring(self._c) end

-- ---- permission ----

local permission
-- True when this process may capture; else false and the reason.
function M.permitted()
  if permission == nil then
    local cap, err = net.capture_start{ filter = "less 1", keep = 0 }
    if cap then
      cap:stop()
      permission = true
    else
      permission = tostring(err)
    end
  end
  if permission == true then return true end
  return false, permission
end

-- ---- reading files ----

-- The packets of a pcap or pcapng file, decoded (times: `wall` only), and
-- its link type; or nil, err.
-- A pcap file as a stream: file:next() -> the next decoded packet (with
-- `wall`, its time of capture), nil at the end, or nil, err where the file
-- stops making sense (code ETRUNCATED: its last record is cut short, as a
-- capture killed mid-write leaves it); file:link(), file:close() (also
-- <close> and the collector). read_file(path, { on_packet = fn }) streams too.
function M.open_file(path)
  if type(path) ~= "string" then
    error("bad argument #1 to 'open_file' (string expected, got " .. type(path) .. ")", 2)
  end
  return net.capture_open_file(path)
end

local READ_OPTIONS = { keep = "number", keep_bytes = "number", on_packet = "function" }

-- The packets of a pcap file, at most `keep` of them (100000) and
-- `keep_bytes` of captured bytes (64 MiB), as a live capture keeps them;
-- with on_packet(p), each is handed over as read and none is kept. Returns
-- packets, link, info: info.packets counts all read, info.not_kept those
-- past the bounds, and info.error says why reading stopped early (a file
-- cut short: its whole packets are returned, as tcpdump -r prints them,
-- with info.truncated = true). nil, err when the file cannot be opened.
function M.read_file(path, opts)
  if type(path) ~= "string" then
    error("bad argument #1 to 'read_file' (string expected, got " .. type(path) .. ")", 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #2 to 'read_file' (options table expected)", 2) end
  for k, v in pairs(opts) do
    if READ_OPTIONS[k] == nil then error("bad argument #2 to 'read_file' (unknown option " .. tostring(k) .. ")", 2) end
    if type(v) ~= READ_OPTIONS[k] or (type(v) == "number" and (v ~= v or v < 0)) then
      error(("bad argument #2 to 'read_file' (%s: a %s expected)"):format(k, READ_OPTIONS[k]), 2)
    end
  end
  local keep, keep_bytes, on_packet = opts.keep or 100000, opts.keep_bytes or 64 << 20, opts.on_packet
  local f <close>, err = net.capture_open_file(path)
  if not f then return nil, err end
  local out, info, bytes = {}, { packets = 0, not_kept = 0 }, 0
  while true do
    local p, perr = f:next()
    if not p then
      if perr then info.error, info.truncated = perr, perr.code == "ETRUNCATED" end
      break
    end
    info.packets = info.packets + 1
    if on_packet then
      on_packet(p)
    elseif #out < keep and bytes + p.captured_length <= keep_bytes then
      out[#out + 1] = p
      bytes = bytes + p.captured_length
    else
      info.not_kept = info.not_kept + 1
    end
  end
  return out, f:link(), info
end

-- ---- one line per packet, as tcpdump prints them ----

-- tcpdump's letters, in its order: [S.] is SYN,ACK, [FP.] FIN,PSH,ACK.
local FLAG_LETTERS = { { "FIN", "F" }, { "SYN", "S" }, { "RST", "R" }, { "PSH", "P" },
                       { "ACK", "." }, { "URG", "U" }, { "ECE", "E" }, { "CWR", "W" }, { "NS", "N" } }

local function endpoint(a, with_port)
  if not a then return "?" end
  if with_port then return a.ip .. "." .. a.port end
  return a.ip
end

-- "12:00:00.000001 IP 127.0.0.1.51234 > 127.0.0.1.8888: UDP, length 17"
function M.format(p)
  local wall = p.wall or 0
  local sec = math.floor(wall)
  local stamp = os.date("%H:%M:%S", sec) .. (".%06d"):format(math.floor((wall - sec) * 1e6 + 0.5) % 1000000)
  local marks = ""
  if p.malformed then marks = " [malformed: " .. tostring(p.problem) .. "]"
  elseif p.truncated then marks = " [|" .. tostring(p.problem) .. "]" end
  if not p.family then
    return ("%s ethertype 0x%04x, length %d%s"):format(stamp, p.ethertype or 0, p.length, marks)
  end
  local ip = p.family == "inet6" and "IP6" or "IP"
  local ports = p.protocol == "udp" or p.protocol == "tcp"
  if p.fragment and p.fragment_offset > 0 then ports = false end
  local head = ("%s %s %s > %s: "):format(stamp, ip, endpoint(p.src, ports), endpoint(p.dst, ports))
  local body
  if p.fragment and p.fragment_offset > 0 then   -- no transport header: tcpdump names the protocol
    body = tostring(p.protocol)
  elseif p.protocol == "udp" and p.src.port ~= 0 then
    body = ("UDP, length %d"):format(p.payload_length)
  elseif p.protocol == "tcp" and p.flags then
    local set, letters = {}, {}
    for f in p.flags:gmatch("[^,]+") do set[f] = true end
    for _, fl in ipairs(FLAG_LETTERS) do
      if set[fl[1]] then letters[#letters + 1] = fl[2] end
    end
    body = ("Flags [%s], seq %d"):format(table.concat(letters), p.seq)
    if p.flags:find("ACK", 1, true) then body = body .. (", ack %d"):format(p.ack) end
    body = body .. (", win %d, length %d"):format(p.window, p.payload_length)
  elseif p.icmp_type then
    body = ("%s type %d, code %d, length %d"):format(p.protocol == "icmp6" and "ICMP6" or "ICMP",
      p.icmp_type, p.icmp_code, p.payload_length)
  else
    body = ("ip-proto-%s %d"):format(tostring(p.protocol), p.payload_length)
  end
  if p.fragment then
    body = body .. (" (frag %d:%d@%d%s)"):format(p.ip_id or 0, p.payload_length, p.fragment_offset,
      p.more_fragments and "+" or "")
  end
  return head .. body .. marks
end

-- ---- a pcap for every failed spec ----

local kept = 0

-- Wrap a spec's body so that its traffic is captured and the file kept only
-- when the body fails (the path goes to stderr; the failure itself is passed
-- on untouched, so busted still counts it as a failure):
--
--   it("answers", capture.on_failure({ filter = "port 8888" }, function() ... end))
--
-- opts are start's (filter, interface, snaplen) plus name (the file's name,
-- default "netharness-<n>"), dir (NH_CAPTURE_DIR, else TMPDIR, else /tmp) and
-- report(path, summary) to say where the file is (default: a line on stderr).
-- Where this process may not capture, the body runs as it is.
function M.on_failure(opts, body)
  if type(opts) == "function" then opts, body = {}, opts end
  if type(body) ~= "function" then
    error("bad argument #2 to 'on_failure' (function expected, got " .. type(body) .. ")", 2)
  end
  opts = opts or {}
  return function(...)
    if not M.permitted() then return body(...) end
    kept = kept + 1
    local dir = opts.dir or os.getenv("NH_CAPTURE_DIR") or os.getenv("TMPDIR") or "/tmp"
    local name = (opts.name or ("netharness-%d-%d"):format(math.floor(net.now() * 1000) % 1000000000, kept))
      :gsub("[^%w%-_.]", "_")
    local path = dir .. "/" .. name .. ".pcap"
    local cap = M.start{ interface = opts.interface, filter = opts.filter, snaplen = opts.snaplen,
                         file = path, keep = 0 }
    if not cap then return body(...) end
    local ok, err = pcall(body, ...)
    local summary = cap:stop()
    if ok then
      os.remove(path)
      return
    end
    if opts.report then
      opts.report(path, summary)
    else
      io.stderr:write(("netharness: the failed spec's packets (%d) are in %s\n"):format(summary.packets, path))
    end
    error(err, 0)
  end
end

return M
