-- The open model's arrival schedule: when the k-th transaction is meant to
-- start, from a list of stages that hold a rate or ramp it linearly.
--
--   local s = schedule.new{ {duration = 10, rate = 1000}, {duration = 30, target = 8000} }
--   s:at(k)          -- seconds from the start of arrival k (0, 1, ...), nil past the end
--   s:count(t)       -- arrivals meant to start before t seconds (not a whole number)
--   s.duration       -- the stages' total
--
-- Arrival k starts when the integral of the rate reaches k, so a ramp's
-- arrivals get closer as it climbs, and a late start of one arrival never
-- moves the next: the schedule is a function of k alone.
local M = {}
M.__index = M

-- stages: { {duration = d, rate = r} | {duration = d, target = r}, ... };
-- a ramp starts from the rate the stage before ended with (0 for the first).
-- Raises on a malformed stage, naming it.
function M.new(stages)
  local list, at, count, rate = {}, 0, 0, 0
  if type(stages) ~= "table" or #stages == 0 then error("stages: a non-empty list expected", 3) end
  for i, st in ipairs(stages) do
    local where = "stages[" .. i .. "]"
    if type(st) ~= "table" then error(where .. ": a table expected", 3) end
    for k in pairs(st) do
      if k ~= "duration" and k ~= "rate" and k ~= "target" then
        error(where .. ": unknown field '" .. tostring(k) .. "'", 3)
      end
    end
    local d = st.duration
    if math.type(d) == nil or d <= 0 or d ~= d or d == math.huge then
      error(where .. ".duration: a positive number of seconds expected", 3)
    end
    if (st.rate == nil) == (st.target == nil) then error(where .. ": give rate or target (one of them)", 3) end
    local to = st.rate or st.target
    if math.type(to) == nil or to < 0 or to ~= to or to == math.huge then
      error(where .. (st.rate and ".rate" or ".target") .. ": a non-negative number per second expected", 3)
    end
    local from = st.rate or rate
    list[i] = { start = at, duration = d, from = from, to = to, before = count }
    count = count + (from + to) / 2 * d
    at, rate = at + d, to
  end
  -- Arrivals are numbered by floats: past 2^53 they no longer step by one.
  if count > 2^53 then
    error(("stages: %.3g arrivals in all is more than a schedule can number (2^53)"):format(count), 3)
  end
  return setmetatable({ stages = list, duration = at, total = count }, M)
end

function M:at(k)
  if k >= self.total then return nil end
  for _, st in ipairs(self.stages) do
    local m = k - st.before
    local n = (st.from + st.to) / 2 * st.duration
    if m < n then
      if m <= 0 then return st.start end
      if st.from == st.to then return st.start + m / st.from end   -- a held rate
      local a = (st.to - st.from) / (2 * st.duration)
      -- the root of a u^2 + from u = m, in the form that stays exact when a is 0
      return st.start + 2 * m / (st.from + math.sqrt(st.from * st.from + 4 * a * m))
    end
  end
  return nil
end

function M:count(t)
  if t <= 0 then return 0 end
  for _, st in ipairs(self.stages) do
    if t < st.start + st.duration then
      local u = t - st.start
      return st.before + st.from * u + (st.to - st.from) * u * u / (2 * st.duration)
    end
  end
  return self.total
end

return M
