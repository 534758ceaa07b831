-- wrk script: POST the body in $BENCH_BODY_FILE with Content-Type $BENCH_CONTENT_TYPE; at the end
-- write a JSON summary (latencies in microseconds) to $BENCH_OUT_FILE.
-- No response() callback on purpose: Lua per response would steal CPU from the server.
-- wrk's "status" error counter counts responses with HTTP status > 399.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
-- Extra headers, one "Name: value" per line (e.g. V2's Inference-Header-Content-Length).
for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

done = function(summary, latency, requests)
  local e = summary.errors
  local s = string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, ' ..
    '"lat_p50_us": %d, "lat_p90_us": %d, "lat_p99_us": %d, "lat_max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max)
  local o = assert(io.open(os.getenv("BENCH_OUT_FILE"), "w"))
  o:write(s)
  o:close()
end
