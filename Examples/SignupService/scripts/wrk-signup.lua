-- wrk script: POST the sign-up form with a fresh address each time (the service limits
-- sign-ups per address), all at the mock world's accepting domain.
--   wrk -t2 -c100 -d10s --latency -s wrk-signup.lua http://127.0.0.1:PORT
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
function request()
  n = n + 1
  local body = "email=bench" .. tid .. "x" .. n .. "%40example.test"
  return wrk.format("POST", "/signup",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
