//! Runtime settings, validated once at start: every flag, its environment variable and its
//! default here, the configuration file beneath them in `file`.

pub mod file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clap::builder::BoolishValueParser;

use crate::diagnosis::Policy;
use crate::events::egress::Egress;
use crate::events::webhooks::DeliveryPolicy;
use crate::scim::limits::Limits;
use crate::storage::Waits;

/// Settings that cannot run together or alone: the reason, and the settings (flag names) it
/// is about, so the command line can say where each value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidSettings {
    /// The settings involved, as flags without dashes (`max-page-size`).
    pub settings: Vec<&'static str>,
    /// What is wrong, in words.
    pub reason: String,
}

fn invalid(settings: &[&'static str], reason: impl Into<String>) -> InvalidSettings {
    InvalidSettings {
        settings: settings.to_vec(),
        reason: reason.into(),
    }
}

/// Where the SCIM service is mounted by default.
pub const DEFAULT_SCIM_PATH: &str = "/scim/v2";

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://scimitar.db";
/// The default longest lifetime of an admin token: a working day.
pub const DEFAULT_ADMIN_TOKEN_MAX_TTL: Duration = Duration::from_secs(86_400);

/// Everything `serve` and the CLI need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: String,
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// The externally visible origin (scheme, host, port, optional path prefix) used in
    /// `meta.location` and the SCIM URL handed to tenants; defaults to `http://LISTEN`.
    pub public_url: Option<String>,
    /// Largest accepted request body, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Bulk requests (RFC 7644 §3.7): their largest body and most operations, advertised in
    /// ServiceProviderConfig.
    pub bulk: BulkLimits,
    /// Connections in the database pool.
    pub db_pool_size: u32,
    /// Page size when a query does not send `count`.
    pub default_page_size: i64,
    /// Largest page a query gets, advertised in ServiceProviderConfig.
    pub max_page_size: i64,
    /// Verified tokens kept in memory so argon2 is not paid on every request.
    pub token_cache_capacity: usize,
    /// How admin API tokens are verified; `None` leaves the admin API switched off.
    pub admin: Option<AdminAuth>,
    /// The longest lifetime an admin token may have (`exp - iat`, or `exp - now` without `iat`).
    pub admin_token_max_ttl: Duration,
    /// A separate address for the admin API; when set, the admin API is served only there, so
    /// only the SCIM API has to face the internet.
    pub admin_listen: Option<String>,
    /// How webhooks are delivered.
    pub webhooks: DeliveryPolicy,
    /// How long provisioning log entries are kept.
    pub log_retention: Duration,
    /// How the connection diagnosis judges a tenant's traffic.
    pub diagnosis: Policy,
    /// Bounds on the work one SCIM request may ask for.
    pub limits: Limits,
    /// How long database work may wait for a lock or a connection before it is answered 503.
    pub db_waits: Waits,
    /// Role mappings one tenant may have.
    pub max_role_mappings: usize,
    /// Entitlements one tenant's admin may configure (draft-ietf-scim-roles-entitlements).
    pub max_entitlements: usize,
    /// Request rate limits and the bound on queued argon2id work.
    pub rate_limits: RateLimits,
    /// How long events are kept; an enabled webhook's undelivered events are kept longer,
    /// until it delivers them or is switched off.
    pub event_retention: Duration,
    /// Where the admin portal is reached and how it looks.
    pub portal: PortalSettings,
    /// Whether request metrics carry a `tenant` label (one series per tenant and route).
    pub metrics_tenant_label: bool,
    /// The path the SCIM service is mounted at (`/scim/v2`; a host app may mount it elsewhere,
    /// as `/integrations/scim`).
    pub scim_path: String,
}

/// The bounds of one bulk request (RFC 7644 §3.7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    /// Operations in one bulk request; 0 switches bulk requests off.
    pub max_operations: usize,
    /// Bytes of one bulk request body.
    pub max_payload_bytes: usize,
}

impl Default for BulkLimits {
    fn default() -> Self {
        // An initial sync's users in a few requests: a typical user is under 1 KB of JSON.
        Self {
            max_operations: 1_000,
            max_payload_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The admin portal's address and the host app's look.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// The origin (and optional path prefix) under which `/portal` is reached, used in setup
    /// links; by default the listener that serves it.
    pub url: Option<String>,
    /// Origins allowed to show the portal in a frame (CSP `frame-ancestors`); none by default.
    pub frame_ancestors: Vec<String>,
    /// The host app's name, shown in the portal's header.
    pub app_name: String,
    /// An http(s) URL of the host app's logo.
    pub logo_url: Option<String>,
    /// The accent colour, `#rgb` or `#rrggbb`.
    pub accent: String,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            url: None,
            frame_ancestors: Vec::new(),
            app_name: "Scimitar".to_owned(),
            logo_url: None,
            accent: "#2456c7".to_owned(),
        }
    }
}

impl PortalSettings {
    /// Checks what reaches headers and CSS, so no setting can break out of its place there.
    fn validated(mut self) -> Result<Self, InvalidSettings> {
        let is_origin = |o: &str| {
            (o.starts_with("https://") || o.starts_with("http://"))
                && o.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"'\";,".contains(&b))
        };
        if let Some(url) = self.url.take() {
            let url = url.trim().trim_end_matches('/').to_owned();
            if !is_origin(&url) {
                return Err(invalid(
                    &["portal-url"],
                    format!("the portal URL {url:?} must be an http:// or https:// URL"),
                ));
            }
            self.url = Some(url);
        }
        if let Some(o) = self.frame_ancestors.iter().find(|o| !is_origin(o)) {
            return Err(invalid(
                &["portal-frame-ancestors"],
                format!(
                    "the portal frame ancestor {o:?} must be an origin such as https://app.example.com"
                ),
            ));
        }
        if let Some(logo) = &self.logo_url
            && !is_origin(logo)
        {
            return Err(invalid(
                &["portal-logo-url"],
                format!("the portal logo URL {logo:?} must be an http:// or https:// URL"),
            ));
        }
        let hex = self.accent.strip_prefix('#').unwrap_or("");
        if !matches!(hex.len(), 3 | 6) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                &["portal-accent"],
                format!(
                    "the portal accent colour {:?} must be #rgb or #rrggbb",
                    self.accent
                ),
            ));
        }
        let name = self.app_name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid(
                &["portal-app-name"],
                "the portal app name must have 1 to 100 characters",
            ));
        }
        self.app_name = name.to_owned();
        Ok(self)
    }
}

/// Request rate limits (token buckets) and the argon2id work bound; a rate of 0 switches that
/// limit off.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// SCIM requests per second per tenant, counted after authentication; bursts of twice that.
    pub tenant_per_second: u32,
    /// Admin API requests per second per client address; bursts of twice that.
    pub admin_per_second: u32,
    /// SCIM credential checks that need argon2id (a token not yet verified: every wrong
    /// secret, and a right one's first use) per minute per key id.
    pub auth_per_key_per_minute: u32,
    /// SCIM authentication attempts with a token not yet verified per minute per client address.
    pub auth_per_address_per_minute: u32,
    /// argon2id runs at once; 0 means one per core.
    pub argon2_slots: usize,
    /// argon2id runs that may wait for a slot; any beyond get 429 at once.
    pub argon2_queue: usize,
    /// Take the client address from the last `X-Forwarded-For` entry, which the reverse proxy
    /// in front appends; only for a server that nothing reaches except through that proxy.
    pub trust_forwarded_for: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            // Microsoft asks SCIM endpoints to take 25 requests per second per tenant
            // (learn.microsoft.com, "Develop and plan provisioning for a SCIM endpoint");
            // Okta honours 429 with Retry-After and retries (support.okta.com, "Slack
            // provisioning jobs failed with error: API rate limit exceeded"). Four times
            // Entra's rate leaves room for both and for a host app's own scripts.
            tenant_per_second: 100,
            admin_per_second: 100,
            auth_per_key_per_minute: 20,
            auth_per_address_per_minute: 60,
            argon2_slots: 0,
            argon2_queue: 8,
            trust_forwarded_for: false,
        }
    }
}

/// Verification of admin API JWTs.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The key tokens are verified with.
    pub key: AdminKey,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
}

/// The key admin JWTs are checked with.
#[derive(Clone)]
pub enum AdminKey {
    /// A shared HS256 secret (which also lets `scimitar admin token` mint tokens).
    Hs256(Vec<u8>),
    /// A PEM public key: RS256 for RSA, ES256 for EC P-256.
    PublicKeyPem(Vec<u8>),
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.write_str(match self {
            Self::Hs256(_) => "Hs256(***)",
            Self::PublicKeyPem(_) => "PublicKeyPem",
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            bulk: BulkLimits::default(),
            db_pool_size: 8,
            default_page_size: 100,
            max_page_size: 1000,
            token_cache_capacity: 10_000,
            admin: None,
            admin_token_max_ttl: DEFAULT_ADMIN_TOKEN_MAX_TTL,
            admin_listen: None,
            webhooks: DeliveryPolicy::default(),
            log_retention: Duration::from_secs(30 * 86_400),
            diagnosis: Policy::default(),
            limits: Limits::default(),
            db_waits: Waits::default(),
            max_role_mappings: 1_000,
            max_entitlements: 1_000,
            rate_limits: RateLimits::default(),
            event_retention: Duration::from_secs(30 * 86_400),
            portal: PortalSettings::default(),
            metrics_tenant_label: false,
            scim_path: DEFAULT_SCIM_PATH.to_owned(),
        }
    }
}

impl Settings {
    /// Checks the settings and normalises the public URL; returns a message a person can act on.
    pub fn validated(mut self) -> Result<Self, InvalidSettings> {
        self.portal = self.portal.validated()?;
        if let Some(url) = self.public_url.take() {
            let url = url.trim().trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    &["public-url"],
                    format!("the public URL {url:?} must start with http:// or https://"),
                ));
            }
            self.public_url = Some(url);
        }
        let path = &self.scim_path;
        if path.len() < 2
            || !path.starts_with('/')
            || path.ends_with('/')
            || path.contains("//")
            || path
                .split('/')
                .any(|segment| segment == "." || segment == "..")
            || !path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
        {
            return Err(invalid(
                &["scim-path"],
                format!(
                    "the SCIM path {path:?} must be a path such as /scim/v2: a leading slash, \
                     letters, digits, - _ . and single slashes, no . or .. segment, no \
                     trailing slash"
                ),
            ));
        }
        if self.max_body_bytes == 0 || self.db_pool_size == 0 || self.bulk.max_payload_bytes == 0 {
            return Err(invalid(
                &["max-body-bytes", "max-bulk-bytes", "db-pool-size"],
                "the body limits and the pool size must be greater than zero",
            ));
        }
        if self.webhooks.concurrency == 0 {
            return Err(invalid(
                &[],
                "the webhook delivery concurrency must be greater than zero",
            ));
        }
        if self.max_page_size < 1 || !(0..=self.max_page_size).contains(&self.default_page_size) {
            return Err(invalid(
                &["default-page-size", "max-page-size"],
                "the page sizes must satisfy 0 <= default <= max and max >= 1",
            ));
        }
        let l = &self.limits;
        if [
            l.max_operations,
            l.max_values,
            l.max_members,
            l.max_depth,
            l.max_string_bytes,
            self.max_role_mappings,
            self.max_entitlements,
        ]
        .contains(&0)
        {
            return Err(invalid(
                &[
                    "max-patch-operations",
                    "max-values-per-attribute",
                    "max-members-per-request",
                    "max-json-depth",
                    "max-string-bytes",
                    "max-role-mappings",
                    "max-entitlements",
                ],
                "every request limit must be greater than zero",
            ));
        }
        // A SCIM document nests at least four levels: body, extension, complex value, array.
        if l.max_depth < 4 {
            return Err(invalid(
                &["max-json-depth"],
                "the JSON depth limit must be at least 4",
            ));
        }
        if let Some(AdminAuth {
            key: AdminKey::PublicKeyPem(_),
            issuer,
            audience,
        }) = &self.admin
            && (issuer.is_none() || audience.is_none())
        {
            // Without both, any token the key's owner signs for any purpose, with a `tenant`
            // claim, would be an admin token.
            return Err(invalid(
                &[
                    "admin-jwt-public-key",
                    "admin-jwt-issuer",
                    "admin-jwt-audience",
                ],
                "with an admin JWT public key (SCIMITAR_ADMIN_JWT_PUBLIC_KEY), set the issuer (SCIMITAR_ADMIN_JWT_ISSUER) and the audience (SCIMITAR_ADMIN_JWT_AUDIENCE) admin tokens must carry",
            ));
        }
        if self.admin_token_max_ttl.is_zero() {
            return Err(invalid(
                &["admin-token-max-ttl"],
                "the admin token maximum lifetime must be greater than zero",
            ));
        }
        if self.event_retention.is_zero() {
            return Err(invalid(
                &["event-retention"],
                "the event retention must be greater than zero",
            ));
        }
        Ok(self)
    }

    /// The URL setup links start with (`…/portal`), given the address of the listener that
    /// serves the portal, when it is bound.
    pub fn portal_url(&self, bound: Option<SocketAddr>) -> String {
        // The portal is served beside the admin API: on the admin listener when there is one.
        let origin = match (
            &self.portal.url,
            &self.admin_listen,
            &self.public_url,
            bound,
        ) {
            (Some(url), ..) => url.clone(),
            (None, None, Some(url), _) => url.clone(),
            (None, _, _, Some(addr)) => format!("http://{addr}"),
            (None, admin, _, None) => format!("http://{}", admin.as_ref().unwrap_or(&self.listen)),
        };
        format!("{origin}/portal")
    }

    /// The SCIM base URL (the origin and `scim_path`), given the address the server bound.
    pub fn scim_base_url(&self, bound: Option<SocketAddr>) -> String {
        let origin = match (&self.public_url, bound) {
            (Some(url), _) => url.clone(),
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => format!("http://{}", self.listen),
        };
        format!("{origin}{}", self.scim_path)
    }
}

/// Parses a duration such as `90s`, `15m`, `12h`, `7d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 90s, 15m, 12h or 7d"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?} has an unknown unit; use s, m, h or d")),
    };
    Ok(Duration::from_secs(seconds))
}

// ---------------------------------------------------------------------------------------------
// The command line: every flag, its environment variable and its default, turned into Settings.

/// How the process writes its log to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for a person (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, the request span's fields included, for a log collector.
    Json,
}

/// The flags every command takes: the log format and the configuration file.
#[derive(Args, Clone)]
pub struct LogArgs {
    /// text, or json (one object per line) for a log collector
    #[arg(long, global = true, env = "SCIMITAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// A TOML file of settings (each a flag without its dashes); flags and the environment override it
    #[arg(long, global = true, env = "SCIMITAR_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The database flag every command takes.
#[derive(Args, Clone)]
pub struct DbArgs {
    /// sqlite://PATH (the default) or postgres://USER@HOST/DB
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

/// Where the server listens and how it is reached.
#[derive(Args, Clone)]
pub struct UrlArgs {
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

/// The admin portal's address and look.
#[derive(Args, Clone)]
pub struct PortalArgs {
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

/// How admin API tokens are checked (and minted, with an HS256 secret).
#[derive(Args, Clone)]
pub struct AdminArgs {
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
    pub admin_token_max_ttl: Duration,
}

impl AdminArgs {
    /// The admin API's token verification these flags ask for; `None`: the admin API is off.
    pub fn auth(&self) -> anyhow::Result<Option<AdminAuth>> {
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
pub struct LimitArgs {
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
    /// Entitlements one tenant's admin may configure
    #[arg(long, env = "SCIMITAR_MAX_ENTITLEMENTS", default_value_t = Settings::default().max_entitlements)]
    max_entitlements: usize,
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
            max_entitlements: self.max_entitlements,
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
pub struct RateLimitArgs {
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
pub struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    url: UrlArgs,
    /// Database connections this instance keeps (PostgreSQL's max_connections must cover every instance's)
    #[arg(long, env = "SCIMITAR_DB_POOL_SIZE", default_value_t = Settings::default().db_pool_size)]
    db_pool_size: u32,
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
    /// The path the SCIM service answers under (behind a proxy that maps another path to it)
    #[arg(long, env = "SCIMITAR_SCIM_PATH", default_value = DEFAULT_SCIM_PATH)]
    scim_path: String,
    /// Label request metrics with the tenant's id (one series per tenant and route: watch the cardinality)
    #[arg(long, env = "SCIMITAR_METRICS_TENANT_LABEL", value_parser = BoolishValueParser::new())]
    metrics_tenant_label: bool,
    #[command(flatten)]
    portal: PortalArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
}

impl DbArgs {
    /// The settings of a command that needs the database (and, given `url`, the server's
    /// addresses), validated.
    pub fn settings(self, url: Option<UrlArgs>) -> anyhow::Result<Settings> {
        self.defaults(url).validated().map_err(anyhow::Error::msg)
    }

    fn defaults(self, url: Option<UrlArgs>) -> Settings {
        let mut s = Settings {
            database_url: self.database_url,
            ..Settings::default()
        };
        if let Some(url) = url {
            s.listen = url.listen;
            s.public_url = url.public_url;
            s.portal.url = url.portal_url;
        }
        s
    }
}

impl ServeArgs {
    /// The settings `serve` runs with, every flag and environment variable applied;
    /// [`Application::build`](crate::Application::build) validates them, once.
    pub fn settings(self) -> anyhow::Result<Settings> {
        let Self {
            db,
            url,
            db_pool_size,
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
            scim_path,
            metrics_tenant_label,
            admin,
            rate_limits,
            portal,
        } = self;
        let mut settings = limits.apply(Settings {
            db_pool_size,
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
            metrics_tenant_label,
            scim_path,
            ..db.defaults(Some(url))
        });
        portal.apply(&mut settings.portal);
        settings.webhooks.egress = Egress {
            allow_http: webhook_allow_http,
            allow_private: webhook_allow_private,
        };
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn a_public_key_needs_issuer_and_audience() {
        let with = |issuer: Option<&str>, audience: Option<&str>| Settings {
            admin: Some(AdminAuth {
                key: AdminKey::PublicKeyPem(Vec::new()),
                issuer: issuer.map(str::to_owned),
                audience: audience.map(str::to_owned),
            }),
            ..Settings::default()
        };
        assert!(
            with(Some("https://idp"), Some("scimitar"))
                .validated()
                .is_ok()
        );
        for (i, a) in [(None, None), (Some("https://idp"), None), (None, Some("s"))] {
            let e = with(i, a).validated().expect_err("refused");
            assert!(e.reason.contains("SCIMITAR_ADMIN_JWT_ISSUER"), "{e}");
            assert!(e.settings.contains(&"admin-jwt-issuer"), "{e:?}");
        }
        let hs256 = Settings {
            admin: Some(AdminAuth {
                key: AdminKey::Hs256(vec![1; 32]),
                issuer: None,
                audience: None,
            }),
            ..Settings::default()
        };
        assert!(
            hs256.validated().is_ok(),
            "a shared secret names its own audience"
        );
        let no_events = Settings {
            event_retention: Duration::ZERO,
            ..Settings::default()
        };
        assert!(no_events.validated().is_err());
    }

    #[test]
    fn the_scim_path_is_a_plain_path() {
        for good in ["/scim/v2", "/integrations/scim", "/s"] {
            let s = Settings {
                scim_path: good.into(),
                public_url: Some("https://id.example.com".into()),
                ..Settings::default()
            }
            .validated()
            .expect("valid");
            assert_eq!(
                s.scim_base_url(None),
                format!("https://id.example.com{good}")
            );
        }
        for bad in [
            "",
            "/",
            "scim",
            "/scim/",
            "//scim",
            "/sc im",
            "/scim?x",
            "/scim/../admin",
        ] {
            let e = Settings {
                scim_path: bad.into(),
                ..Settings::default()
            }
            .validated()
            .expect_err(bad);
            assert_eq!(e.settings, ["scim-path"], "{bad}");
        }
    }

    #[test]
    fn public_url_wins_and_is_normalised() {
        let s = Settings {
            public_url: Some("https://id.example.com/".into()),
            ..Settings::default()
        }
        .validated()
        .expect("valid");
        assert_eq!(s.scim_base_url(None), "https://id.example.com/scim/v2");
        let s = Settings::default();
        assert_eq!(s.scim_base_url(None), "http://127.0.0.1:8080/scim/v2");
        assert_eq!(
            s.scim_base_url(Some("127.0.0.1:4000".parse().expect("addr"))),
            "http://127.0.0.1:4000/scim/v2"
        );
        assert!(
            Settings {
                public_url: Some("id.example.com".into()),
                ..Settings::default()
            }
            .validated()
            .is_err()
        );
    }
}
