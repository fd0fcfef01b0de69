//! The Attribute mapping tab: which SCIM attribute feeds each field of the app's view of a
//! user, with the standard fields' sources shown beside.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::pages::{self, AttributeForm, EMPTY_ROWS, Said};
use super::{Signed, html, see_other};
use crate::error::{PortalError, ScimError};
use crate::scim::mapping::{self, MAX_FIELDS};
use crate::service::admin as admin_service;

/// One row of the form: an app field, the SCIM attribute path, an optional default.
type Row = (String, String, String);

/// `GET /portal/attributes`: the Attribute mapping tab.
pub(super) async fn tab(s: Signed, req: HttpRequest) -> Result<HttpResponse, PortalError> {
    let current = admin_service::attribute_mapping(&s.state, &s.session.tenant).await?;
    let rows: Vec<Row> = current["fields"]
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(name, spec)| match spec {
                    Value::Object(o) => (
                        name.clone(),
                        o.get("from")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        o.get("default").map(scalar_text).unwrap_or_default(),
                    ),
                    other => (name.clone(), scalar_text(other), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let said = if req.query_string().contains("saved=1") {
        Said::Notice("The attribute mapping is saved; the app sees users through it now.")
    } else {
        Said::Nothing
    };
    render(&s, &rows, said)
}

fn render(s: &Signed, rows: &[Row], said: Said<'_>) -> Result<HttpResponse, PortalError> {
    let standard: Vec<(String, String)> = mapping::standard_sources()
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
        .unwrap_or_default();
    let form = AttributeForm {
        rows,
        standard: &standard,
        said,
    };
    Ok(html(pages::attributes(&s.frame(), &form)))
}

/// `POST /portal/attributes`: save the mapping the form holds.
pub(super) async fn submit(
    s: Signed,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PortalError> {
    s.check(form.get("csrf").map_or("", String::as_str))?;
    let field = |k: &str| form.get(k).map_or("", |v| v.trim()).to_owned();
    let rows: Vec<Row> = (0..MAX_FIELDS + EMPTY_ROWS)
        .map(|i| {
            (
                field(&format!("field_{i}")),
                field(&format!("from_{i}")),
                field(&format!("default_{i}")),
            )
        })
        .filter(|(f, p, d)| !(f.is_empty() && p.is_empty() && d.is_empty()))
        .collect();
    if let Some((f, p, _)) = rows.iter().find(|(f, p, _)| f.is_empty() || p.is_empty()) {
        let which = if f.is_empty() {
            format!("attribute “{p}”")
        } else {
            format!("field “{f}”")
        };
        let error = format!("The row with {which} needs both a field name and a SCIM attribute.");
        return render(&s, &rows, Said::Error(&error));
    }
    let mut fields = Map::new();
    for (name, from, default) in &rows {
        let spec = if default.is_empty() {
            Value::from(from.as_str())
        } else {
            json!({"from": from, "default": default})
        };
        fields.insert(name.clone(), spec);
    }
    match admin_service::set_attribute_mapping(
        &s.state,
        &s.session.tenant,
        json!({"fields": fields}),
    )
    .await
    {
        Ok(_) => Ok(see_other("attributes?saved=1")),
        Err(
            e @ (ScimError::InvalidValue(_)
            | ScimError::InvalidPath(_)
            | ScimError::InvalidFilter(_)
            | ScimError::LimitExceeded(_)),
        ) => render(&s, &rows, Said::Error(&e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// A JSON scalar as the form shows it.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
