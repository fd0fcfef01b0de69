//! Random operations by two tenants on one app (seeded, a fixed number of steps): each tenant
//! sees exactly its own model, and every attempt on the other tenant's ids is a 404 (or a 400
//! naming the unknown member) that changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::filters::encode;
use crate::helpers::{Backend, TestApp, patch_ops};
use crate::on_both_backends;

const STEPS: usize = 150;
/// userNames both tenants draw from, so the same name often lives in both.
const NAMES: [&str; 6] = ["ann", "bob", "cy", "dee", "eve", "fay"];

/// What one tenant holds: users (id → userName, displayName) and groups (id → members).
#[derive(Debug, Default)]
struct Tenant {
    token: String,
    users: BTreeMap<String, (String, Option<String>)>,
    groups: BTreeMap<String, BTreeSet<String>>,
}

fn pick<'a>(rng: &mut StdRng, ids: impl Iterator<Item = &'a String>) -> Option<String> {
    let ids: Vec<&String> = ids.collect();
    (!ids.is_empty()).then(|| ids[rng.random_range(0..ids.len())].clone())
}

/// A user chosen in userName order: ids are random, names are not, so which names are free
/// (and so every later create) is the same in each run.
fn pick_user(
    rng: &mut StdRng,
    users: &BTreeMap<String, (String, Option<String>)>,
) -> Option<String> {
    let mut by_name: Vec<(&String, &String)> =
        users.iter().map(|(id, (name, _))| (name, id)).collect();
    by_name.sort();
    (!by_name.is_empty()).then(|| by_name[rng.random_range(0..by_name.len())].1.clone())
}

fn ids(list: &Value) -> BTreeSet<String> {
    list["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

fn members(group: &Value) -> BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One random write by `me`, and the same kind of write aimed at `other`'s resources.
fn step(app: &TestApp, rng: &mut StdRng, n: usize, me: &mut Tenant, other: &Tenant) {
    let token = me.token.clone();
    let foreign_user = pick_user(rng, &other.users);
    let foreign_group = pick(rng, other.groups.keys());
    match rng.random_range(0..7) {
        0 | 1 => {
            let name = format!("{}@example.com", NAMES[rng.random_range(0..NAMES.len())]);
            let taken = me.users.values().any(|(u, _)| *u == name);
            let res = app.req_as(&token, "POST", "/Users", Some(&json!({"userName": name})));
            if taken {
                res.assert_error(409, Some("uniqueness"));
            } else {
                assert_eq!(res.status, 201, "{:?}", res.body);
                let id = res.body["id"].as_str().expect("id").to_owned();
                me.users.insert(id, (name, None));
            }
        }
        2 => {
            let to = format!("d{n}");
            let body = patch_ops(json!([{"op": "replace", "path": "displayName", "value": to}]));
            if let Some(id) = pick_user(rng, &me.users) {
                let res = app.req_as(&token, "PATCH", &format!("/Users/{id}"), Some(&body));
                assert_eq!(res.status, 200, "{:?}", res.body);
                me.users.get_mut(&id).expect("user").1 = Some(to);
            }
            if let Some(id) = foreign_user {
                app.req_as(&token, "PATCH", &format!("/Users/{id}"), Some(&body))
                    .assert_error(404, None);
            }
        }
        3 => {
            if let Some(id) = pick_user(rng, &me.users) {
                let name = me.users[&id].0.clone();
                let to = format!("p{n}");
                let body = json!({"userName": name, "displayName": to});
                let res = app.req_as(&token, "PUT", &format!("/Users/{id}"), Some(&body));
                assert_eq!(res.status, 200, "{:?}", res.body);
                me.users.get_mut(&id).expect("user").1 = Some(to);
            }
            if let Some(id) = foreign_user {
                let body = json!({"userName": "stolen@example.com"});
                app.req_as(&token, "PUT", &format!("/Users/{id}"), Some(&body))
                    .assert_error(404, None);
            }
        }
        4 => {
            if let Some(id) = foreign_user {
                app.req_as(&token, "DELETE", &format!("/Users/{id}"), None)
                    .assert_error(404, None);
            }
            if let Some(id) = foreign_group {
                app.req_as(&token, "DELETE", &format!("/Groups/{id}"), None)
                    .assert_error(404, None);
            }
            if let Some(id) = pick_user(rng, &me.users) {
                let res = app.req_as(&token, "DELETE", &format!("/Users/{id}"), None);
                assert_eq!(res.status, 204, "{:?}", res.body);
                me.users.remove(&id);
                for m in me.groups.values_mut() {
                    m.remove(&id);
                }
            }
        }
        5 => {
            let own = pick_user(rng, &me.users);
            let body = json!({"displayName": format!("g{n}"),
                "members": own.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
            let res = app.req_as(&token, "POST", "/Groups", Some(&body));
            assert_eq!(res.status, 201, "{:?}", res.body);
            let id = res.body["id"].as_str().expect("id").to_owned();
            me.groups.insert(id, own.into_iter().collect());
            if let Some(foreign) = &foreign_user {
                let body = json!({"displayName": format!("x{n}"), "members": [{"value": foreign}]});
                app.req_as(&token, "POST", "/Groups", Some(&body))
                    .assert_error(400, Some("invalidValue"));
            }
        }
        _ => {
            let Some(gid) = pick(rng, me.groups.keys()) else {
                return;
            };
            if let Some(foreign) = &foreign_user {
                let add = patch_ops(
                    json!([{"op": "add", "path": "members", "value": [{"value": foreign}]}]),
                );
                let res = app.req_as(&token, "PATCH", &format!("/Groups/{gid}"), Some(&add));
                assert!(
                    (400..500).contains(&res.status),
                    "another tenant's user cannot join: {:?}",
                    res.body
                );
            }
            if let Some(uid) = pick_user(rng, &me.users) {
                let add =
                    patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]));
                let res = app.req_as(&token, "PATCH", &format!("/Groups/{gid}"), Some(&add));
                assert!(res.status == 200 || res.status == 204, "{:?}", res.body);
                me.groups.get_mut(&gid).expect("group").insert(uid);
            }
            if let Some(id) = foreign_group {
                let add =
                    patch_ops(json!([{"op": "replace", "path": "displayName", "value": "stolen"}]));
                app.req_as(&token, "PATCH", &format!("/Groups/{id}"), Some(&add))
                    .assert_error(404, None);
            }
        }
    }
}

/// `me` lists, counts and filters exactly its own model and reaches none of `other`'s ids.
fn sees_only_its_own(app: &TestApp, me: &Tenant, other: &Tenant) {
    let token = &me.token;
    let users = app.req_as(token, "GET", "/Users?count=1000", None).body;
    assert_eq!(users["totalResults"], me.users.len());
    assert_eq!(ids(&users), me.users.keys().cloned().collect());
    let groups = app.req_as(token, "GET", "/Groups?count=1000", None).body;
    assert_eq!(groups["totalResults"], me.groups.len());
    assert_eq!(ids(&groups), me.groups.keys().cloned().collect());
    for g in groups["Resources"].as_array().expect("Resources") {
        let id = g["id"].as_str().expect("id");
        assert_eq!(&members(g), &me.groups[id], "members of {id}");
    }
    for (id, (name, display)) in &me.users {
        let u = app.req_as(token, "GET", &format!("/Users/{id}"), None).body;
        assert_eq!(u["userName"], name.as_str());
        assert_eq!(u["displayName"].as_str(), display.as_deref());
    }
    for name in NAMES {
        let filter = encode(&format!("userName eq \"{name}@example.com\""));
        let found = app.req_as(token, "GET", &format!("/Users?filter={filter}"), None);
        let expected = me
            .users
            .values()
            .filter(|(u, _)| u.starts_with(name))
            .count();
        assert_eq!(found.body["totalResults"], expected, "{name}");
    }
    for id in other.users.keys() {
        app.req_as(token, "GET", &format!("/Users/{id}"), None)
            .assert_error(404, None);
        let filter = encode(&format!("id eq \"{id}\""));
        let found = app.req_as(token, "GET", &format!("/Users?filter={filter}"), None);
        assert_eq!(found.body["totalResults"], 0);
    }
    for id in other.groups.keys() {
        app.req_as(token, "GET", &format!("/Groups/{id}"), None)
            .assert_error(404, None);
        let filter = encode(&format!("members[value eq \"{id}\"] or id eq \"{id}\""));
        let found = app.req_as(token, "GET", &format!("/Groups?filter={filter}"), None);
        assert_eq!(found.body["totalResults"], 0);
    }
}

fn random_operations_of_two_tenants_stay_apart(b: Backend) {
    // As fast as the test can go: isolation, not throttling, is what is checked here.
    let app = TestApp::spawn_with(b, |s| s.rate_limits.tenant_per_second = 0);
    let mut a = Tenant {
        token: app.token.clone(),
        ..Tenant::default()
    };
    let mut z = Tenant {
        token: app.new_tenant("globex"),
        ..Tenant::default()
    };
    let mut rng = StdRng::seed_from_u64(0x5c1);
    for n in 0..STEPS {
        if rng.random_bool(0.5) {
            step(&app, &mut rng, n, &mut a, &z);
        } else {
            step(&app, &mut rng, n, &mut z, &a);
        }
        if n % 50 == 49 {
            sees_only_its_own(&app, &a, &z);
            sees_only_its_own(&app, &z, &a);
        }
    }
    assert!(
        !a.users.is_empty() && !z.users.is_empty(),
        "both tenants hold users at the end"
    );
}

on_both_backends!(random_operations_of_two_tenants_stay_apart);
