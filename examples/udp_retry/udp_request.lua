-- udp_request: the client code under test in this example. A request over
-- UDP is a datagram "ID PAYLOAD"; the answer is "ID ANSWER". Datagrams get
-- lost, so the client waits `timeout` seconds for the answer and sends the
-- request again, `retries` times at most; answers with another ID (late
-- answers to an earlier try, strays) are ignored.
--
--   local request = require "udp_request"
--   local answer, tries_or_err = request("127.0.0.1:7000", "time?", { timeout = 0.2, retries = 3 })
local net = require "netharness"

local next_id = 0

return function(address, payload, opts)
  opts = opts or {}
  local timeout, retries = opts.timeout or 0.5, opts.retries or 3
  local c, err = net.dial("udp", address)
  if not c then return nil, err end
  next_id = next_id + 1
  local id = tostring(next_id)
  for try = 1, retries + 1 do
    local ok, werr = c:write(id .. " " .. payload)
    -- a refused port (ICMP unreachable) shows on the next read or write
    if not ok and werr.code ~= "ECONNREFUSED" then
      c:close()
      return nil, werr
    end
    local deadline = net.now() + timeout
    while true do
      local data, rerr = c:read(1500, math.max(0, deadline - net.now()))
      if data then
        local got, answer = data:match("^(%S+) (.*)$")
        if got == id then
          c:close()
          return answer, try
        end
        -- not ours: keep waiting out this try's time
      elseif net.is_timeout(rerr) then
        break
      elseif rerr.code ~= "ECONNREFUSED" then
        c:close()
        return nil, rerr
      end
    end
  end
  c:close()
  return nil, setmetatable({ code = "ETIMEDOUT", timeout = true,
    message = ("request %s: no answer after %d tries of %gs"):format(address, retries + 1, timeout) },
    { __tostring = function(e) return e.message end })
end
