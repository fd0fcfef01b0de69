//! The `scimitar` command line: serve, migrate, manage tenants, run conformance scenarios.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::{
    AdminAuth, AdminKey, BulkLimits, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, PortalSettings,
    RateLimits, Settings, parse_duration,
};
use scimitar::conformance;
use scimitar::events::egress::Egress;
use scimitar::scim::limits::Limits;
use scimitar::service::{portal, tenants};
use scimitar::storage::models::TenantRow;
use scimitar::storage::{Db, Waits};
use scimitar::{Application, telemetry};
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
}

#[derive(Args, Clone)]
struct DbArgs {
    /// sqlite://PATH (the default) or postgres://USER@HOST/DB
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

#[derive(Args, Clone)]
struct UrlArgs {
    /// Externally visible origin of the server, e.g. https://scim.example.com
    #[arg(long, global = true, env = "SCIMITAR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Address to listen on
    #[arg(long, global = true, env = "SCIMITAR_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,
    /// Externally visible origin under which /portal is reached, for setup links (default: the
    /// listener serving it: the admin listener when there is one, else the public URL)
    #[arg(long, global = true, env = "SCIMITAR_PORTAL_URL")]
    portal_url: Option<String>,
}

#[derive(Args, Clone)]
struct PortalArgs {
    /// Origins allowed to show the admin portal in a frame, e.g. https://app.example.com (repeat or comma-separate)
    #[arg(long, env = "SCIMITAR_PORTAL_FRAME_ANCESTORS", value_delimiter = ',')]
    portal_frame_ancestors: Vec<String>,
    /// The host app's name in the portal's header
    #[arg(long, env = "SCIMITAR_PORTAL_APP_NAME")]
    portal_app_name: Option<String>,
    /// An http(s) URL of the host app's logo, shown in the portal's header
    #[arg(long, env = "SCIMITAR_PORTAL_LOGO_URL")]
    portal_logo_url: Option<String>,
    /// The portal's accent colour, #rgb or #rrggbb
    #[arg(long, env = "SCIMITAR_PORTAL_ACCENT")]
    portal_accent: Option<String>,
}

impl PortalArgs {
    fn apply(self, portal: &mut PortalSettings) {
        portal.frame_ancestors = self.portal_frame_ancestors;
        if let Some(name) = self.portal_app_name {
            portal.app_name = name;
        }
        portal.logo_url = self.portal_logo_url;
        if let Some(accent) = self.portal_accent {
            portal.accent = accent;
        }
    }
}

#[derive(Args, Clone)]
struct AdminArgs {
    /// HS256 secret for admin API tokens
    #[arg(
        long,
        global = true,
        env = "SCIMITAR_ADMIN_JWT_SECRET",
        hide_env_values = true
    )]
    admin_jwt_secret: Option<String>,
    /// PEM file with the RS256/ES256 public key for admin API tokens
    #[arg(long, global = true, env = "SCIMITAR_ADMIN_JWT_PUBLIC_KEY")]
    admin_jwt_public_key: Option<std::path::PathBuf>,
    /// Required issuer (iss) of admin API tokens
    #[arg(long, global = true, env = "SCIMITAR_ADMIN_JWT_ISSUER")]
    admin_jwt_issuer: Option<String>,
    /// Required audience (aud) of admin API tokens
    #[arg(long, global = true, env = "SCIMITAR_ADMIN_JWT_AUDIENCE")]
    admin_jwt_audience: Option<String>,
    /// Longest lifetime of an admin API token (exp - iat, or exp - now without iat)
    #[arg(long, global = true, env = "SCIMITAR_ADMIN_TOKEN_MAX_TTL", default_value = "24h", value_parser = parse_duration)]
    admin_token_max_ttl: Duration,
}

impl AdminArgs {
    fn auth(&self) -> anyhow::Result<Option<AdminAuth>> {
        let key = match (&self.admin_jwt_secret, &self.admin_jwt_public_key) {
            (Some(_), Some(_)) => {
                anyhow::bail!("set either the admin JWT secret or the public key, not both")
            }
            (Some(secret), None) if secret.len() < 32 => {
                anyhow::bail!("the admin JWT secret must have at least 32 characters")
            }
            (Some(secret), None) => AdminKey::Hs256(secret.as_bytes().to_vec()),
            (None, Some(path)) => {
                AdminKey::PublicKeyPem(std::fs::read(path).with_context(|| {
                    format!("cannot read the admin JWT public key {}", path.display())
                })?)
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(AdminAuth {
            key,
            issuer: self.admin_jwt_issuer.clone(),
            audience: self.admin_jwt_audience.clone(),
        }))
    }
}

/// Bounds on the work one request may ask for (see SECURITY.md).
#[derive(Args, Clone)]
struct LimitArgs {
    /// Operations in one PATCH request
    #[arg(long, env = "SCIMITAR_MAX_PATCH_OPERATIONS", default_value_t = Limits::default().max_operations)]
    max_patch_operations: usize,
    /// Values of one multi-valued attribute (emails, roles, …)
    #[arg(long, env = "SCIMITAR_MAX_VALUES_PER_ATTRIBUTE", default_value_t = Limits::default().max_values)]
    max_values_per_attribute: usize,
    /// Group members named in one request
    #[arg(long, env = "SCIMITAR_MAX_MEMBERS_PER_REQUEST", default_value_t = Limits::default().max_members)]
    max_members_per_request: usize,
    /// Nesting depth of JSON arrays and objects in a body
    #[arg(long, env = "SCIMITAR_MAX_JSON_DEPTH", default_value_t = Limits::default().max_depth)]
    max_json_depth: usize,
    /// Bytes of one JSON string in a body
    #[arg(long, env = "SCIMITAR_MAX_STRING_BYTES", default_value_t = Limits::default().max_string_bytes)]
    max_string_bytes: usize,
    /// Role mappings one tenant may have
    #[arg(long, env = "SCIMITAR_MAX_ROLE_MAPPINGS", default_value_t = Settings::default().max_role_mappings)]
    max_role_mappings: usize,
    /// How long a write waits for another writer's lock before it is answered 503
    #[arg(long, env = "SCIMITAR_DB_LOCK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    db_lock_timeout: Duration,
    /// How long a request waits for a database connection before it is answered 503
    #[arg(long, env = "SCIMITAR_DB_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    db_connect_timeout: Duration,
    /// How long one database statement may run before the request is answered 503
    #[arg(long, env = "SCIMITAR_DB_STATEMENT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    db_statement_timeout: Duration,
}

impl LimitArgs {
    fn apply(self, s: Settings) -> Settings {
        Settings {
            limits: Limits {
                max_operations: self.max_patch_operations,
                max_values: self.max_values_per_attribute,
                max_members: self.max_members_per_request,
                max_depth: self.max_json_depth,
                max_string_bytes: self.max_string_bytes,
            },
            max_role_mappings: self.max_role_mappings,
            db_waits: Waits {
                lock: self.db_lock_timeout,
                connection: self.db_connect_timeout,
                statement: self.db_statement_timeout,
            },
            ..s
        }
    }
}

/// Request rate limits and the argon2id work bound (see SECURITY.md).
#[derive(Args, Clone)]
struct RateLimitArgs {
    /// SCIM requests per second per tenant (bursts of twice that); 0 switches the limit off
    #[arg(long, env = "SCIMITAR_TENANT_RATE_LIMIT", default_value_t = RateLimits::default().tenant_per_second)]
    tenant_rate_limit: u32,
    /// Admin API requests per second per client address (bursts of twice that); 0: off
    #[arg(long, env = "SCIMITAR_ADMIN_RATE_LIMIT", default_value_t = RateLimits::default().admin_per_second)]
    admin_rate_limit: u32,
    /// Checks of not yet verified SCIM tokens per minute per key id; 0: off
    #[arg(long, env = "SCIMITAR_AUTH_ATTEMPTS_PER_KEY", default_value_t = RateLimits::default().auth_per_key_per_minute)]
    auth_attempts_per_key: u32,
    /// Requests with not yet verified SCIM tokens per minute per client address; 0: off
    #[arg(long, env = "SCIMITAR_AUTH_ATTEMPTS_PER_ADDRESS", default_value_t = RateLimits::default().auth_per_address_per_minute)]
    auth_attempts_per_address: u32,
    /// argon2id runs at once; 0: one per core
    #[arg(long, env = "SCIMITAR_ARGON2_SLOTS", default_value_t = RateLimits::default().argon2_slots)]
    argon2_slots: usize,
    /// argon2id runs that may wait for a slot; more get 429 at once
    #[arg(long, env = "SCIMITAR_ARGON2_QUEUE", default_value_t = RateLimits::default().argon2_queue)]
    argon2_queue: usize,
    /// Count clients by the last X-Forwarded-For entry (only behind a proxy that sets it)
    #[arg(long, env = "SCIMITAR_TRUST_X_FORWARDED_FOR")]
    trust_x_forwarded_for: bool,
}

impl From<RateLimitArgs> for RateLimits {
    fn from(a: RateLimitArgs) -> Self {
        Self {
            tenant_per_second: a.tenant_rate_limit,
            admin_per_second: a.admin_rate_limit,
            auth_per_key_per_minute: a.auth_attempts_per_key,
            auth_per_address_per_minute: a.auth_attempts_per_address,
            argon2_slots: a.argon2_slots,
            argon2_queue: a.argon2_queue,
            trust_forwarded_for: a.trust_x_forwarded_for,
        }
    }
}

/// The flags of `serve`.
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    url: UrlArgs,
    /// Largest accepted request body in bytes
    #[arg(long, env = "SCIMITAR_MAX_BODY_BYTES", default_value_t = Settings::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Operations in one bulk request (POST /Bulk); 0 switches bulk requests off
    #[arg(long, env = "SCIMITAR_MAX_BULK_OPERATIONS", default_value_t = BulkLimits::default().max_operations)]
    max_bulk_operations: usize,
    /// Largest accepted bulk request body in bytes
    #[arg(long, env = "SCIMITAR_MAX_BULK_BYTES", default_value_t = BulkLimits::default().max_payload_bytes)]
    max_bulk_bytes: usize,
    /// Page size of a query that sends no count
    #[arg(long, env = "SCIMITAR_DEFAULT_PAGE_SIZE", default_value_t = Settings::default().default_page_size)]
    default_page_size: i64,
    /// Largest page a query gets
    #[arg(long, env = "SCIMITAR_MAX_PAGE_SIZE", default_value_t = Settings::default().max_page_size)]
    max_page_size: i64,
    /// How long provisioning log entries are kept
    #[arg(long, env = "SCIMITAR_LOG_RETENTION", default_value = "30d", value_parser = parse_duration)]
    log_retention: Duration,
    /// Deliver webhooks to loopback, private and CGNAT addresses (on-premises receivers)
    #[arg(long, env = "SCIMITAR_WEBHOOK_ALLOW_PRIVATE", value_parser = BoolishValueParser::new())]
    webhook_allow_private: bool,
    /// Accept and deliver to plain http webhook URLs (https only by default)
    #[arg(long, env = "SCIMITAR_WEBHOOK_ALLOW_HTTP", value_parser = BoolishValueParser::new())]
    webhook_allow_http: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// How long events are kept (an enabled webhook's undelivered events stay until delivered)
    #[arg(long, env = "SCIMITAR_EVENT_RETENTION", default_value = "30d", value_parser = parse_duration)]
    event_retention: Duration,
    /// Serve the admin API and the admin portal only on this address (e.g. 127.0.0.1:8081), not on --listen
    #[arg(long, env = "SCIMITAR_ADMIN_LISTEN")]
    admin_listen: Option<String>,
    #[command(flatten)]
    portal: PortalArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SCIM server (applies pending migrations first)
    Serve(Box<ServeArgs>),
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
    /// SCIM 2.0 server; deletes what it creates
    Conformance(ConformanceArgs),
}

#[derive(Args)]
struct ConformanceArgs {
    /// SCIM base URL of the server under test, e.g. https://scim.example.com/scim/v2
    #[arg(
        long,
        env = "SCIMITAR_CONFORMANCE_URL",
        required_unless_present = "list"
    )]
    url: Option<String>,
    /// Bearer token of a tenant the run may create and delete users and groups in (the
    /// environment variable keeps it out of shell history and process lists)
    #[arg(
        long,
        env = "SCIMITAR_CONFORMANCE_TOKEN",
        hide_env_values = true,
        required_unless_present = "list"
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

fn settings(db: DbArgs, url: Option<UrlArgs>) -> anyhow::Result<Settings> {
    let mut s = Settings {
        database_url: db.database_url,
        ..Settings::default()
    };
    if let Some(url) = url {
        s.listen = url.listen;
        s.public_url = url.public_url;
        s.portal.url = url.portal_url;
    }
    s.validated().map_err(anyhow::Error::msg)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (with its causes) for the person at the terminal.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let ServeArgs {
                db,
                url,
                max_body_bytes,
                max_bulk_operations,
                max_bulk_bytes,
                default_page_size,
                max_page_size,
                log_retention,
                limits,
                webhook_allow_private,
                webhook_allow_http,
                event_retention,
                admin_listen,
                admin,
                rate_limits,
                portal,
            } = *args;
            // Application::build validates the whole of it.
            let mut settings = limits.apply(Settings {
                max_body_bytes,
                bulk: BulkLimits {
                    max_operations: max_bulk_operations,
                    max_payload_bytes: max_bulk_bytes,
                },
                default_page_size,
                max_page_size,
                admin: admin.auth()?,
                admin_token_max_ttl: admin.admin_token_max_ttl,
                admin_listen,
                log_retention,
                rate_limits: rate_limits.into(),
                event_retention,
                ..settings(db, Some(url))?
            });
            portal.apply(&mut settings.portal);
            settings.webhooks.egress = Egress {
                allow_http: webhook_allow_http,
                allow_private: webhook_allow_private,
            };
            actix_web::rt::System::new().block_on(async {
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
                    .context("server failed")
            })
        }
        Command::Migrate { db } => {
            let s = settings(db, None)?;
            Db::connect(&s.database_url, 1)?;
            eprintln!("migrations are up to date");
            Ok(())
        }
        Command::Tenant { command, db, url } => tenant(command, &settings(db, Some(url))?),
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
                Some(t) => {
                    tenants::get(&Db::connect(&settings(db, None)?.database_url, 1)?, &t)?.id
                }
                None => ALL_TENANTS.to_owned(),
            };
            println!("{}", mint(&auth, &claim, ttl)?);
            Ok(())
        }
        Command::Conformance(args) => conformance(args),
    }
}

fn conformance(args: ConformanceArgs) -> anyhow::Result<()> {
    let all = match &args.scenarios {
        Some(dir) => conformance::load_dir(dir)?,
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
                    json!({"id": link.row.id, "url": url, "expires_at": scimitar::events::rfc3339(link.row.expires_at)})
                );
            } else {
                println!("{url}");
                eprintln!(
                    "Opens the admin portal of {} once, until {}. Revoke it with the admin API (DELETE …/portal-links/{}).",
                    tenant.name,
                    scimitar::events::rfc3339(link.row.expires_at),
                    link.row.id
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
