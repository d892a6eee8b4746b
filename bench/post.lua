-- wrk script: POST the calls listed in the file BENCH_CALLS (one "path<TAB>body file" per line) in turn,
-- as JSON; print a JSON summary line at the end.
-- Each body file marks every resource id (and each reference to one) with a \1 byte: every pass over
-- the calls puts a new suffix there, so each pass is a new patient whose resources no earlier request
-- had, and the calls of one pass (an order-select and its order-sign) are the same record.
local calls = {}
for line in io.lines(os.getenv("BENCH_CALLS")) do
  local path, name = line:match("^([^\t]+)\t(.+)$")
  local file = assert(io.open(name, "rb"))
  local body = file:read("*a")
  file:close()
  local parts = {}
  for part in (body .. "\1"):gmatch("([^\1]*)\1") do parts[#parts + 1] = part end
  calls[#calls + 1] = {path = path, parts = parts}
end
local headers = {["Content-Type"] = "application/json"}
local sent = 0

function request()
  local call = calls[sent % #calls + 1]
  local pass = math.floor(sent / #calls)
  sent = sent + 1
  return wrk.format("POST", call.path, headers, table.concat(call.parts, "-v" .. pass))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
