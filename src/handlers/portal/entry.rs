//! Coming in with a setup link, and signing out.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{LINK_COOKIE, SESSION_COOKIE, Signed, cookie, html, pages, removal, see_other};
use crate::error::LinkRefused;
use crate::error::{PortalError, ScimError};
use crate::service::portal as service;
use crate::service::{LogRow, now_millis};
use crate::state::AppState;

/// How long a setup link waits in its cookie for the person to press "Open the settings".
const LINK_COOKIE_TTL: Duration = Duration::from_secs(600);

/// `GET /portal`: the first tab.
pub(super) async fn home() -> HttpResponse {
    see_other("portal/scim")
}

#[derive(Debug, Deserialize)]
pub(super) struct EnterQuery {
    link: Option<String>,
}

/// `GET /portal/enter?link=…`: moves the link's token out of the address bar into a short-lived
/// cookie, then shows the page that uses it.
pub(super) async fn enter_page(
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

/// `POST /portal/enter`: uses the link up and opens a session; the provisioning log records it.
pub(super) async fn enter(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PortalError> {
    super::throttled(&state, &req)?;
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
    entry.user_agent = crate::http::user_agent(req.headers());
    state.log.send(entry);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "scim"))
        .cookie(cookie(
            &state,
            SESSION_COOKIE,
            opened.cookie,
            service::SESSION_TTL,
        ))
        .cookie(removal(LINK_COOKIE))
        .finish())
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

/// `POST /portal/signout`.
pub(super) async fn sign_out(
    s: Signed,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PortalError> {
    s.check(&form.csrf)?;
    let page = pages::problem(
        &s.state.settings.portal,
        "Signed out",
        "You have left the portal. Open it again with a new setup link from your app.",
    );
    let Signed { state, session } = s;
    state.db.run(move |c| service::close(c, &session)).await?;
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::html())
        .cookie(removal(SESSION_COOKIE))
        .body(page.into_string()))
}
