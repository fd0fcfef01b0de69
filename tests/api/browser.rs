//! The admin portal in a real browser: headless Chromium driven through chromedriver, as a
//! customer's IT admin uses it (the JavaScript, the cookies and the layout included). A
//! screenshot of each tab is written to `target/tmp/portal-screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::events::webhooks::DeliveryPolicy;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, admin_auth, eventually, patch_ops};
use crate::webhooks::{LOOPBACK_RECEIVERS, Receiver};

/// How long a page may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(30);

/// A chromedriver process on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver; .ci/run does)");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        eventually(Duration::from_secs(30), "chromedriver answers", || {
            ureq::get(&status).call().ok().map(drop)
        });
        Self { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, width: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        format!("--window-size={width},1000")]}),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// The admin's browser: a Chromium window and the helpers the steps share.
struct Admin {
    c: Client,
}

impl Admin {
    async fn open(driver: &Driver, width: u32) -> Self {
        Self {
            c: browser(driver, width).await,
        }
    }

    async fn find(&self, at: Locator<'_>) -> Element {
        self.c
            .wait()
            .at_most(WAIT)
            .for_element(at)
            .await
            .unwrap_or_else(|e| panic!("{at:?} on the page: {e}"))
    }

    async fn click(&self, at: Locator<'_>) {
        self.find(at).await.click().await.expect("click");
    }

    /// Presses the button with this label.
    async fn press(&self, label: &str) {
        self.click(Locator::XPath(&format!("//button[text()='{label}']")))
            .await;
    }

    /// Waits until the page shows what the XPath describes.
    async fn sees(&self, xpath: &str) {
        self.find(Locator::XPath(xpath)).await;
    }

    /// Opens a tab from the navigation and waits for its heading (the tab's name).
    async fn tab(&self, name: &str) {
        self.click(Locator::LinkText(name)).await;
        self.sees(&format!("//h1[text()='{name}']")).await;
    }

    /// Types into the form field of that name, replacing what it held.
    async fn fill(&self, name: &str, value: &str) {
        let field = self.find(Locator::Css(&format!("[name='{name}']"))).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    async fn script(&self, js: &str) -> Value {
        self.c.execute(js, vec![]).await.expect("script")
    }

    /// The page's width as laid out: more than the window means sideways scrolling.
    async fn widest(&self) -> u64 {
        self.script("return document.documentElement.scrollWidth")
            .await
            .as_u64()
            .expect("width")
    }

    /// A screenshot of the whole page, as a test artifact.
    async fn shot(&self, name: &str) {
        let (width, height) = self.c.get_window_size().await.expect("size");
        let (width, height) = (
            u32::try_from(width).expect("width"),
            u32::try_from(height).expect("height"),
        );
        let tall = self
            .script("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .expect("height");
        let tall = u32::try_from(tall).unwrap_or(height).clamp(height, 3000);
        self.c.set_window_size(width, tall).await.expect("resize");
        let png = self.c.screenshot().await.expect("screenshot");
        self.c.set_window_size(width, height).await.expect("resize");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot");
    }

    /// Opens a setup link and presses "Open the settings", checking that the link's secret has
    /// left the address bar.
    async fn enter(&self, link: &str) {
        self.c.goto(link).await.expect("open the link");
        self.sees("//button[text()='Open the settings']").await;
        let url = self.c.current_url().await.expect("url");
        assert!(
            !url.as_str().contains("link="),
            "the link's secret left the address bar"
        );
        self.press("Open the settings").await;
    }

    /// Generates a new secret through the confirmation; the token shown once.
    async fn new_secret(&self, grace: &str) -> String {
        self.click(Locator::Css(&format!("#grace option[value='{grace}']")))
            .await;
        self.click(Locator::Id("confirm")).await;
        self.press("Generate a new secret").await;
        // The script asks before the secret is replaced.
        self.c.accept_alert().await.expect("the confirmation");
        let secret = self.find(Locator::Id("secret")).await;
        let token = secret.prop("value").await.expect("value").expect("a token");
        assert!(token.starts_with("scim_"), "{token}");
        token
    }
}

/// Where the screenshots go: beside the build, kept after the run.
fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots")
}

/// What the identity provider does with the secret the admin pasted into it, as JumpCloud
/// does: Test Connection, then a bound group, its user, and the membership by PATCH.
fn jumpcloud_syncs(app: &TestApp, token: &str) {
    assert_eq!(app.req_as(token, "GET", "/Users?count=1", None).status, 200);
    let group = app.req_as(
        token,
        "POST",
        "/Groups",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
        })),
    );
    assert_eq!(group.status, 201, "{:?}", group.body);
    let user = app.req_as(
        token,
        "POST",
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada Lovelace",
            "emails": [{"value": "ada@example.com", "primary": true, "type": "work"}],
            "active": true,
        })),
    );
    assert_eq!(user.status, 201, "{:?}", user.body);
    let add = patch_ops(json!([{"op": "add", "path": "members",
                                "value": [{"value": user.body["id"]}]}]));
    let path = format!("/Groups/{}", group.body["id"].as_str().expect("id"));
    let added = app.req_as(token, "PATCH", &path, Some(&add));
    assert!(matches!(added.status, 200 | 204), "{:?}", added.body);
    // A second push of the same user: the IdP's mistake shows in the log with advice.
    let again = app.req_as(token, "POST", "/Users", Some(&bare_user("ada@example.com")));
    assert_eq!(again.status, 409);
    // Two users without an email, so with a blank userName: the diagnosis's evidence.
    for _ in 0..2 {
        let blank = app.req_as(token, "POST", "/Users", Some(&bare_user(" ")));
        assert_eq!(blank.status, 400);
    }
}

/// A user with nothing but its userName.
fn bare_user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
    })
}

/// The seed's story in Chromium, at the width of the iframe a host app gives the portal (800
/// px): the link, JumpCloud's steps, a secret, the IdP's first sync, a role mapping, the
/// user with that role, the webhook, a regenerated secret, and the phone layout.
async fn admin_sets_up_jumpcloud(app: &TestApp, link: &str, hook: &Receiver, driver: &Driver) {
    let admin = Admin::open(driver, 800).await;
    admin.enter(link).await;
    admin.sees("//h1[text()='SCIM Provisioning']").await;
    assert_eq!(
        admin.script("return document.cookie").await,
        json!(""),
        "the session cookie is HttpOnly"
    );
    let endpoint = admin.find(Locator::Id("endpoint")).await;
    assert_eq!(
        endpoint.prop("value").await.expect("value"),
        Some(app.base.clone())
    );
    // The script ran (no CSP violation): it shows the copy buttons.
    let copy = admin.find(Locator::Css("button[data-copy=endpoint]")).await;
    assert!(copy.is_displayed().await.expect("displayed"));
    assert!(
        admin.widest().await <= 800,
        "no sideways scrolling at 800 px"
    );
    admin.click(Locator::LinkText("Okta")).await;
    admin.sees("//h2[text()='Connect Okta']").await;
    admin.click(Locator::LinkText("JumpCloud")).await;
    admin.sees("//h2[text()='Connect JumpCloud']").await;
    // The default grace period (1 hour) keeps the tenant's first secret working meanwhile.
    let token = admin.new_secret("3600").await;
    assert_eq!(app.req("GET", "/Users", None).status, 200);

    jumpcloud_syncs(app, &token);
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    eventually(Duration::from_secs(10), "the userName finding", || {
        let found = app.admin(&jwt, "GET", "/tenants/acme/findings", None).body;
        found
            .to_string()
            .contains("user_name_mapping")
            .then_some(())
    });
    admin.tab("SCIM Provisioning").await;
    admin
        .sees("//h3[text()='userName is empty, or the same for different people']")
        .await;
    for done in [
        "Test Connection received (GET /Users from",
        "1 user provisioned",
        "1 group provisioned",
    ] {
        admin
            .sees(&format!("//li[@class='done'][contains(., '{done}')]"))
            .await;
    }
    admin.sees("//td[contains(., 'already')]").await;
    admin.shot("scim-provisioning").await;
    admin.press("Mark as fixed").await;
    admin.sees("//h2[text()='Resolved']").await;

    // The group to a role, previewed before it is saved.
    admin.tab("Role mapping").await;
    admin.fill("group_0", "Engineering").await;
    admin.fill("role_0", "developer").await;
    admin.press("Preview").await;
    admin
        .sees("//tr[td[text()='developer'] and td[text()='1']]")
        .await;
    admin.shot("role-mapping").await;
    admin.press("Save").await;
    admin
        .sees("//p[contains(., 'The role mapping is saved')]")
        .await;

    // The app's own fields: the Salesforce seed's department and default entitlement.
    admin.tab("Attribute mapping").await;
    admin.fill("field_0", "department").await;
    admin
        .fill(
            "from_0",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .await;
    admin.fill("field_1", "entitlement").await;
    admin.fill("from_1", "entitlements.value").await;
    admin.fill("default_1", "Standard User").await;
    admin.press("Save").await;
    admin
        .sees("//p[contains(., 'The attribute mapping is saved')]")
        .await;
    admin.shot("attribute-mapping").await;

    // The user, with the group and the role it gives.
    admin.tab("Users").await;
    admin.fill("q", "lovelace").await;
    admin.press("Search").await;
    admin.sees("//tr[td/strong[text()='ada@example.com'] and td[text()='Engineering'] and td[text()='developer']]").await;
    admin.shot("users").await;

    admin.tab("Groups").await;
    admin
        .sees("//tr[td/a[text()='Engineering'] and td[text()='1'] and td[text()='developer']]")
        .await;
    admin.shot("groups").await;
    admin.click(Locator::LinkText("Engineering")).await;
    admin.sees("//td[text()='Ada Lovelace']").await;

    admin.tab("Provisioning log").await;
    admin.sees("//td[contains(., 'POST /scim/v2/Users')]").await;
    admin.shot("provisioning-log").await;

    // The app's webhook: saved, delivering, and an event resent.
    admin.tab("Webhooks").await;
    admin.fill("url", &hook.url).await;
    admin.press("Save").await;
    let signing = admin.find(Locator::Id("signing")).await;
    let secret = signing.prop("value").await.expect("value").expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    // A new webhook starts after the latest event: the next change is its first delivery.
    let hired = app.req_as(
        &token,
        "POST",
        "/Users",
        Some(&bare_user("grace@example.com")),
    );
    assert_eq!(hired.status, 201, "{:?}", hired.body);
    let delivered = Locator::XPath("//td[contains(., 'HTTP 200')]");
    for _ in 0..300 {
        admin.c.refresh().await.expect("reload");
        admin.sees("//h1[text()='Webhooks']").await;
        if admin.c.find(delivered).await.is_ok() {
            break;
        }
    }
    admin.find(delivered).await;
    assert!(
        admin.c.find(Locator::Id("signing")).await.is_err(),
        "the signing secret is shown once"
    );
    admin.press("Resend from here").await;
    admin.c.accept_alert().await.expect("the confirmation");
    admin
        .sees("//p[contains(., 'will be delivered again, in order')]")
        .await;
    admin.shot("webhooks").await;

    // A new secret that ends the old one at once: the IdP's old token is refused.
    admin.tab("SCIM Provisioning").await;
    let newer = admin.new_secret("0").await;
    assert_eq!(app.req_as(&token, "GET", "/Users", None).status, 401);
    assert_eq!(app.req("GET", "/Users", None).status, 401);
    assert_eq!(app.req_as(&newer, "GET", "/Users", None).status, 200);

    // A dry run: the IdP's next user reaches a copy; the admin sees it, then applies it.
    admin
        .click(Locator::XPath("//summary[contains(., 'dry run')]"))
        .await;
    admin.press("Start a dry run").await;
    admin.sees("//h2[starts-with(., 'Dry run since')]").await;
    let trial = app.req_as(
        &newer,
        "POST",
        "/Users",
        Some(&bare_user("lin@example.com")),
    );
    assert_eq!(trial.status, 201, "{:?}", trial.body);
    admin.tab("SCIM Provisioning").await;
    admin
        .sees("//tr[td[1][text()='Users'] and td[4][text()='1']]")
        .await;
    admin.shot("dry-run").await;
    admin.press("Apply these changes").await;
    admin.c.accept_alert().await.expect("the confirmation");
    admin.sees("//summary[contains(., 'dry run')]").await;
    let lin = trial.body["id"].as_str().expect("id");
    let promoted = app.admin(&jwt, "GET", &format!("/tenants/acme/users/{lin}"), None);
    assert_eq!(promoted.status, 200, "{:?}", promoted.body);

    // A phone.
    admin.tab("Users").await;
    admin.c.set_window_size(375, 800).await.expect("resize");
    assert!(
        admin.widest().await <= 375,
        "no sideways scrolling on a phone"
    );
    admin.tab("Provisioning log").await;
    assert!(
        admin.widest().await <= 375,
        "no sideways scrolling on a phone"
    );
    admin.shot("phone-log").await;
    admin.c.close().await.expect("close");
}

/// A used and an expired link, in a fresh browser: refused with a page that says why.
async fn links_are_refused(used: &str, expired: &str, driver: &Driver) {
    for (link, why) in [(used, "already used"), (expired, "expired")] {
        let stranger = Admin::open(driver, 800).await;
        stranger.enter(link).await;
        stranger
            .sees("//h1[text()='This link cannot be used']")
            .await;
        stranger.sees(&format!("//p[contains(., '{why}')]")).await;
        stranger.c.close().await.expect("close");
    }
}

/// The whole JumpCloud setup in Chromium, then the links that must no longer open it.
#[test]
fn the_portal_works_in_a_real_browser() {
    let auth = admin_auth();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.admin = Some(auth.clone());
        s.webhooks = DeliveryPolicy {
            poll_interval: Duration::from_millis(20),
            egress: LOOPBACK_RECEIVERS,
            ..DeliveryPolicy::default()
        };
    });
    let jwt = mint(&auth, ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let new_link = |ttl: u64| {
        let res = app.admin(
            &jwt,
            "POST",
            "/tenants/acme/portal-links",
            Some(&json!({"ttl_seconds": ttl})),
        );
        assert_eq!(res.status, 201, "{:?}", res.body);
        res.body["url"].as_str().expect("url").to_owned()
    };
    let link = new_link(3600);
    let expired = new_link(1);
    let hook = Receiver::start(Vec::new());
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(admin_sets_up_jumpcloud(&app, &link, &hook, &driver));
    eventually(Duration::from_secs(10), "the short link expires", || {
        let listed = app.admin(&jwt, "GET", "/tenants/acme/portal-links", None);
        listed
            .body
            .to_string()
            .contains("\"state\":\"expired\"")
            .then_some(())
    });
    runtime.block_on(links_are_refused(&link, &expired, &driver));
}
