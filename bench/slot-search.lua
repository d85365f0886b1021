-- Open-slot search for 20 providers over 30 days with 10 000 existing
-- appointments, 30-minute slots, limit=2000 (the most a search returns; the
-- period holds some 800 open slots, so each response is the whole answer).
-- The query is the one bench/schedule_setup.py checked after seeding.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local schedule = require("schedule")
local search
function init(args)
  schedule.setup()
  search = schedule.lines("schedule_search")[1]
end
function request() return wrk.format("GET", search, schedule.headers) end
