//! Bulk requests (RFC 7644 §3.7): the message parsed into typed operations, the `bulkId`
//! references of each found, and an order in which every operation runs after the POSTs it
//! refers to. A malformed operation fails alone; only a message that cannot be read as a whole
//! (no `Operations`, a `bulkId` defined twice) fails the request.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde_json::{Map, Value};

use super::Violation;
use super::schema::ResourceType;
use super::text;

/// The message URN of a bulk request.
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The message URN of a bulk response.
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// How a value refers to a resource created by an earlier POST of the same request.
const BULK_ID_PREFIX: &str = "bulkId:";

/// The HTTP method of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn parse(s: &str) -> Option<Self> {
        [Self::Post, Self::Put, Self::Patch, Self::Delete]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// The method's name, upper-case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// The resource an operation other than POST acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A resource that exists before the request.
    Id(String),
    /// The resource a POST of this request creates (`/Groups/bulkId:qwerty`).
    BulkId(String),
}

/// What a well-formed operation asks for.
#[derive(Debug, Clone)]
pub struct Action {
    pub method: Method,
    pub rt: &'static ResourceType,
    /// `None` for a POST, which names only the endpoint.
    pub target: Option<Target>,
    /// The ETag the resource must have (`If-Match`), for PUT, PATCH and DELETE.
    pub version: Option<String>,
    /// The body, for POST, PUT and PATCH.
    pub data: Option<Value>,
    /// The `bulkId`s its data and path refer to, each once.
    pub refers_to: Vec<String>,
}

/// One operation as sent: what the response echoes, and what to do or why it cannot be done.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The method as the client wrote it (echoed even when it is not one this server knows).
    pub method: Option<String>,
    pub bulk_id: Option<String>,
    pub action: Result<Action, Violation>,
}

/// A parsed bulk request.
#[derive(Debug, Clone)]
pub struct BulkRequest {
    /// Errors after which the rest of the operations are not run; `None`: run them all.
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<Operation>,
}

/// Parses a bulk request of at most `max_operations` operations (RFC 7644 §3.7.4: more is
/// refused whole, before anything runs). Tolerant as PATCH is: member names in any case, a
/// missing `schemas` accepted, unknown members ignored.
pub fn parse_request(body: Value, max_operations: usize) -> Result<BulkRequest, Violation> {
    let syntax = |detail: &str| Violation::InvalidSyntax(detail.to_owned());
    let Value::Object(body) = body else {
        return Err(syntax(
            "a bulk request must be a JSON object with \"schemas\" and \"Operations\"",
        ));
    };
    let (mut operations, mut fail_on_errors) = (None, None);
    for (key, value) in body {
        if key.eq_ignore_ascii_case("schemas") {
            if !value.as_array().is_some_and(|urns| {
                urns.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST_URN))
                })
            }) {
                return Err(syntax(&format!(
                    "schemas must be an array holding {BULK_REQUEST_URN}"
                )));
            }
        } else if key.eq_ignore_ascii_case("Operations") {
            operations = Some(value);
        } else if key.eq_ignore_ascii_case("failOnErrors") {
            fail_on_errors = Some(value);
        }
    }
    let Some(Value::Array(operations)) = operations else {
        return Err(syntax(
            "a bulk request needs an \"Operations\" array of POST, PUT, PATCH and DELETE operations",
        ));
    };
    if operations.len() > max_operations {
        return Err(Violation::LimitExceeded(format!(
            "the bulk request has {} operations, more than this server's maxOperations of \
             {max_operations} (max-bulk-operations); send them in several requests",
            operations.len()
        )));
    }
    let fail_on_errors = match fail_on_errors {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    Violation::InvalidValue(format!(
                        "failOnErrors must be a whole number of at least 1, not {v}"
                    ))
                })?,
        ),
    };
    let operations: Vec<Operation> = operations
        .into_iter()
        .enumerate()
        .map(|(index, op)| parse_op(index, op))
        .collect();
    let mut seen = HashMap::new();
    for (index, op) in operations.iter().enumerate() {
        if let Some(id) = &op.bulk_id
            && let Some(first) = seen.insert(id.as_str(), index)
        {
            return Err(Violation::InvalidValue(format!(
                "Operations[{first}] and Operations[{index}] both have bulkId {id:?}; each \
                 bulkId names one new resource and must be unique within the request"
            )));
        }
    }
    Ok(BulkRequest {
        fail_on_errors,
        operations,
    })
}

fn parse_op(index: usize, op: Value) -> Operation {
    let Value::Object(members) = op else {
        return Operation {
            method: None,
            bulk_id: None,
            action: Err(Violation::InvalidSyntax(format!(
                "Operations[{index}] must be a JSON object with \"method\" and \"path\""
            ))),
        };
    };
    let mut fields: HashMap<&'static str, Value> = HashMap::new();
    for (key, value) in members {
        if let Some(name) = ["method", "bulkId", "version", "path", "data"]
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(&key))
        {
            fields.insert(name, value);
        }
    }
    let text_of = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let (method, bulk_id) = (text_of("method"), text_of("bulkId"));
    let action = action(index, &mut fields, method.as_deref(), bulk_id.as_deref());
    Operation {
        method,
        bulk_id,
        action,
    }
}

fn action(
    index: usize,
    fields: &mut HashMap<&'static str, Value>,
    method: Option<&str>,
    bulk_id: Option<&str>,
) -> Result<Action, Violation> {
    let syntax =
        |detail: String| Violation::InvalidSyntax(format!("Operations[{index}]: {detail}"));
    for name in ["method", "bulkId", "version", "path"] {
        if fields.get(name).is_some_and(|v| !v.is_string()) {
            return Err(syntax(format!("\"{name}\" must be a string")));
        }
    }
    let method = method.ok_or_else(|| syntax("\"method\" is missing".into()))?;
    let method = Method::parse(method).ok_or_else(|| {
        syntax(format!(
            "method {method:?} is not one of POST, PUT, PATCH and DELETE"
        ))
    })?;
    if let Some(id) = bulk_id
        && !text::plausible_id(id)
    {
        return Err(syntax(
            "\"bulkId\" must be a short string of printable characters".into(),
        ));
    }
    let path = fields
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| syntax("\"path\" is missing".into()))?;
    let (rt, target) = parse_path(path).map_err(syntax)?;
    let target = match (method, target) {
        (Method::Post, None) => None,
        (Method::Post, Some(_)) => {
            return Err(syntax(format!(
                "a POST names the resource type's endpoint ({}), not a resource",
                rt.endpoint
            )));
        }
        (_, Some(t)) => Some(t),
        (_, None) => {
            return Err(syntax(format!(
                "a {} names one resource, e.g. {}/{{id}}",
                method.as_str(),
                rt.endpoint
            )));
        }
    };
    if method == Method::Post && bulk_id.is_none() {
        return Err(syntax(
            "a POST needs a \"bulkId\" (RFC 7644 §3.7), so its result can be told apart".into(),
        ));
    }
    let data = fields.remove("data");
    let data = match (method, data) {
        (Method::Delete, _) => None,
        (_, Some(data @ Value::Object(_))) => Some(data),
        (_, Some(_)) => return Err(syntax("\"data\" must be a JSON object".into())),
        (_, None) => {
            return Err(syntax(format!(
                "a {} needs \"data\": the body it would send on its own",
                method.as_str()
            )));
        }
    };
    let mut refers_to = Vec::new();
    if let Some(Target::BulkId(id)) = &target {
        refers_to.push(id.clone());
    }
    if let Some(data) = &data {
        references(data, &mut refers_to);
    }
    refers_to.sort_unstable();
    refers_to.dedup();
    Ok(Action {
        method,
        rt,
        target,
        version: fields
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        data,
        refers_to,
    })
}

/// `/Users`, `/Groups/{id}` or `/Groups/bulkId:{bulkId}` (the leading slash may be left out).
fn parse_path(path: &str) -> Result<(&'static ResourceType, Option<Target>), String> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (endpoint, rest) = match trimmed.split_once('/') {
        Some((e, r)) => (e, Some(r)),
        None => (trimmed, None),
    };
    let rt = ResourceType::ALL
        .into_iter()
        .find(|rt| rt.endpoint[1..].eq_ignore_ascii_case(endpoint))
        .ok_or_else(|| {
            format!(
                "path {:?} names no resource type; this server serves {}",
                text::scrub(path),
                ResourceType::ALL.map(|rt| rt.endpoint).join(" and ")
            )
        })?;
    let target = match rest {
        None | Some("") => None,
        Some(id) if id.contains('/') || !text::plausible_id(id) => {
            return Err(format!(
                "path {:?} is not {}/{{id}}",
                text::scrub(path),
                rt.endpoint
            ));
        }
        Some(id) => Some(match id.strip_prefix(BULK_ID_PREFIX) {
            Some(bulk_id) => Target::BulkId(bulk_id.to_owned()),
            None => Target::Id(id.to_owned()),
        }),
    };
    Ok((rt, target))
}

/// Every `"bulkId:…"` string value in `data`, at any depth.
fn references(data: &Value, out: &mut Vec<String>) {
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                    out.push(id.to_owned());
                }
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.values()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Replaces each `"bulkId:…"` string value in `data` with the id that bulkId stands for.
pub fn resolve(data: &mut Value, ids: &HashMap<String, String>) {
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix(BULK_ID_PREFIX).and_then(|b| ids.get(b)) {
                    *s = id.clone();
                }
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.values_mut()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The order operations run in, and the ones that cannot run at all.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// Indexes into the request's operations: request order, except that an operation runs
    /// after every POST it refers to (RFC 7644 §3.7.2's forward references).
    pub order: Vec<usize>,
    /// Operations refused before anything runs: a reference to a bulkId no POST defines, or a
    /// cycle of references (RFC 7644 §3.7.1 allows refusing those with 409).
    pub refused: Vec<(usize, Violation)>,
}

/// The refusal of an operation caught in a cycle of references; answered 409.
pub const CIRCULAR: &str = "circular";

/// Orders the operations (Kahn's algorithm, the lowest request index first among the ready
/// ones, so the order is the request's wherever references allow). Linear in the operations
/// and their references, plus a log factor for the heap.
pub fn plan(operations: &[Operation]) -> Plan {
    let defined: HashMap<&str, usize> = operations
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(&op.action, Ok(a) if a.method == Method::Post))
        .filter_map(|(i, op)| op.bulk_id.as_deref().map(|b| (b, i)))
        .collect();
    let mut refused = Vec::new();
    let mut waiting_for = vec![0usize; operations.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); operations.len()];
    let mut ready = BinaryHeap::new();
    for (i, op) in operations.iter().enumerate() {
        let Ok(action) = &op.action else {
            // A malformed operation is answered in its place in the order.
            ready.push(Reverse(i));
            continue;
        };
        let unknown: Vec<&str> = action
            .refers_to
            .iter()
            .map(String::as_str)
            .filter(|b| !defined.contains_key(b))
            .collect();
        if !unknown.is_empty() {
            refused.push((
                i,
                Violation::InvalidValue(format!(
                    "Operations[{i}] refers to bulkId {}, which no POST of this request has",
                    unknown.join(", bulkId ")
                )),
            ));
            continue;
        }
        for b in &action.refers_to {
            dependents[defined[b.as_str()]].push(i);
        }
        waiting_for[i] = action.refers_to.len();
        if waiting_for[i] == 0 {
            ready.push(Reverse(i));
        }
    }
    let mut order = Vec::with_capacity(operations.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            waiting_for[d] -= 1;
            if waiting_for[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    let refused_now: std::collections::HashSet<usize> = refused.iter().map(|(i, _)| *i).collect();
    for (i, waiting) in waiting_for.iter().enumerate() {
        if *waiting > 0 && !refused_now.contains(&i) {
            refused.push((
                i,
                Violation::Conflict(format!(
                    "Operations[{i}] is part of a {CIRCULAR} chain of bulkId references (or \
                     waits for one); create the resources first and link them with a later \
                     PATCH"
                )),
            ));
        }
    }
    refused.sort_by_key(|(i, _)| *i);
    Plan { order, refused }
}

/// One operation's entry in the bulk response (RFC 7644 §3.7.3): `status` as a string, and for
/// a failure the error body in `response`.
pub fn result(
    method: Option<&str>,
    bulk_id: Option<&str>,
    location: Option<&str>,
    version: Option<&str>,
    status: u16,
    response: Option<Value>,
) -> Value {
    let mut out = Map::new();
    if let Some(m) = method {
        out.insert("method".into(), m.into());
    }
    if let Some(b) = bulk_id {
        out.insert("bulkId".into(), b.into());
    }
    if let Some(v) = version {
        out.insert("version".into(), v.into());
    }
    if let Some(l) = location {
        out.insert("location".into(), l.into());
    }
    out.insert("status".into(), status.to_string().into());
    if let Some(r) = response {
        out.insert("response".into(), r);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(ops: Value) -> BulkRequest {
        parse_request(
            json!({"schemas": [BULK_REQUEST_URN], "Operations": ops}),
            100,
        )
        .expect("parses")
    }

    fn post(bulk_id: &str, path: &str, data: Value) -> Value {
        json!({"method": "POST", "bulkId": bulk_id, "path": path, "data": data})
    }

    #[test]
    fn forward_references_run_after_the_post_they_name() {
        // RFC 7644 §3.7.2: a group names a user whose POST comes later in the request.
        let req = request(json!([
            post("g", "/Groups", json!({"displayName": "G", "members": [{"value": "bulkId:u"}]})),
            post("u", "/Users", json!({"userName": "u"})),
            {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"Operations": []}},
            {"method": "DELETE", "path": "/Users/2819c223", "version": "W/\"1\""},
        ]));
        let plan = plan(&req.operations);
        assert_eq!(plan.order, [1, 0, 2, 3]);
        assert!(plan.refused.is_empty());
        let a = req.operations[2].action.as_ref().expect("valid");
        assert_eq!(a.target, Some(Target::BulkId("g".into())));
        let d = req.operations[3].action.as_ref().expect("valid");
        assert_eq!(d.target, Some(Target::Id("2819c223".into())));
        assert_eq!(d.version.as_deref(), Some("W/\"1\""));
    }

    #[test]
    fn cycles_and_unknown_references_are_refused_and_the_rest_runs() {
        // RFC 7644 §3.7.1's example: two groups that are members of each other.
        let req = request(json!([
            post(
                "a",
                "/Groups",
                json!({"displayName": "A", "members": [{"value": "bulkId:b"}]})
            ),
            post(
                "b",
                "/Groups",
                json!({"displayName": "B", "members": [{"value": "bulkId:a"}]})
            ),
            post(
                "c",
                "/Groups",
                json!({"displayName": "C", "members": [{"value": "bulkId:a"}]})
            ),
            post(
                "d",
                "/Groups",
                json!({"displayName": "D", "members": [{"value": "bulkId:zz"}]})
            ),
            post("e", "/Users", json!({"userName": "e", "x": "bulkId:e"})),
            post("f", "/Users", json!({"userName": "f"})),
        ]));
        let plan = plan(&req.operations);
        assert_eq!(plan.order, [5]);
        let refused: Vec<usize> = plan.refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(refused, [0, 1, 2, 3, 4]);
        assert!(plan.refused[0].1.to_string().contains(CIRCULAR));
        assert!(plan.refused[3].1.to_string().contains("bulkId zz"));
    }

    #[test]
    fn resolve_replaces_whole_string_references_only() {
        let mut data = json!({"members": [{"value": "bulkId:u"}, {"value": "bulkId:other"}], "note": "see bulkId:u"});
        let ids = HashMap::from([("u".to_owned(), "92b7".to_owned())]);
        resolve(&mut data, &ids);
        assert_eq!(data["members"][0]["value"], "92b7");
        assert_eq!(data["members"][1]["value"], "bulkId:other");
        assert_eq!(data["note"], "see bulkId:u");
    }

    #[test]
    fn malformed_operations_fail_alone() {
        let req = request(json!([
            {"method": "GET", "path": "/Users/1"},
            {"method": "POST", "path": "/Users", "data": {"userName": "x"}},
            {"method": "POST", "bulkId": "p", "path": "/Users/1", "data": {}},
            {"method": "PUT", "path": "/Users"},
            {"method": "PUT", "path": "/Users/1"},
            {"method": "DELETE", "path": "/Widgets/1"},
            {"method": "PATCH", "path": "/Users/1", "data": []},
            "not an object",
            {"method": "DELETE", "path": "/users/1"},
        ]));
        let details: Vec<String> = req
            .operations
            .iter()
            .map(|op| {
                op.action
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect();
        assert!(details[0].contains("\"GET\" is not one of"), "{details:?}");
        assert!(details[1].contains("needs a \"bulkId\""), "{details:?}");
        assert!(details[2].contains("not a resource"), "{details:?}");
        assert!(details[3].contains("names one resource"), "{details:?}");
        assert!(details[4].contains("needs \"data\""), "{details:?}");
        assert!(details[5].contains("names no resource type"), "{details:?}");
        assert!(details[6].contains("must be a JSON object"), "{details:?}");
        assert!(details[7].contains("Operations[7]"), "{details:?}");
        assert_eq!(details[8], "", "endpoints match in any case");
        assert_eq!(req.operations[0].method.as_deref(), Some("GET"));
    }

    #[test]
    fn the_request_as_a_whole_is_checked() {
        let too_many = json!({"Operations": [{}, {}, {}]});
        assert!(matches!(
            parse_request(too_many, 2),
            Err(Violation::LimitExceeded(d)) if d.contains("maxOperations of 2")
        ));
        let twice = json!({"Operations": [
            {"method": "POST", "bulkId": "x", "path": "/Users", "data": {}},
            {"method": "POST", "bulkId": "x", "path": "/Users", "data": {}},
        ]});
        assert!(
            matches!(parse_request(twice, 9), Err(Violation::InvalidValue(d)) if d.contains("both have bulkId"))
        );
        let wrong_urn =
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []});
        assert!(matches!(
            parse_request(wrong_urn, 9),
            Err(Violation::InvalidSyntax(_))
        ));
        for bad in [json!(0), json!(-1), json!("1"), json!(1.5)] {
            let body = json!({"failOnErrors": bad, "Operations": []});
            assert!(matches!(
                parse_request(body, 9),
                Err(Violation::InvalidValue(_))
            ));
        }
        let ok = parse_request(json!({"failOnErrors": 2, "operations": []}), 9).expect("parses");
        assert_eq!(ok.fail_on_errors, Some(2));
    }
}
