//! Property: for generated filters over generated users and groups, the SQL the storage layer
//! runs and the in-memory evaluator select exactly the same resources, on both backends.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use scimitar::scim::filter::{MAX_DEPTH, MAX_INPUT_LEN};
use scimitar::scim::filter::{check, matches, parse};
use std::sync::Arc;
use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::scim::schema::{
    AppSettings, ResourceType, TenantSchemas, USER_RESOURCE, UnknownExtensions, parse_schema,
};
use scimitar::storage::filter_sql::Compiler;
use scimitar::storage::sql::Dialect;
use serde_json::{Value, json};

use crate::filters::encode;
use crate::helpers::{Backend, TestApp, admin_auth};
use crate::on_both_backends;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// An extension the test tenant registers, with a type of each kind the built-in ones lack.
const OWN: &str = "urn:example:acme:2.0:User";

fn own_schema() -> Value {
    json!({"attributes": [
        {"name": "level", "type": "integer"},
        {"name": "rate", "type": "decimal"},
        {"name": "code", "type": "string", "caseExact": true},
        {"name": "remote", "type": "boolean"},
        {"name": "skills", "type": "complex", "multiValued": true, "subAttributes": [
            {"name": "value", "type": "string"},
            {"name": "years", "type": "integer"}
        ]}
    ]})
}

/// Values of the registered extension, each attribute present or not.
fn own_values() -> impl Strategy<Value = Value> {
    let skill = (word(), prop::option::of(0..4i64)).prop_map(|(v, y)| {
        let mut s = json!({"value": v});
        if let Some(y) = y {
            s["years"] = y.into();
        }
        s
    });
    (
        prop::option::of(-2..3i64),
        prop::option::of(prop::sample::select(vec![0.5, 1.0, 1.25, -3.0])),
        prop::option::of(word()),
        prop::option::of(any::<bool>()),
        prop::collection::vec(skill, 0..3),
    )
        .prop_map(|(level, rate, code, remote, skills)| {
            let mut o = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    o.insert(k.to_owned(), v);
                }
            };
            put("level", level.map(Value::from));
            put("rate", rate.map(Value::from));
            put("code", code.map(Value::from));
            put("remote", remote.map(Value::from));
            put("skills", (!skills.is_empty()).then(|| Value::from(skills)));
            Value::Object(o)
        })
}

/// Short strings from a small alphabet, so that generated filters often hit: mixed case, an
/// apostrophe, a percent sign and underscore (LIKE wildcards), a non-ASCII letter, a fullwidth
/// letter and a combining accent (which userName equality maps, see `scim::user_name`).
fn word() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[aAbB%_'éＡ\u{301}]{0,3}").expect("regex")
}

fn user(i: usize) -> impl Strategy<Value = Value> {
    let email = (
        word(),
        prop::option::of(prop::sample::select(vec!["work", "home", "Work"])),
        any::<bool>(),
    )
        .prop_map(|(v, t, p)| {
            let mut e = json!({"value": format!("{v}@x"), "primary": p});
            if let Some(t) = t {
                e["type"] = t.into();
            }
            e
        });
    (
        word(),
        prop::option::of(word()),
        prop::option::of(word()),
        prop::option::of(any::<bool>()),
        prop::collection::vec(email, 0..3),
        prop::option::of(word()),
        own_values(),
    )
        .prop_map(move |(name, given, title, active, mut emails, dept, own)| {
            // At most one primary email, as validation requires.
            let mut seen = false;
            for e in &mut emails {
                if e["primary"] == true {
                    if seen {
                        e["primary"] = false.into();
                    }
                    seen = true;
                }
            }
            let mut u = json!({"userName": format!("{name}{i}"), "emails": emails});
            if let Some(g) = given {
                u["name"] = json!({"givenName": g});
            }
            if let Some(t) = title {
                u["title"] = t.into();
            }
            if let Some(a) = active {
                u["active"] = a.into();
            }
            if let Some(d) = dept {
                u[ENT] = json!({"department": d});
            }
            if own.as_object().is_some_and(|o| !o.is_empty()) {
                u[OWN] = own;
            }
            u
        })
}

fn string_test(path: &'static str) -> impl Strategy<Value = String> {
    let ops = prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
    prop_oneof![
        4 => (ops, word()).prop_map(move |(op, v)| format!("{path} {op} {}", Value::from(v))),
        1 => Just(format!("{path} pr")),
        1 => Just(format!("{path} eq null")),
    ]
}

/// The user type as the test tenant sees it once it registered [`OWN`]: the view the server
/// reads its requests with.
fn users_with_own() -> Arc<ResourceType> {
    let own = parse_schema(OWN, &USER_RESOURCE, &own_schema()).expect("schema");
    TenantSchemas::new(
        1,
        UnknownExtensions::Refuse,
        AppSettings::default(),
        [("User".to_owned(), own)],
    )
    .resource_type(&USER_RESOURCE)
}

fn number_ops() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["eq", "ne", "gt", "ge", "lt", "le"])
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        string_test("userName"),
        string_test("name.givenName"),
        string_test("title"),
        string_test("emails.value"),
        string_test("emails.type"),
        string_test("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        (prop::sample::select(vec!["eq", "ne"]), any::<bool>())
            .prop_map(|(op, b)| format!("active {op} {b}")),
        (prop::sample::select(vec!["eq", "ne"]), any::<bool>())
            .prop_map(|(op, b)| format!("emails.primary {op} {b}")),
        (string_test("type"), string_test("value"))
            .prop_map(|(a, b)| format!("emails[{a} and {b}]")),
        (
            string_test("value"),
            prop::sample::select(vec!["true", "false"])
        )
            .prop_map(|(a, p)| format!("emails[{a} or not (primary eq {p})]")),
        string_test("urn:example:acme:2.0:User:code"),
        string_test("urn:example:acme:2.0:User:skills.value"),
        (number_ops(), -3..4i64).prop_map(|(op, n)| format!("{OWN}:level {op} {n}")),
        (
            number_ops(),
            prop::sample::select(vec!["0.5", "1", "1.2", "-3"])
        )
            .prop_map(|(op, n)| format!("{OWN}:rate {op} {n}")),
        (prop::sample::select(vec!["eq", "ne"]), any::<bool>())
            .prop_map(|(op, b)| format!("{OWN}:remote {op} {b}")),
        (string_test("value"), number_ops(), 0..4i64)
            .prop_map(|(a, op, n)| format!("{OWN}:skills[{a} and years {op} {n}]")),
        Just(format!("{OWN}:skills pr")),
        Just(format!("{OWN}:level eq null")),
        Just("emails pr".to_owned()),
        Just("groups pr".to_owned()),
        string_test("groups.display"),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn sql_and_memory_agree(b: Backend) {
    // Hundreds of queries as fast as the server answers: a check of results, not of the limit.
    let app = TestApp::spawn_with(b, |s| {
        s.rate_limits.tenant_per_second = 0;
        s.admin = Some(admin_auth());
    });
    let root = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let acme = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let registered = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/schemas/{OWN}"),
        Some(&own_schema()),
    );
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let users = users_with_own();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let mut ids = Vec::new();
    for i in 0..24 {
        let body = user(i).new_tree(&mut runner).expect("generate").current();
        let res = app.req("POST", "/Users", Some(&body));
        assert_eq!(res.status, 201, "{body}: {:?}", res.body);
        ids.push(res.body["id"].as_str().expect("id").to_owned());
    }
    for (name, members) in [("Aé", &ids[..8]), ("a%", &ids[4..12])] {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        assert_eq!(
            app.req(
                "POST",
                "/Groups",
                Some(&json!({"displayName": name, "members": members}))
            )
            .status,
            201
        );
    }
    let all = app.req("GET", "/Users?count=1000", None).body["Resources"]
        .as_array()
        .expect("Resources")
        .clone();
    // Filters that select some but not all users: the cases that can tell SQL and memory apart.
    let discriminating = std::cell::Cell::new(0);
    runner
        .run(&filter(), |f| {
            let checked =
                check(parse(&f).expect("generated filters parse"), &users).expect("and check");
            let mut want: Vec<&str> = all
                .iter()
                .filter(|r| matches(&checked, r))
                .filter_map(|r| r["id"].as_str())
                .collect();
            want.sort_unstable();
            let res = app.req(
                "GET",
                &format!("/Users?count=1000&filter={}", encode(&f)),
                None,
            );
            prop_assert_eq!(res.status, 200, "{}: {:?}", f, res.body);
            let mut got: Vec<&str> = res.body["Resources"]
                .as_array()
                .expect("Resources")
                .iter()
                .filter_map(|r| r["id"].as_str())
                .collect();
            got.sort_unstable();
            if !got.is_empty() && got.len() < all.len() {
                discriminating.set(discriminating.get() + 1);
            }
            prop_assert_eq!(got, want, "{}", f);
            Ok(())
        })
        .expect("SQL and in-memory evaluation agree");
    assert!(
        discriminating.get() >= 100,
        "only {} of 300 filters discriminated",
        discriminating.get()
    );
}

/// A filter near the limits: `leaf` nested `depth` deep in `not (…)` or in alternating
/// `and`/`or` groups, or repeated in an `or` chain of up to 40 (200 nodes for the largest
/// leaf) or as long as the length limit allows.
fn at_the_limits() -> impl Strategy<Value = String> {
    (leaf(), 0..MAX_DEPTH, 0..3).prop_map(|(leaf, depth, shape)| match shape {
        0 => format!("{}{leaf}{}", "not (".repeat(depth), ")".repeat(depth)),
        1 => {
            let mut f = leaf.clone();
            for d in 0..depth {
                let op = if d % 2 == 0 { "and" } else { "or" };
                f = format!("({leaf} {op} {f})");
            }
            f
        }
        _ => {
            let mut f = leaf.clone();
            for _ in 1..40 {
                if f.len() + leaf.len() + 4 > MAX_INPUT_LEN {
                    break;
                }
                f = format!("{f} or {leaf}");
            }
            f
        }
    })
}

/// SQL bytes (text and bound values) per filter byte, at most; measured, a short leaf through
/// a multi-valued attribute (a JSON subquery) gives about 17.
const SQL_PER_FILTER_BYTE: usize = 32;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The SQL of a filter grows linearly with the filter (nothing is compiled twice, however
    /// deep `not` and groups nest), on both dialects.
    #[test]
    fn sql_grows_linearly_with_the_filter(f in prop_oneof![filter(), at_the_limits()]) {
        // Chains past the node limit are refused by the parser, as the limit intends.
        let Ok(parsed) = parse(&f) else { return Ok(()) };
        let users = users_with_own();
        let checked = check(parsed, &users).expect("generated filters check");
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = Compiler::new(dialect, "tenant", &users, "http://h/scim/v2")
                .compile(&checked);
            // The fragment's Debug form holds its whole text and every bound value.
            let size = format!("{sql:?}").len();
            prop_assert!(size <= SQL_PER_FILTER_BYTE * f.len(), "{dialect:?}: {} bytes of filter gave {size} of SQL: {f}", f.len());
        }
    }
}

on_both_backends!(sql_and_memory_agree);
