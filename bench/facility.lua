-- The token check alone: an authenticated read of the facility record.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
function init(args) common.setup() end
function request()
  return wrk.format("GET", "/facilities/" .. common.facility, common.headers)
end
