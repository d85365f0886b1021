-- One create, one read by id, one search by MRN, in turn.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local n = 0
function init(args) common.setup() end
function request()
  n = n + 1
  local step = n % 3
  if step == 0 then return common.create_patient()
  elseif step == 1 then return common.read_patient()
  else return common.search_patient() end
end
