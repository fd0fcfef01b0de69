-- POST a new resource per request: users named <name><k>@example.com with externalId
-- <name>ext-<k>, or groups named <name><k>. With `out`, the userName (or displayName) and id of
-- every 201 are appended to that file; with `limit`, that many are sent, and when all are
-- answered the file `out`.done appears (bench/run then stops wrk); requests meanwhile are a
-- cheap GET of `idle`, answered 200 and not counted.
local scim = require("scim")
local a, headers, k, answered, limit, out, first_call

function init(args)
  a = scim.args(args)
  headers = scim.headers(a)
  k, answered = tonumber(a.first or 1) - 1, 0
  limit = tonumber(a.limit)
  first_call = limit ~= nil
  if a.out then
    out = assert(io.open(a.out, "a"))
  end
end

function request()
  -- wrk builds one request per thread that it never sends; with a limit, that one must not
  -- be a create, or its user would be missing from the numbered set.
  if first_call then
    first_call = false
    return wrk.format("GET", a.idle, headers)
  end
  if limit and k - tonumber(a.first or 1) + 1 >= limit then
    return wrk.format("GET", a.idle, headers)
  end
  k = k + 1
  local body
  if a.kind == "group" then
    body = string.format([[{"schemas":["%s"],"displayName":"%s%d"}]], scim.GROUP, a.name, k)
  else
    local user_name = string.format("%s%d@example.com", a.name, k)
    body = scim.user(user_name, string.format("%sext-%d", a.name, k), "User " .. k)
  end
  return wrk.format("POST", a.path, headers, body)
end

function response(status, _, body)
  if limit and status == 200 then
    return
  end
  answered = answered + 1
  if out and status == 201 then
    local name = a.kind == "group" and "" or scim.user_name_of(body)
    out:write(name or "", "\t", scim.id_of(body) or "", "\n")
  end
  if limit and answered == limit then
    out:close()
    assert(io.open(a.out .. ".done", "w")):close()
  end
end

done = scim.done
