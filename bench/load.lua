-- The load of bench/run.py, for wrk: one request, sent over and over.
--
-- BENCH_METHOD, BENCH_PATH, BENCH_CONTENT_TYPE and the file BENCH_BODY make the request. In path
-- and body, @N@ becomes a number of eight digits counting this thread's requests (new ids for
-- each submission) and @P@ a patient number of eleven digits, going round 0 to BENCH_PATIENTS - 1.
-- A request without them is formatted once. When done, one line of JSON with the figures.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local content_type = os.getenv("BENCH_CONTENT_TYPE") or ""
local patients = tonumber(os.getenv("BENCH_PATIENTS") or "1")
local body = nil
local body_file = os.getenv("BENCH_BODY") or ""
if body_file ~= "" then
  local file = assert(io.open(body_file, "rb"))
  body = file:read("*a")
  file:close()
end

local headers = {}
if content_type ~= "" then
  headers["Content-Type"] = content_type
end

local function has_tokens(text)
  return text ~= nil and (text:find("@N@", 1, true) or text:find("@P@", 1, true))
end

local prepared = nil
local counter = 0
-- Set by setup() for each thread, so that threads count in ranges of their own.
first = 0
local threads = 0

function setup(thread)
  thread:set("first", threads * 10000000)
  threads = threads + 1
end

function init(args)
  if not has_tokens(path) and not has_tokens(body) then
    prepared = wrk.format(method, path, headers, body)
  end
end

local function filled(text, number, patient)
  if text == nil then
    return nil
  end
  return (text:gsub("@N@", number):gsub("@P@", patient))
end

function request()
  if prepared then
    return prepared
  end
  local n = first + counter
  counter = counter + 1
  local number = string.format("%08d", n)
  local patient = string.format("%011d", n % patients)
  return wrk.format(method, filled(path, number, patient), headers, filled(body, number, patient))
end

function done(summary, latency, requests)
  local errors = summary.errors
  local failed = errors.connect + errors.read + errors.write + errors.status + errors.timeout
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, "failed": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), failed))
end
