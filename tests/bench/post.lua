-- wrk script of `make bench`: POST the body in $BENCH_BODY_FILE as an OpenAI chat completion
-- request; $BENCH_WORKLOAD (json|sse) goes in x-bench-workload, which picks the upstream's answer.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "sk-demo")
wrk.headers["User-Agent"] = "llm-telemetry-bench"
wrk.headers["x-bench-workload"] = os.getenv("BENCH_WORKLOAD") or "json"
