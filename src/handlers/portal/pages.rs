//! The portal's HTML, server-rendered: every page works without JavaScript. Links are relative
//! (every page sits directly under `/portal/`), so the portal works under any path prefix.

use maud::{DOCTYPE, Markup, html};

use super::providers::{PROVIDERS, Provider};
use crate::config::PortalSettings;
use crate::diagnosis::{Identity, Report, Shown};
use crate::events::rfc3339;
use crate::service::modes::{Diff, ModeState};
use crate::service::portal::{Connection, GroupLine, MEMBER_COUNT_CAP};
use crate::service::{LogRow, MemberLine};
use crate::tenant::Mode;

/// The tabs of a signed-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Scim,
    Users,
    Groups,
    Roles,
    Attributes,
    Log,
    Webhooks,
}

const TABS: [(Tab, &str, &str); 7] = [
    (Tab::Scim, "scim", "SCIM Provisioning"),
    (Tab::Roles, "roles", "Role mapping"),
    (Tab::Attributes, "attributes", "Attribute mapping"),
    (Tab::Users, "users", "Users"),
    (Tab::Groups, "groups", "Groups"),
    (Tab::Log, "log", "Provisioning log"),
    (Tab::Webhooks, "webhooks", "Webhooks"),
];

/// What every signed-in page shows in its frame.
pub struct Frame<'a> {
    pub look: &'a PortalSettings,
    pub tenant_name: &'a str,
    pub csrf: &'a str,
}

fn head(look: &PortalSettings, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · " (look.app_name) }
            link rel="stylesheet" href="assets/portal.css";
            link rel="stylesheet" href="assets/theme.css";
            script src="assets/portal.js" defer {}
        }
    }
}

/// A signed-in page: header, tabs, content.
fn page(frame: &Frame<'_>, tab: Tab, body: Markup) -> Markup {
    let title = TABS
        .iter()
        .find(|(t, ..)| *t == tab)
        .map_or("", |(.., name)| name);
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(frame.look, title))
            body {
                header {
                    @if let Some(logo) = &frame.look.logo_url {
                        img src=(logo) alt="";
                    }
                    span.app { (frame.look.app_name) }
                    span.tenant { (frame.tenant_name) }
                    form method="post" action="signout" {
                        input type="hidden" name="csrf" value=(frame.csrf);
                        button type="submit" { "Sign out" }
                    }
                }
                nav aria-label="Portal" {
                    @for (t, href, name) in TABS {
                        a href=(href) aria-current=[(t == tab).then_some("page")] { (name) }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page outside a session (entering, signed out, an error).
pub fn plain(look: &PortalSettings, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(look, title))
            body {
                header {
                    @if let Some(logo) = &look.logo_url { img src=(logo) alt=""; }
                    span.app { (look.app_name) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The page a setup link leads to: one button, so that a link scanner fetching the URL does not
/// use the link up.
pub fn enter(look: &PortalSettings) -> Markup {
    plain(
        look,
        "Set up provisioning",
        html! {
            section {
                p { "This link opens the SCIM provisioning settings of your organisation. It works once." }
                form method="post" action="enter" {
                    button.primary type="submit" { "Open the settings" }
                }
            }
        },
    )
}

/// A refusal or an ended session, in words for the person reading it.
pub fn problem(look: &PortalSettings, title: &str, detail: &str) -> Markup {
    plain(look, title, html! { section { p { (detail) } } })
}

/// A secret just issued: shown once.
pub struct Revealed<'a> {
    pub token: &'a str,
    pub old_valid_until: Option<String>,
}

/// What the SCIM Provisioning tab shows of the connection: its checklist and its diagnosis.
pub struct Diagnosis<'a> {
    pub connection: &'a Connection,
    pub report: &'a Report,
    pub mode: &'a ModeState,
    /// What the dry run would change, in dry-run mode.
    pub dry_run: Option<&'a Diff>,
}

/// The SCIM Provisioning tab.
pub fn scim(
    frame: &Frame<'_>,
    provider: &Provider,
    endpoint: &str,
    diagnosis: &Diagnosis<'_>,
    revealed: Option<&Revealed<'_>>,
    form_error: Option<&str>,
) -> Markup {
    let url = format!("{endpoint}{}", provider.url_suffix);
    page(
        frame,
        Tab::Scim,
        html! {
            h1 { "SCIM Provisioning" }
            (mode(frame, diagnosis.mode, diagnosis.dry_run))
            (findings(frame, diagnosis.report))
            section {
                h2 { "Directory provider" }
                ul.providers {
                    @for p in PROVIDERS {
                        li { a href={ "scim?provider=" (p.key) } aria-current=[(p.key == provider.key).then_some("true")] { (p.name) } }
                    }
                }
            }
            section {
                h2 { "Connect " (provider.name) }
                @if let Some(note) = provider.note { p.note { (note) } }
                ol.steps { @for step in provider.steps { li { (step) } } }
                label for="endpoint" { "Endpoint URL (" (provider.name) ": " (provider.url_label) ")" }
                div.field {
                    input #endpoint readonly value=(url);
                    button type="button" data-copy="endpoint" hidden { "Copy" }
                }
                (secret_form(frame, provider, revealed, form_error))
            }
            (checklist(diagnosis.connection, diagnosis.report.identity_provider.as_ref()))
        },
    )
}

/// The tenant's mode, what a dry run would change, and the buttons that move between modes.
fn mode(frame: &Frame<'_>, state: &ModeState, diff: Option<&Diff>) -> Markup {
    let button = |action: &str, label: &str, confirm: Option<&str>| {
        html! {
            form.inline method="post" action="mode" data-confirm=[confirm] {
                input type="hidden" name="csrf" value=(frame.csrf);
                input type="hidden" name="action" value=(action);
                button type="submit" { (label) }
            }
        }
    };
    let since = state.since.as_deref().unwrap_or("");
    html! {
        @match (state.mode, diff) {
            (Mode::DryRun, Some(d)) => {
                section.finding.finding-warning aria-labelledby="mode" {
                    h2 #mode { "Dry run since " (since) }
                    p { "Your identity provider's requests change a copy of the directory: it sees them applied, but the app hears nothing and its users stay as they were. Apply the changes when they look right." }
                    table {
                        tr { th { "" } th { "Now" } th { "After" } th { "Created" } th { "Updated" } th { "Deleted" } }
                        @for (name, c) in [("Users", &d.users), ("Groups", &d.groups)] {
                            tr { td { (name) } td { (c.live) } td { (c.after) } td { (c.created) } td { (c.updated) } td { (c.deleted) } }
                        }
                    }
                    p {
                        (counted(i64::try_from(d.memberships.added).unwrap_or(i64::MAX), "membership")) " added, "
                        (d.memberships.removed) " removed; "
                        (counted(i64::try_from(d.role_assignments.changed).unwrap_or(i64::MAX), "user")) " with other roles"
                    }
                    (button("promote", "Apply these changes", Some("Apply the dry run's changes to the app's users and groups?")))
                    " "
                    (button("discard", "Discard them", Some("Throw the dry run's changes away? The identity provider will send them again.")))
                }
            }
            (Mode::Paused, _) => {
                section.finding.finding-error aria-labelledby="mode" {
                    h2 #mode { "Provisioning paused since " (since) }
                    p { "Your identity provider's requests are answered \"try again later\" (503); it retries them, so nothing is lost while you investigate." }
                    (button("resume", "Resume provisioning", None))
                }
            }
            _ => {
                details.mode {
                    summary { "Pause provisioning, or try a new connection in a dry run" }
                    p.note { "A dry run applies your identity provider's requests to a copy of the directory, so you can see what its first sync would change before the app does. Pausing answers its requests \"try again later\" during an incident." }
                    (button("dry_run", "Start a dry run", None))
                    " "
                    (button("pause", "Pause provisioning", Some("Pause provisioning? Your identity provider's requests will be refused until you resume.")))
                }
            }
        }
    }
}

/// What the connection diagnosis found: open findings first, each with its fix and evidence,
/// then the resolved ones in a line each.
fn findings(frame: &Frame<'_>, report: &Report) -> Markup {
    let (open, resolved): (Vec<&Shown>, Vec<&Shown>) =
        report.findings.iter().partition(|f| f.state == "open");
    html! {
        @if !open.is_empty() {
            section.findings aria-labelledby="findings" {
                h2 #findings { "Needs your attention" }
                @for f in open {
                    article class={ "finding finding-" (f.advice.severity) } {
                        h3 { (f.advice.title) }
                        p { (f.advice.explanation) }
                        @if let Some(note) = &f.note { p.note { (note) } }
                        p { strong { "How to fix it" } }
                        ol.steps { @for step in &f.advice.fix { li { (step) } } }
                        @if let Some(source) = f.advice.source {
                            p.note { "Documented at " a href=(source) rel="noopener noreferrer" { (source) } }
                        }
                        p.note {
                            "Seen " (counted(f.seen, "time")) " since " (f.first_seen) "; last at " (f.last_seen) "."
                        }
                        @if !f.evidence.is_empty() {
                            details {
                                summary { "The requests that showed it" }
                                table {
                                    tr { th { "When" } th { "Request" } th { "Outcome" } }
                                    @for e in &f.evidence { (error_row(e)) }
                                }
                            }
                        }
                        form method="post" action="findings" {
                            input type="hidden" name="csrf" value=(frame.csrf);
                            input type="hidden" name="kind" value=(f.kind);
                            button type="submit" { "Mark as fixed" }
                        }
                    }
                }
            }
        }
        @if !resolved.is_empty() {
            section {
                h2 { "Resolved" }
                ul.checklist {
                    @for f in resolved {
                        li.done {
                            (f.advice.title)
                            @if let Some(at) = &f.resolved_at { " (resolved " (at) ")" }
                        }
                    }
                }
            }
        }
    }
}

fn secret_form(
    frame: &Frame<'_>,
    provider: &Provider,
    revealed: Option<&Revealed<'_>>,
    form_error: Option<&str>,
) -> Markup {
    html! {
        @if let Some(r) = revealed {
            label for="secret" { "Secret (" (provider.name) ": " (provider.token_label) ")" }
            div.field {
                input #secret readonly value=(r.token);
                button type="button" data-copy="secret" hidden { "Copy" }
            }
            p.warning {
                "This secret is shown only now. Paste it into " (provider.name) " before you leave this page. "
                @match &r.old_valid_until {
                    Some(until) => { "The previous secret keeps working until " (until) "." }
                    None => { "The previous secret, if there was one, has stopped working." }
                }
            }
        } @else {
            form method="post" action={ "secret?provider=" (provider.key) } data-confirm="Generate a new secret? The one your identity provider uses now stops working (after the grace period you chose)." {
                input type="hidden" name="csrf" value=(frame.csrf);
                p.note { "A new secret replaces the current one. Your identity provider must be given the new secret, or provisioning stops." }
                @if let Some(e) = form_error { p.error role="alert" { (e) } }
                label for="grace" { "Keep the current secret working for" }
                div.field {
                    select #grace name="grace" {
                        option value="0" { "no time: stop it now" }
                        option value="3600" selected { "1 hour" }
                        option value="86400" { "1 day" }
                        option value="604800" { "7 days" }
                    }
                }
                p {
                    input #confirm type="checkbox" name="confirm" value="yes" required;
                    " "
                    label for="confirm" { "I understand that the current secret stops working" }
                }
                button.primary type="submit" { "Generate a new secret" }
            }
        }
    }
}

fn checklist(c: &Connection, idp: Option<&Identity>) -> Markup {
    let item = |done: bool, text: Markup| {
        html! { li class=[done.then_some("done")] { (text) } }
    };
    html! {
        section {
            h2 { "Connection" }
            ul.checklist {
                @if let Some(i) = idp {
                    (item(true, html! {
                        @if i.idp == "unknown" { "Requests come from " (i.user_agent) }
                        @else { "Identity provider: " (i.name) " (" (i.user_agent) ")" }
                    }))
                }
                (item(c.last_request.is_some(), match &c.last_request {
                    Some(r) => html! { "Last request: " (r.method) " " (r.path) " at " (rfc3339(r.at)) " (" (r.status) ")" },
                    None => html! { "Waiting for the first request from your identity provider" },
                }))
                (item(c.test.is_some(), match &c.test {
                    Some(r) => html! { "Test Connection received (GET /Users from " (r.user_agent.as_deref().unwrap_or("an unnamed client")) ")" },
                    None => html! { "Test Connection (GET /Users) not received yet" },
                }))
                (item(c.users > 0, html! { (counted(c.users, "user")) " provisioned" @if c.users == 0 { " yet" } }))
                (item(c.groups > 0, html! { (counted(c.groups, "group")) " provisioned" @if c.groups == 0 { " yet" } }))
            }
            @if !c.errors.is_empty() {
                h2 { "Last errors" }
                table {
                    tr { th { "When" } th { "Request" } th { "What went wrong" } }
                    @for e in &c.errors { (error_row(e)) }
                }
            }
        }
    }
}

/// "No users yet", "1 user", "12 users".
fn counted(n: i64, noun: &str) -> String {
    match n {
        0 => format!("No {noun}s"),
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

fn error_row(e: &LogRow) -> Markup {
    html! {
        tr {
            td { (rfc3339(e.at)) }
            td { (e.method) " " (e.path) }
            td.error {
                (e.status)
                @if let Some(t) = &e.scim_type { " " (t) }
                @if let Some(d) = &e.detail { ": " (d) }
                @if let Some(a) = crate::service::portal::advice(e.status, e.scim_type.as_deref()) {
                    p.advice { (a) }
                }
            }
        }
    }
}

/// The filters of the log tab, as the form sends them back.
pub struct LogFilter<'a> {
    pub status: &'a str,
    pub period: &'a str,
}

/// The Provisioning log tab: newest first, each failure with what to do about it.
pub fn log(
    frame: &Frame<'_>,
    filter: &LogFilter<'_>,
    entries: &[LogRow],
    older: Option<String>,
) -> Markup {
    let option = |value: &str, label: &str, current: &str| {
        html! { option value=(value) selected[value == current] { (label) } }
    };
    page(
        frame,
        Tab::Log,
        html! {
            h1 { "Provisioning log" }
            section {
                form.filters method="get" action="log" {
                    label for="status" { "Outcome" }
                    select #status name="status" {
                        (option("", "all", filter.status))
                        (option("2", "succeeded (2xx)", filter.status))
                        (option("4", "refused (4xx)", filter.status))
                        (option("5", "failed (5xx)", filter.status))
                    }
                    label for="period" { "Time" }
                    select #period name="period" {
                        (option("", "any time", filter.period))
                        (option("1h", "last hour", filter.period))
                        (option("24h", "last 24 hours", filter.period))
                        (option("7d", "last 7 days", filter.period))
                    }
                    button type="submit" { "Show" }
                }
                @if entries.is_empty() {
                    p.note { "No requests match." }
                } @else {
                    table {
                        tr { th { "When" } th { "Request" } th { "Outcome" } }
                        @for e in entries { (log_row(e)) }
                    }
                }
                @if let Some(cursor) = older {
                    p { a href={ "log?status=" (filter.status) "&period=" (filter.period) "&before=" (cursor) } { "Older entries" } }
                }
            }
        },
    )
}

fn log_row(e: &LogRow) -> Markup {
    let advice = crate::service::portal::advice(e.status, e.scim_type.as_deref());
    html! {
        tr {
            td { (rfc3339(e.at)) }
            td {
                (e.method) " " (e.path)
                @if let Some(ua) = &e.user_agent { br; span.note { (ua) } }
            }
            td class=[(e.status >= 400).then_some("error")] {
                (e.status) " · " (e.latency_ms) " ms"
                @if e.status >= 400 {
                    details {
                        summary { @if let Some(t) = &e.scim_type { (t) } @else { "What happened" } }
                        @if let Some(d) = &e.detail { p { (d) } }
                        @if let Some(a) = advice { p.advice { (a) } }
                    }
                }
            }
        }
    }
}

/// One user as the Users tab lists it.
pub struct UserLine {
    pub user_name: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub last_modified: String,
}

/// The Users tab: search by name or e-mail, a page at a time.
pub fn users(
    frame: &Frame<'_>,
    query: &str,
    total: i64,
    start: i64,
    users: &[UserLine],
    next: Option<i64>,
) -> Markup {
    page(
        frame,
        Tab::Users,
        html! {
            h1 { "Users" }
            section {
                form.filters method="get" action="users" {
                    label for="q" { "Name or e-mail" }
                    input #q type="search" name="q" value=(query);
                    button type="submit" { "Search" }
                }
                p.note {
                    @if total == 0 { "No users match." }
                    @else { (counted(total, "user")) "; " (start) "–" (start + users.len() as i64 - 1) " shown." }
                }
                @if !users.is_empty() {
                    table {
                        tr { th { "User" } th { "Active" } th { "Groups" } th { "Roles" } th { "Last change" } }
                        @for u in users {
                            tr {
                                td { strong { (u.user_name) } br; (u.name) @if !u.email.is_empty() && u.email != u.user_name { br; span.note { (u.email) } } }
                                td { @if u.active { "active" } @else { span.error { "inactive" } } }
                                td { (u.groups.join(", ")) }
                                td { (u.roles.join(", ")) }
                                td { (u.last_modified) }
                            }
                        }
                    }
                }
                @if let Some(n) = next {
                    p { a href={ "users?q=" (urlencode(query)) "&start=" (n) } { "Next page" } }
                }
            }
        },
    )
}

/// A query string value, percent-encoded.
fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn members_text(n: i64) -> String {
    if n >= MEMBER_COUNT_CAP {
        format!("{MEMBER_COUNT_CAP}+")
    } else {
        n.to_string()
    }
}

/// The Groups tab: each group with its member count and the roles it maps to.
pub fn groups(frame: &Frame<'_>, total: i64, groups: &[GroupLine], next: Option<i64>) -> Markup {
    page(
        frame,
        Tab::Groups,
        html! {
            h1 { "Groups" }
            section {
                p.note { @if total == 0 { "No groups provisioned yet." } @else { (counted(total, "group")) } }
                @if !groups.is_empty() {
                    table {
                        tr { th { "Group" } th { "Members" } th { "Mapped roles" } }
                        @for g in groups {
                            tr {
                                td { a href={ "group?id=" (urlencode(&g.id)) } { (g.name) } }
                                td { (members_text(g.members)) }
                                td { @if g.roles.is_empty() { span.note { "none" } } @else { (g.roles.join(", ")) } }
                            }
                        }
                    }
                }
                @if let Some(n) = next { p { a href={ "groups?start=" (n) } { "Next page" } } }
            }
        },
    )
}

/// One group's members, a page at a time.
pub fn group(
    frame: &Frame<'_>,
    g: &GroupLine,
    members: &[MemberLine],
    next: Option<&str>,
) -> Markup {
    page(
        frame,
        Tab::Groups,
        html! {
            h1 { (g.name) }
            section {
                p { (members_text(g.members)) " members · mapped roles: "
                    @if g.roles.is_empty() { "none" } @else { (g.roles.join(", ")) } }
                @if members.is_empty() {
                    p.note { "No members." }
                } @else {
                    table {
                        tr { th { "Member" } th { "Type" } }
                        @for m in members {
                            tr { td { (m.display.as_deref().unwrap_or(&m.id)) } td { (m.resource_type) } }
                        }
                    }
                }
                @if let Some(after) = next {
                    p { a href={ "group?id=" (urlencode(&g.id)) "&after=" (urlencode(after)) } { "Next members" } }
                }
                p { a href="groups" { "All groups" } }
            }
        },
    )
}

/// What a form's answer says above the form: that it worked, or why it did not.
#[derive(Debug, Clone, Copy, Default)]
pub enum Said<'a> {
    #[default]
    Nothing,
    Notice(&'a str),
    Error(&'a str),
}

impl maud::Render for Said<'_> {
    fn render(&self) -> Markup {
        html! {
            @match self {
                Said::Nothing => {}
                Said::Notice(n) => p.notice role="status" { (n) },
                Said::Error(e) => p.error role="alert" { (e) },
            }
        }
    }
}

/// The Role mapping tab's form: the mapping as the admin is editing it.
pub struct RoleForm<'a> {
    pub mappings: &'a [(String, String)],
    pub default_role: &'a str,
    /// Synced group names to choose from.
    pub groups: &'a [String],
    /// The app's roles, when it supplies them: the only ones a row may name.
    pub roles: Option<&'a [crate::app_roles::AppRole]>,
    pub preview: Option<&'a crate::service::portal::Preview>,
    pub said: Said<'a>,
}

/// Empty rows offered below the current mapping.
pub const EMPTY_ROWS: usize = 3;

/// The Role mapping tab: groups to roles and a default role, previewed before saving.
pub fn roles(frame: &Frame<'_>, form: &RoleForm<'_>) -> Markup {
    let rows = form
        .mappings
        .iter()
        .map(|(g, r)| (g.as_str(), r.as_str()))
        .chain(std::iter::repeat_n(("", ""), EMPTY_ROWS));
    page(
        frame,
        Tab::Roles,
        html! {
            h1 { "Role mapping" }
            (form.said)
            section {
                p.note { "Members of a group (and of groups inside it) get the group's roles. Users in no mapped group get the default role. Leave a row empty to remove it." }
                form method="post" action="roles" {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    datalist #synced-groups { @for g in form.groups { option value=(g) {} } }
                    @if let Some(roles) = form.roles {
                        p.note { "Roles this app offers: " (roles.iter().map(|r| r.value.as_str()).collect::<Vec<_>>().join(", ")) "." }
                        datalist #app-roles { @for r in roles { option value=(r.value) { (r.display) } } }
                    }
                    table {
                        tr { th { "Group" } th { "Role" } }
                        @for (i, (group, role)) in rows.enumerate() {
                            tr {
                                td { input name={ "group_" (i) } list="synced-groups" value=(group) aria-label="Group"; }
                                td { input name={ "role_" (i) } list=[form.roles.map(|_| "app-roles")] value=(role) aria-label="Role"; }
                            }
                        }
                    }
                    p {
                        label for="default_role" { "Default role " }
                        input #default_role name="default_role" list=[form.roles.map(|_| "app-roles")] value=(form.default_role);
                    }
                    @if let Some(p) = form.preview { (preview(p)) }
                    p.actions {
                        button type="submit" name="action" value="preview" { "Preview" }
                        " "
                        button.primary type="submit" name="action" value="save" { "Save" }
                    }
                }
            }
        },
    )
}

fn preview(p: &crate::service::portal::Preview) -> Markup {
    html! {
        h2 { "Who would get which role" }
        table {
            tr { th { "Role" } th { "Users" } }
            @for (role, n) in &p.roles { tr { td { (role) } td { (n) } } }
            @if let Some((role, n)) = &p.default_role { tr { td { (role) " (default)" } td { (n) } } }
        }
        @for g in &p.unknown {
            p.error { "No synced group is named “" (g) "”: its row reaches nobody until the identity provider sends such a group." }
        }
    }
}

/// The Attribute mapping tab's form: the mapping as the admin is editing it.
pub struct AttributeForm<'a> {
    /// (app field, SCIM attribute path, default) rows.
    pub rows: &'a [(String, String, String)],
    /// The standard fields and their sources.
    pub standard: &'a [(String, String)],
    pub said: Said<'a>,
}

/// The Attribute mapping tab: which SCIM attribute feeds each field of the app's view of a user.
pub fn attributes(frame: &Frame<'_>, form: &AttributeForm<'_>) -> Markup {
    let rows = form
        .rows
        .iter()
        .map(|(f, p, d)| (f.as_str(), p.as_str(), d.as_str()))
        .chain(std::iter::repeat_n(("", "", ""), EMPTY_ROWS));
    page(
        frame,
        Tab::Attributes,
        html! {
            h1 { "Attribute mapping" }
            (form.said)
            section {
                p.note { "The app sees every user in one shape, whatever the identity provider sends. Name a field, the SCIM attribute that feeds it (as a PATCH path: name.givenName, emails[type eq \"work\"].value, or an extension URN and attribute), and a default for users whose provider sends none. A standard field named here takes its value from the attribute given. Leave a row empty to remove it." }
                form method="post" action="attributes" {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    table {
                        tr { th { "Field" } th { "SCIM attribute" } th { "Default" } }
                        @for (i, (field, from, default)) in rows.enumerate() {
                            tr {
                                td { input name={ "field_" (i) } value=(field) aria-label="Field"; }
                                td { input name={ "from_" (i) } value=(from) aria-label="SCIM attribute"; }
                                td { input name={ "default_" (i) } value=(default) aria-label="Default"; }
                            }
                        }
                    }
                    p.actions { button.primary type="submit" { "Save" } }
                }
            }
            section {
                h2 { "Standard fields" }
                table {
                    tr { th { "Field" } th { "SCIM attribute" } }
                    @for (field, from) in form.standard { tr { td { (field) } td { code { (from) } } } }
                }
            }
        },
    )
}

/// The Webhooks tab: where the app hears of changes, and how the deliveries went.
pub fn webhooks(
    frame: &Frame<'_>,
    hook: Option<&serde_json::Value>,
    secret: Option<&str>,
    said: Said<'_>,
) -> Markup {
    let field = |k: &str| {
        hook.and_then(|h| h[k].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let enabled = hook.is_none_or(|h| h["enabled"] == true);
    page(
        frame,
        Tab::Webhooks,
        html! {
            h1 { "Webhooks" }
            (said)
            @if let Some(secret) = secret {
                section {
                    label for="signing" { "Signing secret" }
                    div.field {
                        input #signing readonly value=(secret);
                        button type="button" data-copy="signing" hidden { "Copy" }
                    }
                    p.warning { "This secret is shown only now. The receiving endpoint checks each delivery's signature with it (Standard Webhooks)." }
                }
            }
            section {
                @if let Some(h) = hook {
                    p {
                        @if h["enabled"] == true { "Delivering to " } @else { span.error { "Switched off: " } }
                        code { (field("url")) }
                    }
                    @if let Some(reason) = h["disabled_reason"].as_str() { p.error { (reason) } }
                    p.note { "Delivered up to event " (h["delivered_seq"]) "; " (h["consecutive_failures"]) " failures in a row." }
                } @else {
                    p.note { "No webhook yet: the app reads changes from the event feed only." }
                }
                form method="post" action="webhooks" {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    label for="url" { "Endpoint URL (https)" }
                    div.field { input #url type="url" name="url" required value=(field("url")); }
                    p {
                        input #enabled type="checkbox" name="enabled" value="yes" checked[enabled];
                        " " label for="enabled" { "Deliver events" }
                    }
                    @if hook.is_some() {
                        p {
                            input #rotate type="checkbox" name="rotate_secret" value="yes";
                            " " label for="rotate" { "Issue a new signing secret (the endpoint must be given it)" }
                        }
                    }
                    button.primary type="submit" name="action" value="save" { "Save" }
                    @if hook.is_some() {
                        " "
                        button.danger type="submit" name="action" value="remove" formnovalidate data-confirm="Remove the webhook? Events stay readable in the feed." { "Remove" }
                    }
                }
            }
            @if let Some(attempts) = hook.and_then(|h| h["attempts"].as_array()).filter(|a| !a.is_empty()) {
                section {
                    h2 { "Recent deliveries" }
                    table {
                        tr { th { "When" } th { "Event" } th { "Outcome" } th {} }
                        @for a in attempts {
                            tr {
                                td { (a["attempted_at"].as_str().unwrap_or_default()) }
                                td { (a["event_seq"]) }
                                td class=[a["error"].is_string().then_some("error")] {
                                    @match (a["status_code"].as_i64(), a["error"].as_str()) {
                                        (_, Some(e)) => { (e) }
                                        (Some(code), None) => { "HTTP " (code) }
                                        (None, None) => { "sent" }
                                    }
                                    " · " (a["duration_ms"]) " ms"
                                }
                                td {
                                    form method="post" action="webhooks" data-confirm="Deliver this event and every later one again?" {
                                        input type="hidden" name="csrf" value=(frame.csrf);
                                        input type="hidden" name="seq" value=(a["event_seq"]);
                                        button type="submit" name="action" value="resend" { "Resend from here" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
