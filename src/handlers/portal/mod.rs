//! The admin portal (`/portal`): the tenant admin's pages, on top of the same services as the
//! admin API. A setup link opens a session scoped to its tenant; every page reads the tenant
//! from that session ([`Signed`]), never from the request. One tab, one module.

mod attributes;
mod directory;
mod entry;
mod log;
mod pages;
pub mod providers;
mod roles;
mod scim;
mod webhooks;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use maud::Markup;

use crate::error::{PortalError, ScimError};
use crate::service::portal::{self as service, Session};
use crate::state::AppState;
use pages::Frame;

const SESSION_COOKIE: &str = "scimitar_portal";
const LINK_COOKIE: &str = "scimitar_portal_link";

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// Mounts the portal's routes under `/portal`, with its security headers and error pages.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    let headers = security_headers(&state);
    cfg.service(
        web::scope("/portal")
            .app_data(web::Data::new(state))
            .wrap(from_fn(error_pages))
            .wrap(headers)
            .route("", web::get().to(entry::home))
            .route("/enter", web::get().to(entry::enter_page))
            .route("/enter", web::post().to(entry::enter))
            .route("/signout", web::post().to(entry::sign_out))
            .route("/scim", web::get().to(scim::tab))
            .route("/secret", web::post().to(scim::regenerate))
            .route("/findings", web::post().to(scim::dismiss))
            .route("/mode", web::post().to(scim::mode))
            .route("/roles", web::get().to(roles::tab))
            .route("/roles", web::post().to(roles::submit))
            .route("/attributes", web::get().to(attributes::tab))
            .route("/attributes", web::post().to(attributes::submit))
            .route("/users", web::get().to(directory::users))
            .route("/groups", web::get().to(directory::groups))
            .route("/group", web::get().to(directory::group))
            .route("/log", web::get().to(log::tab))
            .route("/webhooks", web::get().to(webhooks::tab))
            .route("/webhooks", web::post().to(webhooks::submit))
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

/// Every failure under `/portal` — a [`PortalError`] from a page, or a query or form the
/// extractors could not read — becomes a page in the host app's look, keeping the status and
/// headers the error chose. An ended session also loses its cookie.
async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, String>>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let Some(error) = res.response().error() else {
        return Ok(res.map_into_left_body());
    };
    let (title, detail, signed_out) = match error.as_error::<PortalError>() {
        Some(e) => (
            e.title(),
            e.to_string(),
            matches!(e, PortalError::SignedOut),
        ),
        None => (
            "The request could not be read",
            format!(
                "{error}. Go back and use the portal's own links and forms; \
                 they send only what the portal understands."
            ),
            false,
        ),
    };
    let Some(state) = res.request().app_data::<web::Data<AppState>>().cloned() else {
        return Ok(res.map_into_left_body());
    };
    if signed_out {
        res.response_mut()
            .add_removal_cookie(&removal(SESSION_COOKIE))?;
    }
    let page = pages::problem(&state.settings.portal, title, &detail).into_string();
    Ok(res.map_body(|head, _| {
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        EitherBody::right(page)
    }))
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

/// The start of the next page of an index-paged list, when more follow.
fn next_start(start: i64, shown: usize, total: i64, page: i64) -> Option<i64> {
    (start - 1 + (shown as i64) < total).then_some(start + page)
}

/// Cuts rows read one longer than a page (the extra row tells that more follow) to the page,
/// and answers the key to continue after, when more follow.
fn keyset_page<T>(rows: &mut Vec<T>, page: i64, key: impl Fn(&T) -> &str) -> Option<String> {
    let page = usize::try_from(page).unwrap_or(usize::MAX);
    if rows.len() <= page {
        return None;
    }
    rows.truncate(page);
    rows.last().map(|r| key(r).to_owned())
}

/// Every portal request with a session or a link counts against the admin rate limit of its
/// client address, as admin API requests do.
fn throttled(state: &AppState, req: &HttpRequest) -> Result<(), PortalError> {
    let client = state.throttle.client(req);
    Ok(state.throttle.admin(&client).map_err(ScimError::from)?)
}

/// A signed-in portal request: the session its cookie names, and the app state. Extracting it
/// is the sign-in check of every tab.
struct Signed {
    state: web::Data<AppState>,
    session: Session,
}

impl Signed {
    async fn of(req: HttpRequest) -> Result<Self, PortalError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ScimError::internal(anyhow::anyhow!("the portal has no state")))?;
        throttled(&state, &req)?;
        let cookie = req
            .cookie(SESSION_COOKIE)
            .ok_or(PortalError::SignedOut)?
            .value()
            .to_owned();
        let session = state
            .db
            .read_by_key(move |c| service::session(c, &cookie))
            .await?
            .ok_or(PortalError::SignedOut)?;
        Ok(Self { state, session })
    }

    /// A state-changing form must carry the session's anti-forgery token.
    fn check(&self, csrf: &str) -> Result<(), PortalError> {
        if service::csrf_ok(&self.session, csrf) {
            Ok(())
        } else {
            Err(PortalError::Forged)
        }
    }

    /// The frame of a signed-in page: the host app's look, the tenant's name, the session's
    /// anti-forgery token.
    fn frame(&self) -> Frame<'_> {
        Frame {
            look: &self.state.settings.portal,
            tenant_name: &self.session.tenant_name,
            csrf: &self.session.csrf,
        }
    }
}

impl FromRequest for Signed {
    type Error = PortalError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PortalError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::of(req.clone()))
    }
}
