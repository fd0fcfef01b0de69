//! The admin portal (`/portal`): the tenant admin's pages, on top of the same services as the
//! admin API. A setup link opens a session scoped to its tenant; every page reads the tenant
//! from that session, never from the request.

mod pages;
pub mod providers;

use std::collections::HashMap;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use maud::Markup;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{PortalError, ScimError};
use crate::scim::query::{Paging, SearchRequest};
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::text;
use crate::service::admin::{self as admin_service, Mapping, RoleMappings, WebhookInput};
use crate::service::portal::{self as service, LinkRefused, Session};
use crate::service::search;
use crate::service::tenants;
use crate::state::AppState;
use crate::storage::log::LogRow;
use crate::storage::log::{LogQuery, StatusFilter};
use crate::storage::{self, now_millis};
use pages::{EMPTY_ROWS, Frame, LogFilter, Revealed, RoleForm, UserLine};

const SESSION_COOKIE: &str = "scimitar_portal";
const LINK_COOKIE: &str = "scimitar_portal_link";
/// How long a setup link waits in its cookie for the person to press "Open the settings".
const LINK_COOKIE_TTL: Duration = Duration::from_secs(600);
/// The grace periods the secret form offers, in seconds.
const GRACES: [u64; 4] = [0, 3600, 86_400, 604_800];

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// Mounts the portal's routes under `/portal`, with its security headers.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    let headers = security_headers(&state);
    cfg.service(
        web::scope("/portal")
            .app_data(web::Data::new(state))
            .wrap(headers)
            .route("", web::get().to(home))
            .route("/enter", web::get().to(enter_page))
            .route("/enter", web::post().to(enter))
            .route("/scim", web::get().to(scim))
            .route("/secret", web::post().to(regenerate))
            .route("/log", web::get().to(log))
            .route("/users", web::get().to(users))
            .route("/roles", web::get().to(roles))
            .route("/roles", web::post().to(edit_roles))
            .route("/webhooks", web::get().to(webhooks))
            .route("/webhooks", web::post().to(edit_webhook))
            .route("/groups", web::get().to(groups))
            .route("/group", web::get().to(group))
            .route("/signout", web::post().to(sign_out))
            .route(
                "/assets/portal.css",
                web::get().to(|| asset(CSS, "text/css")),
            )
            .route(
                "/assets/portal.js",
                web::get().to(|| asset(JS, "text/javascript")),
            )
            .route("/assets/theme.css", web::get().to(theme)),
    );
}

/// A strict Content-Security-Policy (no inline script or style), no framing except by the
/// origins the operator allows, no referrer, nothing cached.
fn security_headers(state: &AppState) -> DefaultHeaders {
    let look = &state.settings.portal;
    let ancestors = if look.frame_ancestors.is_empty() {
        "'none'".to_owned()
    } else {
        look.frame_ancestors.join(" ")
    };
    let logo = look
        .logo_url
        .as_deref()
        .map_or(String::new(), |u| format!(" {u}"));
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{logo}; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    );
    let mut headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, csp))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"));
    if look.frame_ancestors.is_empty() {
        headers = headers.add((header::X_FRAME_OPTIONS, "DENY"));
    }
    headers
}

async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            format!("{content_type}; charset=utf-8"),
        ))
        .body(body)
}

/// The host app's accent colour (validated at start as a hex colour).
async fn theme(state: web::Data<AppState>) -> HttpResponse {
    let css = format!(":root {{ --accent: {}; }}\n", state.settings.portal.accent);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .body(css)
}

fn html(markup: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(markup.into_string())
}

/// A redirect relative to the page that asked (every page is directly under `/portal/`).
fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Cookies are Secure when the portal is reached over https.
fn secure(state: &AppState) -> bool {
    state.settings.portal_url(None).starts_with("https://")
}

fn cookie<'c>(state: &AppState, name: &'c str, value: String, ttl: Duration) -> Cookie<'c> {
    Cookie::build(name, value)
        .http_only(true)
        .secure(secure(state))
        // Lax, so the portal framed by the host app's own site keeps its session.
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

fn removal(name: &str) -> Cookie<'_> {
    let mut c = Cookie::build(name, "").http_only(true).finish();
    c.make_removal();
    c
}

#[derive(Debug, Deserialize)]
pub struct EnterQuery {
    link: Option<String>,
}

/// `GET /portal/enter?link=…`: moves the link's token out of the address bar into a short-lived
/// cookie, then shows the page that uses it.
async fn enter_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<EnterQuery>,
) -> HttpResponse {
    if let Some(token) = q.into_inner().link {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "enter"))
            .cookie(cookie(&state, LINK_COOKIE, token, LINK_COOKIE_TTL))
            .finish();
    }
    let look = &state.settings.portal;
    if req.cookie(LINK_COOKIE).is_none() {
        return html(pages::problem(
            look,
            "A setup link is needed",
            "Open the portal with the setup link your app gave you.",
        ));
    }
    html(pages::enter(look))
}

/// `POST /portal/enter`: uses the link up and opens a session.
async fn enter(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    answer(&state, use_link(&state, &req).await)
}

async fn use_link(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, PortalError> {
    throttled(state, req)?;
    let token = req
        .cookie(LINK_COOKIE)
        .map(|c| c.value().to_owned())
        .ok_or(PortalError::Refused(LinkRefused::Unknown))?;
    let db = state.db.clone();
    let opened = web::block(move || service::open(&db, &token))
        .await
        .map_err(ScimError::internal)??
        .map_err(PortalError::Refused)?;
    let mut entry = LogRow::new(
        opened.session.tenant.as_str().to_owned(),
        now_millis(),
        "POST".to_owned(),
        "/portal/enter".to_owned(),
    );
    entry.status = 303;
    entry.detail = Some("the admin portal was opened with a setup link".to_owned());
    entry.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.log.send(entry);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "scim"))
        .cookie(cookie(
            state,
            SESSION_COOKIE,
            opened.cookie,
            service::SESSION_TTL,
        ))
        .cookie(removal(LINK_COOKIE))
        .finish())
}

/// The session the request's cookie names.
fn throttled(state: &AppState, req: &HttpRequest) -> Result<(), PortalError> {
    let client = state.throttle.client(req);
    Ok(state.throttle.admin(&client).map_err(ScimError::from)?)
}

/// The session the request's cookie names. Every portal request with a session or a link
/// counts against the admin rate limit of its client address, as admin API requests do.
async fn session(state: &AppState, req: &HttpRequest) -> Result<Session, PortalError> {
    throttled(state, req)?;
    let cookie = req
        .cookie(SESSION_COOKIE)
        .ok_or(PortalError::SignedOut)?
        .value()
        .to_owned();
    state
        .db
        .read_by_key(move |c| service::session(c, &cookie))
        .await?
        .ok_or(PortalError::SignedOut)
}

/// The frame of a signed-in page: the host app's look, the tenant's name, the session's
/// anti-forgery token.
fn frame<'a>(state: &'a AppState, session: &'a Session) -> Frame<'a> {
    Frame {
        look: &state.settings.portal,
        tenant_name: &session.tenant_name,
        csrf: &session.csrf,
    }
}

async fn home() -> HttpResponse {
    see_other("portal/scim")
}

#[derive(Debug, Deserialize)]
pub struct ProviderQuery {
    provider: Option<String>,
}

/// `GET /portal/scim`: the SCIM Provisioning tab.
async fn scim(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ProviderQuery>,
) -> HttpResponse {
    let shown = async {
        let session = session(&state, &req).await?;
        render_scim(&state, &session, q.provider.as_deref(), None, None).await
    };
    answer(&state, shown.await)
}

async fn render_scim(
    state: &AppState,
    session: &Session,
    provider: Option<&str>,
    revealed: Option<&Revealed<'_>>,
    form_error: Option<&str>,
) -> Result<HttpResponse, PortalError> {
    let tenant = session.tenant.clone();
    let connection = state
        .db
        .run(move |c| service::connection(c, &tenant))
        .await?;
    let frame = frame(state, session);
    let provider = providers::find(provider);
    Ok(html(pages::scim(
        &frame,
        provider,
        &state.base_url,
        &connection,
        revealed,
        form_error,
    )))
}

/// Entries on one page of the log tab.
const LOG_PAGE: i64 = 50;
/// Users on one page of the Users tab.
const USER_PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct LogParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    period: String,
    before: Option<String>,
}

/// `GET /portal/log`: the Provisioning log tab.
async fn log(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LogParams>,
) -> HttpResponse {
    answer(&state, show_log(&state, &req, &q).await)
}

async fn show_log(
    state: &AppState,
    req: &HttpRequest,
    q: &LogParams,
) -> Result<HttpResponse, PortalError> {
    let session = session(state, req).await?;
    let status = match q.status.as_str() {
        "" => None,
        "2" => Some(StatusFilter::Class(2)),
        "4" => Some(StatusFilter::Class(4)),
        "5" => Some(StatusFilter::Class(5)),
        _ => {
            return Err(PortalError::BadForm(
                "choose one of the outcomes offered".into(),
            ));
        }
    };
    let period = match q.period.as_str() {
        "" => None,
        "1h" => Some(3_600_000),
        "24h" => Some(86_400_000),
        "7d" => Some(7 * 86_400_000),
        _ => {
            return Err(PortalError::BadForm(
                "choose one of the periods offered".into(),
            ));
        }
    };
    if q.before.as_deref().is_some_and(|c| !text::plausible_id(c)) {
        return Err(PortalError::BadForm(
            "this page of the log does not exist".into(),
        ));
    }
    let query = LogQuery {
        status,
        since: period.map(|p: i64| now_millis() - p),
        until: None,
        before: q.before.clone(),
        // One more than shown tells whether older entries follow.
        limit: LOG_PAGE + 1,
    };
    let tenant = session.tenant.clone();
    let mut entries = state
        .db
        .run(move |c| Ok(storage::log::read(c, tenant.as_str(), &query)?))
        .await?;
    let older = (entries.len() as i64 > LOG_PAGE).then(|| {
        entries.truncate(LOG_PAGE as usize);
        entries.last().map(|e| e.id.clone())
    });
    let frame = frame(state, &session);
    let filter = LogFilter {
        status: &q.status,
        period: &q.period,
    };
    Ok(html(pages::log(&frame, &filter, &entries, older.flatten())))
}

#[derive(Debug, Deserialize)]
pub struct UserParams {
    #[serde(default)]
    q: String,
    start: Option<i64>,
}

/// `GET /portal/users`: the Users tab.
async fn users(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<UserParams>,
) -> HttpResponse {
    answer(&state, show_users(&state, &req, &q).await)
}

async fn show_users(
    state: &AppState,
    req: &HttpRequest,
    q: &UserParams,
) -> Result<HttpResponse, PortalError> {
    let session = session(state, req).await?;
    let query = q.q.trim();
    let start = q.start.unwrap_or(1).max(1);
    let search = SearchRequest {
        filter: (!query.is_empty()).then(|| name_or_email(query)),
        sort_by: Some("userName".into()),
        paging: Paging::Index { start_index: start },
        count: Some(USER_PAGE),
        ..SearchRequest::default()
    };
    let found = admin_service::users(state, &session.tenant, &search).await?;
    let total = found["totalResults"].as_i64().unwrap_or(0);
    let lines: Vec<UserLine> = found["users"]
        .as_array()
        .map(|a| a.iter().map(user_line).collect())
        .unwrap_or_default();
    let next = (start - 1 + (lines.len() as i64) < total).then_some(start + USER_PAGE);
    let frame = frame(state, &session);
    Ok(html(pages::users(
        &frame, query, total, start, &lines, next,
    )))
}

/// A SCIM filter for users whose userName, name or e-mail contains `q`.
fn name_or_email(q: &str) -> String {
    let q = q.replace('\\', "\\\\").replace('"', "\\\"");
    [
        "userName",
        "displayName",
        "name.formatted",
        "name.familyName",
        "emails.value",
    ]
    .iter()
    .map(|a| format!("{a} co \"{q}\""))
    .collect::<Vec<_>>()
    .join(" or ")
}

fn user_line(u: &Value) -> UserLine {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let list = |v: &Value, key: &str| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x[key].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let name = match text(&u["displayName"]) {
        n if n.is_empty() => text(&u["name"]["formatted"]),
        n => n,
    };
    let email = u["emails"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|m| m["primary"] == true)
                .or_else(|| e.first())
        })
        .map(|m| text(&m["value"]))
        .unwrap_or_default();
    UserLine {
        user_name: text(&u["userName"]),
        name,
        email,
        active: u["active"] != false,
        groups: list(&u["groups"], "display"),
        roles: u["roles"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        last_modified: text(&u["meta"]["lastModified"]),
    }
}

/// Groups on one page of the Groups tab, members on one page of a group.
const GROUP_PAGE: i64 = 50;
const MEMBER_PAGE: i64 = 100;

#[derive(Debug, Deserialize)]
pub struct GroupsParams {
    start: Option<i64>,
}

/// `GET /portal/groups`: the Groups tab.
async fn groups(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<GroupsParams>,
) -> HttpResponse {
    answer(&state, show_groups(&state, &req, q.start).await)
}

async fn show_groups(
    state: &AppState,
    req: &HttpRequest,
    start: Option<i64>,
) -> Result<HttpResponse, PortalError> {
    let session = session(state, req).await?;
    let start = start.unwrap_or(1).max(1);
    let search = SearchRequest {
        sort_by: Some("displayName".into()),
        paging: Paging::Index { start_index: start },
        count: Some(GROUP_PAGE),
        excluded_attributes: vec!["members".into()],
        ..SearchRequest::default()
    };
    let page = search::search(state, &session.tenant, &GROUP_RESOURCE, &search).await?;
    let listed: Vec<(String, String)> = page
        .resources
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(r.get()).ok())
        .map(|g| {
            let text = |k: &str| g[k].as_str().unwrap_or_default().to_owned();
            (text("id"), text("displayName"))
        })
        .collect();
    let tenant = session.tenant.clone();
    let lines = state
        .db
        .run(move |c| service::group_lines(c, &tenant, listed))
        .await?;
    let next =
        (start - 1 + (lines.len() as i64) < page.total_results).then_some(start + GROUP_PAGE);
    let frame = frame(state, &session);
    Ok(html(pages::groups(
        &frame,
        page.total_results,
        &lines,
        next,
    )))
}

#[derive(Debug, Deserialize)]
pub struct GroupParams {
    id: String,
    after: Option<String>,
}

/// `GET /portal/group?id=…`: one group's members, a page at a time.
async fn group(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<GroupParams>,
) -> HttpResponse {
    answer(&state, show_group(&state, &req, q.into_inner()).await)
}

async fn show_group(
    state: &AppState,
    req: &HttpRequest,
    q: GroupParams,
) -> Result<HttpResponse, PortalError> {
    let session = session(state, req).await?;
    if !text::plausible_id(&q.id) || q.after.as_deref().is_some_and(|a| !text::plausible_id(a)) {
        return Err(PortalError::NotFound("there is no such group".into()));
    }
    let tenant = session.tenant.clone();
    let found = state
        .db
        .run(move |c| {
            service::group_members(c, &tenant, &q.id, q.after.as_deref(), MEMBER_PAGE + 1)
        })
        .await?;
    let (line, mut members) =
        found.ok_or_else(|| PortalError::NotFound("there is no such group".into()))?;
    let next = (members.len() as i64 > MEMBER_PAGE).then(|| {
        members.truncate(MEMBER_PAGE as usize);
        members.last().map(|m| m.id.clone())
    });
    let frame = frame(state, &session);
    Ok(html(pages::group(
        &frame,
        &line,
        &members,
        next.flatten().as_deref(),
    )))
}

/// Synced group names offered when choosing a mapping's group.
const GROUP_CHOICES: i64 = 500;

/// `GET /portal/roles`: the Role mapping tab.
async fn roles(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let shown = async {
        let session = session(&state, &req).await?;
        let current = admin_service::role_mappings(&state, &session.tenant).await?;
        let mappings: Vec<(String, String)> = current
            .mappings
            .into_iter()
            .map(|m| (m.group, m.role))
            .collect();
        let default_role = current.default_role.unwrap_or_default();
        let notice = req
            .query_string()
            .contains("saved=1")
            .then_some("The role mapping is saved; users' roles follow it now.");
        render_roles(
            &state,
            &session,
            &mappings,
            &default_role,
            None,
            notice,
            None,
        )
        .await
    };
    answer(&state, shown.await)
}

async fn render_roles(
    state: &AppState,
    session: &Session,
    mappings: &[(String, String)],
    default_role: &str,
    preview: Option<&service::Preview>,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PortalError> {
    let tenant = session.tenant.clone();
    let groups = state
        .db
        .run(move |c| {
            Ok(storage::portal::group_names(
                c,
                tenant.as_str(),
                GROUP_CHOICES,
            )?)
        })
        .await?;
    let form = RoleForm {
        mappings,
        default_role,
        groups: &groups,
        preview,
        notice,
        error,
    };
    Ok(html(pages::roles(&frame(state, session), &form)))
}

/// `POST /portal/roles`: preview or save the mapping the form holds.
async fn edit_roles(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    answer(&state, submit_roles(&state, &req, &form).await)
}

async fn submit_roles(
    state: &AppState,
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<HttpResponse, PortalError> {
    let session = session(state, req).await?;
    if !form
        .get("csrf")
        .is_some_and(|t| service::csrf_ok(&session, t))
    {
        return Err(PortalError::Forged);
    }
    let field = |k: &str| form.get(k).map_or("", |v| v.trim());
    // Rows are numbered from 0; the form offers the saved rows and a few empty ones.
    let rows = state.settings.max_role_mappings + EMPTY_ROWS;
    let mappings: Vec<(String, String)> = (0..rows)
        .map(|i| (field(&format!("group_{i}")), field(&format!("role_{i}"))))
        .filter(|(g, r)| !g.is_empty() || !r.is_empty())
        .map(|(g, r)| (g.to_owned(), r.to_owned()))
        .collect();
    let default_role = field("default_role").to_owned();
    if let Some((g, r)) = mappings.iter().find(|(g, r)| g.is_empty() || r.is_empty()) {
        let which = if g.is_empty() {
            format!("role “{r}”")
        } else {
            format!("group “{g}”")
        };
        let error = format!("The row with {which} needs both a group and a role.");
        return render_roles(
            state,
            &session,
            &mappings,
            &default_role,
            None,
            None,
            Some(&error),
        )
        .await;
    }
    match field("action") {
        "preview" => {
            let (tenant, pairs, default) = (
                session.tenant.clone(),
                mappings.clone(),
                default_role.clone(),
            );
            let preview = state
                .db
                .run(move |c| {
                    service::preview(
                        c,
                        &tenant,
                        &pairs,
                        Some(default.as_str()).filter(|d| !d.is_empty()),
                    )
                })
                .await?;
            render_roles(
                state,
                &session,
                &mappings,
                &default_role,
                Some(&preview),
                None,
                None,
            )
            .await
        }
        "save" => {
            let new = RoleMappings {
                default_role: Some(default_role.clone()).filter(|d| !d.is_empty()),
                mappings: mappings
                    .iter()
                    .map(|(group, role)| Mapping {
                        group: group.clone(),
                        role: role.clone(),
                    })
                    .collect(),
            };
            match admin_service::set_role_mappings(state, &session.tenant, new).await {
                Ok(_) => Ok(see_other("roles?saved=1")),
                Err(e @ (ScimError::InvalidValue(_) | ScimError::LimitExceeded(_))) => {
                    let error = e.to_string();
                    render_roles(
                        state,
                        &session,
                        &mappings,
                        &default_role,
                        None,
                        None,
                        Some(&error),
                    )
                    .await
                }
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(PortalError::BadForm("choose Preview or Save".into())),
    }
}

/// `GET /portal/webhooks`: the Webhooks tab.
async fn webhooks(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let shown = async {
        let session = session(&state, &req).await?;
        render_webhooks(&state, &session, None, None, None).await
    };
    answer(&state, shown.await)
}

async fn render_webhooks(
    state: &AppState,
    session: &Session,
    secret: Option<&str>,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PortalError> {
    let listed = admin_service::webhooks(state, &session.tenant).await?;
    let hook = listed["webhooks"].get(0);
    Ok(html(pages::webhooks(
        &frame(state, session),
        hook,
        secret,
        notice,
        error,
    )))
}

#[derive(Debug, Deserialize)]
pub struct WebhookForm {
    csrf: String,
    #[serde(default)]
    url: String,
    enabled: Option<String>,
    rotate_secret: Option<String>,
    seq: Option<i64>,
    action: String,
}

/// `POST /portal/webhooks`: save or remove the webhook.
async fn edit_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<WebhookForm>,
) -> HttpResponse {
    let done = async {
        let session = session(&state, &req).await?;
        if !service::csrf_ok(&session, &form.csrf) {
            return Err(PortalError::Forged);
        }
        match form.action.as_str() {
            "remove" => match admin_service::delete_webhook(&state, &session.tenant).await {
                Ok(()) | Err(ScimError::NotFound(_)) => Ok(see_other("webhooks")),
                Err(e) => Err(e.into()),
            },
            "save" => {
                let input = WebhookInput {
                    url: form.url.clone(),
                    enabled: form.enabled.as_deref() == Some("yes"),
                    rotate_secret: form.rotate_secret.as_deref() == Some("yes"),
                };
                match admin_service::put_webhook(&state, &session.tenant, input).await {
                    Ok(saved) => {
                        let secret = saved["secret"].as_str();
                        render_webhooks(&state, &session, secret, None, None).await
                    }
                    Err(ScimError::InvalidValue(e)) => {
                        render_webhooks(&state, &session, None, None, Some(&e)).await
                    }
                    Err(e) => Err(e.into()),
                }
            }
            "resend" => {
                let seq = form
                    .seq
                    .ok_or_else(|| PortalError::BadForm("choose an event to resend".into()))?;
                match admin_service::resend_from(&state, &session.tenant, seq).await {
                    Ok(()) => {
                        let notice = format!(
                            "Event {seq} and every later one will be delivered again, in order."
                        );
                        render_webhooks(&state, &session, None, Some(&notice), None).await
                    }
                    Err(ScimError::InvalidValue(e)) => {
                        render_webhooks(&state, &session, None, None, Some(&e)).await
                    }
                    Err(e) => Err(e.into()),
                }
            }
            _ => Err(PortalError::BadForm("choose Save, Remove or Resend".into())),
        }
    };
    answer(&state, done.await)
}

#[derive(Debug, Deserialize)]
pub struct SecretForm {
    csrf: String,
    grace: u64,
    confirm: Option<String>,
}

/// `POST /portal/secret`: a new SCIM secret, shown once.
async fn regenerate(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ProviderQuery>,
    form: web::Form<SecretForm>,
) -> HttpResponse {
    answer(
        &state,
        rotate(&state, &req, q.provider.as_deref(), &form).await,
    )
}

async fn rotate(
    state: &AppState,
    req: &HttpRequest,
    provider: Option<&str>,
    form: &SecretForm,
) -> Result<HttpResponse, PortalError> {
    let session = session(state, req).await?;
    if !service::csrf_ok(&session, &form.csrf) {
        return Err(PortalError::Forged);
    }
    if form.confirm.as_deref() != Some("yes") {
        let error = "Tick the box to confirm: the current secret stops working.";
        return render_scim(state, &session, provider, None, Some(error)).await;
    }
    if !GRACES.contains(&form.grace) {
        return Err(PortalError::BadForm(
            "choose one of the grace periods offered".into(),
        ));
    }
    let grace = (form.grace > 0).then(|| Duration::from_secs(form.grace));
    let (db, tenant) = (state.db.clone(), session.tenant.clone());
    let issued = web::block(move || tenants::rotate_secret(&db, tenant.as_str(), grace))
        .await
        .map_err(ScimError::internal)??;
    let token = issued.token.reveal();
    let revealed = Revealed {
        token: &token,
        old_valid_until: grace.map(|g| {
            crate::events::rfc3339(now_millis() + i64::try_from(g.as_millis()).unwrap_or(0))
        }),
    };
    render_scim(state, &session, provider, Some(&revealed), None).await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /portal/signout`.
async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let out = async {
        let session = session(&state, &req).await?;
        if !service::csrf_ok(&session, &form.csrf) {
            return Err(PortalError::Forged);
        }
        state.db.run(move |c| service::close(c, &session)).await?;
        let page = pages::problem(
            &state.settings.portal,
            "Signed out",
            "You have left the portal. Open it again with a new setup link from your app.",
        );
        Ok(HttpResponse::Ok()
            .content_type(ContentType::html())
            .cookie(removal(SESSION_COOKIE))
            .body(page.into_string()))
    };
    answer(&state, out.await)
}

/// Every portal error becomes a page in the host app's look, in one place.
fn answer(state: &AppState, result: Result<HttpResponse, PortalError>) -> HttpResponse {
    let e = match result {
        Ok(res) => return res,
        Err(e) => e,
    };
    let (status, title) = match &e {
        PortalError::SignedOut => (StatusCode::UNAUTHORIZED, "Your session has ended"),
        PortalError::Refused(LinkRefused::Unknown) => {
            (StatusCode::BAD_REQUEST, "This link cannot be used")
        }
        PortalError::Refused(_) => (StatusCode::GONE, "This link cannot be used"),
        PortalError::Forged => (StatusCode::FORBIDDEN, "The form has expired"),
        PortalError::BadForm(_) => (StatusCode::BAD_REQUEST, "The form could not be read"),
        PortalError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        PortalError::Scim(ScimError::TooManyRequests(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, "Too many requests")
        }
        PortalError::Scim(s) => (s.status_code(), "Something went wrong"),
    };
    if let PortalError::Scim(ScimError::Internal(inner)) = &e {
        tracing::error!(error = ?inner, "internal error in the portal");
    }
    let mut res = HttpResponse::build(status);
    if let PortalError::Scim(ScimError::TooManyRequests(t)) = &e {
        res.insert_header((header::RETRY_AFTER, t.retry_after.to_string()));
    }
    if matches!(e, PortalError::SignedOut) {
        res.cookie(removal(SESSION_COOKIE));
    }
    res.content_type(ContentType::html())
        .body(pages::problem(&state.settings.portal, title, &e.to_string()).into_string())
}
