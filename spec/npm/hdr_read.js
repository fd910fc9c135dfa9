// Reads an interval log (.hlog) with HdrHistogram's own JavaScript port and
// prints what it found as one JSON line: spec/histogram_spec.lua checks that
// it agrees with netharness's reading of the same file.
// usage: node hdr_read.js FILE.hlog
"use strict";
const fs = require("fs");
const hdr = require("hdr-histogram-js");

const reader = new hdr.HistogramLogReader(fs.readFileSync(process.argv[2], "utf8"));
const out = [];
for (let h = reader.nextIntervalHistogram(); h; h = reader.nextIntervalHistogram()) {
  out.push({
    tag: h.tag === "NO TAG" ? null : h.tag,
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p99: h.getValueAtPercentile(99),
    start_ms: h.startTimeStampMsec,
  });
}
console.log(JSON.stringify({ start_ms: reader.startTimeSec * 1000, intervals: out }));
