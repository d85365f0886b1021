-- Seed 000's v_active_leads: the first page (50) of open leads.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local crm = require("crm")
function init(args) crm.setup() end
function request() return crm.get("?view=active") end
