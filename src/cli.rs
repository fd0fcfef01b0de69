//! The `scimitar` command line: serve, migrate, manage tenants, run conformance scenarios.

use std::io::{BufReader, BufWriter};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::admin_token::{ALL_TENANTS, mint};
use crate::config::file::{self, ConfigError, Effective, Layered, Source};
use crate::config::{AdminArgs, DbArgs, LogArgs, ServeArgs, Settings, UrlArgs, parse_duration};
use crate::conformance;
use crate::service::{modes, portal, replay, tenants, transfer};
use crate::storage::Db;
use crate::storage::models::TenantRow;
use crate::tenant::Mode;
use crate::{Application, telemetry};
use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "scimitar",
    version,
    about = "A SCIM 2.0 service provider for identity-provider provisioning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SCIM server (applies pending migrations first)
    Serve(Box<ServeArgs>),
    /// The configuration `serve` would run with
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Admin API helpers
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Apply pending database migrations
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Exit 0 when URL answers 2xx in time (a container's health check; no curl needed)
    Probe {
        /// The URL to GET
        #[arg(default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
        /// Seconds to wait for the answer
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Manage tenants (customer organisations) and their SCIM secrets
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        url: UrlArgs,
    },
    /// Replay what JumpCloud, Okta, Entra ID, OneLogin and Google Workspace send against any
    /// SCIM 2.0 server; deletes what it creates. With --from-log, write a scenario replaying a
    /// tenant's recorded traffic instead
    Conformance(ConformanceArgs),
}

#[derive(Args)]
struct ConformanceArgs {
    /// SCIM base URL of the server under test, e.g. https://scim.example.com/scim/v2
    #[arg(
        long,
        env = "SCIMITAR_CONFORMANCE_URL",
        required_unless_present_any = ["list", "from_log"]
    )]
    url: Option<String>,
    /// Bearer token of a tenant the run may create and delete users and groups in (the
    /// environment variable keeps it out of shell history and process lists)
    #[arg(
        long,
        env = "SCIMITAR_CONFORMANCE_TOKEN",
        hide_env_values = true,
        required_unless_present_any = ["list", "from_log"]
    )]
    token: Option<String>,
    /// Run only the scenarios of this IdP (jumpcloud, okta, entra, onelogin, google) or with
    /// this name; repeat for several
    #[arg(long = "idp", value_name = "NAME")]
    idps: Vec<String>,
    /// Also write a JUnit XML report to FILE
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run the *.json scenario files in DIR instead of the built-in ones
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Run this scenario file instead of the built-in ones (e.g. one --from-log wrote); repeat
    /// for several
    #[arg(long = "scenario", value_name = "FILE", conflicts_with = "scenarios")]
    scenario_files: Vec<PathBuf>,
    /// Write a scenario replaying this tenant's (id or name) recorded provisioning traffic,
    /// with generated values in place of its users' and groups', instead of running scenarios
    #[arg(long, value_name = "TENANT", conflicts_with_all = ["list", "scenarios", "scenario_files", "junit"])]
    from_log: Option<String>,
    /// With --from-log: the window's start, RFC 3339 (2026-12-08T09:00:00Z) or how long ago (2h)
    #[arg(long, requires = "from_log", default_value = "24h", value_parser = parse_moment)]
    since: i64,
    /// With --from-log: the window's end, like --since; now without it
    #[arg(long, requires = "from_log", value_parser = parse_moment)]
    until: Option<i64>,
    /// With --from-log: where to write the scenario; standard output without it
    #[arg(long, short, value_name = "FILE", requires = "from_log")]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
    /// Domain of the test users' e-mail addresses, for servers that accept only verified domains
    #[arg(long, default_value = "example.com")]
    email_domain: String,
    /// Seconds to wait for each response
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// List the scenarios and exit
    #[arg(long)]
    list: bool,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the settings from flags, environment and --config file, and print each with its
    /// source, secrets masked (takes the flags of `serve`)
    Check(Box<ServeArgs>),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print a short-lived admin API token signed with the HS256 secret
    Token {
        /// Limit the token to this tenant (id or name); without it, the token grants all tenants
        #[arg(long)]
        tenant: Option<String>,
        /// How long the token is valid
        #[arg(long, default_value = "15m", value_parser = parse_duration)]
        ttl: Duration,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its SCIM URL and token (the token is shown once)
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new SCIM token; the old one stops working at once, or after --grace
    RotateSecret {
        id_or_name: String,
        /// Keep the old token working this long (e.g. 1h, at most 7d) while the IdP is switched over
        #[arg(long, value_parser = parse_duration)]
        grace: Option<Duration>,
        #[arg(long)]
        json: bool,
    },
    /// List tenants
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a tenant with all its users and groups
    Delete { id_or_name: String },
    /// Write a tenant (users, groups, memberships, tokens' hashes, schemas, role mappings,
    /// events, its webhook without the secret) to a file that `tenant import` reads into
    /// another database; the file holds the tenant's data: keep it like a backup
    Export {
        id_or_name: String,
        /// Where to write (created readable by its owner only); standard output without it
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Read a tenant from a `tenant export` file (`-` for standard input) into this database,
    /// SQLite or PostgreSQL, all or nothing; its SCIM tokens keep working
    Import { file: PathBuf },
    /// Show the tenant's mode, or set it: live, dry_run (the IdP's requests change a shadow
    /// copy of the directory, the app hears nothing until `tenant dry-run promote`) or paused
    /// (SCIM requests are answered 503 with Retry-After, so the IdP retries later)
    Mode {
        id_or_name: String,
        #[arg(value_enum)]
        mode: Option<ModeArg>,
    },
    /// Show what a tenant's dry-run would change, apply it (promote) or throw it away (discard)
    DryRun {
        #[arg(value_enum)]
        action: DryRunAction,
        id_or_name: String,
    },
    /// Print a single-use setup link into the admin portal for the tenant's admin
    PortalLink {
        id_or_name: String,
        /// How long the link can be opened (e.g. 24h, at most 30d)
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
        #[arg(long)]
        json: bool,
    },
}

/// A tenant mode on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum ModeArg {
    Live,
    DryRun,
    Paused,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Live => Self::Live,
            ModeArg::DryRun => Self::DryRun,
            ModeArg::Paused => Self::Paused,
        }
    }
}

/// What to do with a tenant's dry-run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DryRunAction {
    /// Print what promoting it would change, as JSON
    Diff,
    /// Apply its changes to the live directory, with their events
    Promote,
    /// Throw it away
    Discard,
}

/// Runs the command line given to the process and answers its exit code.
pub fn main() -> ExitCode {
    let layered = match file::layered(Cli::command(), std::env::args_os().collect()) {
        Ok(layered) => layered,
        Err(ConfigError::Arguments(e)) => e.exit(),
        Err(e @ ConfigError::File(_)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::from_arg_matches(&layered.matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    telemetry::init(cli.log.log_format);
    match run(cli.command, &layered) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (with its causes) for the person at the terminal.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The settings `serve` runs with, validated; an error names each setting it is about with its
/// value and where that came from (flag, environment, file or default).
fn validated(args: ServeArgs, layered: &Layered) -> anyhow::Result<Settings> {
    args.settings()?.validated().map_err(|e| {
        let effective = file::effective(&Cli::command(), layered);
        let named: Vec<String> = e
            .settings
            .iter()
            .filter_map(|setting| effective.iter().find(|s| s.name == *setting))
            .map(|s| match (&s.value, &s.source) {
                (None, _) => format!("{} is not set", s.name),
                (Some(v), Source::Default) => format!("{} = {v}, the default", s.name),
                (Some(v), source) => format!("{} = {v} from {source}", s.name),
            })
            .collect();
        if named.is_empty() {
            anyhow::anyhow!("the configuration is not valid: {e}")
        } else {
            anyhow::anyhow!("the configuration is not valid: {e} ({})", named.join("; "))
        }
    })
}

/// `scimitar config check`: validates what `serve` would run with and prints each setting as a
/// TOML line with its source.
fn check(args: ServeArgs, layered: &Layered) -> anyhow::Result<()> {
    validated(args, layered)?;
    for Effective {
        name,
        value,
        source,
    } in file::effective(&Cli::command(), layered)
    {
        match value {
            None => println!("# {name} is not set"),
            Some(v) if v.parse::<i64>().is_ok() || v == "true" || v == "false" => {
                println!("{name} = {v}  # {source}");
            }
            Some(v) => println!("{name} = {v:?}  # {source}"),
        }
    }
    Ok(())
}

fn run(command: Command, layered: &Layered) -> anyhow::Result<()> {
    match command {
        Command::Config {
            command: ConfigCommand::Check(args),
        } => check(*args, layered),
        Command::Serve(args) => {
            let settings = validated(*args, layered)?;
            actix_web::rt::System::new().block_on(async {
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
                    .context("server failed")
            })
        }
        Command::Probe { url, timeout } => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(timeout)))
                .http_status_as_error(false)
                .build()
                .into();
            let answer = agent
                .get(&url)
                .call()
                .with_context(|| format!("{url} did not answer"))?;
            anyhow::ensure!(
                answer.status().is_success(),
                "{url} answered {}",
                answer.status()
            );
            Ok(())
        }
        Command::Migrate { db } => {
            let s = db.settings(None)?;
            Db::connect(&s.database_url, 1)?;
            eprintln!("migrations are up to date");
            Ok(())
        }
        Command::Tenant { command, db, url } => tenant(command, &db.settings(Some(url))?),
        Command::Admin {
            command: AdminCommand::Token { tenant, ttl },
            db,
            admin,
        } => {
            let auth = admin
                .auth()?
                .context("set SCIMITAR_ADMIN_JWT_SECRET to mint admin tokens")?;
            if ttl > admin.admin_token_max_ttl {
                anyhow::bail!(
                    "--ttl {}s is longer than the {}s an admin token may live (--admin-token-max-ttl / SCIMITAR_ADMIN_TOKEN_MAX_TTL)",
                    ttl.as_secs(),
                    admin.admin_token_max_ttl.as_secs()
                );
            }
            let claim = match tenant {
                Some(t) => tenants::get(&Db::connect(&db.settings(None)?.database_url, 1)?, &t)?.id,
                None => ALL_TENANTS.to_owned(),
            };
            println!("{}", mint(&auth, &claim, ttl)?);
            Ok(())
        }
        Command::Conformance(args) => conformance(args),
    }
}

/// A moment for --since and --until: RFC 3339, or a duration before now; in milliseconds.
fn parse_moment(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.timestamp_millis());
    }
    let ago = parse_duration(s)
        .map_err(|e| format!("{e}; or give a time such as 2026-12-08T09:00:00Z"))?;
    Ok(crate::storage::now_millis() - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
}

/// `scimitar conformance --from-log`: writes the scenario replaying a tenant's log window.
fn from_log(tenant: &str, args: ConformanceArgs) -> anyhow::Result<()> {
    let s = args.db.settings(None)?;
    let db = Db::connect(&s.database_url, 1)?;
    let until = args.until.unwrap_or_else(crate::storage::now_millis);
    anyhow::ensure!(args.since < until, "--since must be before --until");
    let made = replay::from_log(&db, tenant, args.since, until)?;
    let text = serde_json::to_string_pretty(&made.replay.scenario)? + "\n";
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    let r = &made.replay;
    eprintln!(
        "Replays {} recorded requests ({} failed{}){}.",
        r.replayed,
        r.failed,
        match r.stand_ins {
            0 => String::new(),
            n => format!(", {n} stand-ins created first"),
        },
        match &args.out {
            Some(path) => format!(" in {}", path.display()),
            None => String::new(),
        }
    );
    for (reason, n) in &r.skipped {
        eprintln!("Left out: {n} {reason}.");
    }
    if made.capped {
        eprintln!(
            "The window holds more than {} requests: the oldest were left out; narrow it with --since and --until.",
            replay::MAX_REQUESTS
        );
    }
    eprintln!(
        "Run it against a staging server: scimitar conformance --url URL --scenario {}",
        args.out
            .as_ref()
            .map_or_else(|| "FILE".to_owned(), |p| p.display().to_string())
    );
    Ok(())
}

fn conformance(args: ConformanceArgs) -> anyhow::Result<()> {
    if let Some(tenant) = args.from_log.clone() {
        return from_log(&tenant, args);
    }
    let all = match &args.scenarios {
        Some(dir) => conformance::load_dir(dir)?,
        None if !args.scenario_files.is_empty() => args
            .scenario_files
            .iter()
            .map(|f| conformance::load_file(f))
            .collect::<Result<Vec<_>, _>>()?,
        None => conformance::builtin()?,
    };
    let scenarios = conformance::select(all, &args.idps)?;
    if args.list {
        for s in &scenarios {
            println!(
                "{:<30} {:<10} {} ({} steps)",
                s.name,
                s.idp,
                s.title,
                s.steps.len()
            );
            if !s.description.is_empty() {
                println!("{:<41} {}", "", s.description);
            }
        }
        return Ok(());
    }
    // clap enforces both unless --list.
    let (Some(url), Some(token)) = (args.url, args.token) else {
        anyhow::bail!("--url and --token are required");
    };
    let runner = conformance::Runner::new(&conformance::Options {
        url,
        token,
        email_domain: args.email_domain,
        timeout: Duration::from_secs(args.timeout),
    })?;
    let report = runner.run(&scenarios, &mut std::io::stdout().lock());
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit_xml())
            .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?;
    }
    match report.failed() {
        0 => Ok(()),
        n => anyhow::bail!("{n} conformance check(s) failed"),
    }
}

fn tenant(command: TenantCommand, s: &Settings) -> anyhow::Result<()> {
    let db = Db::connect(&s.database_url, 1)?;
    let scim_url = s.scim_base_url(None);
    match command {
        TenantCommand::Create { name, json } => {
            let issued = tenants::create(&db, &name)?;
            print_issued(&issued, &scim_url, json, "Tenant created.");
        }
        TenantCommand::RotateSecret {
            id_or_name,
            grace,
            json,
        } => {
            let issued = tenants::rotate_secret(&db, &id_or_name, grace)?;
            let headline = match grace {
                Some(g) if !g.is_zero() => format!(
                    "New SCIM secret issued; the previous token keeps working for {}s.",
                    g.as_secs()
                ),
                _ => "New SCIM secret issued; the previous token no longer works.".to_owned(),
            };
            print_issued(&issued, &scim_url, json, &headline);
        }
        TenantCommand::Mode { id_or_name, mode } => {
            let state = match mode {
                Some(m) => modes::set(&db, &id_or_name, m.into())?,
                None => modes::get(&db, &id_or_name)?,
            };
            println!("{}", serde_json::to_string(&state)?);
        }
        TenantCommand::DryRun { action, id_or_name } => match action {
            DryRunAction::Diff => {
                let diff = modes::diff(&db, &id_or_name)?;
                println!("{}", serde_json::to_string_pretty(&diff)?);
            }
            DryRunAction::Promote => {
                let applied = modes::promote(&db, &id_or_name, &scim_url)?;
                println!("{}", serde_json::to_string_pretty(&applied)?);
            }
            DryRunAction::Discard => {
                let state = modes::discard(&db, &id_or_name)?;
                println!("{}", serde_json::to_string(&state)?);
            }
        },
        TenantCommand::PortalLink {
            id_or_name,
            ttl,
            json,
        } => {
            let tenant = tenants::get(&db, &id_or_name)?;
            let link = portal::create_link(&db, &tenant, Some(ttl))?;
            let url = portal::link_url(&s.portal_url(None), &link.token);
            if json {
                println!(
                    "{}",
                    json!({"id": link.row.id, "url": url, "expires_at": crate::events::rfc3339(link.row.expires_at)})
                );
            } else {
                println!("{url}");
                eprintln!(
                    "Opens the admin portal of {} once, until {}. Revoke it with the admin API (DELETE …/portal-links/{}).",
                    tenant.name,
                    crate::events::rfc3339(link.row.expires_at),
                    link.row.id
                );
            }
        }
        TenantCommand::Export { id_or_name, output } => {
            let moved = match &output {
                Some(path) => {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    // A file that was there keeps its mode through `open`: it holds token hashes.
                    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                    let exported = transfer::export(&db, &id_or_name, &mut BufWriter::new(file));
                    if exported.is_err() {
                        // Half an export is no export: `tenant import` would refuse it anyway.
                        let _ = std::fs::remove_file(path);
                    }
                    exported?
                }
                None => transfer::export(
                    &db,
                    &id_or_name,
                    &mut BufWriter::new(std::io::stdout().lock()),
                )?,
            };
            eprintln!(
                "Exported tenant {} ({}): {}.",
                moved.tenant_name,
                moved.tenant_id,
                counts(&moved)
            );
        }
        TenantCommand::Import { file } => {
            let moved = if file.as_os_str() == "-" {
                transfer::import(&db, std::io::stdin().lock())?
            } else {
                let f = std::fs::File::open(&file)
                    .with_context(|| format!("cannot open {}", file.display()))?;
                transfer::import(&db, BufReader::new(f))?
            };
            println!(
                "Imported tenant {} ({}): {}.",
                moved.tenant_name,
                moved.tenant_id,
                counts(&moved)
            );
            println!(
                "Its SCIM tokens work here now: point the IdP's base URL at this server ({scim_url})."
            );
            if moved.rows.contains_key("webhooks") {
                println!(
                    "Its webhook is switched off until it has a new secret: PUT /admin/v1/tenants/{}/webhooks with \"rotate_secret\": true.",
                    moved.tenant_id
                );
            }
        }
        TenantCommand::List { json } => {
            let all = tenants::list(&db)?;
            if json {
                println!(
                    "{}",
                    json!({"tenants": all.iter().map(|t| tenant_json(t, &scim_url)).collect::<Vec<_>>()})
                );
            } else if all.is_empty() {
                println!("No tenants yet. Create one with: scimitar tenant create --name NAME");
            } else {
                for t in &all {
                    println!("{}  {}", t.id, t.name);
                }
            }
        }
        TenantCommand::Delete { id_or_name } => {
            let t = tenants::delete(&db, &id_or_name)?;
            println!(
                "Deleted tenant {} ({}) with all its users and groups.",
                t.name, t.id
            );
        }
    }
    Ok(())
}

/// "groups: 1, users: 3, …" for what a transfer moved.
fn counts(moved: &transfer::Moved) -> String {
    let parts: Vec<String> = moved
        .rows
        .iter()
        .map(|(table, n)| format!("{table}: {n}"))
        .collect();
    parts.join(", ")
}

fn tenant_json(t: &TenantRow, scim_url: &str) -> serde_json::Value {
    json!({"id": t.id, "name": t.name, "scim_url": scim_url})
}

fn print_issued(issued: &tenants::Issued, scim_url: &str, as_json: bool, headline: &str) {
    let token = issued.token.reveal();
    if as_json {
        let mut v = tenant_json(&issued.tenant, scim_url);
        v["token"] = token.into();
        println!("{v}");
    } else {
        println!("{headline}");
        println!("  id:       {}", issued.tenant.id);
        println!("  name:     {}", issued.tenant.name);
        println!("  scim_url: {scim_url}");
        println!("  token:    {token}");
        println!(
            "The token is shown only now: paste it into the identity provider (e.g. JumpCloud's Identity Management tab)."
        );
    }
}
