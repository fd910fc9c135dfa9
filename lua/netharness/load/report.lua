-- A load run's report: one self-contained HTML page (no network, no library)
-- with its charts drawn here as inline SVG: throughput over time (asked and
-- achieved), latency percentiles over time (corrected and uncorrected), the
-- percentile distribution on HdrHistogram's log scale, and outcomes by cause.
--
--   local html = report.html{ title = "...", summary = rec, intervals = { rec, ... },
--                             corrected = Histogram, uncorrected = Histogram }
--
-- Each chart's <svg> says how many points it drew (data-points), and a few
-- lines of script check in the browser that every series rendered
-- (spec/load_report_spec.lua opens the page in Chromium).
local M = {}

local W, H, L, R, T, B = 640, 260, 64, 150, 16, 36   -- size and margins

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function nice_max(v)
  if not v or v <= 0 then return 1 end
  local e = 10 ^ math.floor(math.log(v, 10))
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if v <= m * e then return m * e end
  end
  return 10 * e
end

local function num(v)
  if v >= 100 then return ("%.0f"):format(v) end
  if v >= 1 then return ("%.3g"):format(v) end
  return ("%.2g"):format(v)
end

local COLORS = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" }

-- A line chart: series = { {name, points = { {x, y}, ... }, dash = bool}, ... }.
-- xticks: labels for x values (a function), ylabel.
local function line_chart(id, title, series, opts)
  local xmin, xmax, ymax = math.huge, -math.huge, 0
  local npoints = 0
  for _, s in ipairs(series) do
    for _, p in ipairs(s.points) do
      xmin, xmax, ymax = math.min(xmin, p[1]), math.max(xmax, p[1]), math.max(ymax, p[2])
      npoints = npoints + 1
    end
  end
  if xmin == math.huge then xmin, xmax = 0, 1 end
  if xmax == xmin then xmax = xmin + 1 end
  ymax = nice_max(ymax)
  local pw, ph = W - L - R, H - T - B
  local function sx(x) return L + (x - xmin) / (xmax - xmin) * pw end
  local function sy(y) return T + ph - y / ymax * ph end
  local out = {}
  out[#out + 1] = ('<figure><figcaption>%s</figcaption><svg class="chart" id="%s" data-points="%d" '
    .. 'data-series="%d" viewBox="0 0 %d %d" width="%d" height="%d" role="img">')
    :format(esc(title), id, npoints, #series, W, H, W, H)
  for i = 0, 4 do   -- y grid and labels
    local y = ymax * i / 4
    out[#out + 1] = ('<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text x="%d" y="%.1f" '
      .. 'text-anchor="end">%s</text>'):format(L, W - R, sy(y), sy(y), L - 4, sy(y) + 4, num(y))
  end
  local xticks = opts.xticks
  if not xticks then
    xticks = {}
    for i = 0, 5 do xticks[#xticks + 1] = xmin + (xmax - xmin) * i / 5 end
  end
  for _, x in ipairs(xticks) do   -- x labels
    if x >= xmin and x <= xmax then
      out[#out + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>')
        :format(sx(x), H - B + 16, esc(opts.xlabel_of and opts.xlabel_of(x) or num(x)))
    end
  end
  out[#out + 1] = ('<text x="%d" y="%d" text-anchor="middle">%s</text>'):format(L + pw / 2, H - 4, esc(opts.xlabel))
  out[#out + 1] = ('<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>')
    :format(T + ph / 2, T + ph / 2, esc(opts.ylabel))
  for i, s in ipairs(series) do
    local pts = {}
    for j, p in ipairs(s.points) do pts[j] = ("%.1f,%.1f"):format(sx(p[1]), sy(p[2])) end
    local color = COLORS[(i - 1) % #COLORS + 1]
    out[#out + 1] = ('<polyline class="series" data-name="%s" data-n="%d" fill="none" stroke="%s" '
      .. 'stroke-width="1.5"%s points="%s"/>'):format(esc(s.name), #s.points, color,
      s.dash and ' stroke-dasharray="5 3"' or "", table.concat(pts, " "))
    out[#out + 1] = ('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
      .. '<text x="%d" y="%d">%s</text>'):format(W - R + 8, W - R + 28, T + 6 + i * 16, T + 6 + i * 16, color,
      s.dash and ' stroke-dasharray="5 3"' or "", W - R + 32, T + 10 + i * 16, esc(s.name))
  end
  out[#out + 1] = "</svg></figure>"
  return table.concat(out, "\n")
end

-- HdrHistogram's percentile plot: x = log10(1 / (1 - p)), 0 at p50 ...
local function distribution(h)
  local pts = {}
  if not h or h:count() == 0 then return pts end
  local top = math.max(1, math.log(h:count(), 10))   -- beyond 1/count there is nothing to see
  for x = 0.05, top + 1e-9, 0.05 do
    local p = 100 * (1 - 10 ^ -x)
    if p > 0 and p <= 100 then pts[#pts + 1] = { x, h:percentile(p) * 1000 } end
  end
  pts[#pts + 1] = { top, h:max() * 1000 }
  return pts
end

local function bars(id, title, items)
  local out = { ('<figure><figcaption>%s</figcaption><svg class="chart" id="%s" data-points="%d" '
    .. 'data-series="1" viewBox="0 0 %d %d" width="%d" height="%d" role="img">'):format(
    esc(title), id, #items, W, 24 * math.max(#items, 1) + 8, W, 24 * math.max(#items, 1) + 8) }
  local max = 0
  for _, it in ipairs(items) do max = math.max(max, it[2]) end
  for i, it in ipairs(items) do
    local y = 4 + (i - 1) * 24
    local w = max > 0 and it[2] / max * (W - 260) or 0
    out[#out + 1] = ('<text x="150" y="%d" text-anchor="end">%s</text><rect class="bar" x="156" y="%d" '
      .. 'width="%.1f" height="18" fill="%s"/><text x="%.1f" y="%d">%d</text>'):format(y + 14, esc(it[1]), y,
      math.max(w, 1), it[3] or "#1f77b4", 160 + w, y + 14, it[2])
  end
  if #items == 0 then out[#out + 1] = '<text x="8" y="20">no outcomes</text>' end
  out[#out + 1] = "</svg></figure>"
  return table.concat(out, "\n")
end

local function outcomes(s)
  local items = {}
  local function sorted(t)
    local keys = {}
    for k in pairs(t or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    return keys
  end
  items[#items + 1] = { "success", s.success or 0, "#2ca02c" }
  for _, code in ipairs(sorted(s.status)) do items[#items + 1] = { "HTTP " .. code, s.status[code] } end
  for _, cause in ipairs(sorted(s.errors)) do items[#items + 1] = { cause, s.errors[cause], "#d62728" } end
  if (s.dropped or 0) > 0 then items[#items + 1] = { "dropped: over capacity", s.dropped, "#ff7f0e" } end
  return items
end

local function ms(v) return v and ("%.3f ms"):format(v) or "-" end

local CHECK = [[
<script>
// In the browser: every chart must have drawn each of its series with points.
addEventListener("load", () => {
  const charts = [...document.querySelectorAll("svg.chart")];
  const bad = [];
  let points = 0;
  for (const svg of charts) {
    for (const line of svg.querySelectorAll("polyline.series")) {
      const n = line.points.numberOfItems;
      if (n !== Number(line.dataset.n)) bad.push(svg.id + ":" + line.dataset.name);
      points += n;
    }
    for (const bar of svg.querySelectorAll("rect.bar")) { if (bar.getBBox().width <= 0) bad.push(svg.id); points++; }
  }
  document.body.dataset.check = bad.length ? "bad " + bad.join(" ") : "ok " + charts.length + " charts " + points + " points";
});
</script>]]

function M.html(run)
  local s, iv = run.summary or {}, run.intervals or {}
  local thr, lat = { { name = "achieved", points = {} } }, {}
  if s.asked_rate then thr[2] = { name = "asked", points = {}, dash = true } end
  local names = { { "corrected_ms", "p50", "p50 corrected" }, { "corrected_ms", "p99", "p99 corrected" },
    { "uncorrected_ms", "p50", "p50 uncorrected" }, { "uncorrected_ms", "p99", "p99 uncorrected" } }
  for i, n in ipairs(names) do lat[i] = { name = n[3], points = {}, dash = n[1] == "uncorrected_ms" } end
  for _, r in ipairs(iv) do
    thr[1].points[#thr[1].points + 1] = { r.t, r.achieved_rate or 0 }
    if thr[2] then thr[2].points[#thr[2].points + 1] = { r.t, r.asked_rate or 0 } end
    for i, n in ipairs(names) do
      local v = r[n[1]] and r[n[1]][n[2]]
      if v then lat[i].points[#lat[i].points + 1] = { r.t, v } end
    end
  end
  local dist = {
    { name = "corrected", points = distribution(run.corrected) },
    { name = "uncorrected", points = distribution(run.uncorrected), dash = true },
  }
  local function pct_label(x) return ("%.10g%%"):format(100 * (1 - 10 ^ -x)) end
  local decades = {}
  for x = 0, 7 do decades[#decades + 1] = x end
  local c, u = s.corrected_ms or {}, s.uncorrected_ms or {}
  local rows = {}
  for _, p in ipairs({ "p50", "p90", "p99", "p99.9", "max" }) do
    rows[#rows + 1] = ("<tr><th>%s</th><td>%s</td><td>%s</td></tr>"):format(p, ms(c[p]), ms(u[p]))
  end
  local facts = {
    ("model %s%s"):format(esc(s.model or "?"), s.shards and s.shards > 1 and (", " .. s.shards .. " workers") or ""),
    s.asked_rate and ("asked %.1f/s"):format(s.asked_rate) or ("concurrency %s"):format(esc(s.concurrency or "?")),
    ("achieved %.1f/s"):format(s.achieved_rate or 0),
    ("%d completed, %d succeeded, %d failed, %d dropped"):format(s.completed or 0, s.success or 0,
      s.failure or 0, s.dropped or 0),
    ("%.1f s"):format(s.duration or 0),
  }
  return table.concat({
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8"><title>' .. esc(run.title or "netharness load report") .. "</title>",
    "<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}figure{margin:16px 0}"
      .. "figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:11px;fill:#444}"
      .. ".grid{stroke:#ddd}table{border-collapse:collapse}td,th{padding:2px 12px;text-align:right;"
      .. "border-bottom:1px solid #eee}</style></head><body>",
    "<h1>" .. esc(run.title or "netharness load report") .. "</h1>",
    "<p>" .. table.concat(facts, " · ") .. "</p>",
    "<table><tr><th></th><th>corrected</th><th>uncorrected</th></tr>" .. table.concat(rows) .. "</table>",
    "<p>Corrected latency counts from when a transaction was meant to start (what a user arriving then "
      .. "waits); uncorrected from when it started (the service time). They differ when the generator "
      .. "had to wait: coordinated omission.</p>",
    line_chart("throughput", "Throughput (transactions per second)", thr, { xlabel = "seconds", ylabel = "per second" }),
    line_chart("latency", "Latency over time (ms)", lat, { xlabel = "seconds", ylabel = "ms" }),
    line_chart("distribution", "Latency by percentile (HdrHistogram's log scale)", dist,
      { xlabel = "percentile", ylabel = "ms", xlabel_of = pct_label, xticks = decades }),
    bars("outcomes", "Outcomes by cause", outcomes(s)),
    CHECK,
    "</body></html>",
  }, "\n")
end

return M
