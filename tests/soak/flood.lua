-- wrk script of `make soak`: every request asks for a model and carries an API key never seen
-- before (the flood of new label values a hostile client can send). Each thread stops after
-- $SOAK_PER_THREAD responses.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = "flood-" .. id .. "-"
  sent = 0
  answered = 0
  limit = tonumber(os.getenv("SOAK_PER_THREAD") or "1000")
end

function request()
  sent = sent + 1
  local name = prefix .. sent
  local body = '{"model":"' .. name .. '","messages":[{"role":"user","content":"hi"}]}'
  return wrk.format("POST", "/v1/chat/completions", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer sk-" .. name,
    ["User-Agent"] = "soak-flood",
  }, body)
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then
    wrk.thread:stop()
  end
end
