-- The benchmark's client for wrk: `wrk -s client.lua <url> -- <mode> <path> <file> <threads>`.
--
-- Every request is built per call from a list read from <file> (one record per line,
-- fields separated by a tab), so that load is spread over many users and sessions:
--   bearer     "<user id>\t<access token>"  GET <path> with Authorization: Bearer
--   reference  "<user id>\t<access token>"  GET <path><user id>, no credentials
--   login      "<email>\t<password>"        POST <path> with the credentials
--   refresh    "<refresh token>"            POST <path>; each answer's refreshToken is the
--              next one sent, so every line is one session's chain, spent once per turn.
--              wrk calls request() again when a write must be retried, dropping the first
--              request unsent: its chain just stops there, so give more lines than
--              connections.
-- With several wrk threads, thread k takes the lines k, k + threads, ...
-- done() prints one JSON line: counts, errors and latency percentiles in microseconds.

local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local mode, path
local records = {}
local next_record = 0
local spendable = {}

function init(args)
  mode, path = args[1], args[2]
  local nthreads = tonumber(args[4])
  local n = 0
  for line in io.lines(args[3]) do
    if n % nthreads == tid then
      local fields = {}
      for field in line:gmatch("[^\t]+") do table.insert(fields, field) end
      table.insert(records, fields)
    end
    n = n + 1
  end
  if mode == "refresh" then
    for _, fields in ipairs(records) do table.insert(spendable, fields[1]) end
  end
end

local json = {["Content-Type"] = "application/json"}

function request()
  if mode == "refresh" then
    -- An empty queue only follows a failed refresh: send a token that cannot work, so
    -- the failure shows in the error count instead of stalling the connection.
    local token = table.remove(spendable, 1) or "spent"
    return wrk.format("POST", path, json, '{"refreshToken":"' .. token .. '"}')
  end
  next_record = next_record % #records + 1
  local fields = records[next_record]
  if mode == "bearer" then
    return wrk.format("GET", path, {Authorization = "Bearer " .. fields[2]})
  elseif mode == "reference" then
    return wrk.format("GET", path .. fields[1])
  elseif mode == "login" then
    return wrk.format(
      "POST", path, json, '{"email":"' .. fields[1] .. '","password":"' .. fields[2] .. '"}')
  end
  error("unknown mode " .. tostring(mode))
end

function response(status, headers, body)
  if mode == "refresh" and status == 200 then
    table.insert(spendable, body:match('"refreshToken"%s*:%s*"([^"]+)"'))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
