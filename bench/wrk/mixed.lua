-- An IdP's sync, as JumpCloud and Entra send it: look a user up by userName, then write. Half the
-- lookups find a seeded user, which is then PATCHed; half miss, and a new user is POSTed. The
-- write follows its lookup's answer through a queue, since wrk shares one script state between
-- connections; requests/s counts lookups and writes alike.
local scim = require("scim")
local a, headers, count, k, created, queue, head, tail

function init(args)
  a = scim.args(args)
  headers = scim.headers(a)
  count = tonumber(a.count)
  k, created, queue, head, tail = 0, 0, {}, 1, 0
end

local function lookup()
  k = k + 1
  local user_name
  if k % 2 == 0 then
    user_name = string.format("user%d@example.com", math.random(count))
  else
    user_name = string.format("%s%d@example.com", a.name, k)
  end
  local filter = string.format('userName eq "%s"', user_name)
  filter = filter:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end)
  return wrk.format("GET", a.prefix .. "/Users?filter=" .. filter, headers)
end

function request()
  local job = queue[head]
  if not job then
    return lookup()
  end
  queue[head] = nil
  head = head + 1
  if job.id then
    local ops = string.format([[{"op":"replace","path":"displayName","value":"Synced %d"}]], k)
    return wrk.format("PATCH", a.prefix .. "/Users/" .. job.id, headers, scim.patch(ops))
  end
  created = created + 1
  local user_name = string.format("%screated-%d@example.com", a.name, created)
  local body = scim.user(user_name, a.name .. "ext-" .. created, "New " .. created)
  return wrk.format("POST", a.prefix .. "/Users", headers, body)
end

function response(status, _, body)
  if status ~= 200 or not body:find('"totalResults"', 1, true) then
    return
  end
  local job = {}
  if not body:find('"totalResults"%s*:%s*0[^%d]') then
    job.id = scim.id_of(body)
  end
  tail = tail + 1
  queue[tail] = job
end

done = scim.done
