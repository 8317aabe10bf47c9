-- wrk script for bench/coupon_storm.py: every request is a logged-in user's claim POST.
--   wrk -t T -c C -d D --latency -s bench/storm.lua http://127.0.0.1:PORT -- PATH USERS_FILE T SEED
-- USERS_FILE: one "cookie<TAB>csrf token" line per user. Thread k takes the users whose
-- line number is k mod T, shuffles them (seeded), and cycles through its slice, one
-- pre-formatted request per user (Cookie + X-CSRFToken + Accept: application/json).
-- Outcomes are read from the JSON body; done() prints one line "STORMJSON {...}".

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local reqs = {}
local n, i = 0, 0
counts = {}

function init(args)
  local path, file, nthreads, seed = args[1], args[2], tonumber(args[3]), tonumber(args[4] or "1")
  local k = 0
  for line in io.lines(file) do
    if k % nthreads == tid then
      local cookie, csrf = line:match("^([^\t]+)\t([^\t]+)$")
      n = n + 1
      reqs[n] = "POST " .. path .. " HTTP/1.1\r\n" ..
                "Host: 127.0.0.1\r\n" ..
                "User-Agent: playcation-coupon-storm\r\n" ..
                "Accept: application/json\r\n" ..
                "X-CSRFToken: " .. csrf .. "\r\n" ..
                "Cookie: session=" .. cookie .. "\r\n" ..
                "Content-Length: 0\r\n\r\n"
    end
    k = k + 1
  end
  math.randomseed(seed * 1000 + tid)
  for j = n, 2, -1 do
    local r = math.random(j)
    reqs[j], reqs[r] = reqs[r], reqs[j]
  end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function response(status, headers, body)
  local outcome = body and body:match('"outcome":%s*"([%w_]+)"') or ("http_" .. status)
  counts[outcome] = (counts[outcome] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for name, v in pairs(c) do total[name] = (total[name] or 0) + v end
  end
  local parts = {}
  for name, v in pairs(total) do table.insert(parts, string.format('"%s":%d', name, v)) end
  local e = summary.errors
  io.write(string.format(
    'STORMJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},' ..
    '"outcomes":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, table.concat(parts, ",")))
end
