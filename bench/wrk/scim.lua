-- Shared by the phase scripts: their arguments, the SCIM request shapes, the seeded ids, and the
-- one summary line bench/run reads. wrk runs each script in LuaJIT (Lua 5.1), one state per
-- thread; bench/run runs one thread.

local M = {}

M.USER = "urn:ietf:params:scim:schemas:core:2.0:User"
M.ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
M.GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
M.PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

-- Script arguments come as key=value words after `--`.
function M.args(list)
  local a = {}
  for _, word in ipairs(list) do
    local k, v = word:match("^([^=]+)=(.*)$")
    assert(k, "argument is not key=value: " .. word)
    a[k] = v
  end
  math.randomseed(tonumber(a.seed or os.time()))
  return a
end

function M.headers(a)
  local h = { ["Content-Type"] = "application/scim+json" }
  if a.token and a.token ~= "" then
    h["Authorization"] = "Bearer " .. a.token
  end
  return h
end

-- One id per line, line n for the n-th seeded user.
function M.lines(path)
  local t = {}
  for line in io.lines(path) do
    t[#t + 1] = line
  end
  assert(#t > 0, "no ids in " .. path)
  return t
end

-- A user as an IdP sends it (about 1 KB, the shape of the limit server's document).
function M.user(user_name, external_id, display, active)
  return string.format([[{"schemas":["%s","%s"],"userName":"%s","externalId":"%s","name":{"givenName":"Benchmark","familyName":"%s","formatted":"Benchmark %s"},"displayName":"%s","active":%s,"emails":[{"value":"%s","type":"work","primary":true}],"phoneNumbers":[{"value":"+1 555 0100","type":"work"}],"addresses":[{"streetAddress":"1 Example Street","locality":"Springfield","postalCode":"12345","country":"US","type":"work"}],"title":"Engineer","preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles","%s":{"employeeNumber":"%s","department":"Research and Development","organization":"Example Inc."}}]],
    M.USER, M.ENTERPRISE, user_name, external_id, display, display, display,
    tostring(active ~= false), user_name, M.ENTERPRISE, external_id)
end

function M.patch(ops)
  return string.format([[{"schemas":["%s"],"Operations":[%s]}]], M.PATCH, ops)
end

-- The id and userName in a response body, without a JSON parser: the first "id" member of a
-- SCIM resource or ListResponse is the resource's.
function M.id_of(body)
  return body and body:match('"id"%s*:%s*"([^"]+)"')
end

function M.user_name_of(body)
  return body and body:match('"userName"%s*:%s*"([^"]+)"')
end

-- The line bench/run parses: counts, and latency percentiles in microseconds.
function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end

return M
