//! The command line contract (DESIGN.md) and the server's logs, through the real binary.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestDatabase, eventually, provisioning_log, serve};
use crate::on_both_backends;

const BIN: &str = env!("CARGO_BIN_EXE_scimitar");

struct Cli {
    database: TestDatabase,
    public_url: String,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(b: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            database: b.fresh_database(dir.path()),
            public_url: "https://scim.example.com".into(),
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("DATABASE_URL", &self.database.url)
            .env("SCIMITAR_PUBLIC_URL", &self.public_url)
            .env_remove("SCIMITAR_LISTEN")
            .env_remove("SCIMITAR_ADMIN_JWT_SECRET")
            .env("RUST_LOG", "info");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run scimitar")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
    }
}

fn tenant_commands_follow_the_contract(b: Backend) {
    let cli = Cli::new(b);
    assert!(cli.run(&["migrate"]).status.success());
    assert!(
        cli.run(&["migrate"]).status.success(),
        "migrate is idempotent"
    );

    let created = cli.json(&["tenant", "create", "--name", "Acme Corp", "--json"]);
    let keys: Vec<&str> = created
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "name", "scim_url", "token"]);
    assert_eq!(created["name"], "Acme Corp");
    assert_eq!(created["scim_url"], "https://scim.example.com/scim/v2");
    assert!(
        created["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("scim_"))
    );

    let dup = cli.run(&["tenant", "create", "--name", "Acme Corp"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let rotated = cli.json(&["tenant", "rotate-secret", "Acme Corp", "--json"]);
    assert_eq!(rotated["id"], created["id"]);
    assert_ne!(rotated["token"], created["token"]);
    let by_id = cli.json(&[
        "tenant",
        "rotate-secret",
        created["id"].as_str().expect("id"),
        "--json",
    ]);
    assert_ne!(by_id["token"], rotated["token"]);

    let list = cli.json(&["tenant", "list", "--json"]);
    assert_eq!(
        list,
        json!({"tenants": [{"id": created["id"], "name": "Acme Corp", "scim_url": "https://scim.example.com/scim/v2"}]})
    );
    let text = cli.run(&["tenant", "create", "--name", "Globex"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("token:") && text.contains("shown only now"),
        "{text}"
    );

    // Admin tokens: minted with the HS256 secret, scoped to a tenant when asked.
    let secret = "an-admin-secret-of-at-least-32-characters";
    let out = cli
        .command(&["admin", "token", "--tenant", "Acme Corp", "--ttl", "5m"])
        .env("SCIMITAR_ADMIN_JWT_SECRET", secret)
        .output()
        .expect("admin token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwt = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut validation = jsonwebtoken::Validation::default();
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("valid JWT")
    .claims;
    assert_eq!(claims["tenant"], created["id"]);
    let too_long = cli
        .command(&["admin", "token", "--ttl", "2d"])
        .env("SCIMITAR_ADMIN_JWT_SECRET", secret)
        .output()
        .expect("admin token");
    assert!(
        !too_long.status.success(),
        "a ttl above the 24h default maximum"
    );
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("--admin-token-max-ttl"));
    let no_secret = cli.run(&["admin", "token"]);
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("SCIMITAR_ADMIN_JWT_SECRET"));

    assert!(cli.run(&["tenant", "delete", "Acme Corp"]).status.success());
    let missing = cli.run(&["tenant", "delete", "Acme Corp"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no tenant"));
    assert_eq!(
        cli.json(&["tenant", "list", "--json"])["tenants"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

fn serve_logs_requests_without_secrets(b: Backend) {
    let cli = Cli::new(b);
    let created = cli.json(&["tenant", "create", "--name", "acme", "--json"]);
    let token = created["token"].as_str().expect("token");
    let link = cli.json(&["tenant", "portal-link", "acme", "--json"]);
    let link_token = link["url"]
        .as_str()
        .and_then(|u| u.split_once("link="))
        .map(|(_, t)| t.to_owned())
        .expect("link token");
    let server = serve(cli.command(&[]));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/scim/v2/Users", server.origin);
    let password = "Tr0ub4dor&3-never-logged";
    let res = agent
        .post(&url)
        .header("Authorization", format!("Bearer {token}"))
        .send_json(json!({"userName": "logged@example.com", "password": password}))
        .expect("POST");
    assert_eq!(res.status().as_u16(), 201);
    let res = agent
        .get(&url)
        .header(
            "Authorization",
            "Bearer scim_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        )
        .call()
        .expect("GET");
    assert_eq!(res.status().as_u16(), 401);
    let entered = agent
        .get(format!("{}/portal/enter?link={link_token}", server.origin))
        .config()
        .max_redirects(0)
        .build()
        .call()
        .expect("GET the setup link");
    assert_eq!(entered.status().as_u16(), 303);
    let rest = server.kill();
    assert!(rest.contains("request_id="), "{rest}");
    assert!(
        rest.contains(&format!(
            "tenant_id={}",
            created["id"].as_str().expect("id")
        )),
        "{rest}"
    );
    let (_, secret) = token.rsplit_once('_').expect("token shape");
    assert!(rest.contains("/portal/enter"), "{rest}");
    for leaked in [token, secret, password, "bbbbbbbbbbbbbbbbbbbb", &link_token] {
        assert!(
            !rest.contains(leaked),
            "the log contains a secret: {leaked}"
        );
    }
}

/// `--log-format json`: every line one JSON object, a request's lines carrying its span (the
/// request id, the route, the tenant), and still no secret.
fn serve_logs_json_lines(b: Backend) {
    let cli = Cli::new(b);
    let created = cli.json(&["tenant", "create", "--name", "acme", "--json"]);
    let token = created["token"].as_str().expect("token");
    let server = serve(cli.command(&["--log-format", "json"]));
    let res = ureq::get(format!("{}/scim/v2/Users?count=1", server.origin))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("GET");
    assert_eq!(res.status().as_u16(), 200);
    let log = server.kill();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let completed = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "request completed"
                || l["span"]["http.route"] == "/scim/v2/Users"
        })
        .unwrap_or_else(|| panic!("no line of the request: {log}"));
    assert_eq!(completed["span"]["tenant_id"], created["id"], "{completed}");
    assert!(
        completed["span"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let (_, secret) = token.rsplit_once('_').expect("token shape");
    assert!(!log.contains(secret), "the log contains the secret");
}

fn serve_takes_the_admin_listener_and_retention_flags(b: Backend) {
    let cli = Cli::new(b);
    let mut cmd = cli.command(&[]);
    cmd.env("SCIMITAR_EVENT_RETENTION", "7d")
        .env("SCIMITAR_ADMIN_LISTEN", "127.0.0.1:0")
        .env(
            "SCIMITAR_ADMIN_JWT_SECRET",
            "an-admin-secret-of-at-least-32-characters",
        );
    let server = serve(cmd);
    let port_of = |origin: &str| -> u16 {
        origin
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("port")
    };
    let scim = port_of(&server.origin);
    // The admin listener is announced before the SCIM one, which serve() waited for.
    let admin = server
        .log()
        .lines()
        .find_map(|l| {
            l.split_once("admin_addr=")
                .map(|(_, a)| a.split_whitespace().next().unwrap_or_default().to_owned())
        })
        .map(|a| port_of(&a))
        .expect("the admin listener is logged");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let status = |port: u16, path: &str| {
        agent
            .get(format!("http://127.0.0.1:{port}{path}"))
            .call()
            .expect("GET")
            .status()
            .as_u16()
    };
    assert_eq!(
        status(admin, "/admin/v1/tenants"),
        401,
        "admin API, no token"
    );
    assert_eq!(
        status(scim, "/admin/v1/tenants"),
        404,
        "not on the SCIM listener"
    );
    assert_eq!(status(scim, "/scim/v2/Users"), 401);
    assert_eq!(
        status(admin, "/scim/v2/Users"),
        404,
        "no SCIM on the admin listener"
    );
    server.kill();

    let zero = cli.run(&["serve", "--event-retention", "0"]);
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("event retention"));
}

/// `tenant portal-link` prints a setup link under the portal URL, valid for --ttl; the database
/// keeps only its digest; a bad TTL or portal setting is refused with the setting's name.
fn portal_links_come_from_the_cli(b: Backend) {
    let cli = Cli::new(b);
    cli.json(&["tenant", "create", "--name", "acme", "--json"]);
    let link = cli.json(&["tenant", "portal-link", "acme", "--ttl", "24h", "--json"]);
    let url = link["url"].as_str().expect("url");
    let token = url
        .strip_prefix("https://scim.example.com/portal/enter?link=pl_")
        .unwrap_or_else(|| panic!("{url}"));
    let id = link["id"].as_str().expect("id");
    assert!(token.starts_with(id));
    let expires =
        chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().expect("expiry"))
            .expect("RFC 3339");
    let hours = (expires.timestamp() - chrono::Utc::now().timestamp()) / 3600;
    assert!((23..=24).contains(&hours), "{hours}");
    let secret = &token[id.len() + 1..];
    let db = scimitar::storage::Db::connect(&cli.database.url, 1).expect("db");
    let stored = db
        .run_sync(|c| Ok(scimitar::storage::portal::link(c, id)?))
        .expect("read")
        .expect("the link is stored");
    assert!(!stored.secret_hash.contains(secret));
    let plain = cli
        .command(&["tenant", "portal-link", "acme"])
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&plain.stdout)
            .starts_with("https://scim.example.com/portal/enter?link=pl_")
    );
    let long = cli.run(&["tenant", "portal-link", "acme", "--ttl", "31d"]);
    assert!(!long.status.success());
    assert!(String::from_utf8_lossy(&long.stderr).contains("30 days"));
    let custom = cli
        .command(&["tenant", "portal-link", "acme", "--json"])
        .env("SCIMITAR_PORTAL_URL", "https://app.example.com/scim-setup/")
        .output()
        .expect("run");
    let custom: Value = serde_json::from_slice(&custom.stdout).expect("json");
    assert!(custom["url"].as_str().is_some_and(|u| {
        u.starts_with("https://app.example.com/scim-setup/portal/enter?link=pl_")
    }));
    let accent = cli.run(&["serve", "--portal-accent", "red; }"]);
    assert!(!accent.status.success());
    assert!(String::from_utf8_lossy(&accent.stderr).contains("accent"));
}

/// `tenant mode` shows and sets a tenant's mode; `tenant dry-run` reads, promotes or discards
/// a dry-run, and refuses in plain words when there is none.
fn tenant_modes_come_from_the_cli(b: Backend) {
    let cli = Cli::new(b);
    cli.json(&["tenant", "create", "--name", "acme", "--json"]);
    assert_eq!(cli.json(&["tenant", "mode", "acme"])["mode"], "live");
    assert_eq!(
        cli.json(&["tenant", "mode", "acme", "paused"])["mode"],
        "paused"
    );
    assert_eq!(cli.json(&["tenant", "mode", "acme"])["mode"], "paused");
    let none = cli.run(&["tenant", "dry-run", "diff", "acme"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("not in dry-run"));
    assert_eq!(
        cli.json(&["tenant", "mode", "acme", "dry_run"])["mode"],
        "dry_run"
    );
    let diff = cli.json(&["tenant", "dry-run", "diff", "acme"]);
    assert_eq!(diff["users"]["created"], 0);
    let refused = cli.run(&["tenant", "mode", "acme", "live"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("promote"));
    assert_eq!(
        cli.json(&["tenant", "dry-run", "discard", "acme"])["mode"],
        "live"
    );
    let bad = cli.run(&["tenant", "mode", "acme", "asleep"]);
    assert!(!bad.status.success());
    let listed = cli.json(&["tenant", "list", "--json"]);
    assert_eq!(listed["tenants"].as_array().map(Vec::len), Some(1));
}

/// `--config FILE`: TOML settings beneath the environment and the flags; `config check` prints
/// each setting with where it came from, secrets masked; a bad setting in the file is named with
/// the file.
fn a_config_file_sits_beneath_environment_and_flags(b: Backend) {
    let cli = Cli::new(b);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("scimitar.toml");
    let secret = "a-config-file-admin-secret-of-32-characters";
    std::fs::write(
        &file,
        format!(
            "max-page-size = 500\nmax-patch-operations = 77\nadmin-jwt-secret = \"{secret}\"\n\
             log-format = \"json\"\n\
             trust-x-forwarded-for = true\n\
             portal-frame-ancestors = [\"https://a.example\", \"https://b.example\"]\n"
        ),
    )
    .expect("write the file");
    let path = file.to_str().expect("a UTF-8 path");
    let mut check = cli.command(&[
        "config",
        "check",
        "--config",
        path,
        "--default-page-size",
        "50",
    ]);
    check.env("SCIMITAR_MAX_PAGE_SIZE", "300");
    let out = check.output().expect("run config check");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "max-page-size = 300  # environment SCIMITAR_MAX_PAGE_SIZE".to_owned(),
        "default-page-size = 50  # flag".to_owned(),
        format!("max-patch-operations = 77  # file {path}"),
        format!("admin-jwt-secret = \"***\"  # file {path}"),
        format!("trust-x-forwarded-for = true  # file {path}"),
        format!("log-format = \"json\"  # file {path}"),
        format!("portal-frame-ancestors = \"https://a.example,https://b.example\"  # file {path}"),
        "max-body-bytes = 1048576  # default".to_owned(),
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "no line {line:?} in:\n{printed}"
        );
    }
    assert!(!printed.contains(secret), "the secret is printed");

    // The server takes the file's settings too.
    let server = serve(cli.command(&["--config", path]));
    let spc: Value = ureq::get(format!("{}/scim/v2/ServiceProviderConfig", server.origin))
        .call()
        .expect("GET")
        .body_mut()
        .read_json()
        .expect("JSON");
    assert_eq!(spc["filter"]["maxResults"], 500, "{spc}");
    server.kill();

    std::fs::write(&file, "max-page-size = \"lots\"\n").expect("write");
    let bad = cli.run(&["config", "check", "--config", path]);
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains(&format!("setting `max-page-size` in {path}")),
        "{said}"
    );

    // A check across settings names each value's source.
    std::fs::write(&file, "max-page-size = 20\n").expect("write");
    let crossed = cli.run(&["serve", "--config", path, "--default-page-size", "50"]);
    assert!(!crossed.status.success());
    let said = String::from_utf8_lossy(&crossed.stderr);
    assert!(
        said.contains("default-page-size = 50 from flag")
            && said.contains(&format!("max-page-size = 20 from file {path}")),
        "{said}"
    );

    std::fs::write(&file, "max-pagesize = 10\n").expect("write");
    let unknown = cli.run(&["serve", "--config", path]);
    assert!(!unknown.status.success());
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        said.contains("there is no setting `max-pagesize`"),
        "{said}"
    );

    // A file of server settings serves the other commands too: what they do not take is left.
    std::fs::write(&file, "max-page-size = 500\n").expect("write");
    let listed = cli.run(&["tenant", "list", "--config", path]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

/// SIGTERM, as `docker stop` or Kubernetes sends it: the process stops accepting, writes the
/// provisioning log it had queued and exits 0.
fn sigterm_stops_serve_cleanly(b: Backend) {
    let cli = Cli::new(b);
    let created = cli.json(&["tenant", "create", "--name", "acme", "--json"]);
    let token = created["token"].as_str().expect("token");
    let server = serve(cli.command(&[]));
    let url = format!("{}/scim/v2/Users", server.origin);
    for n in 0..20 {
        let res = ureq::post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .send_json(json!({"userName": format!("user{n}@example.com")}))
            .expect("POST");
        assert_eq!(res.status().as_u16(), 201);
    }
    let (status, log) = server.terminate();
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(log.contains("stopped"), "{log}");

    let db = scimitar::storage::Db::connect(&cli.database.url, 1).expect("database");
    let logged = provisioning_log(&db, "acme", 100);
    assert_eq!(
        logged.len(),
        20,
        "every request before the stop is in the log"
    );
}

/// `scimitar probe`, a container's health check: 0 once the server is ready, else a failure
/// that says why.
fn probe_answers_for_the_health_check(b: Backend) {
    let cli = Cli::new(b);
    let server = serve(cli.command(&[]));
    let readyz = format!("{}/readyz", server.origin);
    eventually(Duration::from_secs(10), "the probe passes", || {
        cli.run(&["probe", &readyz]).status.success().then_some(())
    });
    let missing = cli.run(&["probe", &format!("{}/no-such-page", server.origin)]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("answered 404"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    server.kill();
    let down = cli.run(&["probe", &readyz, "--timeout", "2"]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("did not answer"));
}

/// Instances started at once on a new database (a deployment of N behind a load balancer)
/// migrate it in turns: each finds the schema whole, none fails on another's half-made one.
fn instances_started_together_migrate_in_turns(b: Backend) {
    let cli = Cli::new(b);
    let started: Vec<_> = (0..4)
        .map(|_| {
            cli.command(&["migrate"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start scimitar migrate")
        })
        .collect();
    for child in started {
        let out = child.wait_with_output().expect("scimitar migrate");
        assert!(
            out.status.success(),
            "a migrate beside three others failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tenant = cli.json(&["tenant", "create", "--name", "acme", "--json"]);
    assert_eq!(tenant["name"], "acme");
}

on_both_backends!(
    instances_started_together_migrate_in_turns,
    a_config_file_sits_beneath_environment_and_flags,
    probe_answers_for_the_health_check,
    sigterm_stops_serve_cleanly,
    portal_links_come_from_the_cli,
    tenant_modes_come_from_the_cli,
    tenant_commands_follow_the_contract,
    serve_logs_requests_without_secrets,
    serve_logs_json_lines,
    serve_takes_the_admin_listener_and_retention_flags
);
