-- wrk script: replays pre-built requests in rotation and writes a JSON summary.
--
-- Environment:
--   BENCH_REQUESTS  file with one request per line: METHOD <TAB> PATH <TAB> BODY {<TAB> Header: value}
--                   (bodies are form-encoded or compact JSON, so they hold no tab or newline)
--   BENCH_JSON      where done() writes the summary (latency in microseconds)
--   BENCH_CLASSIFY  "1": count responses per status code with a response() hook. Only set for
--                   runs whose expected answers are mixed; the hook makes wrk hand every
--                   response to Lua, which costs load-generator CPU.
--
-- Every request is formatted once, in init(); request() only hands out the next string.

local requests = {}
local count = 0
local next_index = 0
statuses = {}

local function split_tabs(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local path = assert(os.getenv("BENCH_REQUESTS"), "BENCH_REQUESTS is not set")
  local f = assert(io.open(path, "rb"))
  for line in f:lines() do
    if line ~= "" then
      local fields = split_tabs(line)
      local headers = {}
      for i = 4, #fields do
        local name, value = fields[i]:match("^([^:]+):%s*(.*)$")
        assert(name, "malformed header field: " .. fields[i])
        headers[name] = value
      end
      count = count + 1
      requests[count] = wrk.format(fields[1], fields[2], headers, fields[3])
    end
  end
  f:close()
  assert(count > 0, "no requests in " .. path)
  -- Each thread starts at its own offset (set by setup()), so threads do not send in lockstep.
  next_index = ((thread_number or 0) * 7919) % count
end

function request()
  next_index = next_index + 1
  if next_index > count then
    next_index = 1
  end
  return requests[next_index]
end

if os.getenv("BENCH_CLASSIFY") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads - 1)
end

function done(summary, latency, requests_summary)
  local by_status = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    if s then
      for code, n in pairs(s) do
        by_status[code] = (by_status[code] or 0) + n
      end
    end
  end
  local parts = {}
  for code, n in pairs(by_status) do
    parts[#parts + 1] = string.format('"%d":%d', code, n)
  end
  local e = summary.errors
  local json = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(parts, ","))
  local out = os.getenv("BENCH_JSON")
  if out then
    local f = assert(io.open(out, "w"))
    f:write(json)
    f:close()
  else
    io.write(json)
  end
end
