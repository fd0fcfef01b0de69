-- GET a path. "{n}" in it becomes a random number in 1..count, "{id}" the id of seeded user n.
-- Covers GET by id, the filters, the list pages and the limit server's reads.
local scim = require("scim")
local a, headers, ids, count

function init(args)
  a = scim.args(args)
  headers = scim.headers(a)
  if a.ids then
    ids = scim.lines(a.ids)
  end
  count = tonumber(a.count or (ids and #ids) or 1)
end

function request()
  local n = math.random(count)
  local path = a.path:gsub("{n}", tostring(n))
  if ids then
    path = path:gsub("{id}", ids[n])
  end
  return wrk.format("GET", path, headers)
end

done = scim.done
