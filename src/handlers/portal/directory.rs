//! The Users and Groups tabs: what the IdP has synced, with groups and effective roles.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::pages::{self, UserLine};
use super::{Signed, html, keyset_page, next_start};
use crate::error::PortalError;
use crate::scim::query::{Paging, SearchRequest};
use crate::scim::schema::{ResourceType, TenantSchemas};
use crate::scim::text;
use crate::service::admin as admin_service;
use crate::service::portal as service;
use crate::service::search;

/// Users on one page of the Users tab.
const USER_PAGE: i64 = 50;
/// Groups on one page of the Groups tab.
const GROUP_PAGE: i64 = 50;
/// Members on one page of a group.
const MEMBER_PAGE: i64 = 100;

#[derive(Debug, Deserialize)]
pub(super) struct UserParams {
    #[serde(default)]
    q: String,
    start: Option<i64>,
}

/// `GET /portal/users`: the Users tab, searched by name or e-mail.
pub(super) async fn users(
    s: Signed,
    q: web::Query<UserParams>,
) -> Result<HttpResponse, PortalError> {
    let query = q.q.trim();
    let start = q.start.unwrap_or(1).max(1);
    let search = SearchRequest {
        filter: (!query.is_empty()).then(|| name_or_email(query)),
        sort_by: Some("userName".into()),
        paging: Paging::Index { start_index: start },
        count: Some(USER_PAGE),
        ..SearchRequest::default()
    };
    let found = admin_service::users(&s.state, &s.session.tenant, &search).await?;
    let total = found["totalResults"].as_i64().unwrap_or(0);
    let lines: Vec<UserLine> = found["users"]
        .as_array()
        .map(|a| a.iter().map(user_line).collect())
        .unwrap_or_default();
    let next = next_start(start, lines.len(), total, USER_PAGE);
    Ok(html(pages::users(
        &s.frame(),
        query,
        total,
        start,
        &lines,
        next,
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
        groups: strings(elements(&u["groups"]).map(|g| &g["display"])),
        roles: strings(elements(&u["roles"])),
        last_modified: text(&u["meta"]["lastModified"]),
    }
}

/// The strings among these values.
fn strings<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<String> {
    values
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The elements of a JSON array; none of anything else.
fn elements(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

#[derive(Debug, Deserialize)]
pub(super) struct GroupsParams {
    start: Option<i64>,
}

/// `GET /portal/groups`: the Groups tab, with member counts and mapped roles.
pub(super) async fn groups(
    s: Signed,
    q: web::Query<GroupsParams>,
) -> Result<HttpResponse, PortalError> {
    let start = q.start.unwrap_or(1).max(1);
    let search = SearchRequest {
        sort_by: Some("displayName".into()),
        paging: Paging::Index { start_index: start },
        count: Some(GROUP_PAGE),
        excluded_attributes: vec!["members".into()],
        ..SearchRequest::default()
    };
    let groups = TenantSchemas::built_in().resource_type(ResourceType::holding_members());
    let page = search::search(&s.state, &s.session.tenant, &groups, &search).await?;
    let listed: Vec<(String, String)> = page
        .resources
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(r.get()).ok())
        .map(|g| {
            let text = |k: &str| g[k].as_str().unwrap_or_default().to_owned();
            (text("id"), text("displayName"))
        })
        .collect();
    let tenant = s.session.tenant.clone();
    let lines = s
        .state
        .db
        .run(move |c| service::group_lines(c, &tenant, listed))
        .await?;
    let next = next_start(start, lines.len(), page.total_results, GROUP_PAGE);
    Ok(html(pages::groups(
        &s.frame(),
        page.total_results,
        &lines,
        next,
    )))
}

#[derive(Debug, Deserialize)]
pub(super) struct GroupParams {
    id: String,
    after: Option<String>,
}

/// `GET /portal/group?id=…`: one group's members, a page at a time.
pub(super) async fn group(
    s: Signed,
    q: web::Query<GroupParams>,
) -> Result<HttpResponse, PortalError> {
    let q = q.into_inner();
    let no_such_group = || PortalError::NotFound("there is no such group".into());
    if !text::plausible_id(&q.id) || q.after.as_deref().is_some_and(|a| !text::plausible_id(a)) {
        return Err(no_such_group());
    }
    let tenant = s.session.tenant.clone();
    let found = s
        .state
        .db
        .run(move |c| {
            service::group_members(c, &tenant, &q.id, q.after.as_deref(), MEMBER_PAGE + 1)
        })
        .await?;
    let (line, mut members) = found.ok_or_else(no_such_group)?;
    let next = keyset_page(&mut members, MEMBER_PAGE, |m| &m.id);
    Ok(html(pages::group(
        &s.frame(),
        &line,
        &members,
        next.as_deref(),
    )))
}
