-- A UDP query and its answer as a load transaction, for DNS-like services.
-- Every request starts with a unique id (its first id_bytes bytes, written
-- over the payload's), and an answer counts only when it starts with the
-- same id: an answer that comes after its request timed out is counted as a
-- late answer (vu.note), never taken for the answer to the next request.
-- Each virtual user has its own connected socket.
--
--   local tx, finish = load_udp.transaction("127.0.0.1:5353", {
--     payload = "ping", id_bytes = 8, timeout = 1, shard = 0, shards = 1 })
--
-- A request without its answer in time is nil, err with err.code ETIMEDOUT
-- (lost, or slower than the timeout); an ICMP refusal is ECONNREFUSED.
local net = require "netharness"
local load = require "netharness.load"

local M = {}

function M.transaction(address, opts)
  opts = opts or {}
  local id_bytes = opts.id_bytes or 8
  if math.type(id_bytes) ~= "integer" or id_bytes < 1 or id_bytes > 8 then
    error("id_bytes: a whole number from 1 to 8 expected", 2)
  end
  local payload = opts.payload or ""
  if type(payload) ~= "string" then error("payload: a string expected", 2) end
  if #payload < id_bytes then payload = payload .. string.rep("\0", id_bytes - #payload) end
  local rest = payload:sub(id_bytes + 1)
  local timeout = opts.timeout or 1
  local shard, shards = opts.shard or 0, opts.shards or 1
  local modulus = id_bytes == 8 and math.maxinteger or 1 << (8 * id_bytes)
  local seq = 0
  local fmt = ">I" .. id_bytes
  local key = {}   -- the virtual user's socket for this transaction

  local function transaction(vu)
    local c = vu[key]
    if not c then
      local err
      c, err = net.dial("udp", address)
      if not c then return nil, err end
      vu[key] = c
    end
    -- ids interleave across shards, so no two workers send the same one
    local id = string.pack(fmt, (shard + shards * seq) % modulus)
    seq = seq + 1
    local ok, err = c:write(id .. rest)
    if not ok then return nil, err end
    local deadline = net.now() + timeout
    while true do
      local data
      data, err = c:read(65536, math.max(0, deadline - net.now()))
      if not data then return nil, err end
      if data:sub(1, id_bytes) == id then
        vu.bytes = vu.bytes + #data
        return true
      end
      vu.note("late answer")
    end
  end

  return transaction, load.closer(key)
end

return M
