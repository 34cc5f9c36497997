-- wrk script for the benchmark: POSTs the body in $BENCH_BODY_FILE with the signature header
-- $BENCH_SIG_HEADER: $BENCH_SIG_VALUE (a valid or a forged one, prepared by run.sh), and
-- prints one machine-readable line at the end:
--   RESULT requests N seconds S rps R p50_us P p99_us P errors E non2xx N
local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
local sig_header = os.getenv("BENCH_SIG_HEADER")
if sig_header and sig_header ~= "" then
  wrk.headers[sig_header] = os.getenv("BENCH_SIG_VALUE")
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests %d seconds %.3f rps %.1f p50_us %d p99_us %d errors %d non2xx %d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
