//! The admin portal over HTTP, as a browser sees it: setup links, the session they open, the
//! SCIM Provisioning tab, its secret form, and the pages' security headers.

use std::collections::HashMap;
use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, admin_auth, eventually, patch_ops};
use crate::on_both_backends;

fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()))
}

fn admin(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> crate::helpers::Res {
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    app.admin(&jwt, method, path, body)
}

/// A new setup link of tenant `acme`; returns its id and URL.
fn link(app: &TestApp, body: Option<&Value>) -> (String, String) {
    let res = admin(app, "POST", "/tenants/acme/portal-links", body);
    assert_eq!(res.status, 201, "{:?}", res.body);
    let field = |k: &str| res.body[k].as_str().expect(k).to_owned();
    (field("id"), field("url"))
}

/// A browser: keeps cookies, follows no redirect (so each step can be checked).
struct Browser {
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

/// A page as the browser received it.
struct Page {
    status: u16,
    headers: ureq::http::HeaderMap,
    set_cookies: Vec<String>,
    text: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }

    /// The `value` of the input with this id.
    fn hidden_value(&self, id: &str) -> String {
        let at = self
            .text
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {}", self.text));
        let rest = &self.text[at..];
        let rest = &rest[rest.find("value=\"").expect("value") + 7..];
        rest[..rest.find('"').expect("quote")].to_owned()
    }

    /// The `value` of the hidden input named `name`.
    fn hidden(&self, name: &str) -> String {
        let at = self
            .text
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("no {name} field in {}", self.text));
        let rest = &self.text[at + name.len() + 15..];
        rest[..rest.find('"').expect("quote")].to_owned()
    }
}

impl Browser {
    fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            cookies: HashMap::new(),
        }
    }

    fn send(&mut self, method: &str, url: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("Cookie", jar.join("; "));
        }
        let body = form.map(|fields| {
            fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        });
        let req = req
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("User-Agent", "portal-test-browser")
            .body(body.unwrap_or_default())
            .expect("request");
        let mut res = self.agent.run(req).expect("HTTP exchange");
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').expect("cookie");
            if value.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            set_cookies,
            text: res.body_mut().read_to_string().expect("body"),
        }
    }

    fn get(&mut self, url: &str) -> Page {
        self.send("GET", url, None)
    }

    fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        self.send("POST", url, Some(form))
    }

    /// Follows a setup link to a signed-in SCIM Provisioning tab.
    fn sign_in(&mut self, link_url: &str) -> Page {
        let portal = portal_of(link_url);
        let to_enter = self.get(link_url);
        assert_eq!(to_enter.status, 303);
        assert_eq!(to_enter.header("location"), Some("enter"));
        let entered = self.post(&format!("{portal}/enter"), &[]);
        assert_eq!(entered.status, 303, "{}", entered.text);
        assert_eq!(entered.header("location"), Some("scim"));
        let tab = self.get(&format!("{portal}/scim"));
        assert_eq!(tab.status, 200, "{}", tab.text);
        tab
    }
}

/// `…/portal` of a link URL `…/portal/enter?link=…`.
fn portal_of(link_url: &str) -> String {
    link_url[..link_url.find("/enter?").expect("link URL")].to_owned()
}

fn a_setup_link_opens_the_portal_once(b: Backend) {
    let app = spawn(b);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    // The link's secret leaves the address bar at once, into a cookie only the server reads.
    let first = browser.get(&url);
    assert_eq!(first.status, 303);
    let cookie = first
        .set_cookie("scimitar_portal_link")
        .expect("link cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    // Fetching the page (as a link scanner does) does not use the link up.
    assert_eq!(browser.get(&format!("{portal}/enter")).status, 200);
    assert_eq!(browser.get(&format!("{portal}/enter")).status, 200);
    let entered = browser.post(&format!("{portal}/enter"), &[]);
    assert_eq!(entered.status, 303);
    let session = entered
        .set_cookie("scimitar_portal")
        .expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    assert!(session.contains("Max-Age=28800"), "{session}");
    assert!(
        entered
            .set_cookie("scimitar_portal_link")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let tab = browser.get(&format!("{portal}/scim"));
    assert_eq!(tab.status, 200);
    assert!(tab.text.contains("acme"));
    assert!(tab.text.contains(&format!("value=\"{}\"", app.base)));
    // The same link in another browser: used.
    let mut other = Browser::new();
    other.get(&url);
    let again = other.post(&format!("{portal}/enter"), &[]);
    assert_eq!(again.status, 410);
    assert!(again.text.contains("already used"), "{}", again.text);
    assert!(other.get(&format!("{portal}/scim")).status == 401);
    // The provisioning log says when the portal was opened, and by which browser.
    eventually(
        Duration::from_secs(10),
        "the portal's opening is logged",
        || {
            let logs = admin(&app, "GET", "/tenants/acme/logs", None).body;
            logs["entries"].as_array()?.iter().find(|e| {
                e["path"] == "/portal/enter" && e["user_agent"] == "portal-test-browser"
            })?;
            Some(())
        },
    );
}

fn links_expire_and_can_be_revoked(b: Backend) {
    let app = spawn(b);
    for ttl in [json!(0), json!(31 * 86_400), json!("1h")] {
        let res = admin(
            &app,
            "POST",
            "/tenants/acme/portal-links",
            Some(&json!({"ttl_seconds": ttl})),
        );
        assert_eq!(res.status, 400, "ttl {ttl}: {:?}", res.body);
    }
    // Revoked before use.
    let (id, url) = link(&app, None);
    assert_eq!(
        admin(
            &app,
            "DELETE",
            &format!("/tenants/acme/portal-links/{id}"),
            None
        )
        .status,
        204
    );
    let mut browser = Browser::new();
    browser.get(&url);
    let refused = browser.post(&format!("{}/enter", portal_of(&url)), &[]);
    assert_eq!(refused.status, 410);
    assert!(refused.text.contains("revoked"));
    // Revoked after use: the session it opened ends.
    let (id, url) = link(&app, None);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    assert_eq!(
        admin(
            &app,
            "DELETE",
            &format!("/tenants/acme/portal-links/{id}"),
            None
        )
        .status,
        204
    );
    assert_eq!(
        browser.get(&format!("{}/scim", portal_of(&url))).status,
        401
    );
    assert_eq!(
        admin(
            &app,
            "DELETE",
            "/tenants/acme/portal-links/nosuchlink",
            None
        )
        .status,
        404
    );
    // Expired.
    let (_, url) = link(&app, Some(&json!({"ttl_seconds": 1})));
    let listed = admin(&app, "GET", "/tenants/acme/portal-links", None).body;
    assert!(listed.to_string().contains("\"state\":\"unused\""));
    eventually(Duration::from_secs(10), "the link expires", || {
        let listed = admin(&app, "GET", "/tenants/acme/portal-links", None).body;
        listed
            .to_string()
            .contains("\"state\":\"expired\"")
            .then_some(())
    });
    let mut browser = Browser::new();
    browser.get(&url);
    let page = browser.post(&format!("{}/enter", portal_of(&url)), &[]);
    assert_eq!(page.status, 410);
    assert!(page.text.contains("expired"), "{}", page.text);
    // A made-up link.
    let mut browser = Browser::new();
    browser.get(&format!("{}/enter?link=pl_nothingatall", portal_of(&url)));
    assert_eq!(
        browser
            .post(&format!("{}/enter", portal_of(&url)), &[])
            .status,
        400
    );
}

fn the_secret_form_is_scoped_and_needs_its_token(b: Backend) {
    let app = spawn(b);
    let globex = app.new_tenant("globex");
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    let tab = browser.sign_in(&url);
    assert!(!tab.text.contains("globex"));
    let csrf = tab.hidden("csrf");
    let secret_url = format!("{portal}/secret?provider=jumpcloud");
    // Without the page's token (a forged form): refused, nothing changes.
    let forged = browser.post(
        &secret_url,
        &[("csrf", "0"), ("grace", "0"), ("confirm", "yes")],
    );
    assert_eq!(forged.status, 403);
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    // Without the confirmation: the tab again, with the reason.
    let unconfirmed = browser.post(&secret_url, &[("csrf", &csrf), ("grace", "0")]);
    assert_eq!(unconfirmed.status, 200);
    assert!(unconfirmed.text.contains("Tick the box to confirm"));
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    let odd = browser.post(
        &secret_url,
        &[("csrf", &csrf), ("grace", "5"), ("confirm", "yes")],
    );
    assert_eq!(odd.status, 400);
    // A form the portal cannot read at all gets the portal's own page, not a bare error.
    let unreadable = browser.post(&secret_url, &[("csrf", &csrf), ("grace", "soon")]);
    assert_eq!(unreadable.status, 400);
    assert!(
        unreadable.text.contains("The request could not be read")
            && unreadable.text.contains("portal.css"),
        "{}",
        unreadable.text
    );
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    // Confirmed: the new secret is shown once; the old one stops working at once.
    let done = browser.post(
        &secret_url,
        &[("csrf", &csrf), ("grace", "0"), ("confirm", "yes")],
    );
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("shown only now"));
    let token = done
        .text
        .split("value=\"")
        .map(|s| &s[..s.find('"').unwrap_or(0)])
        .find(|v| v.starts_with("scim_"))
        .expect("new token on the page")
        .to_owned();
    assert_eq!(app.req("GET", "/Users", None).status, 401);
    assert_eq!(app.req_as(&token, "GET", "/Users", None).status, 200);
    assert_eq!(app.req_as(&globex, "GET", "/Users", None).status, 200);
    // The tab without the secret again: the secret is not shown twice.
    assert!(!browser.get(&format!("{portal}/scim")).text.contains(&token));
    // Signing out needs the token too, and ends the session.
    assert_eq!(
        browser
            .post(&format!("{portal}/signout"), &[("csrf", "x")])
            .status,
        403
    );
    assert_eq!(
        browser
            .post(&format!("{portal}/signout"), &[("csrf", &csrf)])
            .status,
        200
    );
    assert_eq!(browser.get(&format!("{portal}/scim")).status, 401);
}

fn each_provider_has_its_own_steps(b: Backend) {
    let app = spawn(b);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let entra = browser.get(&format!("{portal}/scim?provider=entra"));
    assert!(entra.text.contains("Tenant URL"));
    assert!(
        entra
            .text
            .contains(&format!("value=\"{}?aadOptscim062020\"", app.base))
    );
    let jumpcloud = browser.get(&format!("{portal}/scim?provider=jumpcloud"));
    assert!(jumpcloud.text.contains("Identity Management"));
    assert!(jumpcloud.text.contains("Token Key"));
    for p in ["okta", "onelogin", "google", "generic"] {
        let page = browser.get(&format!("{portal}/scim?provider={p}"));
        assert!(page.text.contains("aria-current=\"true\""), "{p}");
    }
    // The checklist follows the IdP's traffic.
    assert!(entra.text.contains("No users provisioned yet"));
    // Opening the portal is not the IdP's first request.
    assert!(
        entra
            .text
            .contains("Waiting for the first request from your identity provider")
    );
    assert!(
        entra
            .text
            .contains("Test Connection (GET /Users) not received yet")
    );
    assert_eq!(app.req("GET", "/Users?count=1", None).status, 200);
    app.create_user("first@example.com");
    eventually(
        Duration::from_secs(10),
        "the checklist sees the first user",
        || {
            let page = browser.get(&format!("{portal}/scim"));
            (page.text.contains("1 user provisioned")
                && page.text.contains("Test Connection received"))
            .then_some(())
        },
    );
}

fn pages_carry_a_strict_security_policy(b: Backend) {
    let app = spawn(b);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    let tab = browser.sign_in(&url);
    let csp = tab.header("content-security-policy").expect("CSP");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(tab.header("x-frame-options"), Some("DENY"));
    assert_eq!(tab.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(tab.header("cache-control"), Some("no-store"));
    assert!(!tab.text.contains("<script>") && !tab.text.contains("style="));
    let js = browser.get(&format!("{portal}/assets/portal.js"));
    assert!(
        js.header("content-type")
            .is_some_and(|c| c.starts_with("text/javascript"))
    );
    let theme = browser.get(&format!("{portal}/assets/theme.css"));
    assert!(theme.text.contains("--accent: #2456c7"));
    // An operator who embeds the portal names the host app's origin.
    let framed = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.portal.frame_ancestors = vec!["https://app.example.com".into()];
        s.portal.accent = "#ff6600".into();
    });
    let (_, url) = link(&framed, None);
    let mut browser = Browser::new();
    let tab = browser.sign_in(&url);
    let csp = tab.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("frame-ancestors https://app.example.com"),
        "{csp}"
    );
    assert_eq!(tab.header("x-frame-options"), None);
    let theme = browser.get(&format!("{}/assets/theme.css", portal_of(&url)));
    assert!(theme.text.contains("--accent: #ff6600"));
}

fn the_log_tab_explains_failures(b: Backend) {
    let app = spawn(b);
    let globex = app.new_tenant("globex");
    app.create_user("dup@example.com");
    let dup = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dup@example.com"});
    assert_eq!(app.req("POST", "/Users", Some(&dup)).status, 409);
    assert_eq!(
        app.req_as(&globex, "GET", "/Users/nosuchuser", None).status,
        404
    );
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let refused = eventually(Duration::from_secs(10), "the 409 reaches the log", || {
        let page = browser.get(&format!("{portal}/log?status=4&period=24h"));
        page.text.contains("\">409 · ").then_some(page)
    });
    assert!(refused.text.contains("uniqueness"));
    // The SCIM Provisioning tab's checklist says the same in plain words.
    let tab = browser.get(&format!("{portal}/scim"));
    assert!(
        tab.text.contains("Last errors") && tab.text.contains("match existing users by userName")
    );
    assert!(refused.text.contains("match existing users by userName"));
    // Another tenant's failures are not shown.
    assert!(!refused.text.contains("nosuchuser"));
    let ok = browser.get(&format!("{portal}/log?status=2"));
    assert!(!ok.text.contains("\">409 · "));
    assert!(ok.text.contains("POST /scim/v2/Users"));
    assert_eq!(browser.get(&format!("{portal}/log?status=9")).status, 400);
    assert_eq!(
        browser.get(&format!("{portal}/log?period=forever")).status,
        400
    );
}

fn the_scim_tab_shows_what_the_diagnosis_found_and_marks_it_fixed(b: Backend) {
    let app = spawn(b);
    let id = app.create_user("ann@example.com");
    let legacy = patch_ops(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let auth = format!("Bearer {}", app.token);
    let res = app.send(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&auth),
        Some(("application/scim+json", &legacy.to_string())),
        &[("User-Agent", "Microsoft Azure AD SCIM provisioning 1.0.0")],
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let tab = eventually(Duration::from_secs(10), "the finding on the tab", || {
        let page = browser.get(&format!("{portal}/scim"));
        page.text.contains("Needs your attention").then_some(page)
    });
    for shown in [
        "Microsoft Entra ID is using its older SCIM dialect",
        "?aadOptscim062020",
        "Identity provider: Microsoft Entra ID",
        &format!("PATCH /scim/v2/Users/{id}"),
    ] {
        assert!(tab.text.contains(shown), "{shown} in {}", tab.text);
    }
    // A forged form is refused; the real one resolves it.
    let forged = browser.post(
        &format!("{portal}/findings"),
        &[("csrf", "forged"), ("kind", "entra_legacy_dialect")],
    );
    assert_eq!(forged.status, 403, "{}", forged.text);
    let csrf = tab.hidden("csrf");
    let fixed = browser.post(
        &format!("{portal}/findings"),
        &[("csrf", &csrf), ("kind", "entra_legacy_dialect")],
    );
    assert_eq!(fixed.status, 303, "{}", fixed.text);
    let tab = browser.get(&format!("{portal}/scim"));
    assert!(!tab.text.contains("Needs your attention"));
    assert!(tab.text.contains("Resolved") && tab.text.contains("older SCIM dialect"));
}

fn the_users_tab_finds_users_with_groups_and_roles(b: Backend) {
    let app = spawn(b);
    let alice = app
        .req(
            "POST",
            "/Users",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "alice@example.com", "displayName": "Alice Smith",
                "emails": [{"value": "alice.smith@example.org", "primary": true}]
            })),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.create_user("bob@example.com");
    app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Engineering", "members": [{"value": alice}]})),
    );
    let mapped = admin(
        &app,
        "PUT",
        "/tenants/acme/role-mappings",
        Some(&json!({
            "default_role": "viewer", "mappings": [{"group": "Engineering", "role": "developer"}]
        })),
    );
    assert_eq!(mapped.status, 200, "{:?}", mapped.body);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let all = browser.get(&format!("{portal}/users"));
    assert!(all.text.contains("2 users"), "{}", all.text);
    let smith = browser.get(&format!("{portal}/users?q=SMITH"));
    assert!(smith.text.contains("alice@example.com"));
    assert!(smith.text.contains("alice.smith@example.org"));
    assert!(smith.text.contains("Engineering"));
    assert!(smith.text.contains("developer"));
    assert!(!smith.text.contains("bob@example.com"));
    let bob = browser.get(&format!("{portal}/users?q=bob"));
    assert!(bob.text.contains("viewer"));
    // Whatever is typed is a search, never a filter of its own.
    let odd = browser.get(&format!(
        "{portal}/users?q=%22%20or%20userName%20pr%20or%20%22"
    ));
    assert_eq!(odd.status, 200);
    assert!(odd.text.contains("No users match"));
}

fn the_groups_tab_counts_members_and_pages_them(b: Backend) {
    let app = spawn(b);
    let ids: Vec<String> = (0..101)
        .map(|n| app.create_user(&format!("member{n:03}@example.com")))
        .collect();
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let big = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Everyone", "members": members})),
    );
    assert_eq!(big.status, 201);
    let gid = big.body["id"].as_str().expect("id").to_owned();
    app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Admins", "members": [{"value": ids[0]}]})),
    );
    admin(
        &app,
        "PUT",
        "/tenants/acme/role-mappings",
        Some(&json!({
            "mappings": [{"group": "admins", "role": "admin"}, {"group": gid, "role": "member"}]
        })),
    );
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let tab = browser.get(&format!("{portal}/groups"));
    assert_eq!(tab.status, 200);
    assert!(tab.text.contains("2 groups"));
    // Admins (by displayName, case-insensitively) before Everyone (by id).
    let admins = tab.text.find(">Admins<").expect("Admins");
    let everyone = tab.text.find(">Everyone<").expect("Everyone");
    assert!(admins < everyone);
    assert!(
        tab.text[admins..everyone].contains("<td>1</td><td>admin</td>"),
        "{}",
        tab.text
    );
    assert!(
        tab.text[everyone..].contains("<td>101</td><td>member</td>"),
        "{}",
        tab.text
    );
    let first = browser.get(&format!("{portal}/group?id={gid}"));
    assert!(first.text.contains("member000@example.com"));
    assert!(!first.text.contains("member100@example.com"));
    let next = first.text.split("&amp;after=").nth(1).expect("a next page");
    let after = &next[..next.find('"').expect("quote")];
    let second = browser.get(&format!("{portal}/group?id={gid}&after={after}"));
    assert_eq!(
        second.text.matches("@example.com").count(),
        1,
        "{}",
        second.text
    );
    assert!(!second.text.contains("Next members"));
    // Another tenant's group, or none: not found.
    let other = app.new_tenant("globex");
    let theirs = app.req_as(
        &other,
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Theirs"})),
    );
    let theirs = theirs.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        browser.get(&format!("{portal}/group?id={theirs}")).status,
        404
    );
    assert_eq!(
        browser
            .get(&format!("{portal}/group?id=nosuchgroup"))
            .status,
        404
    );
}

fn role_mapping_is_previewed_then_saved(b: Backend) {
    let app = spawn(b);
    let (u1, u2) = (
        app.create_user("u1@example.com"),
        app.create_user("u2@example.com"),
    );
    app.create_user("u3@example.com");
    let eng = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Eng", "members": [{"value": u1}]})),
    );
    let eng = eng.body["id"].as_str().expect("id").to_owned();
    app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "All", "members": [{"value": eng}, {"value": u2}]})),
    );
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let tab = browser.get(&format!("{portal}/roles"));
    assert_eq!(tab.status, 200);
    assert!(
        tab.text.contains("<option value=\"Eng\">") && tab.text.contains("<option value=\"All\">")
    );
    let csrf = tab.hidden("csrf");
    let roles = format!("{portal}/roles");
    let rows = [
        ("csrf", csrf.as_str()),
        ("group_0", "eng"),
        ("role_0", "dev"),
        ("group_1", "All"),
        ("role_1", "staff"),
        ("group_2", "Ghost"),
        ("role_2", "nobody"),
        ("default_role", "viewer"),
    ];
    let mut preview = rows.to_vec();
    preview.push(("action", "preview"));
    let shown = browser.post(&roles, &preview);
    assert_eq!(shown.status, 200, "{}", shown.text);
    // Nested groups count: u1 is in Eng, which is in All.
    for row in [
        "<td>dev</td><td>1</td>",
        "<td>staff</td><td>2</td>",
        "<td>nobody</td><td>0</td>",
        "<td>viewer (default)</td><td>1</td>",
    ] {
        assert!(shown.text.contains(row), "{row}: {}", shown.text);
    }
    assert!(shown.text.contains("No synced group is named “Ghost”"));
    let saved = admin(&app, "GET", "/tenants/acme/role-mappings", None).body;
    assert_eq!(saved["mappings"], json!([]), "a preview saves nothing");
    // A half row is refused with the reason.
    let half = browser.post(
        &roles,
        &[("csrf", &csrf), ("group_0", "Eng"), ("action", "save")],
    );
    assert!(half.text.contains("needs both a group and a role"));
    assert_eq!(
        browser
            .post(
                &roles,
                &[("group_0", "Eng"), ("role_0", "dev"), ("action", "save")]
            )
            .status,
        403
    );
    let mut save = rows[..5].to_vec();
    save.extend([("default_role", "viewer"), ("action", "save")]);
    let done = browser.post(&roles, &save);
    assert_eq!(done.status, 303, "{}", done.text);
    let saved = admin(&app, "GET", "/tenants/acme/role-mappings", None).body;
    assert_eq!(saved["default_role"], "viewer");
    assert_eq!(saved["mappings"].as_array().map(Vec::len), Some(2));
    let after = browser.get(&format!("{portal}/roles?saved=1"));
    assert!(after.text.contains("The role mapping is saved"));
    assert!(after.text.contains("value=\"staff\""));
    let users = browser.get(&format!("{portal}/users?q=u1"));
    assert!(users.text.contains("dev, staff"), "{}", users.text);
}

fn the_attribute_mapping_tab_saves_what_the_app_sees(b: Backend) {
    let app = spawn(b);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let tab = browser.get(&format!("{portal}/attributes"));
    assert_eq!(tab.status, 200, "{}", tab.text);
    // The standard fields are shown with their sources.
    assert!(
        tab.text
            .contains("<td>email</td><td><code>emails.value</code></td>"),
        "{}",
        tab.text
    );
    let csrf = tab.hidden("csrf");
    let attributes = format!("{portal}/attributes");
    let department = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    let saved = browser.post(
        &attributes,
        &[
            ("csrf", csrf.as_str()),
            ("field_0", "department"),
            ("from_0", department),
            ("field_1", "entitlement"),
            ("from_1", "entitlements.value"),
            ("default_1", "Standard User"),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.text);
    let shown = browser.get(&format!("{attributes}?saved=1"));
    assert!(
        shown.text.contains("The attribute mapping is saved"),
        "{}",
        shown.text
    );
    assert!(
        shown.text.contains(&format!("value=\"{department}\"")),
        "{}",
        shown.text
    );
    assert!(
        shown.text.contains("value=\"Standard User\""),
        "{}",
        shown.text
    );
    let stored = admin(&app, "GET", "/tenants/acme/attribute-mapping", None);
    assert_eq!(
        stored.body["fields"],
        json!({"department": department, "entitlement": {"from": "entitlements.value", "default": "Standard User"}})
    );
    // A path to no attribute is explained on the page and changes nothing.
    let refused = browser.post(
        &attributes,
        &[
            ("csrf", csrf.as_str()),
            ("field_0", "cost_center"),
            ("from_0", "costCentre"),
        ],
    );
    assert_eq!(refused.status, 200, "{}", refused.text);
    assert!(refused.text.contains("costCentre"), "{}", refused.text);
    let half = browser.post(&attributes, &[("csrf", csrf.as_str()), ("field_0", "x")]);
    assert!(
        half.text
            .contains("needs both a field name and a SCIM attribute"),
        "{}",
        half.text
    );
    let forged = browser.post(
        &attributes,
        &[("csrf", "forged"), ("field_0", "x"), ("from_0", "title")],
    );
    assert_eq!(forged.status, 403, "{}", forged.text);
    let stored = admin(&app, "GET", "/tenants/acme/attribute-mapping", None);
    assert_eq!(stored.body["fields"]["department"], department);
    assert!(stored.body["fields"].get("x").is_none());
}

fn the_webhooks_tab_sets_shows_and_removes_the_endpoint(b: Backend) {
    let app = spawn(b);
    let (_, url) = link(&app, None);
    let portal = portal_of(&url);
    let hooks = format!("{portal}/webhooks");
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let empty = browser.get(&hooks);
    assert!(empty.text.contains("No webhook yet"));
    let csrf = empty.hidden("csrf");
    let save = |browser: &mut Browser, url: &str, extra: &[(&str, &str)]| {
        let mut form = vec![("csrf", csrf.as_str()), ("url", url), ("action", "save")];
        form.extend_from_slice(extra);
        browser.post(&hooks, &form)
    };
    let plain = save(
        &mut browser,
        "http://hooks.example.com/scim",
        &[("enabled", "yes")],
    );
    assert_eq!(plain.status, 200);
    assert!(plain.text.contains("role=\"alert\""), "{}", plain.text);
    assert!(plain.text.contains("must use https"));
    assert!(browser.get(&hooks).text.contains("No webhook yet"));
    let made = save(
        &mut browser,
        "https://hooks.example.com/scim",
        &[("enabled", "yes")],
    );
    let secret = made.hidden_value("signing");
    assert!(secret.starts_with("whsec_"), "{}", made.text);
    assert!(made.text.contains("Delivering to"));
    let again = browser.get(&hooks);
    assert!(
        !again.text.contains(&secret),
        "the signing secret is shown once"
    );
    let off = save(&mut browser, "https://hooks.example.com/scim", &[]);
    assert!(off.text.contains("Switched off"));
    let rotated = save(
        &mut browser,
        "https://hooks.example.com/scim",
        &[("enabled", "yes"), ("rotate_secret", "yes")],
    );
    let new_secret = rotated.hidden_value("signing");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let listed = admin(&app, "GET", "/tenants/acme/webhooks", None).body;
    assert_eq!(
        listed["webhooks"][0]["url"],
        "https://hooks.example.com/scim"
    );
    // An event the endpoint has not had yet cannot be resent: the page says why.
    app.create_user("someone@example.com");
    let first = admin(&app, "GET", "/tenants/acme/events?limit=1", None).body;
    let seq = first["events"][0]["seq"].to_string();
    let resend = browser.post(
        &hooks,
        &[("csrf", &csrf), ("seq", &seq), ("action", "resend")],
    );
    assert_eq!(resend.status, 200);
    assert!(
        resend.text.contains("not been delivered yet"),
        "{}",
        resend.text
    );
    assert_eq!(
        browser
            .post(&hooks, &[("csrf", "x"), ("action", "remove")])
            .status,
        403
    );
    assert_eq!(
        browser
            .post(&hooks, &[("csrf", &csrf), ("action", "remove")])
            .status,
        303
    );
    assert!(browser.get(&hooks).text.contains("No webhook yet"));
    assert_eq!(
        admin(&app, "GET", "/tenants/acme/webhooks", None).body["webhooks"],
        json!([])
    );
}

fn portal_requests_share_the_admin_rate_limit(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.rate_limits.admin_per_second = 2;
    });
    let (_, url) = link(&app, None);
    let mut browser = Browser::new();
    browser.sign_in(&url);
    let scim = format!("{}/scim", portal_of(&url));
    let limited = (0..20)
        .map(|_| browser.get(&scim))
        .find(|p| p.status == 429)
        .expect("a 429 within 20 quick requests at 2/s");
    assert!(limited.header("retry-after").is_some());
    assert!(limited.text.contains("Too many requests"));
}

on_both_backends!(
    a_setup_link_opens_the_portal_once,
    links_expire_and_can_be_revoked,
    the_secret_form_is_scoped_and_needs_its_token,
    each_provider_has_its_own_steps,
    pages_carry_a_strict_security_policy,
    the_log_tab_explains_failures,
    the_scim_tab_shows_what_the_diagnosis_found_and_marks_it_fixed,
    the_users_tab_finds_users_with_groups_and_roles,
    the_groups_tab_counts_members_and_pages_them,
    role_mapping_is_previewed_then_saved,
    the_attribute_mapping_tab_saves_what_the_app_sees,
    the_webhooks_tab_sets_shows_and_removes_the_endpoint,
    portal_requests_share_the_admin_rate_limit,
);
