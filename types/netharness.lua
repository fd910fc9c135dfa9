---@meta
-- LuaCATS annotations of netharness's core API and its capture module, for
-- lua-language-server (add this folder to workspace.library). Never loaded
-- at run time; spec/types_spec.lua checks every name here against the module
-- and every public name of the module against this file.

---An error: prints like Go's *net.OpError; scripts test `code`.
---@class netharness.Error
---@field op string the operation ("read", "dial", "capture", ...)
---@field net? string the network ("udp", "tcp4", ...)
---@field source? string the local address
---@field addr? string the peer's address
---@field err string the inner text ("connect: connection refused")
---@field code string an errno name, or ETIMEDOUT, ECLOSED, EOF, ...
---@field timeout boolean a deadline or timeout passed
---@field closed boolean the socket was closed
---@field errno? integer
---@field message string the whole text, as tostring(err)

---An IP address and port, immutable.
---@class netharness.Addr
---@field ip string
---@field port integer
---@field network "tcp"|"udp"
---@field family "inet"|"inet6"

---@class netharness.Socket
local Socket = {}
---Close; wakes every task waiting on it with an ECLOSED error. Safe twice.
function Socket:close() end
---@return netharness.Addr
function Socket:local_addr() end
---Go's SetDeadline: an absolute time on net.now()'s clock, or 0 for none.
---@param t number
function Socket:set_deadline(t) end
---@return integer fd the descriptor, -1 once closed
function Socket:fd() end

---A datagram socket bound to a local address (Go's net.PacketConn).
---@class netharness.PacketConn: netharness.Socket
local PacketConn = {}
---@param max? integer bytes at most (default 65536)
---@param timeout? number seconds
---@return string? data
---@return netharness.Addr|netharness.Error from the sender, or the error
---@return boolean? truncated the datagram was longer than max
function PacketConn:read_from(max, timeout) end
---@param data string
---@param address string|netharness.Addr
---@param timeout? number
---@return integer? n
---@return netharness.Error? err
function PacketConn:write_to(data, address, timeout) end
---@param t number
function PacketConn:set_read_deadline(t) end
---@param t number
function PacketConn:set_write_deadline(t) end
---@param bytes integer
---@return true|nil ok
---@return netharness.Error? err
function PacketConn:set_read_buffer(bytes) end
---@param bytes integer
---@return true|nil ok
---@return netharness.Error? err
function PacketConn:set_write_buffer(bytes) end

---A connection: TCP, or UDP dialled to one peer (Go's net.Conn).
---@class netharness.Conn: netharness.Socket
local Conn = {}
---@param max? integer
---@param timeout? number
---@return string? data
---@return netharness.Error? err netharness.EOF at the end of a stream
function Conn:read(max, timeout) end
---@param data string
---@param timeout? number
---@return integer? n
---@return netharness.Error? err
function Conn:write(data, timeout) end
---A line without its "\n" (and "\r"); TCP.
---@param timeout? number
---@return string? line
---@return netharness.Error? err
function Conn:read_line(timeout) end
---Up to and including delim; TCP.
---@param delim string
---@param timeout? number
---@return string? data
---@return netharness.Error? err
function Conn:read_until(delim, timeout) end
---An HTTP head up to its blank line; TCP.
---@param timeout? number
---@param max? integer
---@return string? head
---@return netharness.Error? err
function Conn:read_header_block(timeout, max) end
---Exactly n bytes (ErrUnexpectedEOF when the stream ends first); TCP.
---@param n integer
---@param timeout? number
---@return string? data
---@return netharness.Error? err
function Conn:read_full(n, timeout) end
---The next n bytes without consuming them; TCP.
---@param n integer
---@param timeout? number
---@return string? data
---@return netharness.Error? err
function Conn:peek(n, timeout) end
---@return integer bytes read from the socket and not yet returned
function Conn:buffered() end
---Shut the write side (a FIN); TCP.
---@return true|nil ok
---@return netharness.Error? err
function Conn:close_write() end
---@param bytes integer the longest line or delimited read
---@return integer previous
function Conn:set_line_limit(bytes) end
---@return netharness.Addr
function Conn:remote_addr() end
---@param t number
function Conn:set_read_deadline(t) end
---@param t number
function Conn:set_write_deadline(t) end
---@param bytes integer
---@return true|nil ok
---@return netharness.Error? err
function Conn:set_read_buffer(bytes) end
---@param bytes integer
---@return true|nil ok
---@return netharness.Error? err
function Conn:set_write_buffer(bytes) end

---A TCP listener (Go's net.Listener).
---@class netharness.Listener: netharness.Socket
local Listener = {}
---@param timeout? number
---@return netharness.Conn? conn
---@return netharness.Error? err
function Listener:accept(timeout) end
---@return netharness.Addr
function Listener:addr() end

---A task: a coroutine run by the loop, like a goroutine.
---@class netharness.Task
local Task = {}
---true and the results when it returned; false, the message (with the
---traceback) and the error value as raised when it failed (false and the
---message when cancelled); nil and a timeout error when the wait timed out.
---@param timeout? number
---@return boolean? ok
---@return any ...
function Task:wait(timeout) end
---@return boolean cancelled
function Task:cancel() end
---@return "new"|"waiting"|"running"|"done"|"failed"|"cancelled"
function Task:status() end
---Where an unfinished task is: its stack as debug.traceback shows it; nil once finished.
---@return string?
function Task:traceback() end

---A latency histogram, HdrHistogram's layout (microseconds inside).
---@class netharness.Histogram
local Histogram = {}
---@param seconds number
function Histogram:record(seconds) end
---@param p number in (0, 100]
---@return number? seconds nil when empty
function Histogram:percentile(p) end
---@return integer
function Histogram:count() end
---@return number?
function Histogram:min() end
---@return number?
function Histogram:max() end
---@return number?
function Histogram:mean() end
---@return integer counters held
function Histogram:buckets() end
---@param other netharness.Histogram
function Histogram:merge(other) end
function Histogram:reset() end
---@return string base64 HdrHistogram's V2 compressed form
function Histogram:export() end

---A task parks on a signal until notified, or until a time.
---@class netharness.Signal
local Signal = {}
---@param t? number a time on net.now()'s clock
---@return boolean? notified true notified, false the time passed, nil closed
function Signal:wait(t) end
function Signal:notify() end
function Signal:close() end

---A byte buffer built in C (Go's bytes.Buffer).
---@class netharness.Buffer
local Buffer = {}
---@param s string
---@param i? integer
---@param j? integer
---@return netharness.Buffer self
function Buffer:write(s, i, j) end
---@return integer
function Buffer:len() end
---@return string
function Buffer:string() end
function Buffer:reset() end

---@class netharness
---@field version string
---@field EOF netharness.Error
---@field ErrUnexpectedEOF netharness.Error
local net = {}
---@param network "udp"|"udp4"|"udp6"
---@param address string "host:port", ":0" for any port
---@return netharness.PacketConn? conn
---@return netharness.Error? err
function net.listen_packet(network, address) end
---@param network "tcp"|"tcp4"|"tcp6"
---@param address string
---@param opts? {backlog?: integer}
---@return netharness.Listener? ln
---@return netharness.Error? err
function net.listen(network, address, opts) end
---A TCP listening socket this process was handed (fd 3 of LISTEN_FDS):
---Go's net.FileListener. The Listener takes the fd over.
---@param fd integer
---@return netharness.Listener? ln
---@return netharness.Error? err ENOTSOCK when fd is not a TCP listener
function net.file_listener(fd) end
---@param network string "tcp", "udp4", ...
---@param address string|netharness.Addr
---@param timeout? number
---@return netharness.Conn? conn
---@return netharness.Error? err
function net.dial(network, address, timeout) end
---@param network string
---@param address string
---@param timeout? number
---@return netharness.Addr? addr
---@return netharness.Error? err
function net.resolve(network, address, timeout) end
---@param fn function
---@param ... any its arguments
---@return netharness.Task
function net.spawn(fn, ...) end
---Run the loop until every task has finished (from the main chunk).
---@param timeout? number
---@return boolean? done
function net.run(timeout) end
---@param seconds number
function net.sleep(seconds) end
---@return number seconds on the monotonic clock of deadlines
function net.now() end
---@return netharness.Task? task the running task
function net.running() end
---@return integer
function net.live_tasks() end
function net.cancel_all() end
---@param fn? fun(task: netharness.Task, message: string, err: any) message has the traceback; err is the value raised
---@return function? previous
function net.on_task_error(fn) end
---@param tasks netharness.Task[]
---@param timeout? number
---@return true|nil ok
---@return any problem
function net.wait_all(tasks, timeout) end
---@param err any
---@return boolean
function net.is_timeout(err) end
---@param err any
---@return boolean
function net.is_eof(err) end
---@return netharness.Histogram
function net.new_histogram() end
---@param text string
---@param max? number
---@return netharness.Histogram? h
---@return string? err
function net.import_histogram(text, max) end
---@return netharness.Signal
function net.signal() end
---@return netharness.Buffer
function net.buffer() end
---coroutine.resume and coroutine.wrap that let a task wait inside a coroutine.
---@param co thread
---@return boolean ok
---@return any ...
function net.coroutine_resume(co, ...) end
---@param fn function
---@return function
function net.coroutine_wrap(fn) end

-- ---- netharness.capture ----

---A decoded packet (capture:packets(), capture.decode, capture.read_file).
---@class netharness.Packet
---@field time? number net.now()'s clock (live captures)
---@field wall? number seconds since the epoch
---@field length integer bytes on the wire
---@field captured_length integer
---@field family? "inet"|"inet6"
---@field src? netharness.Addr with the port for UDP and TCP
---@field dst? netharness.Addr
---@field protocol? "udp"|"tcp"|"icmp"|"icmp6"|integer
---@field ttl? integer
---@field payload string
---@field payload_length integer bytes on the wire
---@field flags? string TCP: "SYN", "SYN,ACK", ...
---@field seq? integer
---@field ack? integer
---@field window? integer
---@field icmp_type? integer
---@field icmp_code? integer
---@field ip_options? true
---@field fragment? true
---@field fragment_offset? integer
---@field more_fragments? boolean
---@field ip_id? integer
---@field truncated? true cut by the capture
---@field malformed? true
---@field problem? string which header, and how
---@field ethertype? integer

---@class netharness.CaptureSummary
---@field packets integer matched and read
---@field received integer pcap_stats (lo's packets twice)
---@field dropped integer by the kernel
---@field interface_dropped integer
---@field not_kept integer
---@field interface string
---@field link integer
---@field file? string
---@field error? string

---@class netharness.Capture
---@field interface string
---@field filter? string
---@field file? string
local Capture = {}
---@param n integer
---@param timeout? number
---@return true|nil ok
---@return netharness.Error? err
function Capture:wait(n, timeout) end
---@return integer
function Capture:count() end
---@param first? integer
---@return netharness.Packet[]
function Capture:packets(first) end
---@return integer link pcap's link type
function Capture:link() end
---@return netharness.CaptureSummary
function Capture:stop() end

---@class netharness.capture
---@field links table<string, integer>
local capture = {}
---@param opts {interface?: string, filter?: string, file?: string, snaplen?: integer, buffer_size?: integer, keep?: integer, keep_bytes?: integer, count?: integer, immediate?: boolean, on_packet?: fun(p: netharness.Packet)}
---@return netharness.Capture? cap
---@return netharness.Error? err
function capture.start(opts) end
---@return boolean ok
---@return string? why
function capture.permitted() end
---@class netharness.CaptureFileInfo
---@field packets integer read from the file
---@field not_kept integer past keep or keep_bytes
---@field error? netharness.Error why reading stopped early (code ETRUNCATED: the file is cut short)
---@field truncated? boolean

---A pcap file read one packet at a time (capture.open_file).
---@class netharness.CaptureFile
local CaptureFile = {}
---@return netharness.Packet|nil packet nil at the end of the file
---@return netharness.Error? err where the file stops making sense
function CaptureFile:next() end
---@return integer link pcap's link type
function CaptureFile:link() end
function CaptureFile:close() end

---The packets of a pcap file, bounded as a live capture keeps them; with
---on_packet, streamed and none kept. A file cut short gives its whole packets
---and info.truncated.
---@param path string
---@param opts? {keep?: integer, keep_bytes?: integer, on_packet?: fun(p: netharness.Packet)}
---@return netharness.Packet[]? packets
---@return integer|netharness.Error link or the error
---@return netharness.CaptureFileInfo? info
function capture.read_file(path, opts) end
---@param path string
---@return netharness.CaptureFile? file
---@return netharness.Error? err
function capture.open_file(path) end
---@param frame string
---@param link? integer
---@param length? integer
---@return netharness.Packet
function capture.decode(frame, link, length) end
---@param p netharness.Packet
---@return string line tcpdump's
function capture.format(p) end
---@param opts {filter?: string, interface?: string, snaplen?: integer, name?: string, dir?: string, report?: fun(path: string, summary: netharness.CaptureSummary)}
---@param body function
---@return function
function capture.on_failure(opts, body) end
---@return string
function capture.lib_version() end
