//! The Webhooks tab: where the app hears of changes, the signing secret, the deliveries, and
//! resending from an event.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::pages::{self, Said};
use super::{Signed, html, see_other};
use crate::error::{PortalError, ScimError};
use crate::service::admin::{self as admin_service, WebhookInput};

/// `GET /portal/webhooks`: the Webhooks tab.
pub(super) async fn tab(s: Signed) -> Result<HttpResponse, PortalError> {
    render(&s, None, Said::Nothing).await
}

async fn render(
    s: &Signed,
    secret: Option<&str>,
    said: Said<'_>,
) -> Result<HttpResponse, PortalError> {
    let listed = admin_service::webhooks(&s.state, &s.session.tenant).await?;
    Ok(html(pages::webhooks(
        &s.frame(),
        listed["webhooks"].get(0),
        secret,
        said,
    )))
}

#[derive(Debug, Deserialize)]
pub(super) struct WebhookForm {
    csrf: String,
    #[serde(default)]
    url: String,
    enabled: Option<String>,
    rotate_secret: Option<String>,
    seq: Option<i64>,
    action: String,
}

/// `POST /portal/webhooks`: save, remove, or resend from an event.
pub(super) async fn submit(
    s: Signed,
    form: web::Form<WebhookForm>,
) -> Result<HttpResponse, PortalError> {
    s.check(&form.csrf)?;
    let (state, tenant) = (&s.state, &s.session.tenant);
    match form.action.as_str() {
        "remove" => match admin_service::delete_webhook(state, tenant).await {
            Ok(()) | Err(ScimError::NotFound(_)) => Ok(see_other("webhooks")),
            Err(e) => Err(e.into()),
        },
        "save" => {
            let input = WebhookInput {
                url: form.url.clone(),
                enabled: form.enabled.as_deref() == Some("yes"),
                rotate_secret: form.rotate_secret.as_deref() == Some("yes"),
                // The portal keeps a webhook's format; the admin API sets it.
                format: None,
            };
            match admin_service::put_webhook(state, tenant, input).await {
                Ok(saved) => render(&s, saved["secret"].as_str(), Said::Nothing).await,
                Err(ScimError::InvalidValue(e)) => render(&s, None, Said::Error(&e)).await,
                Err(e) => Err(e.into()),
            }
        }
        "resend" => {
            let seq = form
                .seq
                .ok_or_else(|| PortalError::BadForm("choose an event to resend".into()))?;
            match admin_service::resend_from(state, tenant, seq).await {
                Ok(()) => {
                    let notice = format!(
                        "Event {seq} and every later one will be delivered again, in order."
                    );
                    render(&s, None, Said::Notice(&notice)).await
                }
                Err(ScimError::InvalidValue(e)) => render(&s, None, Said::Error(&e)).await,
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(PortalError::BadForm("choose Save, Remove or Resend".into())),
    }
}
