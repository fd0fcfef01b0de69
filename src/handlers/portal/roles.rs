//! The Role mapping tab: groups to roles and a default role, previewed before saving.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};

use super::pages::{self, EMPTY_ROWS, RoleForm, Said};
use super::{Signed, html, see_other};
use crate::app_roles;
use crate::error::{PortalError, ScimError};
use crate::service::admin::{self as admin_service, Mapping, RoleMappings};
use crate::service::portal::{self as service, Preview};

/// Synced group names offered when choosing a mapping's group.
const GROUP_CHOICES: i64 = 500;

/// The mapping as the form holds it: (group, role) rows and the default role ("" for none).
struct Draft {
    mappings: Vec<(String, String)>,
    default_role: String,
}

impl Draft {
    fn default_role(&self) -> Option<String> {
        Some(self.default_role.clone()).filter(|d| !d.is_empty())
    }
}

/// `GET /portal/roles`: the Role mapping tab.
pub(super) async fn tab(s: Signed, req: HttpRequest) -> Result<HttpResponse, PortalError> {
    let current = admin_service::role_mappings(&s.state, &s.session.tenant).await?;
    let draft = Draft {
        mappings: current
            .mappings
            .into_iter()
            .map(|m| (m.group, m.role))
            .collect(),
        default_role: current.default_role.unwrap_or_default(),
    };
    let said = if req.query_string().contains("saved=1") {
        Said::Notice("The role mapping is saved; users' roles follow it now.")
    } else {
        Said::Nothing
    };
    render(&s, &draft, None, said).await
}

async fn render(
    s: &Signed,
    draft: &Draft,
    preview: Option<&Preview>,
    said: Said<'_>,
) -> Result<HttpResponse, PortalError> {
    let groups = service::group_names(&s.state.db, &s.session.tenant, GROUP_CHOICES).await?;
    let roles = match &s.state.roles {
        Some(catalog) => Some(app_roles::offered(catalog, &s.session.tenant).await?),
        None => None,
    };
    let form = RoleForm {
        mappings: &draft.mappings,
        default_role: &draft.default_role,
        groups: &groups,
        roles: roles.as_deref(),
        preview,
        said,
    };
    Ok(html(pages::roles(&s.frame(), &form)))
}

/// `POST /portal/roles`: preview or save the mapping the form holds.
pub(super) async fn submit(
    s: Signed,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PortalError> {
    s.check(form.get("csrf").map_or("", String::as_str))?;
    let field = |k: &str| form.get(k).map_or("", |v| v.trim());
    // Rows are numbered from 0; the form offers the saved rows and a few empty ones.
    let rows = s.state.settings.max_role_mappings + EMPTY_ROWS;
    let draft = Draft {
        mappings: (0..rows)
            .map(|i| (field(&format!("group_{i}")), field(&format!("role_{i}"))))
            .filter(|(g, r)| !g.is_empty() || !r.is_empty())
            .map(|(g, r)| (g.to_owned(), r.to_owned()))
            .collect(),
        default_role: field("default_role").to_owned(),
    };
    if let Some((g, r)) = draft
        .mappings
        .iter()
        .find(|(g, r)| g.is_empty() || r.is_empty())
    {
        let which = if g.is_empty() {
            format!("role “{r}”")
        } else {
            format!("group “{g}”")
        };
        let error = format!("The row with {which} needs both a group and a role.");
        return render(&s, &draft, None, Said::Error(&error)).await;
    }
    match field("action") {
        "preview" => {
            let (tenant, pairs, default) = (
                s.session.tenant.clone(),
                draft.mappings.clone(),
                draft.default_role(),
            );
            let preview = s
                .state
                .db
                .run(move |c| service::preview(c, &tenant, &pairs, default.as_deref()))
                .await?;
            render(&s, &draft, Some(&preview), Said::Nothing).await
        }
        "save" => {
            let new = RoleMappings {
                default_role: draft.default_role(),
                mappings: draft
                    .mappings
                    .iter()
                    .map(|(group, role)| Mapping {
                        group: group.clone(),
                        role: role.clone(),
                    })
                    .collect(),
            };
            match admin_service::set_role_mappings(&s.state, &s.session.tenant, new).await {
                Ok(_) => Ok(see_other("roles?saved=1")),
                Err(e @ (ScimError::InvalidValue(_) | ScimError::LimitExceeded(_))) => {
                    render(&s, &draft, None, Said::Error(&e.to_string())).await
                }
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(PortalError::BadForm("choose Preview or Save".into())),
    }
}
