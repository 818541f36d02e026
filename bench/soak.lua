-- wrk script for bench/soak: a cycle of proxied, streamed, rejected and faulted requests.
-- The proxy key comes from AGPROXY_SOAK_KEY. Counts the answers by status.
local key = os.getenv("AGPROXY_SOAK_KEY")
local cycle = {}
local next_index = 0
local threads = {}
statuses = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local right = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
  local wrong = { ["Authorization"] = "Bearer sk-soak-wrong-key-0000000000000000",
                  ["Content-Type"] = "application/json" }
  local function post(headers, body)
    return wrk.format("POST", "/v1/chat/completions", headers, body)
  end
  cycle = {
    post(right, '{"model":"gpt-soak","messages":[{"role":"user","content":"hello"}]}'), -- proxied
    post(right, '{"model":"sse-5-10","stream":true}'),                                  -- streamed
    post(wrong, '{"model":"gpt-soak"}'),                                                -- rejected
    post(right, '{"model":"refused"}'),                    -- faulted: connection refused (502)
    post(right, '{"model":"reset-2","stream":true}'),      -- faulted: reset mid-stream
    post(right, '{"model":"error-body-300000"}'),          -- faulted: oversized error body (503)
    post(right, '{"model":"storm-5xx"}'),                  -- faulted: every key answers 500
    post(right, '{"model":"storm-429"}'),                  -- faulted: every key rate-limited (429)
  }
  next_index = 0
end

function request()
  next_index = next_index % #cycle + 1
  return cycle[next_index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local line = "answers by status:"
  for _, status in ipairs({200, 401, 429, 500, 502, 503}) do
    line = line .. " " .. status .. "=" .. (total[status] or 0)
    total[status] = nil
  end
  for status, count in pairs(total) do
    line = line .. " other " .. status .. "=" .. count
  end
  io.write(line .. "; socket errors: connect " .. summary.errors.connect .. ", read " ..
           summary.errors.read .. ", timeout " .. summary.errors.timeout .. "\n")
end
