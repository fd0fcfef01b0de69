-- DELETEs users seeded for it, each once; when they run out (bench/run seeds more than the phase
-- should need and says so if not), it asks for `idle` instead.
local scim = require("scim")
local a, headers, ids, k

function init(args)
  a = scim.args(args)
  headers = scim.headers(a)
  ids = scim.lines(a.ids)
  k = 0
end

function request()
  k = k + 1
  if k > #ids then
    return wrk.format("GET", a.idle, headers)
  end
  return wrk.format("DELETE", a.prefix .. "/Users/" .. ids[k], headers)
end

done = scim.done
