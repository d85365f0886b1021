-- Audited, decrypted patient reads by id.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
function init(args) common.setup() end
function request() return common.read_patient() end
