//! The SCIM Provisioning tab: what the connection diagnosis found, the providers' steps, the
//! endpoint, the secret and the connection checklist.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::pages::{self, Revealed};
use super::{Signed, html, providers, see_other};
use crate::diagnosis::{self, Kind};
use crate::error::{PortalError, ScimError};
use crate::service::modes;
use crate::service::now_millis;
use crate::service::portal as service;
use crate::service::tenants;
use crate::tenant::Mode;

/// The grace periods the secret form offers, in seconds.
const GRACES: [u64; 4] = [0, 3600, 86_400, 604_800];

#[derive(Debug, Deserialize)]
pub(super) struct ProviderQuery {
    provider: Option<String>,
}

/// `GET /portal/scim`: the SCIM Provisioning tab.
pub(super) async fn tab(
    s: Signed,
    q: web::Query<ProviderQuery>,
) -> Result<HttpResponse, PortalError> {
    render(&s, q.provider.as_deref(), None, None).await
}

async fn render(
    s: &Signed,
    provider: Option<&str>,
    revealed: Option<&Revealed<'_>>,
    form_error: Option<&str>,
) -> Result<HttpResponse, PortalError> {
    let tenant = s.session.tenant.clone();
    let connection = s
        .state
        .db
        .run(move |c| service::connection(c, &tenant))
        .await?;
    let report = diagnosis::report(&s.state.db, &s.session.tenant).await?;
    let (db, tenant) = (s.state.db.clone(), s.session.tenant.clone());
    let (mode, dry_run) = web::block(move || {
        let mode = modes::get(&db, tenant.as_str())?;
        let diff = match mode.mode {
            Mode::DryRun => Some(modes::diff(&db, tenant.as_str())?),
            Mode::Live | Mode::Paused => None,
        };
        Ok::<_, ScimError>((mode, diff))
    })
    .await
    .map_err(ScimError::internal)??;
    Ok(html(pages::scim(
        &s.frame(),
        providers::find(provider),
        &s.state.base_url,
        &pages::Diagnosis {
            connection: &connection,
            report: &report,
            mode: &mode,
            dry_run: dry_run.as_ref(),
        },
        revealed,
        form_error,
    )))
}

#[derive(Debug, Deserialize)]
pub(super) struct ModeForm {
    csrf: String,
    action: String,
}

/// `POST /portal/mode`: starts a dry run, pauses, resumes, or promotes or discards a dry run.
pub(super) async fn mode(
    s: Signed,
    form: web::Form<ModeForm>,
) -> Result<HttpResponse, PortalError> {
    s.check(&form.csrf)?;
    let (db, tenant, base) = (
        s.state.db.clone(),
        s.session.tenant.clone(),
        s.state.base_url.clone(),
    );
    let action = form.action.clone();
    web::block(move || match action.as_str() {
        "dry_run" => modes::set(&db, tenant.as_str(), Mode::DryRun).map(drop),
        "pause" => modes::set(&db, tenant.as_str(), Mode::Paused).map(drop),
        "resume" => modes::set(&db, tenant.as_str(), Mode::Live).map(drop),
        "promote" => modes::promote(&db, tenant.as_str(), &base).map(drop),
        "discard" => modes::discard(&db, tenant.as_str()).map(drop),
        _ => Err(ScimError::InvalidValue(
            "choose one of the actions offered".into(),
        )),
    })
    .await
    .map_err(ScimError::internal)??;
    Ok(see_other("scim"))
}

#[derive(Debug, Deserialize)]
pub(super) struct DismissForm {
    csrf: String,
    kind: String,
}

/// `POST /portal/findings`: marks a finding fixed; it opens again if the traffic shows it again.
pub(super) async fn dismiss(
    s: Signed,
    form: web::Form<DismissForm>,
) -> Result<HttpResponse, PortalError> {
    s.check(&form.csrf)?;
    let kind = Kind::named(&form.kind)
        .ok_or_else(|| PortalError::BadForm("there is no such finding".into()))?;
    // Already resolved (twice submitted, or fixed meanwhile) is what was asked for.
    diagnosis::dismiss(&s.state.db, &s.session.tenant, kind).await?;
    Ok(see_other("scim"))
}

#[derive(Debug, Deserialize)]
pub(super) struct SecretForm {
    csrf: String,
    grace: u64,
    confirm: Option<String>,
}

/// `POST /portal/secret`: a new SCIM secret, shown once; the old one works on for the grace
/// period chosen.
pub(super) async fn regenerate(
    s: Signed,
    q: web::Query<ProviderQuery>,
    form: web::Form<SecretForm>,
) -> Result<HttpResponse, PortalError> {
    s.check(&form.csrf)?;
    let provider = q.provider.as_deref();
    if form.confirm.as_deref() != Some("yes") {
        let error = "Tick the box to confirm: the current secret stops working.";
        return render(&s, provider, None, Some(error)).await;
    }
    if !GRACES.contains(&form.grace) {
        return Err(PortalError::BadForm(
            "choose one of the grace periods offered".into(),
        ));
    }
    let grace = (form.grace > 0).then(|| Duration::from_secs(form.grace));
    let (db, tenant) = (s.state.db.clone(), s.session.tenant.clone());
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
    render(&s, provider, Some(&revealed), None).await
}
