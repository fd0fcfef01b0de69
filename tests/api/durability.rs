//! The kill -9 drill: the real binary under concurrent writes is killed at a random point and
//! restarted on the same database, five times. After each restart every acknowledged write is
//! there, as acknowledged, and nothing is half written: no membership without its user, no gap
//! in the event log, no event of a resource that neither exists nor has a delete event.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scimitar::service::tenants;
use scimitar::storage::{Db, events, webhooks};
use serde_json::{Value, json};

use crate::helpers::{Backend, Served, eventually, patch_ops, serve, stored};
use crate::on_both_backends;
use scimitar::storage::Scope;

const BIN: &str = env!("CARGO_BIN_EXE_scimitar");
const CLIENTS: usize = 4;
const KILLS: usize = 5;
/// Steps a client takes at most in one round (the kill comes long before).
const MAX_STEPS: usize = 400;

/// What one client has been told was written, and the one write it sent without an answer.
#[derive(Debug, Default)]
struct Model {
    /// Live users: id → (userName, displayName, meta.version).
    users: BTreeMap<String, (String, Option<String>, String)>,
    deleted: BTreeSet<String>,
    group: Option<(String, BTreeSet<String>)>,
    pending: Option<Op>,
}

/// A write whose answer did not arrive (the server was killed).
#[derive(Debug, Clone)]
enum Op {
    CreateUser(String),
    CreateGroup(String),
    Rename(String, String),
    AddMember(String),
    Delete(String),
}

/// `scimitar serve` on a database, answering.
fn start(database_url: &str) -> (Served, String) {
    let mut cmd = Command::new(BIN);
    cmd.env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        // Four writers as fast as they can go: the drill is about durability, not throttling.
        .env("SCIMITAR_TENANT_RATE_LIMIT", "0")
        .env_remove("SCIMITAR_ADMIN_JWT_SECRET");
    let server = serve(cmd);
    let base = format!("{}/scim/v2", server.origin);
    let probe = agent();
    eventually(Duration::from_secs(30), "the server answers", || {
        probe
            .get(format!("{base}/ServiceProviderConfig"))
            .call()
            .ok()
            .filter(|r| r.status() == 200)
    });
    (server, base)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A SCIM client of one tenant.
struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    /// `None` when the server could not be reached (it was killed).
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/scim+json");
        let req = req
            .body(body.map(Value::to_string).unwrap_or_default())
            .expect("request");
        let mut res = self.agent.run(req).ok()?;
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().ok()?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Some((status, body))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None)
            .expect("the restarted server answers")
    }
}

fn version(body: &Value) -> String {
    body["meta"]["version"]
        .as_str()
        .expect("meta.version")
        .to_owned()
}

/// Writes until the server goes away or `MAX_STEPS`; every answered write must have succeeded.
fn write_until_killed(c: &Client, me: usize, round: usize, model: &mut Model, acks: &AtomicUsize) {
    let mut rng = StdRng::seed_from_u64((me * 1000 + round) as u64);
    for step in 0..MAX_STEPS {
        let live: Vec<String> = model.users.keys().cloned().collect();
        let pick = |rng: &mut StdRng| live[rng.random_range(0..live.len())].clone();
        let roll = rng.random_range(0..10);
        let op = if model.group.is_none() {
            Op::CreateGroup(format!("g{me}"))
        } else if live.is_empty() || roll < 4 {
            Op::CreateUser(format!("c{me}-r{round}-s{step}@example.com"))
        } else if roll < 7 {
            Op::Rename(pick(&mut rng), format!("r{round} s{step}"))
        } else if roll < 9 {
            Op::AddMember(pick(&mut rng))
        } else {
            Op::Delete(pick(&mut rng))
        };
        let group_id = model
            .group
            .as_ref()
            .map(|(g, _)| g.clone())
            .unwrap_or_default();
        let sent = match &op {
            Op::CreateUser(name) => c.send("POST", "/Users", Some(&json!({"userName": name}))),
            Op::CreateGroup(name) => c.send("POST", "/Groups", Some(&json!({"displayName": name}))),
            Op::Rename(id, to) => c.send(
                "PATCH",
                &format!("/Users/{id}"),
                Some(&patch_ops(
                    json!([{"op": "replace", "path": "displayName", "value": to}]),
                )),
            ),
            Op::AddMember(id) => c.send(
                "PATCH",
                &format!("/Groups/{group_id}"),
                Some(&patch_ops(
                    json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                )),
            ),
            Op::Delete(id) => c.send("DELETE", &format!("/Users/{id}"), None),
        };
        let Some((status, body)) = sent else {
            model.pending = Some(op);
            return;
        };
        match op {
            Op::CreateUser(name) => {
                assert_eq!(status, 201, "{body}");
                let id = body["id"].as_str().expect("id").to_owned();
                model.users.insert(id, (name, None, version(&body)));
            }
            Op::CreateGroup(_) => {
                assert_eq!(status, 201, "{body}");
                let id = body["id"].as_str().expect("id").to_owned();
                model.group = Some((id, BTreeSet::new()));
            }
            Op::Rename(id, to) => {
                assert_eq!(status, 200, "{body}");
                let user = model.users.get_mut(&id).expect("a live user");
                user.1 = Some(to);
                user.2 = version(&body);
            }
            Op::AddMember(id) => {
                assert!(status == 200 || status == 204, "{status} {body}");
                if let Some((_, members)) = &mut model.group {
                    members.insert(id);
                }
            }
            Op::Delete(id) => {
                assert_eq!(status, 204, "{body}");
                model.users.remove(&id);
                model.deleted.insert(id.clone());
                if let Some((_, members)) = &mut model.group {
                    members.remove(&id);
                }
            }
        }
        acks.fetch_add(1, Ordering::SeqCst);
    }
}

/// Settles the write that got no answer from what the restarted server holds: it may or may
/// not have been committed, but not half.
fn settle_pending(c: &Client, model: &mut Model) {
    let filter = |attr: &str, v: &str| format!("?filter={attr}%20eq%20%22{v}%22");
    match model.pending.take() {
        None => {}
        Some(Op::CreateUser(name)) => {
            let (_, list) = c.get(&format!("/Users{}", filter("userName", &name)));
            if let Some(u) = list["Resources"].get(0) {
                let id = u["id"].as_str().expect("id").to_owned();
                model.users.insert(id, (name, None, version(u)));
            }
        }
        Some(Op::CreateGroup(name)) => {
            let (_, list) = c.get(&format!("/Groups{}", filter("displayName", &name)));
            if let Some(g) = list["Resources"].get(0) {
                let id = g["id"].as_str().expect("id").to_owned();
                model.group = Some((id, BTreeSet::new()));
            }
        }
        Some(Op::Rename(id, to)) => {
            let (status, u) = c.get(&format!("/Users/{id}"));
            assert_eq!(status, 200, "{u}");
            if u["displayName"] == to.as_str() {
                let user = model.users.get_mut(&id).expect("a live user");
                user.1 = Some(to);
                user.2 = version(&u);
            }
        }
        Some(Op::AddMember(id)) => {
            let (gid, members) = model.group.as_mut().expect("group");
            let (_, g) = c.get(&format!("/Groups/{gid}"));
            if g["members"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["value"] == id.as_str()))
            {
                members.insert(id);
            }
        }
        Some(Op::Delete(id)) if c.get(&format!("/Users/{id}")).0 == 404 => {
            model.users.remove(&id);
            model.deleted.insert(id.clone());
            if let Some((_, members)) = &mut model.group {
                members.remove(&id);
            }
        }
        Some(Op::Delete(_)) => {}
    }
}

/// Everything a client was told is there, exactly; what it deleted is gone.
fn check_model(c: &Client, model: &Model) {
    for (id, (name, display, version_acked)) in &model.users {
        let (status, u) = c.get(&format!("/Users/{id}"));
        assert_eq!(status, 200, "acknowledged user {id} is readable: {u}");
        assert_eq!(u["userName"], name.as_str());
        assert_eq!(u["displayName"].as_str(), display.as_deref(), "{u}");
        assert_eq!(&version(&u), version_acked, "{u}");
    }
    for id in &model.deleted {
        assert_eq!(c.get(&format!("/Users/{id}")).0, 404, "deleted user {id}");
    }
    if let Some((gid, members)) = &model.group {
        let (status, g) = c.get(&format!("/Groups/{gid}"));
        assert_eq!(status, 200, "{g}");
        let got: BTreeSet<String> = g["members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["value"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            &got, members,
            "the group's members are the acknowledged ones"
        );
    }
}

/// The event log has no gap, and every event's resource exists or has a delete event.
fn check_events(db: &Db, tenant: &str, c: &Client) {
    let tenant = tenant.to_owned();
    let (rows, last) = db
        .run_sync(move |conn| {
            Ok((
                events::after(conn, &Scope::new(&stored(&tenant)), 0, 1_000_000)?,
                webhooks::current_seq(conn, &Scope::new(&stored(&tenant)))?,
            ))
        })
        .expect("events");
    let seqs: Vec<i64> = rows.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "no event lost or half written"
    );
    let data: Vec<(String, Value)> = rows
        .iter()
        .map(|e| {
            (
                e.event_type.clone(),
                serde_json::from_str(&e.data).expect("event data"),
            )
        })
        .collect();
    let deleted: HashSet<String> = data
        .iter()
        .filter(|(t, _)| t.ends_with(".deleted"))
        .filter_map(|(_, d)| {
            d["user"]["id"]
                .as_str()
                .or(d["group"]["id"].as_str())
                .map(str::to_owned)
        })
        .collect();
    let mut seen = HashSet::new();
    for (kind, d) in &data {
        let (endpoint, id) = match d["user"]["id"].as_str() {
            Some(id) => ("Users", id),
            None => ("Groups", d["group"]["id"].as_str().expect("a resource id")),
        };
        if !deleted.contains(id) && seen.insert(id.to_owned()) {
            assert_eq!(
                c.get(&format!("/{endpoint}/{id}")).0,
                200,
                "{kind} of {id}: the resource exists or has a delete event"
            );
        }
    }
}

fn acknowledged_writes_survive_kill_9(b: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = b.fresh_database(dir.path());
    let db = Db::connect(&database.url, 1).expect("test pool");
    let issued = tenants::create(&db, "acme").expect("tenant");
    let tenant = issued.tenant.id.clone();
    let auth = format!("Bearer {}", issued.token.reveal());
    let models: Vec<Arc<Mutex<Model>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let mut rng = StdRng::seed_from_u64(16);
    for round in 0..KILLS {
        let (server, base) = start(&database.url);
        let acks = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = models
            .iter()
            .enumerate()
            .map(|(me, model)| {
                let (model, acks) = (model.clone(), acks.clone());
                let c = Client {
                    agent: agent(),
                    base: base.clone(),
                    auth: auth.clone(),
                };
                std::thread::spawn(move || {
                    let mut model = model.lock().expect("model");
                    write_until_killed(&c, me, round, &mut model, &acks);
                })
            })
            .collect();
        // A random point: after some tens of acknowledged writes, whatever is in flight.
        let kill_after = rng.random_range(10..60);
        eventually(Duration::from_secs(60), "writes are acknowledged", || {
            (acks.load(Ordering::SeqCst) >= kill_after).then_some(())
        });
        // SIGKILL: no shutdown code runs.
        server.kill();
        for w in writers {
            w.join().expect("writer");
        }

        let (server, base) = start(&database.url);
        let c = Client {
            agent: agent(),
            base,
            auth: auth.clone(),
        };
        for model in &models {
            let mut model = model.lock().expect("model");
            settle_pending(&c, &mut model);
            check_model(&c, &model);
        }
        check_events(&db, &tenant, &c);
        server.kill();
    }
    let users: usize = models
        .iter()
        .map(|m| m.lock().expect("model").users.len())
        .sum();
    assert!(users > 0, "the drill wrote something");
}

on_both_backends!(acknowledged_writes_survive_kill_9);
