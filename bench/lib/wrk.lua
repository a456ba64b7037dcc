-- wrk hook for scripts/bench. Environment:
--   BENCH_AUTH   the Authorization header value ("Bearer eyJ…", "DPoP eyJ…"); empty: none
--   BENCH_DPOP   a file with one DPoP proof per line: each request takes the next unused proof
--                (threads take disjoint lines), so every request carries a fresh jti
--   BENCH_TOKENS a file with one opaque access token per line, taken like the proofs: each request
--                sends the next unused one as "Bearer …" (a fresh token: an introspection cache miss)
--   BENCH_THREADS the -t given to wrk (the stride between a thread's proofs or tokens)
--   BENCH_OUT    where done() writes the summary as JSON
--   BENCH_HEADERS more fixed header fields, "Name: value" one a line (the token handler's Cookie,
--                Origin and CSRF fields)
local auth = os.getenv("BENCH_AUTH") or ""
local extra_headers = os.getenv("BENCH_HEADERS") or ""
local proofs_file = os.getenv("BENCH_DPOP") or ""
local tokens_file = os.getenv("BENCH_TOKENS") or ""
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local proofs, next_proof, tokens, next_token, fixed
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
function init(args)
  if auth ~= "" then wrk.headers["Authorization"] = auth end
  for name, value in extra_headers:gmatch("([^:\n]+): ([^\n]*)") do wrk.headers[name] = value end
  if proofs_file ~= "" then
    proofs = {}
    for line in io.lines(proofs_file) do proofs[#proofs + 1] = line end
    next_proof = (id or 0) + 1
  end
  if tokens_file ~= "" then
    tokens = {}
    for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
    next_token = (id or 0) + 1
  end
  if not proofs and not tokens then
    fixed = wrk.format() -- the same bytes every time: formatted once
  end
end

function request()
  if fixed then return fixed end
  if proofs then
    wrk.headers["DPoP"] = proofs[next_proof] or "exhausted" -- answered non-2xx and counted, never replayed
    next_proof = next_proof + stride
  end
  if tokens then
    wrk.headers["Authorization"] = "Bearer " .. (tokens[next_token] or "exhausted")
    next_token = next_token + stride
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  local e = summary.errors
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  out:close()
end
