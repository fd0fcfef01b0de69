//! Test harness: the real app on port 0 over a real SQLite file or a real PostgreSQL database
//! in a throwaway cluster made for this test run. Every app a test starts is stopped, and its
//! database dropped, when the test ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scimitar::service::tenants;
use scimitar::storage::Db;
use scimitar::{Application, Settings, StopHandle};
use serde_json::Value;
use tempfile::TempDir;

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// PostgreSQL, or `None` (said loudly) when this machine has no PostgreSQL binaries and
    /// this is not CI. Under `CI=true` a missing PostgreSQL fails the run.
    pub fn postgres() -> Option<Self> {
        cluster().map(|_| Self::Postgres)
    }

    /// A fresh, empty database for one test, dropped with the returned value (a SQLite file
    /// goes with its directory).
    pub fn fresh_database(self, dir: &Path) -> TestDatabase {
        match self {
            Self::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.join("scimitar.db").display()),
                postgres_name: None,
            },
            Self::Postgres => cluster()
                .expect("cluster checked by the test macro")
                .fresh_database(),
        }
    }
}

/// A database made for one test.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let (Some(name), Some(cluster)) = (&self.postgres_name, cluster()) {
            // FORCE ends any connection still open, so a test that failed half-way cleans up too.
            let dropped = cluster.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            if let Err(e) = dropped {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "cannot drop test database {name}: {e}"
                );
            }
        }
    }
}

/// Polls `check` until it gives a value, and fails the test naming `what` if none comes within
/// `within`: for effects the app writes beside the request (provisioning log, last use,
/// webhook delivery).
pub fn eventually<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A stored tenant id, for the storage calls that take a tenant's scope.
pub fn stored(id: &str) -> scimitar::tenant::TenantId {
    scimitar::tenant::TenantId::from_stored(id.to_owned())
}

/// The newest `limit` provisioning log entries of the tenant named `name`.
pub fn provisioning_log(db: &Db, name: &str, limit: i64) -> Vec<scimitar::service::LogRow> {
    let tenant = tenants::get(db, name).expect("tenant").id;
    db.run_sync(|c| {
        Ok(scimitar::storage::log::read(
            c,
            &scimitar::storage::Scope::new(&stored(&tenant)),
            &scimitar::service::LogQuery {
                limit,
                ..Default::default()
            },
        )?)
    })
    .expect("read the provisioning log")
}

/// Runs each named test once per backend: `mod sqlite` and `mod postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::helpers::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(b) = $crate::helpers::Backend::postgres() { super::$name(b) }
            } )*
        }
    };
}

/// Asserts that `check` holds throughout `window`: for what must not happen (a delivery after
/// a webhook was switched off), which no condition can show has been ruled out.
pub fn holds_for(window: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        assert!(check(), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(check(), "{what}");
}

/// An HTTP request a test's receiver read: its header lines and its body.
pub struct Request {
    headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// Reads one request from `stream`; `None` when it ends before the whole body.
    pub fn read(stream: &TcpStream) -> Option<Self> {
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            headers.push(line.trim_end().to_owned());
        }
        let mut request = Self {
            headers,
            body: Vec::new(),
        };
        request.body = vec![0; request.header("content-length").parse().unwrap_or(0)];
        reader.read_exact(&mut request.body).ok()?;
        Some(request)
    }

    /// A header's value, trimmed; empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find_map(|h| {
                h.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    }
}

/// A webhook endpoint on loopback that takes `delay` to answer each delivery with 200, and
/// counts the deliveries it has read.
pub fn webhook_receiver(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if Request::read(&stream).is_some() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(delay);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, count)
}

const BIN: &str = env!("CARGO_BIN_EXE_scimitar");

/// The binary with this database, an admin secret and a log level, allowed to deliver webhooks
/// to loopback receivers (for tests and on-premises installs only).
pub fn scimitar_command(
    database_url: &str,
    admin_secret: &str,
    log: &str,
    args: &[&str],
) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("DATABASE_URL", database_url)
        .env("SCIMITAR_ADMIN_JWT_SECRET", admin_secret)
        .env("SCIMITAR_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("SCIMITAR_WEBHOOK_ALLOW_HTTP", "true")
        .env("RUST_LOG", log)
        .env_remove("SCIMITAR_LISTEN");
    c
}

/// Runs a command, keeps its stderr in `log`, returns its stdout.
pub fn output(mut c: Command, log: &mut String) -> String {
    let out = c.output().expect("run scimitar");
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A client of one `scimitar serve` process, with a bearer token per request.
pub struct Http {
    agent: ureq::Agent,
    origin: String,
}

impl Http {
    /// A client of the server at `origin`, once it answers.
    pub fn new(origin: &str) -> Self {
        let http = Self {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            origin: origin.to_owned(),
        };
        eventually(Duration::from_secs(30), "the server answers", || {
            http.agent
                .get(format!("{}/scim/v2/ServiceProviderConfig", http.origin))
                .call()
                .ok()
        });
        http
    }

    /// Sends a request; returns the status and the body parsed as JSON (Null when it is not).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let res = self.send_with(method, path, bearer, body, &[]);
        (res.status, res.body)
    }

    /// Sends a request with extra headers; returns the whole response.
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.origin))
            .header("Authorization", format!("Bearer {bearer}"))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map(Value::to_string).unwrap_or_default())
            .expect("request");
        let mut res = self.agent.run(req).expect("HTTP exchange");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.body_mut().read_to_string().expect("body");
        Res {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }
}

/// A `scimitar serve` process on a port it chose itself, with its log collected.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    log: Arc<Mutex<String>>,
    drain: JoinHandle<()>,
}

/// Starts `scimitar serve` from `cmd` (arguments and environment set, `RUST_LOG` at `info` or
/// more verbose) on `127.0.0.1:0` and waits for it to say where it listens. A port picked
/// before the start could be taken by another test's app in between.
pub fn serve(mut cmd: Command) -> Served {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scimitar serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    // Read to the end, so the server never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = listening_addr(&line)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr.to_owned());
            }
            let mut log = sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            log.push_str(&line);
            log.push('\n');
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60));
    let Ok(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        let _ = drain.join();
        let log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        panic!("scimitar serve did not start listening:\n{log}");
    };
    Served {
        child,
        origin: format!("http://{addr}"),
        log,
        drain,
    }
}

/// The address in the log line that says where the server listens, in either log format.
fn listening_addr(line: &str) -> Option<String> {
    if let Ok(event) = serde_json::from_str::<Value>(line) {
        let fields = &event["fields"];
        return (fields["message"] == "listening")
            .then(|| fields["addr"].as_str().map(str::to_owned))
            .flatten();
    }
    line.split_once("listening addr=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
}

impl Served {
    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends SIGTERM, as an orchestrator stopping a container does, and waits for the process
    /// to exit; returns how it exited and its log.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let status = self.child.wait().expect("wait for the process");
        let _ = self.drain.join();
        let log = std::mem::take(
            &mut *self
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        (status, log)
    }

    /// Kills the process with SIGKILL (no shutdown code runs) and returns its log.
    pub fn kill(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
        let _ = self.drain.join();
        std::mem::take(
            &mut *self
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// A running Scimitar and a tenant with its token. Dropping it stops every instance it started
/// and waits until they have stopped, then drops the database.
pub struct TestApp {
    pub base: String,
    /// The origin the admin API answers on (the admin listener, when one is set).
    pub admin_base: String,
    pub token: String,
    pub db: Db,
    agent: ureq::Agent,
    settings: Settings,
    instances: Mutex<Vec<Running>>,
    // Fields drop in order: the pool above closes before the database goes.
    database: TestDatabase,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response: status, headers and the body parsed as JSON (Null when empty).
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Value,
}

impl Res {
    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 7644 §3.12 error body with this status (and scimType, when given).
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{:?}",
            self.body
        );
        assert_eq!(self.body["status"], status.to_string());
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{:?}", self.body);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| d.len() > 10),
            "{:?}",
            self.body
        );
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
    }
}

impl TestApp {
    /// Starts the app with default settings and creates one tenant.
    pub fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {})
    }

    /// Starts the app with adjusted settings and creates one tenant.
    pub fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = backend.fresh_database(dir.path());
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: database.url.clone(),
            db_pool_size: 4,
            ..Settings::default()
        };
        adjust(&mut settings);
        let (base, admin_base, running) = start(settings.clone());
        let db = Db::connect(&database.url, 2).expect("test pool");
        let token = tenants::create(&db, "acme").expect("tenant").token.reveal();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base,
            admin_base,
            token,
            db,
            agent,
            settings,
            instances: Mutex::new(vec![running]),
            database,
            _dir: dir,
        }
    }

    /// Starts another instance on the same database, as a load balancer would have; returns its
    /// SCIM base URL. It stops with this app.
    pub fn another_instance(&self) -> String {
        let (base, _, running) = start(self.settings.clone());
        self.instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(running);
        base
    }

    /// Stops every instance of this app and waits until they have stopped; their requests in
    /// flight are cut off. The test's own pool (`db`) stays open.
    pub fn stop(&self) {
        let instances = std::mem::take(
            &mut *self
                .instances
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for i in &instances {
            i.stop.stop(false);
        }
        for i in instances {
            i.wait();
        }
    }

    /// Asks every instance to stop gracefully and returns at once: they take no new
    /// connections and finish the requests in flight. [`TestApp::stop`] waits for the end.
    pub fn begin_graceful_stop(&self) {
        let instances = self
            .instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for i in instances.iter() {
            i.stop.stop(true);
        }
    }

    /// Connections open to this app's database: `None` on SQLite.
    pub fn database_connections(&self) -> Option<i64> {
        let name = self.database.postgres_name.as_deref()?;
        Some(
            cluster()
                .expect("a PostgreSQL database has a cluster")
                .connections_to(name)
                .expect("count connections"),
        )
    }

    /// Stops (`false`) or allows again (`true`) every connection to this app's PostgreSQL
    /// database, the test's own pool's included, as an outage would; `false` on SQLite, where
    /// the file cannot be taken away from a process running as root, and nothing is done.
    pub fn allow_database(&self, allowed: bool) -> bool {
        let Some(name) = self.database.postgres_name.as_deref() else {
            return false;
        };
        let cluster = cluster().expect("a PostgreSQL database has a cluster");
        cluster
            .execute(&format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}"
            ))
            .expect("alter database");
        if !allowed {
            cluster
                .execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ))
                .expect("end the connections");
        }
        true
    }

    /// The URL of this app's database, for the binary's commands that read it.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }

    /// The origin (`http://ADDR`) of the SCIM listener.
    pub fn origin(&self) -> String {
        self.base
            .strip_suffix("/scim/v2")
            .expect("the SCIM base ends in /scim/v2")
            .to_owned()
    }

    /// Creates another tenant and returns its token.
    pub fn new_tenant(&self, name: &str) -> String {
        tenants::create(&self.db, name)
            .expect("tenant")
            .token
            .reveal()
    }

    /// Sends a request as the default tenant; `body` is sent as application/scim+json.
    pub fn req(&self, method: &str, path: &str, body: Option<&Value>) -> Res {
        self.req_as(&self.token, method, path, body)
    }

    /// Sends a request with the given bearer token (empty: no Authorization header).
    pub fn req_as(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Res {
        let body = body.map(|b| ("application/scim+json", b.to_string()));
        let auth = (!token.is_empty()).then(|| format!("Bearer {token}"));
        self.raw(
            method,
            path,
            auth.as_deref(),
            body.as_ref().map(|(t, b)| (*t, b.as_str())),
        )
    }

    /// Sends a bodiless request as the default tenant with extra headers.
    pub fn raw_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Res {
        let auth = format!("Bearer {}", self.token);
        self.send(method, path, Some(&auth), None, headers)
    }

    /// Sends a request exactly as given: optional Authorization value and (content type, body).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Res {
        self.send(method, path, auth, body, &[])
    }

    /// Sends a request with every part given.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> Res {
        self.send_url(method, &format!("{}{path}", self.base), auth, body, headers)
    }

    /// Sends a request to an absolute URL.
    pub fn send_url(
        &self,
        method: &str,
        url: &str,
        auth: Option<&str>,
        body: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some((ctype, b)) => {
                let req = req
                    .header("Content-Type", ctype)
                    .body(b.to_owned())
                    .expect("request");
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut res = result.expect("HTTP exchange");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.body_mut().read_to_string().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Res {
            status,
            headers,
            body,
        }
    }

    /// Calls the admin API (`path` starts after `/admin/v1`) with an admin JWT.
    pub fn admin(&self, jwt: &str, method: &str, path: &str, body: Option<&Value>) -> Res {
        let url = format!("{}/admin/v1{path}", self.admin_base);
        let auth = format!("Bearer {jwt}");
        let body = body.map(Value::to_string);
        self.send_url(
            method,
            &url,
            Some(&auth),
            body.as_deref().map(|b| ("application/json", b)),
            &[],
        )
    }

    /// Creates a user and returns its id.
    pub fn create_user(&self, user_name: &str) -> String {
        let res = self.req(
            "POST",
            "/Users",
            Some(&serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
            })),
        );
        assert_eq!(res.status, 201, "{:?}", res.body);
        res.body["id"].as_str().expect("id").to_owned()
    }
}

/// The HS256 admin JWT configuration most tests switch the admin API on with.
pub fn admin_auth() -> scimitar::config::AdminAuth {
    scimitar::config::AdminAuth {
        key: scimitar::config::AdminKey::Hs256(
            b"an-admin-secret-of-at-least-32-characters".to_vec(),
        ),
        issuer: Some("scimitar-tests".into()),
        audience: None,
    }
}

/// A PATCH request body (RFC 7644 §3.5.2) with these operations.
pub fn patch_ops(operations: Value) -> Value {
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// An app running on its own thread.
struct Running {
    stop: StopHandle,
    thread: JoinHandle<()>,
}

impl Running {
    /// Waits until the app has stopped (after [`StopHandle::stop`]).
    fn wait(self) {
        // A panic on the server thread has been reported by the test harness already.
        let _ = self.thread.join();
    }
}

/// Runs the app on its own thread and returns its SCIM base URL and admin API origin.
fn start(settings: Settings) -> (String, String, Running) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            match Application::build(settings).await {
                Ok(app) => {
                    let started = (
                        app.scim_base_url().to_owned(),
                        app.admin_url(),
                        app.stop_handle(),
                    );
                    tx.send(Ok(started)).expect("report");
                    app.run_until_stopped().await.expect("server");
                }
                Err(e) => tx.send(Err(e)).expect("report"),
            }
            // The server's worker threads are arbiters of this system: stopping it ends them.
            actix_web::rt::System::current().stop();
        });
        let _ = system.run();
    });
    let (base, admin_base, stop) = rx.recv().expect("server thread").expect("app builds");
    (base, admin_base, Running { stop, thread })
}

/// The PostgreSQL cluster of this test run, started on first use.
struct Cluster {
    port: u16,
    _dir: TempDir,
}

impl Cluster {
    fn fresh_database(&self) -> TestDatabase {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        self.execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        TestDatabase {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            postgres_name: Some(name),
        }
    }

    /// Runs one statement in the cluster's maintenance database.
    fn execute(&self, sql: &str) -> Result<(), String> {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut c = PgConnection::establish(&admin).map_err(|e| e.to_string())?;
        diesel::sql_query(sql)
            .execute(&mut c)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Client connections open to one database.
    fn connections_to(&self, name: &str) -> Result<i64, String> {
        use diesel::sql_types::{BigInt, Text};
        use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut c = PgConnection::establish(&admin).map_err(|e| e.to_string())?;
        diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1")
            .bind::<Text, _>(name)
            .get_result::<Count>(&mut c)
            .map(|r| r.n)
            .map_err(|e| e.to_string())
    }
}

fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER.get_or_init(start_cluster).as_ref()
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_cluster() -> Option<Cluster> {
    let Some(bin) = postgres_bin_dir() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no PostgreSQL binaries under /usr/lib/postgresql: install postgresql"
        );
        // Written to the process's stderr, not with eprintln!: the test harness captures the
        // print macros of a passing test, and a skipped backend must not look like a pass.
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n!!! SKIPPING every PostgreSQL test (they will show as ok): no PostgreSQL binaries under /usr/lib/postgresql; install postgresql to run them !!!\n"
        );
        return None;
    };
    let dir = tempfile::Builder::new()
        .prefix("scimitar-pg")
        .tempdir()
        .expect("temp dir");
    let data = dir.path().join("data");
    // initdb refuses to run as root, so the cluster runs as the postgres system user.
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let pg = |tool: &str| {
        let mut c = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
            c
        } else {
            Command::new(bin.join(tool))
        };
        c.env_remove("PGDATA");
        c
    };
    if as_root {
        run(Command::new("chown").arg("postgres").arg(dir.path()));
    }
    run(pg("initdb")
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"]));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
        dir.path().display()
    );
    run(pg("pg_ctl")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.path().join("log"))
        .args(["-w", "-o", &opts, "start"]));
    // The cluster must not outlive this test process: a watchdog stops it when the process ends.
    let stop = format!(
        "{}{} -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
        if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        },
        bin.join("pg_ctl").display(),
        data.display(),
        dir.path().display()
    );
    let pid = std::process::id();
    let watchdog = format!("while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}");
    // Deliberately not waited for: it must outlive this process to clean up after it.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &watchdog])
        .spawn()
        .expect("watchdog");
    Some(Cluster { port, _dir: dir })
}
