-- Speed-to-lead statistics over the last 90 days.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local crm = require("crm")
function init(args) crm.setup() end
function request() return crm.get("/stats/speed-to-lead?" .. crm.range) end
