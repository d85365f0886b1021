-- Shared by the CRM workloads: reads what bench/crm_setup.py wrote to
-- $BENCH_DIR (a token of the demo's SDR, the demo facility, a 90-day range)
-- and builds authenticated GETs under the facility's leads.
local M = {}

local dir = os.getenv("BENCH_DIR")

local function first_line(name)
  for line in io.lines(dir .. "/" .. name) do
    if line ~= "" then return line end
  end
end

function M.setup()
  M.headers = { ["Authorization"] = "Bearer " .. first_line("crm_token") }
  M.leads = "/facilities/" .. first_line("crm_facility") .. "/leads"
  M.range = first_line("crm_range")
end

function M.get(path)
  return wrk.format("GET", M.leads .. path, M.headers)
end

return M
