-- Sign-in: argon2id verification, a session, a refresh token, an audit event.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local body
function init(args)
  local email = common.lines("nurse_email")[1]
  local password = common.lines("nurse_password")[1]
  body = '{"email":"' .. email .. '","password":"' .. password .. '"}'
end
function request()
  return wrk.format("POST", "/auth/sign-in", {["Content-Type"] = "application/json"}, body)
end
