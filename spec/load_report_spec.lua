-- The load report page, opened in a real browser (Debian's Chromium,
-- headless): it loads with no console message, and its charts hold the
-- run's points (the page's own script counts what the browser drew).
local nh = require "netharness"
local load = require "netharness.load"
local results = require "netharness.load.results"
local report = require "netharness.load.report"
local S = require "support"

local function chromium()
  for _, name in ipairs({ "chromium", "chromium-browser" }) do
    if S.execute("command -v " .. name .. " >/dev/null") then return name end
  end
end

-- The DOM after load, and what the browser logged.
local function open_page(browser, path)
  local profile = os.tmpname() .. ".d"
  local log = os.tmpname()
  local p = S.popen(("timeout 60 %s --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=%s "
    .. "--enable-logging=stderr --v=0 --dump-dom file://%s 2>%s"):format(browser, S.quote(profile), path, S.quote(log)))
  local dom = p:read("a")
  p:close()
  local logged = S.read_file(log) or ""
  os.remove(log)
  S.execute("rm -rf " .. S.quote(profile))
  return dom, logged
end

describe("the load report", function()
  it("loads in Chromium with no console message, every chart holding the run's points", function()
    local browser = chromium()
    if not browser then
      pending("chromium is not installed (make test installs it)")
      return
    end
    local run = S.run(function()
      local out = results.writer{ keep = true }
      local n = 0
      local r = load.run{ rate = 300, duration = 2, interval = 0.25, transaction = function()
        n = n + 1
        if n % 50 == 0 then return nil, { code = "ECONNRESET" } end
        nh.sleep(n % 7 * 0.001)
        return n % 20 == 0 and 503 or 200
      end, on_interval = out.on_interval }
      local summary = out:finish(r)
      return { summary = summary, intervals = out.intervals, corrected = r.corrected, uncorrected = r.uncorrected }
    end, 20)
    local html = report.html(run)
    assert.not_matches("https?://", html)   -- self-contained: nothing to fetch
    local path = os.tmpname() .. ".html"
    local f = assert(io.open(path, "w"))
    f:write(html)
    f:close()
    local dom, logged = open_page(browser, path)
    os.remove(path)
    assert.not_matches("CONSOLE", logged)
    local charts, points = dom:match('data%-check="ok (%d+) charts (%d+) points"')
    assert.is_truthy(charts, "the page's check: " .. tostring(dom:match('data%-check="[^"]*"')))
    assert.are.equal(4, tonumber(charts))
    -- the browser drew exactly what the page declared, and that is the run's
    local declared = 0
    for n in html:gmatch('data%-points="(%d+)"') do declared = declared + tonumber(n) end
    assert.are.equal(declared, tonumber(points))
    local intervals = #run.intervals
    assert.is_true(intervals >= 8)
    local thr = html:match('<svg class="chart" id="throughput" data%-points="(%d+)"')
    assert.are.equal(2 * intervals, tonumber(thr))   -- asked and achieved, one point per interval
    local lat = html:match('<svg class="chart" id="latency" data%-points="(%d+)"')
    assert.are.equal(4 * intervals, tonumber(lat))   -- p50 and p99, corrected and uncorrected
    assert.matches('id="outcomes" data%-points="4"', html)   -- success, 200, 503, ECONNRESET
    assert.matches(">ECONNRESET<", dom)
  end)
end)
