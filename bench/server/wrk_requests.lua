-- wrk script for bench/server/wrk_client.py: cycle through pre-built HTTP requests (the exact
-- bytes loadgen.py sends, binary bodies included) and print wrk's counts as one JSON line.
-- The file named by WRK_REQUESTS holds a line of request lengths, then the requests back to back.

local file = assert(io.open(os.getenv("WRK_REQUESTS"), "rb"))
local lengths = file:read("*l")
local requests = {}
for length in lengths:gmatch("%d+") do
  requests[#requests + 1] = file:read(tonumber(length))
end
file:close()

local next_index = 0

request = function()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
