//! Input that no stored value may hold (U+0000 and the Unicode non-characters) is refused
//! wherever it arrives, and userName uniqueness compares a PRECIS key (RFC 8265 §3.3), the
//! same in SQL and in memory, while the userName itself is kept as sent.

use serde_json::{Value, json};

use crate::filters::encode;
use crate::helpers::{Backend, TestApp, patch_ops};
use crate::on_both_backends;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// U+0000 and three non-characters: the first two and the last of the BMP's, and the block.
const REFUSED: [char; 4] = ['\u{0}', '\u{FFFE}', '\u{FFFF}', '\u{FDD0}'];

fn total(app: &TestApp, query: &str) -> Value {
    let res = app.req("GET", &format!("/Users?{query}"), None);
    assert_eq!(res.status, 200, "{query}: {:?}", res.body);
    res.body["totalResults"].clone()
}

fn refused_characters_in_bodies_change_nothing(b: Backend) {
    let app = TestApp::spawn(b);
    let id = app.create_user("kept");
    let before = app.req("GET", &format!("/Users/{id}"), None).body;
    let gid = app
        .req("POST", "/Groups", Some(&json!({"displayName": "Eng"})))
        .body["id"]
        .as_str()
        .expect("group id")
        .to_owned();
    for c in REFUSED {
        let bad = format!("x{c}y");
        let bodies = [
            json!({"userName": bad}),
            json!({"userName": "a", "name": {"givenName": bad}}),
            json!({"userName": "a", "emails": [{"value": "a@x"}, {"value": bad}]}),
            json!({"userName": "a", "externalId": bad}),
            json!({"userName": "a", ENT: {"manager": {"value": bad}}}),
            json!({"userName": "a", bad.clone(): "an unknown attribute's key"}),
            json!({"userName": "a", "name": {bad.clone(): "a sub-attribute's key"}}),
        ];
        for body in &bodies {
            let res = app.req("POST", "/Users", Some(body));
            res.assert_error(400, Some("invalidValue"));
            let detail = res.body["detail"].as_str().expect("detail");
            let code = format!("U+{:04X}", u32::from(c));
            assert!(detail.contains(&code), "{body}: {detail}");
            app.req("PUT", &format!("/Users/{id}"), Some(body))
                .assert_error(400, Some("invalidValue"));
        }
        let patches = [
            patch_ops(json!([{"op": "replace", "path": "userName", "value": bad}])),
            patch_ops(json!([{"op": "add", "path": "name.givenName", "value": bad}])),
            patch_ops(json!([{"op": "add", "value": {"title": bad}}])),
            patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": bad}]}])),
            patch_ops(json!([{"op": "remove", "path": format!("emails[value eq \"{bad}\"]")}])),
        ];
        for body in &patches {
            app.req("PATCH", &format!("/Users/{id}"), Some(body))
                .assert_error(400, Some("invalidValue"));
        }
        // Member ids go to the membership table, not through the document's validation.
        let members =
            patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": bad}]}]));
        app.req("PATCH", &format!("/Groups/{gid}"), Some(&members))
            .assert_error(400, Some("invalidValue"));
        app.req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "G", "members": [{"value": bad}]})),
        )
        .assert_error(400, Some("invalidValue"));
    }
    assert_eq!(total(&app, ""), 1, "no user was created");
    assert_eq!(app.req("GET", &format!("/Users/{id}"), None).body, before);
    // The tenant's JSON filters still work (one stored NUL used to break them on PostgreSQL).
    assert_eq!(total(&app, &format!("filter={}", encode("title pr"))), 0);
    assert_eq!(
        total(&app, &format!("filter={}", encode("userName eq \"kept\""))),
        1
    );
}

fn refused_characters_in_filters_are_invalid_filters(b: Backend) {
    let app = TestApp::spawn(b);
    app.create_user("x");
    for c in REFUSED {
        let escaped = format!("\\u{:04x}", u32::from(c));
        for filter in [
            format!("userName eq \"x{escaped}\""),
            format!("userName eq \"x{c}\""),
            format!("emails[value co \"{escaped}\"]"),
            format!("title sw \"{c}\""),
        ] {
            app.req("GET", &format!("/Users?filter={}", encode(&filter)), None)
                .assert_error(400, Some("invalidFilter"));
            app.req(
                "POST",
                "/Users/.search",
                Some(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": filter,
                })),
            )
            .assert_error(400, Some("invalidFilter"));
        }
    }
    // A forged cursor whose id holds a NUL is not a cursor this server issued.
    let cursor: String = json!({"c": 1, "i": "a\u{0}"})
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    app.req("GET", &format!("/Users?cursor={cursor}"), None)
        .assert_error(400, Some("invalidCursor"));
}

fn implausible_ids_in_the_path_are_not_found(b: Backend) {
    let app = TestApp::spawn(b);
    let id = app.create_user("someone");
    let long = "a".repeat(200);
    let paths = [
        format!("/Users/{id}%00"),
        "/Users/%00".to_owned(),
        format!("/Users/{id}%EF%BF%BE"),
        "/Users/%EF%BF%BF".to_owned(),
        "/Groups/%EF%B7%90".to_owned(),
        "/Users/a%0Ab".to_owned(),
        format!("/Users/{long}"),
    ];
    let body = json!({"userName": "someone"});
    let patch = patch_ops(json!([{"op": "replace", "path": "title", "value": "x"}]));
    for path in &paths {
        app.req("GET", path, None).assert_error(404, None);
        app.req("PUT", path, Some(&body)).assert_error(404, None);
        app.req("PATCH", path, Some(&patch)).assert_error(404, None);
        app.req("DELETE", path, None).assert_error(404, None);
    }
    assert_eq!(app.req("GET", &format!("/Users/{id}"), None).status, 200);
    assert_eq!(total(&app, ""), 1);
}

fn user_names_are_unique_by_their_precis_key(b: Backend) {
    let app = TestApp::spawn(b);
    let alice = app.create_user("Alice");
    let amelie_nfc = "Amélie";
    let amelie_nfd = "Ame\u{301}lie";
    let amelie = app.create_user(amelie_nfd);
    for same in [
        "alice",
        "ALICE",
        "ＡＬＩＣＥ",
        "ａｌｉｃｅ",
        amelie_nfc,
        "AME\u{301}LIE",
    ] {
        let res = app.req("POST", "/Users", Some(&json!({"userName": same})));
        res.assert_error(409, Some("uniqueness"));
    }
    // German ß is not "ss" under the profile (toLowerCase, not case folding).
    app.create_user("straße");
    app.create_user("strasse");
    app.req("POST", "/Users", Some(&json!({"userName": "STRAẞE"})))
        .assert_error(409, Some("uniqueness"));
    // Renames are held to the same key.
    let bob = app.create_user("bob");
    app.req(
        "PUT",
        &format!("/Users/{bob}"),
        Some(&json!({"userName": "ＡＬＩＣＥ"})),
    )
    .assert_error(409, Some("uniqueness"));
    let rename = patch_ops(json!([{"op": "replace", "path": "userName", "value": amelie_nfc}]));
    app.req("PATCH", &format!("/Users/{bob}"), Some(&rename))
        .assert_error(409, Some("uniqueness"));
    // A user may change the case of its own name.
    let own = patch_ops(json!([{"op": "replace", "path": "userName", "value": "BOB"}]));
    assert_eq!(
        app.req("PATCH", &format!("/Users/{bob}"), Some(&own))
            .status,
        200
    );
    assert_eq!(total(&app, ""), 5);
    // What the IdP sent is what is stored and returned, byte for byte.
    assert_eq!(
        app.req("GET", &format!("/Users/{amelie}"), None).body["userName"],
        amelie_nfd
    );
    assert_eq!(
        app.req("GET", &format!("/Users/{alice}"), None).body["userName"],
        "Alice"
    );
    // Filters compare the same key.
    for (filter, want) in [
        ("userName eq \"ａｌｉｃｅ\"", Some("Alice")),
        ("userName eq \"ALICE\"", Some("Alice")),
        ("userName eq \"amélie\"", Some(amelie_nfd)),
        ("userName eq \"Bob\"", Some("BOB")),
        ("userName eq \"alicia\"", None),
    ] {
        let res = app.req("GET", &format!("/Users?filter={}", encode(filter)), None);
        assert_eq!(res.status, 200, "{filter}: {:?}", res.body);
        let names: Vec<&str> = res.body["Resources"]
            .as_array()
            .map(|r| r.iter().filter_map(|u| u["userName"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, want.into_iter().collect::<Vec<_>>(), "{filter}");
    }
    assert_eq!(
        total(
            &app,
            &format!("filter={}", encode("userName ne \"ＡＬＩＣＥ\""))
        ),
        4
    );
}

fn users_stored_before_the_key_get_one_at_start(b: Backend) {
    let app = TestApp::spawn(b);
    app.create_user("carol");
    let tenant = scimitar::service::tenants::list(&app.db).expect("tenants")[0]
        .id
        .clone();
    // Rows as the previous version wrote them: no key, and two names that its ASCII-only
    // comparison kept apart but the key joins.
    let legacy = [
        ("legacy-1", "Dave"),
        ("legacy-2", "ＤＡＶＥ"),
        ("legacy-3", "Erin"),
    ];
    let rows: Vec<String> = legacy
        .iter()
        .map(|(id, name)| {
            format!(
                "INSERT INTO resources (tenant_id, id, resource_type, user_name_lc, display, created_at, modified_at, version, doc) \
                 VALUES ('{tenant}', '{id}', 'User', '{}', '{name}', 1, 1, 1, '{}')",
                name.to_ascii_lowercase(),
                json!({"userName": name}),
            )
        })
        .collect();
    app.db
        .run_sync(move |c| {
            for sql in &rows {
                diesel::RunQueryDsl::execute(diesel::sql_query(sql), c)?;
            }
            Ok(())
        })
        .expect("legacy rows");
    // Another instance starting on the database gives them their keys before it serves.
    let other = app.another_instance();
    let auth = format!("Bearer {}", app.token);
    let get = |path: &str| {
        let res = app.send_url("GET", &format!("{other}{path}"), Some(&auth), None, &[]);
        (res.status, res.body)
    };
    let (status, body) = get(&format!("/Users?filter={}", encode("userName eq \"erin\"")));
    assert_eq!((status, &body["totalResults"]), (200, &json!(1)), "{body}");
    // The first by id keeps the shared key; the other is kept as it was.
    let (_, body) = get(&format!("/Users?filter={}", encode("userName eq \"dave\"")));
    assert_eq!(body["Resources"][0]["id"], "legacy-1", "{body}");
    assert_eq!(body["totalResults"], 1, "{body}");
    let (status, body) = get("/Users/legacy-2");
    assert_eq!((status, &body["userName"]), (200, &json!("ＤＡＶＥ")));
    // The other one can still be updated and deactivated, and renamed to a name of its own.
    let deactivate = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        app.req("PATCH", "/Users/legacy-2", Some(&deactivate))
            .status,
        200
    );
    let rename = patch_ops(json!([{"op": "replace", "path": "userName", "value": "dave.two"}]));
    assert_eq!(
        app.req("PATCH", "/Users/legacy-2", Some(&rename)).status,
        200
    );
    assert_eq!(
        total(
            &app,
            &format!("filter={}", encode("userName eq \"DAVE.TWO\""))
        ),
        1
    );
    app.req("POST", "/Users", Some(&json!({"userName": "ERIN"})))
        .assert_error(409, Some("uniqueness"));
    app.req("POST", "/Users", Some(&json!({"userName": "dave"})))
        .assert_error(409, Some("uniqueness"));
    assert_eq!(total(&app, ""), 4);
}

on_both_backends!(
    refused_characters_in_bodies_change_nothing,
    refused_characters_in_filters_are_invalid_filters,
    implausible_ids_in_the_path_are_not_found,
    user_names_are_unique_by_their_precis_key,
    users_stored_before_the_key_get_one_at_start,
);

/// SQLite stored a NUL before it was refused; such a user can still be deactivated by PATCH
/// (the PATCH body is checked, not what was stored before), and renamed to a clean name.
#[test]
fn sqlite_user_stored_with_a_nul_can_still_be_deactivated() {
    let app = TestApp::spawn(Backend::Sqlite);
    let tenant = scimitar::service::tenants::list(&app.db).expect("tenants")[0]
        .id
        .clone();
    let doc = json!({"userName": "old\u{0}name"}).to_string();
    let sql = format!(
        "INSERT INTO resources (tenant_id, id, resource_type, user_name_lc, user_name_key, created_at, modified_at, version, doc) \
         VALUES ('{tenant}', 'legacy-nul', 'User', 'old' || char(0) || 'name', 'old' || char(0) || 'name', 1, 1, 1, '{doc}')"
    );
    app.db
        .run_sync(move |c| Ok(diesel::RunQueryDsl::execute(diesel::sql_query(&sql), c)?))
        .expect("legacy row");
    let deactivate = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    let res = app.req("PATCH", "/Users/legacy-nul", Some(&deactivate));
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["active"], false);
    let rename = patch_ops(json!([{"op": "replace", "path": "userName", "value": "new.name"}]));
    assert_eq!(
        app.req("PATCH", "/Users/legacy-nul", Some(&rename)).status,
        200
    );
    assert_eq!(
        total(
            &app,
            &format!("filter={}", encode("userName eq \"NEW.NAME\""))
        ),
        1
    );
}
