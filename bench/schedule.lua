-- Shared by the scheduling workloads: reads what bench/schedule_setup.py
-- wrote to $BENCH_DIR (a token of the facility's administrator, who books
-- for every provider; the facility; the search; providers, patients, the
-- booking range's days) and builds authenticated requests.
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
  M.facility = M.lines("schedule_facility")[1]
  M.headers = {
    ["Authorization"] = "Bearer " .. M.lines("schedule_token")[1],
    ["Content-Type"] = "application/json",
  }
end

return M
