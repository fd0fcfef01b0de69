//! The Provisioning log tab: the tenant's requests, newest first, filtered by outcome and period.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::pages::{self, LogFilter};
use super::{Signed, html, keyset_page};
use crate::error::PortalError;
use crate::scim::text;
use crate::service::{self, LogQuery, StatusFilter, now_millis};

/// Entries on one page of the log tab.
const LOG_PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub(super) struct LogParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    period: String,
    before: Option<String>,
}

/// `GET /portal/log`: the Provisioning log tab.
pub(super) async fn tab(s: Signed, q: web::Query<LogParams>) -> Result<HttpResponse, PortalError> {
    if q.before.as_deref().is_some_and(|c| !text::plausible_id(c)) {
        return Err(PortalError::BadForm(
            "this page of the log does not exist".into(),
        ));
    }
    let query = LogQuery {
        status: outcome(&q.status)?,
        since: period(&q.period)?.map(|p| now_millis() - p),
        until: None,
        before: q.before.clone(),
        // One more than shown tells whether older entries follow.
        limit: LOG_PAGE + 1,
    };
    let mut entries = service::portal::log_page(&s.state.db, &s.session.tenant, query).await?;
    let older = keyset_page(&mut entries, LOG_PAGE, |e| &e.id);
    let filter = LogFilter {
        status: &q.status,
        period: &q.period,
    };
    Ok(html(pages::log(&s.frame(), &filter, &entries, older)))
}

/// The outcomes the filter offers: any, or a status class.
fn outcome(choice: &str) -> Result<Option<StatusFilter>, PortalError> {
    match choice {
        "" => Ok(None),
        "2" => Ok(Some(StatusFilter::Class(2))),
        "4" => Ok(Some(StatusFilter::Class(4))),
        "5" => Ok(Some(StatusFilter::Class(5))),
        _ => Err(PortalError::BadForm(
            "choose one of the outcomes offered".into(),
        )),
    }
}

/// The periods the filter offers, in milliseconds back from now.
fn period(choice: &str) -> Result<Option<i64>, PortalError> {
    match choice {
        "" => Ok(None),
        "1h" => Ok(Some(3_600_000)),
        "24h" => Ok(Some(86_400_000)),
        "7d" => Ok(Some(7 * 86_400_000)),
        _ => Err(PortalError::BadForm(
            "choose one of the periods offered".into(),
        )),
    }
}
