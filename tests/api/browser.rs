//! The admin portal in a real browser: headless Chromium driven through chromedriver, as a
//! customer's IT admin uses it (the JavaScript, the cookies and the layout included).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use scimitar::http::admin_auth::{ALL_TENANTS, mint};
use serde_json::json;

use crate::helpers::{Backend, TestApp, admin_auth, eventually};

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

async fn widest(c: &Client) -> u64 {
    c.execute("return document.documentElement.scrollWidth", vec![])
        .await
        .expect("script")
        .as_u64()
        .expect("width")
}

async fn admin_sets_up_jumpcloud(link: &str, app_base: &str, driver: &Driver) -> String {
    // 800 px: the width of the iframe a host app gives the portal.
    let c = browser(driver, 800).await;
    c.goto(link).await.expect("open the link");
    let open = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//button[text()='Open the settings']"))
        .await
        .expect("the link's page");
    assert!(
        !c.current_url()
            .await
            .expect("url")
            .as_str()
            .contains("link="),
        "the link's secret left the address bar"
    );
    open.click().await.expect("click");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//h1[text()='SCIM Provisioning']"))
        .await
        .expect("the SCIM Provisioning tab");
    let cookies = c
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    assert_eq!(cookies, json!(""), "the session cookie is HttpOnly");
    let endpoint = c.find(Locator::Id("endpoint")).await.expect("endpoint");
    assert_eq!(
        endpoint.prop("value").await.expect("value"),
        Some(app_base.to_owned())
    );
    // The script ran (no CSP violation): it shows the copy buttons.
    let copy = c
        .find(Locator::Css("button[data-copy=endpoint]"))
        .await
        .expect("copy");
    assert!(copy.is_displayed().await.expect("displayed"));
    assert!(widest(&c).await <= 800, "no sideways scrolling at 800 px");
    c.find(Locator::LinkText("Okta"))
        .await
        .expect("Okta")
        .click()
        .await
        .expect("click");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//h2[text()='Connect Okta']"))
        .await
        .expect("Okta's steps");
    c.find(Locator::LinkText("JumpCloud"))
        .await
        .expect("JumpCloud")
        .click()
        .await
        .expect("click");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//h2[text()='Connect JumpCloud']"))
        .await
        .expect("JumpCloud's steps");
    c.find(Locator::Id("confirm"))
        .await
        .expect("box")
        .click()
        .await
        .expect("tick");
    c.find(Locator::XPath("//button[text()='Generate a new secret']"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    // The script asks before the secret is replaced.
    c.accept_alert().await.expect("the confirmation");
    let secret = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("secret"))
        .await
        .expect("the new secret");
    let token = secret.prop("value").await.expect("value").expect("a token");
    assert!(token.starts_with("scim_"));
    // The other tabs are reached from the navigation; a search is a plain GET form.
    c.find(Locator::LinkText("Users"))
        .await
        .expect("Users")
        .click()
        .await
        .expect("click");
    let search = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("q"))
        .await
        .expect("the search box");
    search.send_keys("jane").await.expect("type");
    c.find(Locator::XPath("//button[text()='Search']"))
        .await
        .expect("button")
        .click()
        .await
        .expect("search");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//strong[text()='jane@example.com']"))
        .await
        .expect("the user found");
    c.find(Locator::LinkText("Provisioning log"))
        .await
        .expect("Provisioning log")
        .click()
        .await
        .expect("click");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//td[contains(., 'POST /scim/v2/Users')]"))
        .await
        .expect("the user's creation in the log");
    // A phone.
    c.set_window_size(375, 800).await.expect("resize");
    assert!(widest(&c).await <= 375, "no sideways scrolling on a phone");
    c.close().await.expect("close");
    token
}

/// The whole JumpCloud setup in Chromium: the link, the tab, the provider's steps, a new secret
/// through the confirmation, at the widths of an iframe and a phone.
#[test]
fn the_portal_works_in_a_real_browser() {
    let auth = admin_auth();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.admin = Some(auth.clone()));
    let jwt = mint(&auth, ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let res = app.admin(&jwt, "POST", "/tenants/acme/portal-links", None);
    let link = res.body["url"].as_str().expect("url").to_owned();
    app.create_user("jane@example.com");
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = runtime.block_on(admin_sets_up_jumpcloud(&link, &app.base, &driver));
    assert_eq!(app.req_as(&token, "GET", "/Users", None).status, 200);
    // The form's default grace period (1 hour) keeps the old secret working meanwhile.
    assert_eq!(app.req("GET", "/Users", None).status, 200);
}
