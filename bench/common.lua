-- Shared by the trust-core workloads: reads what bench/setup.py wrote to
-- $BENCH_DIR and builds authenticated requests.
local M = {}

local dir = os.getenv("BENCH_DIR")

function M.lines(name)
  local list = {}
  for line in io.lines(dir .. "/" .. name) do
    if line ~= "" then list[#list + 1] = line end
  end
  return list
end

function M.setup()
  M.token = M.lines("token")[1]
  M.facility = M.lines("facility")[1]
  M.patients = M.lines("patients")
  M.mrns = M.lines("mrns")
  M.headers = {
    ["Authorization"] = "Bearer " .. M.token,
    ["Content-Type"] = "application/json",
  }
  -- Each wrk thread gets its own sequence.
  math.randomseed(os.time() + math.floor(os.clock() * 1000000) + tonumber(tostring({}):sub(8), 16))
  M.tag = tostring(math.random(100000, 999999))
end

function M.read_patient()
  local id = M.patients[math.random(#M.patients)]
  return wrk.format("GET", "/facilities/" .. M.facility .. "/patients/" .. id, M.headers)
end

function M.search_patient()
  local mrn = M.mrns[math.random(#M.mrns)]
  return wrk.format("POST", "/facilities/" .. M.facility .. "/patients/search", M.headers,
    '{"mrn":"' .. mrn .. '"}')
end

M.created = 0
function M.create_patient()
  M.created = M.created + 1
  local body = '{"mrn":"W-' .. M.tag .. '-' .. M.created .. '","first_name":"Load","last_name":"Test",'
    .. '"date_of_birth":"1980-01-01","phone":"+1 555 010 1111","allergies":["none"]}'
  return wrk.format("POST", "/facilities/" .. M.facility .. "/patients", M.headers, body)
end

return M
