-- Adds one member to a group, then removes it again: request 2k-1 adds spare user k, request 2k
-- removes it (spare users are in no group, so each add is a real change). Both operations are
-- idempotent, so two connections' requests landing out of order change nothing but the order.
local scim = require("scim")
local a, headers, spares, k

function init(args)
  a = scim.args(args)
  headers = scim.headers(a)
  spares = scim.lines(a.ids)
  k = 0
end

function request()
  k = k + 1
  local id = spares[math.floor((k - 1) / 2) % #spares + 1]
  local op
  if k % 2 == 1 then
    op = string.format([[{"op":"add","path":"members","value":[{"value":"%s"}]}]], id)
  else
    op = string.format([[{"op":"remove","path":"members[value eq \"%s\"]"}]], id)
  end
  return wrk.format("PATCH", a.prefix .. "/Groups/" .. a.group, headers, scim.patch(op))
end

done = scim.done
