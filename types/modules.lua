---@meta
-- LuaCATS annotations of netharness.http, netharness.fault, netharness.load
-- and netharness.histogram (types/netharness.lua has the core). Checked by
-- spec/types_spec.lua against the modules.

-- ---- netharness.http ----

---Header fields, canonical names, in order.
---@class netharness.http.Header
local Header = {}
---@param name string
---@param value string
function Header:add(name, value) end
---@param name string
---@param value string|nil
function Header:set(name, value) end
---@param name string
---@return string? value the first value
function Header:get(name) end
---@param name string
---@return string[]
function Header:values(name) end
---@param name string
---@return integer
function Header:count_values(name) end
---@param name string
---@return boolean
function Header:has(name) end
---@param name string
function Header:del(name) end
---A comma-separated token, case-insensitive ("Connection: keep-alive, close").
---@param name string
---@param token string
---@return boolean
function Header:has_token(name, token) end
---@return fun(): string?, string? iterator name, value
function Header:each() end
---@return integer fields
function Header:count() end

---@class netharness.http.Request
---@field method string
---@field url string
---@field path string
---@field proto string "HTTP/1.1"
---@field host string
---@field headers netharness.http.Header
---@field body? string
---@field remote_addr? string
local Request = {}
---@param conn netharness.Conn
---@param timeout? number
---@return integer? n
---@return netharness.Error? err
function Request:write(conn, timeout) end

---@class netharness.http.Response
---@field status_code integer
---@field status string "200 OK"
---@field proto string
---@field headers netharness.http.Header
---@field body? string
---@field close? boolean the connection closes after it
local Response = {}
---@param conn netharness.Conn
---@param timeout? number
---@return integer? n
---@return netharness.Error? err
function Response:write(conn, timeout) end

---An HTTP/1.1 client with a pool of kept-alive connections.
---@class netharness.http.Client
local Client = {}
---@param spec {method?: string, url: string, headers?: table<string, string>, body?: string, timeout?: number, follow_redirects?: boolean}
---@return netharness.http.Response? res
---@return any err
function Client:request(spec) end
---@param url string
---@param spec? table as request's
---@return netharness.http.Response? res
---@return any err
function Client:get(url, spec) end
---@return integer kept-alive connections in the pool
function Client:idle_count() end
---Close the pooled connections; the client can still be used.
function Client:close() end

---@class netharness.http
---@field Header table
---@field LIMITS table
---@field STATUS_TEXT table<integer, string>
---@field USER_AGENT string
---@field default_client netharness.http.Client
local http = {}
---@param conn netharness.Conn
---@param opts? table
---@return netharness.http.Request? req
---@return any err an HTTP error (http.is_http_error) or a network error
function http.read_request(conn, opts) end
---@param conn netharness.Conn
---@param req netharness.http.Request
---@param opts? table
---@return netharness.http.Response? res
---@return any err
function http.read_response(conn, req, opts) end
---The response's status, body and whether the connection closes; no message made.
---@param conn netharness.Conn
---@param req netharness.http.Request
---@param opts? table
---@return integer? status_code
---@return any body_or_err
---@return boolean? close
---@return integer? head_length
function http.read_status(conn, req, opts) end
---@param opts? table
---@return table opts completed, for many reads
function http.read_options(opts) end
---@param method string
---@param url string
---@param body? string
---@return netharness.http.Request
function http.new_request(method, url, body) end
---@param status_code integer
---@param body? string
---@param headers? table<string, string>
---@return netharness.http.Response
function http.new_response(status_code, body, headers) end
---@param init? table<string, string|string[]>
---@return netharness.http.Header
function http.new_header(init) end
---@param opts? {timeout?: number, max_idle_per_host?: integer, follow_redirects?: integer}
---@return netharness.http.Client
function http.new_client(opts) end
---@param spec table as Client:request's
---@return netharness.http.Response? res
---@return any err
function http.request(spec) end
---@param url string
---@param spec? table
---@return netharness.http.Response? res
---@return any err
function http.get(url, spec) end
---Serve HTTP/1.x on the listener: a task per connection, handler(req, res).
---@param listener netharness.Listener
---@param handler fun(req: netharness.http.Request, res: table)
---@param opts? {idle_timeout?: number, header_timeout?: number, read_timeout?: number, write_timeout?: number, max_body?: integer, max_body_total?: integer, max_conns?: integer, stream_body?: boolean, server_name?: string}
function http.serve(listener, handler, opts) end
---@param req netharness.http.Request
---@param with_body? boolean
---@return string bytes as httputil.DumpRequest
function http.dump_request(req, with_body) end
---@param res netharness.http.Response
---@param with_body? boolean
---@return string
function http.dump_response(res, with_body) end
---@param req netharness.http.Request
---@return string
function http.format_request(req) end
---@param res netharness.http.Response
---@param with_body? boolean
---@return string
function http.format_response(res, with_body) end
---@param url string
---@return table? parts scheme, host, port, path (https is refused: no TLS)
---@return string? err
function http.parse_url(url) end
---@param err any
---@return boolean
function http.is_http_error(err) end

-- ---- netharness.fault ----

---@class netharness.fault.Toxic
---@field name string
---@field type string
---@field stream "downstream"|"upstream"
---@field toxicity number
---@field attributes table<string, any>

---A fault-injecting proxy (TCP or UDP).
---@class netharness.fault.Proxy
---@field name string
local Proxy = {}
---@return netharness.Addr
function Proxy:listen_addr() end
---@return string
function Proxy:upstream_addr() end
---@return boolean
function Proxy:enabled() end
---@param spec {type: string, name?: string, stream?: "downstream"|"upstream", toxicity?: number, attributes?: table}
---@param lenient? boolean
---@return netharness.fault.Toxic? toxic
---@return string? err
function Proxy:add(spec, lenient) end
---@param name string
---@param changes table
---@param lenient? boolean
---@return netharness.fault.Toxic? toxic
---@return string? err
function Proxy:update(name, changes, lenient) end
---@param name string
---@return boolean? removed
---@return string? err
function Proxy:remove(name) end
---@param name string
---@return netharness.fault.Toxic?
function Proxy:toxic(name) end
---@return netharness.fault.Toxic[]
function Proxy:toxics() end
function Proxy:remove_all() end
---@param on boolean
---@return true? ok
---@return any err
function Proxy:set_enabled(on) end
---@param addr string
---@return boolean? ok
---@return any err
function Proxy:set_upstream(addr) end
---@return table counters
function Proxy:stats() end
function Proxy:close() end

---@class netharness.fault
---@field toxic_types table
local fault = {}
---@param opts {listen?: string, upstream: string, protocol?: "tcp"|"udp", name?: string, seed?: integer, enabled?: boolean, idle_timeout?: number, max_flows?: integer}
---@return netharness.fault.Proxy? proxy
---@return any err
function fault.proxy(opts) end
---@return table<string, netharness.fault.Proxy>
function fault.proxies() end
---An HTTP reverse proxy with HTTP-level faults.
---@param opts table
---@return table? proxy
---@return any err
function fault.http_proxy(opts) end
---Wrap an http.serve handler with HTTP-level faults.
---@param handler function
---@param rules table[]
---@param opts? table
---@return function handler
function fault.http_wrap(handler, rules, opts) end
---Toxiproxy's reset: every proxy up again and without toxics.
function fault.reset() end

-- ---- netharness.load ----

---@class netharness.load
---@field PERCENTILES number[]
local load = {}
---Run a load: an open model (rate + duration, or stages) or a closed one
---(concurrency); returns the result with its histograms and counts.
---@param opts {transaction: function, rate?: number, duration?: number, stages?: table[], concurrency?: integer, max_in_flight?: integer, drain?: number, interval?: number, success?: fun(code: any): boolean, on_interval?: function}
---@return table result
function load.run(opts) end
---@param result table
---@return table summary as the JSON summary line
function load.summary(result) end
---@param h netharness.Histogram
---@return table p50, p90, p95, p99, p99.9, max, mean in ms
function load.percentiles_ms(h) end
---@return table counts
function load.new_counts() end
---@param a table
---@param b table
---@return table a
function load.add_counts(a, b) end
---A finish function for transactions that keep a connection in vu[key]:
---it closes that connection.
---@param key any
---@return fun(vu: table)
function load.closer(key) end

-- ---- netharness.histogram ----

---@class netharness.histogram
local histogram = {}
---@return netharness.Histogram
function histogram.new() end
---@param text string HdrHistogram's base64 V2 form
---@param max? number
---@return netharness.Histogram? h
---@return string? err
function histogram.import(text, max) end
---@param file file*|{write: function}
---@param opts? {start_time?: number, comment?: string}
---@return table writer with :write(h, start_offset, length [, tag])
function histogram.log_writer(file, opts) end
---@param text string an .hlog file
---@return table? log start_time, base_time, intervals
---@return string? err
function histogram.read_log(text) end
---@param line string
---@return table|false interval
function histogram.log_line(line) end
