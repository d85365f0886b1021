-- Booking throughput: POST …/appointments, each request a different free
-- 30-minute slot a year after the seeded ones. Request i of all threads
-- (i = count * threads + thread, threads from BENCH_WRK_THREADS, which
-- load.sh sets) books provider i % 20 at half hour i / 20 of the booking
-- range (18 half-hours a day from 08:00 local, the days' UTC starts written
-- by bench/schedule_setup.py), so no two requests ask for the same time of
-- one provider. Overlaps would answer 409; done() prints how many of each
-- status there were as a "bench:" line that load.sh shows under the table.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local schedule = require("schedule")

local HALF_HOURS = 18
local threads = {}
local index = 0

function setup(thread)
  thread:set("id", index)
  index = index + 1
  table.insert(threads, thread)
end

local providers, patients, days, path, count, step
function init(args)
  schedule.setup()
  providers = schedule.lines("schedule_providers")
  patients = schedule.lines("schedule_patients")
  days = schedule.lines("schedule_booking_days")
  path = "/facilities/" .. schedule.facility .. "/appointments"
  step = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  count = 0
  booked, taken, refused, other = 0, 0, 0, 0
end

function request()
  local i = count * step + id
  count = count + 1
  local provider = i % #providers
  local k = math.floor(i / #providers)
  -- Past the range, it starts over: those requests answer 409 taken.
  local day = math.floor(k / HALF_HOURS) % #days
  local start = tonumber(days[day + 1]) + (k % HALF_HOURS) * 1800
  local body = '{"provider_id":"' .. providers[provider + 1]
    .. '","starts_at":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ", start)
    .. '","duration_minutes":30,"patient_id":"' .. patients[i % #patients + 1] .. '"}'
  return wrk.format("POST", path, schedule.headers, body)
end

function response(status, headers, body)
  if status == 201 then booked = booked + 1
  elseif status == 409 and body:find('"taken"', 1, true) then taken = taken + 1
  elseif status == 409 then refused = refused + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local b, t, r, o = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    b = b + thread:get("booked")
    t = t + thread:get("taken")
    r = r + thread:get("refused")
    o = o + thread:get("other")
  end
  io.write(string.format("bench: %d booked (201), %d taken (409), %d other 409, %d other statuses\n",
    b, t, r, o))
end
