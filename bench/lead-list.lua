-- A page of 50 leads filtered by status and source: decrypted and audited.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local crm = require("crm")
function init(args) crm.setup() end
function request() return crm.get("?status=contacted&source=Newsletter&limit=50") end
