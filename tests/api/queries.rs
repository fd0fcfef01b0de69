//! Sorting, index and cursor pagination, attribute projection and `.search` (RFC 7644 §3.4,
//! RFC 9865), and the indexes that serve IdP lookups.

use std::time::Duration;

use scimitar::scim::filter::{check, parse};
use scimitar::scim::path::{AttrPath, resolve};
use scimitar::scim::schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE};
use scimitar::storage::Scope;
use scimitar::storage::filter_sql::{Compiler, Dialect};
use scimitar::storage::resources::{ListQuery, Window};
use scimitar::tenant::TenantId;
use serde_json::{Value, json};

use crate::filters::encode;
use crate::helpers::{Backend, TestApp, eventually};
use crate::on_both_backends;

fn names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or("-").to_owned())
        .collect()
}

fn seed(app: &TestApp) {
    for (user, family, title) in [
        ("carol", "Zeta", Some("b")),
        ("Alice", "alpha", None),
        ("bob", "Mu", Some("A")),
        ("dave", "mu", Some("c")),
    ] {
        // bob has no primary email, so he sorts by his first one.
        let emails = if user == "bob" {
            json!([{"value": "0-bob@x"}, {"value": "bob@x"}])
        } else {
            json!([{"value": format!("0-{user}@x")}, {"value": format!("{user}@x"), "primary": true}])
        };
        let mut body = json!({"userName": user, "name": {"familyName": family}, "emails": emails});
        if let Some(t) = title {
            body["title"] = t.into();
        }
        assert_eq!(app.req("POST", "/Users", Some(&body)).status, 201);
    }
}

fn sorts_by_any_single_valued_attribute(b: Backend) {
    let app = TestApp::spawn(b);
    seed(&app);
    let sorted = |q: &str| {
        let res = app.req("GET", &format!("/Users?{q}"), None);
        assert_eq!(res.status, 200, "{q}: {:?}", res.body);
        names(&res.body)
    };
    assert_eq!(
        sorted("sortBy=userName"),
        ["Alice", "bob", "carol", "dave"],
        "caseExact=false sorts case-insensitively"
    );
    assert_eq!(
        sorted("sortBy=userName&sortOrder=descending"),
        ["dave", "carol", "bob", "Alice"]
    );
    // Ties fall back to creation order; unassigned values sort last ascending, first descending.
    assert_eq!(
        sorted("sortBy=name.familyName"),
        ["Alice", "bob", "dave", "carol"]
    );
    assert_eq!(sorted("sortBy=title"), ["bob", "carol", "dave", "Alice"]);
    assert_eq!(
        sorted("sortBy=title&sortOrder=descending"),
        ["Alice", "dave", "carol", "bob"]
    );
    assert_eq!(
        sorted("sortBy=meta.created&sortOrder=descending"),
        ["dave", "bob", "Alice", "carol"]
    );
    // A multi-valued attribute sorts by its primary value, else its first (RFC 7644 §3.4.2.3).
    assert_eq!(sorted("sortBy=emails"), ["bob", "Alice", "carol", "dave"]);
    assert_eq!(
        sorted("sortBy=userName&startIndex=2&count=2"),
        ["bob", "carol"]
    );
    assert_eq!(
        sorted("sortBy=userName&filter=title%20pr"),
        ["bob", "carol", "dave"]
    );
    app.req("GET", "/Users?sortBy=name", None)
        .assert_error(400, Some("invalidValue"));
    app.req("GET", "/Users?sortBy=shoeSize", None)
        .assert_error(400, Some("invalidValue"));
    app.req("GET", "/Users?sortBy=userName&sortOrder=sideways", None)
        .assert_error(400, Some("invalidValue"));
}

fn cursor_pagination_walks_every_resource_once(b: Backend) {
    let app = TestApp::spawn(b);
    let ids: Vec<String> = (0..7).map(|i| app.create_user(&format!("u{i}"))).collect();
    for sort in ["", "&sortBy=userName&sortOrder=descending"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app
                .req(
                    "GET",
                    &format!("/Users?count=3&cursor={cursor}{sort}"),
                    None,
                )
                .body;
            assert_eq!(page["totalResults"], 7);
            assert!(page.get("startIndex").is_none(), "{page}");
            seen.extend(
                page["Resources"]
                    .as_array()
                    .expect("Resources")
                    .iter()
                    .map(|r| r["id"].as_str().expect("id").to_owned()),
            );
            match page["nextCursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
            assert!(seen.len() < 10, "cursor paging must end");
        }
        let mut want = ids.clone();
        if !sort.is_empty() {
            want.reverse();
        }
        assert_eq!(seen, want, "{sort}");
    }
    // Keyset paging is stable: a user created mid-walk does not shift later pages.
    let first = app.req("GET", "/Users?count=2&cursor=", None).body;
    app.create_user("late");
    let next = first["nextCursor"].as_str().expect("more");
    let second = app
        .req("GET", &format!("/Users?count=2&cursor={next}"), None)
        .body;
    assert_eq!(second["Resources"][0]["id"], ids[2].as_str());
    app.req("GET", "/Users?cursor=not-a-cursor", None)
        .assert_error(400, Some("invalidCursor"));
    app.req("GET", "/Users?cursor=&startIndex=2", None)
        .assert_error(400, Some("invalidValue"));
}

fn page_size_is_configurable_and_capped(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.default_page_size = 2;
        s.max_page_size = 3;
    });
    for i in 0..5 {
        app.create_user(&format!("u{i}"));
    }
    assert_eq!(app.req("GET", "/Users", None).body["itemsPerPage"], 2);
    assert_eq!(
        app.req("GET", "/Users?count=50", None).body["itemsPerPage"],
        3
    );
    assert_eq!(
        app.req("GET", "/Users?count=-1", None).body["itemsPerPage"],
        0
    );
    let spc = app.req("GET", "/ServiceProviderConfig", None).body;
    assert_eq!(spc["filter"]["maxResults"], 3);
    assert_eq!(spc["pagination"]["defaultPageSize"], 2);
}

fn attributes_and_excluded_attributes_shape_every_response(b: Backend) {
    let app = TestApp::spawn(b);
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let body = json!({"userName": "ann", "name": {"givenName": "Ann", "familyName": "Lee"}, "title": "CTO", ent: {"department": "R&D"}, "password": "pw-not-returned"});
    let created = app.req(
        "POST",
        "/Users?attributes=userName,name.givenName",
        Some(&body),
    );
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.body,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id, "userName": "ann", "name": {"givenName": "Ann"}})
    );
    let got = app
        .req(
            "GET",
            &format!("/Users/{id}?excludedAttributes=title,meta,{ent}"),
            None,
        )
        .body;
    assert!(
        got.get("title").is_none() && got.get("meta").is_none() && got.get(ent).is_none(),
        "{got}"
    );
    assert_eq!(got["name"]["familyName"], "Lee");
    let listed = app
        .req(
            "GET",
            &format!("/Users?attributes={}", encode(&format!("{ent}:department"))),
            None,
        )
        .body;
    assert_eq!(
        listed["Resources"][0],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ent], "id": id, ent: {"department": "R&D"}})
    );
    let put = app
        .req(
            "PUT",
            &format!("/Users/{id}?attributes=title"),
            Some(&json!({"userName": "ann", "title": "CEO"})),
        )
        .body;
    assert_eq!(
        put,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id, "title": "CEO"})
    );
    app.req("GET", "/Users?attributes=shoeSize", None)
        .assert_error(400, Some("invalidValue"));

    // Entra looks groups up with excludedAttributes=members: the members are not returned.
    let gid = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Eng", "members": [{"value": id}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let g = app
        .req(
            "GET",
            &format!(
                "/Groups?excludedAttributes=members&filter={}",
                encode("displayName eq \"Eng\"")
            ),
            None,
        )
        .body;
    assert_eq!(g["totalResults"], 1);
    assert!(g["Resources"][0].get("members").is_none());
    assert_eq!(g["Resources"][0]["displayName"], "Eng");
    assert!(
        app.req(
            "GET",
            &format!("/Groups/{gid}?excludedAttributes=members"),
            None
        )
        .body
        .get("members")
        .is_none()
    );
    assert_eq!(
        app.req("GET", &format!("/Groups/{gid}"), None).body["members"][0]["value"],
        id.as_str()
    );
}

fn search_endpoints_take_a_search_request(b: Backend) {
    let app = TestApp::spawn(b);
    seed(&app);
    app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "bob's group"})),
    );
    let sr = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    // RFC 7644 §3.4.3, Figure 4.
    let res = app.req(
        "POST",
        "/Users/.search",
        Some(&json!({"schemas": [sr], "attributes": ["userName"], "filter": "userName sw \"b\" or userName sw \"c\"", "sortBy": "userName", "startIndex": 1, "count": 10})),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(names(&res.body), ["bob", "carol"]);
    assert!(res.body["Resources"][0].get("name").is_none());
    let groups = app
        .req(
            "POST",
            "/Groups/.search",
            Some(&json!({"schemas": [sr], "filter": "displayName co \"bob\""})),
        )
        .body;
    assert_eq!(groups["totalResults"], 1);
    // The root endpoint searches every type the filter fits: displayName fits both, userName
    // only Users.
    let all = app.req("POST", "/.search", Some(&json!({"schemas": [sr], "filter": "displayName co \"bob\" or meta.resourceType eq \"User\""}))).body;
    assert_eq!(all["totalResults"], 5, "{all}");
    let users = app
        .req(
            "POST",
            "/.search",
            Some(&json!({"schemas": [sr], "filter": "userName eq \"dave\""})),
        )
        .body;
    assert_eq!(users["totalResults"], 1, "{users}");
    let page = app
        .req(
            "POST",
            "/.search",
            Some(&json!({"schemas": [sr], "startIndex": 4, "count": 2})),
        )
        .body;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["Resources"][0]["userName"], "dave");
    assert_eq!(page["Resources"][1]["displayName"], "bob's group");
    app.req(
        "POST",
        "/.search",
        Some(&json!({"schemas": [sr], "filter": "shoeSize eq 1"})),
    )
    .assert_error(400, Some("invalidFilter"));
    app.req(
        "POST",
        "/Users/.search",
        Some(&json!({"schemas": [sr], "count": "ten"})),
    )
    .assert_error(400, Some("invalidValue"));
    app.req("GET", "/Users/.search", None)
        .assert_error(405, None);
    assert_eq!(
        app.req_as("", "POST", "/.search", Some(&json!({"schemas": [sr]})))
            .status,
        401
    );
}

/// The id of the tenant `TestApp` made.
fn first_tenant_id(app: &TestApp) -> String {
    scimitar::service::tenants::list(&app.db).expect("tenants")[0]
        .id
        .clone()
}

/// The plans SQLite or PostgreSQL picks for the statements a first page of a list runs (the
/// page, then the count), built by the same code as `GET /Users?filter=…&sortBy=…`.
fn plan(
    app: &TestApp,
    rt: &'static ResourceType,
    filter: Option<&str>,
    sort: Option<(&str, bool)>,
) -> Vec<String> {
    let first = Window::Offset {
        offset: 0,
        limit: 100,
    };
    plan_window(app, rt, filter, sort, first)
}

/// [`plan`] for any window of the list.
fn plan_window(
    app: &TestApp,
    rt: &'static ResourceType,
    filter: Option<&str>,
    sort: Option<(&str, bool)>,
    window: Window,
) -> Vec<String> {
    let tenant = first_tenant_id(app);
    let checked = filter.map(|f| check(parse(f).expect("parse"), rt).expect("check"));
    let sort = sort.map(|(path, descending)| {
        let attr = resolve(rt, &AttrPath::parse(path).expect("sortBy")).expect("resolve");
        (attr, descending)
    });
    app.db
        .run_sync(move |c| {
            let compiler = Compiler::new(Dialect::of(c), &tenant, rt, "http://x");
            let filter = checked.as_ref().map(|f| compiler.compile(f));
            let sort = sort
                .as_ref()
                .map(|(attr, d)| (compiler.sort_key(attr).expect("sortable"), *d));
            let tenant = TenantId::from_stored(tenant.clone());
            let query = ListQuery {
                filter: filter.as_ref(),
                sort: sort.as_ref().map(|(k, d)| (k, *d)),
                window: window.clone(),
            };
            Ok(Scope::new(&tenant).explain_list(c, rt.id, &query)?)
        })
        .expect("explain")
}

fn idp_lookups_use_an_index(b: Backend) {
    let app = TestApp::spawn(b);
    let uid = app.create_user("a@example.com");
    app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Eng", "members": [{"value": uid}]})),
    );
    // Enough rows, and fresh statistics, for the planners to cost plans as they would in use:
    // 5,000 users in 500 groups, written straight to the tables (the same SQL on both). The
    // planners are not pushed (no enable_seqscan = off): that would make a plan that walks a
    // whole index look as good as a lookup.
    let tenant = first_tenant_id(&app);
    let series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000)";
    let bulk = [
        format!(
            "{series} INSERT INTO resources (tenant_id, id, resource_type, user_name_lc, user_name_key, created_at, modified_at, version, doc) \
                 SELECT '{tenant}', 'bulk-u' || i, 'User', 'bulk' || i, 'bulk' || i, i, i, 1, '{{}}' FROM s"
        ),
        format!(
            "{series} INSERT INTO resources (tenant_id, id, resource_type, display_name_lc, external_id, created_at, modified_at, version, doc) \
                 SELECT '{tenant}', 'bulk-g' || i, 'Group', 'bulk group ' || i, 'bx' || i, i, i, 1, '{{}}' FROM s WHERE i <= 500"
        ),
        format!(
            "{series} INSERT INTO members (tenant_id, group_id, member_id) SELECT '{tenant}', 'bulk-g' || (i % 500 + 1), 'bulk-u' || i FROM s"
        ),
        "ANALYZE".to_owned(),
    ];
    app.db
        .run_sync(move |c| {
            for sql in &bulk {
                diesel::RunQueryDsl::execute(diesel::sql_query(sql), c)?;
            }
            Ok(())
        })
        .expect("bulk rows");
    let primary_key = match b {
        Backend::Sqlite => "sqlite_autoindex_resources_1",
        Backend::Postgres => "resources_pkey",
    };
    let filtered: Vec<(&'static ResourceType, String, &str)> = vec![
        (
            &USER_RESOURCE,
            "userName eq \"a@example.com\"".into(),
            "resources_user_name_key",
        ),
        (
            &USER_RESOURCE,
            "userName eq \"Ａ@EXAMPLE.COM\"".into(),
            "resources_user_name_key",
        ),
        (
            &USER_RESOURCE,
            "externalId eq \"x\"".into(),
            "resources_external_id",
        ),
        (
            &GROUP_RESOURCE,
            "externalId eq \"bx7\"".into(),
            "resources_external_id",
        ),
        (
            &GROUP_RESOURCE,
            "displayName eq \"Eng\"".into(),
            "resources_display_name",
        ),
        (
            &GROUP_RESOURCE,
            format!("members[value eq \"{uid}\"]"),
            "members_member",
        ),
        (&USER_RESOURCE, format!("id eq \"{uid}\""), primary_key),
        (&GROUP_RESOURCE, "id eq \"bulk-g7\"".into(), primary_key),
        (
            &USER_RESOURCE,
            "userName sw \"bulk12\"".into(),
            "resources_user_name_order",
        ),
    ];
    for (rt, filter, index) in filtered {
        for p in plan(&app, rt, Some(&filter), None) {
            assert!(p.contains(index), "{filter} should use {index}:\n{p}");
            assert_no_scan(&p, &filter);
        }
    }
    // SQLite plans a statement once, without looking at bound values (the query planner
    // stability guarantee keeps cached statements from being planned anew at each request), so
    // it cannot cost a one-sided userName range: the page walks the tenant's listing in
    // creation order and stops at the page size, and the count reads the range. PostgreSQL
    // costs the bound and takes the range for both.
    let page_of_range = match b {
        Backend::Sqlite => "resources_listing",
        Backend::Postgres => "resources_user_name_order",
    };
    for filter in [
        "userName gt \"bulk998\"",
        "userName ge \"bulk999\"",
        "userName lt \"bulk1\"",
        "userName le \"bulk1\"",
    ] {
        let plans = plan(&app, &USER_RESOURCE, Some(filter), None);
        for (p, index) in plans
            .iter()
            .zip([page_of_range, "resources_user_name_order"])
        {
            assert!(p.contains(index), "{filter} should use {index}:\n{p}");
            assert_no_scan(p, filter);
        }
    }
    // Rendering a user reads its groups by member id: one range of that user's memberships,
    // never all of the tenant's (the primary key's tenant prefix would serve, slowly).
    let tenant = TenantId::from_stored(tenant.clone());
    let member = uid.clone();
    let groups = app
        .db
        .run_sync(move |c| Ok(Scope::new(&tenant).explain_groups_of(c, &[member])?))
        .expect("explain");
    assert!(
        groups.contains("members_member"),
        "a user's groups should use members_member:\n{groups}"
    );
    assert_no_scan(&groups, "a user's groups");
    // A sorted page reads the index in order (its count, of every user, may read them all).
    for descending in [false, true] {
        let p = plan(&app, &USER_RESOURCE, None, Some(("userName", descending))).remove(0);
        assert!(
            p.contains("resources_user_name_order") && !p.contains("TEMP B-TREE"),
            "sortBy=userName (descending: {descending}) should read resources_user_name_order in order:\n{p}"
        );
    }
    // A cursor page deep in the listing starts where the last one ended (the index range begins
    // at its position), and an unfiltered total is the count kept per tenant and type.
    let deep = Window::After {
        position: Some((2500, "bulk-u2500".into())),
        limit: 100,
    };
    let [p, count]: [String; 2] = plan_window(&app, &USER_RESOURCE, None, None, deep)
        .try_into()
        .expect("a page and a count");
    let from_position = match b {
        Backend::Sqlite => "created_at>?",
        Backend::Postgres => "created_at >=",
    };
    assert!(
        p.contains("resources_listing") && p.contains(from_position),
        "a deep cursor page should start its range at its position:\n{p}"
    );
    assert!(
        count.contains("resource_counts"),
        "an unfiltered total should be the kept count:\n{count}"
    );
    // A filter on an attribute without a column reads the stored document as it is: PostgreSQL
    // does not parse the text of each row into jsonb.
    let p = plan(&app, &USER_RESOURCE, Some("title eq \"CTO\""), None).remove(0);
    if b == Backend::Postgres {
        assert!(
            p.contains("doc_json") && !p.contains("::jsonb"),
            "title eq reads doc_json:\n{p}"
        );
    }
}

/// No step of `plan` reads every row of `resources` or `members`.
fn assert_no_scan(plan: &str, what: &str) {
    for line in plan.lines() {
        let l = line.trim_start().trim_start_matches("->  ");
        let scan = l.starts_with("Seq Scan on resources")
            || l.starts_with("Seq Scan on members")
            || (l.starts_with("SCAN ") && !l.starts_with("SCAN CONSTANT ROW"));
        assert!(!scan, "{what} scans a table:\n{plan}");
    }
}

/// PostgreSQL plans by table statistics, which autovacuum gathers once a minute at most: the
/// server analyses a table that changed much within seconds, so after an initial sync a lookup
/// by externalId probes its index rather than walk the tenant in creation order.
#[test]
fn postgres_statistics_follow_a_bulk_change() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn(b);
    let tenant = first_tenant_id(&app);
    // Straight into the table: 5,000 users through the API would take seconds.
    let bulk = format!(
        "INSERT INTO resources (tenant_id, id, resource_type, external_id, created_at, modified_at, version, doc) \
         SELECT '{tenant}', 'bulk-' || g, 'User', 'ext-' || g, g, g, 1, '{{}}' FROM generate_series(1, 5000) g"
    );
    app.db
        .run_sync(move |c| {
            Ok(diesel::connection::SimpleConnection::batch_execute(
                c, &bulk,
            )?)
        })
        .expect("bulk insert");
    // Well inside autovacuum's minute, so it is the server's analysis that is seen.
    let page = eventually(
        Duration::from_secs(20),
        "the lookup by externalId uses its index once the table is analysed",
        || {
            let plans = plan(&app, &USER_RESOURCE, Some(r#"externalId eq "ext-7""#), None);
            let page = plans.into_iter().next().expect("a page");
            page.contains("resources_external_id").then_some(page)
        },
    );
    assert_no_scan(&page, "externalId eq");
}

on_both_backends!(
    sorts_by_any_single_valued_attribute,
    cursor_pagination_walks_every_resource_once,
    page_size_is_configurable_and_capped,
    attributes_and_excluded_attributes_shape_every_response,
    search_endpoints_take_a_search_request,
    idp_lookups_use_an_index,
);
