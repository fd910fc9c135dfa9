-- scripts/http_load.lua, udp_load.lua and merge_results.lua as a user runs
-- them: wrk's options, counts by cause, bytes as wrk counts them, JSON lines,
-- a lookup that fails, worker processes and Indexed Job shards merged
-- exactly, and the progress line on a terminal only.
local nh = require "netharness"
local json = require "dkjson"
local histogram = require "netharness.histogram"
local S = require "support"

-- Run a command (a child process, while our servers keep serving on the
-- loop): exit code and output.
local function run(cmd, limit)
  local proc = S.start(cmd, limit or 30)
  local code, out = S.wait_exit(proc, (limit or 30) + 5)
  S.stop(proc)
  return code, out
end

local function read_jsonl(path)
  local recs = {}
  for line in (S.read_file(path) or ""):gmatch("[^\n]+") do
    local rec, _, err = json.decode(line)
    assert(type(rec) == "table", "not JSON: " .. tostring(err) .. ": " .. line)
    recs[#recs + 1] = rec
  end
  return recs
end

-- A server whose every answer is the same bytes, counted as written.
local function counting_server()
  local seen = { bytes = 0, answers = 0, headers = {} }
  local ln, addr = S.http_server(function(req, res)
    seen.headers[#seen.headers + 1] = req.headers:get("X-Load")
    res.status_code = req.url.path == "/missing" and 404 or 200
    res.body = "hello"
    res.writer = function(conn, bytes, t)
      seen.size = #bytes
      seen.bytes, seen.answers = seen.bytes + #bytes, seen.answers + 1
      return conn:write(bytes, t)
    end
  end)
  return ln, "http://" .. addr, seen
end

describe("scripts/http_load.lua", function()
  it("takes wrk's short options and headers, counts bytes as wrk does, writes JSON lines", function()
    S.run(function()
      local ln, base, seen = counting_server()
      local jpath = os.tmpname()
      local code, out = run(("%s scripts/http_load.lua -c 2 -d 1s -H 'X-Load: yes' --json %s %s/")
        :format(S.lua, jpath, base))
      assert.are.equal(0, code, out)
      assert.matches("Running 1s test @ " .. base:gsub("%p", "%%%0") .. "/", out)
      assert.matches("\n  2 connections\n", out)
      assert.matches("Latency Distribution", out)
      assert.are.equal("yes", seen.headers[1])
      local recs = read_jsonl(jpath)
      os.remove(jpath)
      local summary = recs[#recs]
      assert.are.equal("summary", summary.type)
      assert.are.equal("closed", summary.model)
      assert.is_true(#recs >= 2)
      for i = 1, #recs - 1 do
        assert.are.equal("interval", recs[i].type)
        assert.is_number(recs[i].t)
        assert.is_number(recs[i].achieved_rate)
        assert.is_number(recs[i].corrected_ms.p99)
        assert.is_number(recs[i].uncorrected_ms["p99.9"])
      end
      local answered = summary.status["200"]
      assert.is_true(answered > 100, out)
      assert.are.equal(answered * seen.size, summary.bytes)   -- head and body of each answer
      assert.matches(("\n  %d requests in "):format(answered), out)
      ln:close()
    end, 40)
  end)

  it("counts answers that are not 2xx or 3xx, and fails when nothing succeeded", function()
    S.run(function()
      local ln, base = counting_server()
      local code, out = run(("%s scripts/http_load.lua -c 2 -d 0.5 %s/missing"):format(S.lua, base))
      assert.are.equal(1, code, out)
      local n = tonumber(out:match("Non%-2xx or 3xx responses: (%d+) %(404 %d+%)"))
      assert.is_true(n and n > 10, out)
      assert.matches(("non2xx=%d"):format(n), out)
      ln:close()
    end, 30)
  end)

  it("keeps to its duration and prints no percentiles when nothing answers", function()
    S.run(function()
      local t0 = nh.now()
      local code, out = run(S.lua .. " scripts/http_load.lua -c 3 -d 1 http://nosuchhost.invalid/", 30)
      assert.are.equal(1, code, out)
      assert.is_true(nh.now() - t0 < 6, "took " .. (nh.now() - t0))
      local secs = tonumber(out:match("requests in ([%d.]+)s"))
      assert.is_true(secs and secs < 1.5, out)
      assert.matches("no responses: no latency to report", out)
      assert.not_matches("%d%%", out)
      assert.matches("Errors: %d+ %(", out)
      local refused = "http://127.0.0.1:" .. S.free_port("tcp") .. "/"
      code, out = run(S.lua .. " scripts/http_load.lua -d 0.5 -R 100 " .. refused, 30)
      assert.are.equal(1, code, out)
      assert.matches("Errors: 50 %(ECONNREFUSED 50%)", out)
    end, 40)
  end)

  it("drops endless bodies as they come and counts their bytes at once (issue 27)", function()
    -- Each connection gets a chunked body that never ends. Before, every
    -- body was kept whole (-c 16: 1.0 GB in 3 s) and "MB read" said 0.00.
    S.run(function()
      local ln = assert(nh.listen("tcp", "127.0.0.1:0"))
      local piece = ("%x\r\n%s\r\n"):format(65536, string.rep("b", 65536))
      nh.spawn(function()
        while true do
          local c = ln:accept()
          if not c then return end
          nh.spawn(function()
            if c:read_header_block(5) then
              local ok = c:write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 5)
              while ok do ok = c:write(piece, 5) end
            end
            c:close()
          end)
        end
      end)
      local json_path = os.tmpname()
      local proc = S.start(S.lua .. " scripts/http_load.lua -c 16 -d 3 --timeout 10 --quiet --json " .. json_path
        .. " http://" .. tostring(ln:addr()) .. "/", 30)
      local pid
      for _ = 1, 100 do
        pid = S.pids(proc, "lua5.4")[1]
        if pid then break end
        nh.sleep(0.02)
      end
      local peak = 0
      while S.rss_kib(pid) do
        peak = math.max(peak, S.rss_kib(pid, true) or 0)
        nh.sleep(0.1)
      end
      local _, out = S.wait_exit(proc, 20)
      ln:close()
      local recs = read_jsonl(json_path)
      os.remove(json_path)
      local mb = tonumber(out:match("([%d.]+)MB read"))
      assert.is_true(mb and mb > 50, out)
      assert.is_true(recs[1].type == "interval" and recs[1].bytes > 10e6, "first interval: " .. tostring(recs[1].bytes))
      assert.is_true(peak < 96 * 1024, ("peak RSS %.0f MiB"):format(peak / 1024))
    end, 40)
  end)

  it("keeps the body only when a check asks for it", function()
    S.run(function()
      local load = require "netharness.load"
      local load_http = require "netharness.load.http"
      local ln, addr = S.http_server(function(req, res) res.body = req.url.path == "/ok" and "all ok" or "nope" end)
      local tx, finish = load_http.transaction("http://" .. addr .. "/ok", {
        check = function(code, body) return code == 200 and body == "all ok", "wrong body" end })
      local r = load.run{ concurrency = 2, duration = 0.3, transaction = tx, finish = finish }
      assert.is_true(r.counts.success > 10)
      assert.are.equal(0, r.counts.failure)
      tx, finish = load_http.transaction("http://" .. addr .. "/bad", {
        check = function(_, body) return body == "all ok", "wrong body" end, keep_body = 2 })
      r = load.run{ concurrency = 2, duration = 0.3, transaction = tx, finish = finish }
      assert.are.equal(0, r.counts.success)
      assert.is_true(r.counts.errors["wrong body"] > 10)
      assert.has_error(function() load_http.transaction("http://" .. addr .. "/", { keep_body = -1 }) end)
      ln:close()
    end, 20)
  end)

  it("says what is wrong with its arguments, exiting 2", function()
    S.run(function()
      local cases = {
        { "-c", "option .%-c. requires an argument" },
        { "-d 5x http://127.0.0.1:1/", "must be a duration" },
        { "http://a/ http://b/", "only one URL" },
        { "-H nocolon http://127.0.0.1:1/", "bad header" },
        { "-q http://127.0.0.1:1/", "unknown option .%-q." },
        { "-R 0 http://127.0.0.1:1/", "%-%-rate must be a positive, finite number" },
        -- issue 27: each of these printed the banner, then a traceback or a
        -- whole run of errors
        { "-R 1e999 http://127.0.0.1:1/", "%-%-rate must be a positive, finite number" },
        { "-R 1e16 -d 1 http://127.0.0.1:1/", "more than a schedule can number" },
        { "-d 0 http://127.0.0.1:1/", "%-%-duration must be more than 0" },
        { "-d 1 http://127.0.0.1:99999/", "invalid port" },
        { "-d 1 http://[::1/", "missing ']' in host" },
        { "--shard 3 --shards 2 http://127.0.0.1:1/", "below" },
        { "ftp://x/", "bad URL" },
      }
      for _, c in ipairs(cases) do
        local code, out = run(S.lua .. " scripts/http_load.lua " .. c[1])
        assert.are.equal(2, code, c[1] .. ": " .. out)
        assert.matches(c[2], out)
      end
      local code, out = run(S.lua .. " scripts/http_load.lua --help")
      assert.are.equal(0, code)
      assert.matches("%-R, %-%-rate R", out)
      for _, c in ipairs({ { "--id-bytes 1.5 -d 1 127.0.0.1:9", "%-%-id%-bytes must be a whole number from 1 to 8" },
                           { "-d 1 127.0.0.1:99999", "invalid port" }, { "-d 1 [::1", "missing ']'" } }) do
        code, out = run(S.lua .. " scripts/udp_load.lua " .. c[1])
        assert.are.equal(2, code, c[1] .. ": " .. out)
        assert.matches(c[2], out)
        assert.not_matches("traceback", out)
      end
    end, 60)
  end)

  it("runs the open model in worker processes and merges them exactly", function()
    S.run(function()
      local ln, base = counting_server()
      local dir = os.tmpname()
      local jpath, report = dir .. ".jsonl", dir .. ".html"
      local code, out = run(("%s scripts/http_load.lua -R 400 -d 1 -t 2 --json %s --report %s %s/")
        :format(S.lua, jpath, report, base))
      assert.are.equal(0, code, out)
      assert.matches("400 requests/sec asked %(open model%), at most 1000 in flight, 2 workers", out)
      assert.matches("\n  400 requests in ", out)
      assert.matches("Requests/sec asked:%s+400%.00", out)
      local recs = read_jsonl(jpath)
      local s = recs[#recs]
      assert.are.same({ "summary", 2, 400, 400, 400 }, { s.type, s.shards, s.scheduled, s.success, s.asked_rate })
      assert.matches("<svg class=\"chart\" id=\"latency\"", S.read_file(report))
      os.remove(jpath)
      os.remove(report)
      os.remove(dir)
      ln:close()
    end, 40)
  end)
end)

describe("scripts/http_load.lua against nginx", function()
  it("sends the asked rate, every request answered", function()
    S.run(function()
      local dir = os.tmpname() .. ".d"
      S.execute("mkdir -p " .. S.quote(dir))
      local port = S.free_port("tcp")   -- nginx cannot listen on port 0
      local f = assert(io.open(dir .. "/nginx.conf", "w"))
      f:write((([[
worker_processes 1;
daemon off;
pid DIR/nginx.pid;
error_log DIR/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  keepalive_requests 100000;
  server { listen 127.0.0.1:PORT; location / { return 200 "nginx"; } }
}
]]):gsub("DIR", dir):gsub("PORT", port)))
      f:close()
      local proc = S.start("exec nginx -p " .. dir .. " -c " .. dir .. "/nginx.conf", 60)
      local url = "http://127.0.0.1:" .. port .. "/"
      local ready = false
      for _ = 1, 100 do
        if require("netharness.http").get(url, { timeout = 2 }) then ready = true break end
        nh.sleep(0.05)
      end
      assert.is_true(ready, "nginx did not start: " .. S.output(proc))
      for _, rate in ipairs({ 1000, 5000 }) do
        local code, out = run(("%s scripts/http_load.lua -R %d -d 1 --quiet %s"):format(S.lua, rate, url))
        assert.are.equal(0, code, out)
        assert.matches(("\n  %d requests in "):format(rate), out)
        assert.matches(("Requests/sec asked:%%s+%d%%.00\nRequests/sec:%%s+%d%%.00"):format(rate, rate), out)
      end
      S.stop(proc)
      S.execute("rm -rf " .. S.quote(dir))
    end, 40)
  end)
end)

describe("Indexed Job shards and scripts/merge_results.lua", function()
  it("merge to counts that are the sum and percentiles of one histogram of everything", function()
    S.run(function()
      local dir = os.tmpname() .. ".d"
      local worker = S.child_script([[
local runner = require "netharness.load.runner"
local raw = assert(io.open(os.getenv("RAW_OUT"), "w"))
math.randomseed(tonumber(os.getenv("JOB_COMPLETION_INDEX")) + 1)
runner.main{ name = "shard", usage = "", options = {},
  prepare = function()
    return { transaction = function() net.sleep(math.random() * 0.004) return true end,
             on_record = function(c, u) raw:write(("%.17g %.17g\n"):format(c, u)) end }
  end,
  banner = function() end,
  print = function() raw:close() end }
]])
      local procs = {}
      for i = 0, 2 do
        procs[i] = S.start(("JOB_COMPLETION_INDEX=%d NH_SHARDS=3 NH_RESULTS=%s RAW_OUT=%s.raw%d %s %s -R 600 -d 1 --quiet")
          :format(i, dir, dir, i, S.lua, worker), 30)
      end
      for i = 0, 2 do
        local code, out = S.wait_exit(procs[i], 30)
        assert.are.equal(0, code, out)
        S.stop(procs[i])
      end
      os.remove(worker)
      local all_c, all_u = histogram.new(), histogram.new()
      local completed = 0
      for i = 0, 2 do
        for c, u in S.read_file(("%s.raw%d"):format(dir, i)):gmatch("(%S+) (%S+)\n") do
          all_c:record(tonumber(c))
          all_u:record(tonumber(u))
        end
        local recs = read_jsonl(("%s/worker-%d.jsonl"):format(dir, i))
        completed = completed + recs[#recs].completed
        assert.are.equal(200, recs[#recs].scheduled)   -- a third of the schedule each
        os.remove(("%s.raw%d"):format(dir, i))
      end
      assert.are.equal(600, completed)
      assert.are.equal(600, all_c:count())
      local code, out = run(("%s scripts/merge_results.lua --json %s/merged.jsonl --hlog %s/merged.hlog %s")
        :format(S.lua, dir, dir, dir))
      assert.are.equal(0, code, out)
      assert.matches("3 workers, open model", out)
      local recs = read_jsonl(dir .. "/merged.jsonl")
      local s = recs[#recs]
      assert.are.same({ 600, 600, 600, 3 }, { s.completed, s.success, s.scheduled, s.shards })
      for name, h in pairs({ corrected_ms = all_c, uncorrected_ms = all_u }) do
        for _, p in ipairs({ 50, 90, 99, 99.9 }) do
          local want = h:percentile(p) * 1000
          assert.is_true(math.abs(s[name]["p" .. p] - want) <= want * 1e-9, ("%s p%g %s vs %s"):format(name, p, s[name]["p" .. p], want))
        end
        assert.is_true(math.abs(s[name].max - h:max() * 1000) <= 1e-9)
      end
      -- and the merged .hlog's corrected intervals add up to all of them
      local log = assert(histogram.read_log(S.read_file(dir .. "/merged.hlog")))
      local sum = histogram.new()
      for _, iv in ipairs(log.intervals) do
        if iv.tag == "corrected" then sum:merge(iv.histogram) end
      end
      for p = 1, 100 do assert.are.equal(all_c:percentile(p), sum:percentile(p)) end
      assert.are.equal(#recs - 1, #log.intervals / 2)   -- an interval line each, both tags
      -- a worker that did not finish is named
      os.remove(dir .. "/worker-1.jsonl")
      local f = io.open(dir .. "/worker-1.jsonl", "w")
      f:write('{"type":"interval"}\n')
      f:close()
      code, out = run(("%s scripts/merge_results.lua %s"):format(S.lua, dir))
      assert.are.equal(1, code)
      assert.matches("worker%-1%.jsonl: no summary line", out)
      S.execute("rm -rf " .. S.quote(dir))
    end, 60)
  end)

  it("split a pod's share between its own workers", function()
    S.run(function()
      local ln, base = counting_server()
      local dir = os.tmpname() .. ".d"
      local code, out = run(("JOB_COMPLETION_INDEX=1 NH_SHARDS=2 NH_RESULTS=%s %s scripts/http_load.lua -R 400 -d 1 -t 2 %s/")
        :format(dir, S.lua, base))
      assert.are.equal(0, code, out)
      assert.matches("\n  200 requests in ", out)   -- pod 1 of 2: half the schedule
      for _, w in ipairs({ 1, 3 }) do   -- its workers are shards 1 and 3 of 4
        local recs = read_jsonl(("%s/worker-%d.jsonl"):format(dir, w))
        assert.are.equal(100, recs[#recs].scheduled)
      end
      assert.is_nil(S.read_file(dir .. "/worker-0.jsonl"))
      S.execute("rm -rf " .. S.quote(dir))
      ln:close()
    end, 30)
  end)

  it("ship a Containerfile and an Indexed Job whose shard count agrees", function()
    local job = S.read_file("deploy/indexed-job.yaml")
    assert.matches("completionMode: Indexed", job)
    local completions = job:match("completions: (%d+)")
    local shards = job:match("name: NH_SHARDS%s+value: \"(%d+)\"")
    assert.are.equal(completions, shards)
    assert.matches("scripts/http_load.lua", job)
    assert.matches("ENTRYPOINT %[\"lua5.4\"%]", S.read_file("deploy/Containerfile"))
  end)
end)

describe("netharness.load.results", function()
  it("keeps a bounded number of interval records for a report, over the whole run", function()
    local results = require "netharness.load.results"
    local out = results.writer{ keep = true }
    local h = histogram.new()
    for i = 1, 20000 do out.on_interval({ t = i, interval = 1 }, h, h) end
    out:finish_record({ type = "summary" })
    assert.is_true(#out.intervals <= 4096 and #out.intervals >= 2048, #out.intervals .. " kept")
    assert.are.equal(1, out.intervals[1].t)
    assert.is_true(out.intervals[#out.intervals].t > 19000)
    for i = 2, #out.intervals do   -- evenly thinned
      assert.are.equal(out.intervals[2].t - out.intervals[1].t, out.intervals[i].t - out.intervals[i - 1].t)
    end
  end)

  it("refuses to merge files that do not belong together, saying which", function()
    local results = require "netharness.load.results"
    local base = os.tmpname()
    local f = assert(io.open(base .. ".jsonl", "w"))
    f:write('{"type":"interval","t":1,"interval":1,"completed":3}\n{"type":"summary","completed":3}\n')
    f:close()
    f = assert(io.open(base .. ".hlog", "w"))
    f:write("#[Histogram log format version 1.3]\n")   -- no histograms for the interval
    f:close()
    local merged, err = results.merge({ base })
    assert.is_nil(merged)
    assert.matches("%.hlog: ends before its JSON lines do", err)
    f = assert(io.open(base .. ".jsonl", "w"))
    f:write("{oops\n")
    f:close()
    merged, err = results.merge({ base })
    assert.is_nil(merged)
    assert.matches("%.jsonl:1: not JSON", err)
    -- issue 27: wrongly typed fields ended merge_results.lua in a traceback
    for _, bad in ipairs({ { '"shards":0', "shards: a whole number >= 1 expected, got 0" },
                           { '"duration":"10"', 'duration: a non%-negative number expected, got "10"' },
                           { '"errors":[1,"x"]', "errors.2: a count expected" },
                           { '"status":5', "status: an object expected, got 5" } }) do
      f = assert(io.open(base .. ".jsonl", "w"))
      f:write('{"type":"summary","completed":3,"concurrency":4,' .. bad[1] .. '}\n')
      f:close()
      merged, err = results.merge({ base })
      assert.is_nil(merged)
      assert.matches("%.jsonl:1: " .. bad[2], err)
      local pipe = S.popen(S.lua .. " scripts/merge_results.lua " .. base .. " 2>&1; echo exit=$?")
      local out = pipe:read("a")
      pipe:close()
      assert.matches("exit=1", out, 1, true)
      assert.not_matches("traceback", out)
    end
    err = select(2, results.merge({ base .. "-missing" }))
    assert.matches("cannot read", err)
    os.remove(base .. ".jsonl")
    os.remove(base .. ".hlog")
    os.remove(base)
  end)
end)

describe("scripts/udp_load.lua", function()
  it("matches answers by id, counting loss and late answers", function()
    S.run(function()
      -- an echo that drops every 10th request and answers every 25th late
      local pc = assert(nh.listen_packet("udp", "127.0.0.1:0"))
      local n = 0
      nh.spawn(function()
        while true do
          local data, from = pc:read_from(65536)
          if not data then return end
          n = n + 1
          if n % 10 == 0 then -- luacheck: ignore 542 (lost: no answer)
          elseif n % 25 == 1 then
            nh.spawn(function() nh.sleep(0.3) pc:write_to(data, from) end)
          else
            pc:write_to(data, from)
          end
        end
      end)
      local code, out = run(("%s scripts/udp_load.lua -R 500 -d 1 --timeout 0.1 127.0.0.1:%d")
        :format(S.lua, pc:local_addr().port))
      assert.are.equal(0, code, out)
      -- 500 requests: 50 dropped and 20 late (every 25th from the first), so
      -- 430 answered in time and 70 lost
      assert.matches("500 requests, 430 answered, 70 lost", out)
      local late = tonumber(out:match("Late answers: (%d+)"))
      assert.is_true(late and late > 0 and late <= 20, out)
      assert.matches("result requests=500 answered=430 lost=70", out)
      pc:close()
    end, 30)
  end)
end)

describe("the progress line", function()
  it("is drawn on a terminal and nowhere else", function()
    S.run(function()
      local cmd = S.lua .. " scripts/udp_load.lua -R 50 -d 1.2 127.0.0.1:" .. S.free_port("udp")
      local _, plain = run(cmd)
      assert.not_matches("\27%[K", plain)
      local _, tty = run("script -qec " .. S.quote(cmd) .. " /dev/null")
      assert.matches("\27%[K%s*1%.0s/1%.2s%s+[%d.]+/s  errors %d+  dropped 0  p99 ", tty)
    end, 30)
  end)
end)
