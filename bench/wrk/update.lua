-- Changes a random seeded user: mode=put replaces it whole (same userName), mode=patch replaces
-- active and displayName, as an IdP deactivating or renaming a user does.
local scim = require("scim")
local a, headers, ids

function init(args)
  a = scim.args(args)
  headers = scim.headers(a)
  ids = scim.lines(a.ids)
end

function request()
  local n = math.random(#ids)
  local path = a.prefix .. "/Users/" .. ids[n]
  local display = "Renamed " .. math.random(1000000000)
  if a.mode == "put" then
    local body = scim.user(string.format("user%d@example.com", n), "userext-" .. n, display)
    return wrk.format("PUT", path, headers, body)
  end
  local ops = string.format(
    [[{"op":"replace","path":"active","value":%s},{"op":"replace","path":"displayName","value":"%s"}]],
    tostring(math.random(2) == 1), display)
  return wrk.format("PATCH", path, headers, scim.patch(ops))
end

done = scim.done
