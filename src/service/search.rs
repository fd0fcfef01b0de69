//! Queries: `GET /Users`, `GET /Groups`, and `POST …/.search` (RFC 7644 §3.4.2, §3.4.3), with
//! index and cursor pagination (RFC 9865).

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::resources::{render_few, render_rows};
use crate::error::ScimError;
use crate::scim::filter::{self, CheckedFilter};
use crate::scim::path::{AttrPath, Resolved, resolve};
use crate::scim::project::Projection;
use crate::scim::query::{Paging, SearchRequest, SortOrder, decode_cursor, encode_cursor};
use crate::scim::resource::{ListResponse, cursor_response, list_response};
use crate::scim::schema::{ResourceType, TenantSchemas};
use crate::state::AppState;
use crate::storage::AnyConnection;
use crate::storage::Scope;
use crate::storage::filter_sql::Compiler;
use crate::storage::models::ResourceRow;
use crate::storage::resources::{ListQuery, Window};
use crate::storage::sql::{SortKey, SqlFragment};
use crate::tenant::TenantId;

/// A search request checked against one resource type of a tenant's view.
#[derive(Debug, Clone)]
struct Plan<'s> {
    filter: Option<CheckedFilter<'s>>,
    sort: Option<(Resolved<'s>, SortOrder)>,
    paging: Paging,
    count: i64,
    view: Projection,
}

impl<'s> Plan<'s> {
    fn new(state: &AppState, rt: &'s ResourceType, req: &SearchRequest) -> Result<Self, ScimError> {
        let filter = req
            .filter
            .as_deref()
            .map(|f| filter::parse(f).and_then(|f| filter::check(f, rt)))
            .transpose()?;
        let sort = req
            .sort_by
            .as_deref()
            .map(|s| {
                let sort = AttrPath::parse(s)
                    .and_then(|p| resolve(rt, &p))
                    .map_err(|e| ScimError::InvalidValue(format!("sortBy: {e}")))?;
                if filter::never_returned(&sort) {
                    return Err(ScimError::InvalidValue(format!(
                        "sortBy: \"{sort}\" is never returned, so it cannot be sorted on"
                    )));
                }
                Ok((sort, req.sort_order))
            })
            .transpose()?;
        let limits = &state.settings;
        Ok(Self {
            filter,
            sort,
            paging: req.paging.clone(),
            // RFC 7644 §3.4.2.4: a negative count is 0; the server caps it.
            count: req
                .count
                .unwrap_or(limits.default_page_size)
                .clamp(0, limits.max_page_size),
            view: Projection::new(rt, &req.attributes, &req.excluded_attributes)?,
        })
    }

    /// The window this plan reads, from its paging and (for a cursor) where the last page ended.
    fn window(&self) -> Result<Window, ScimError> {
        let limit = self.count;
        match &self.paging {
            Paging::Index { start_index } => Ok(Window::Offset {
                offset: start_index - 1,
                limit,
            }),
            // Keyset paging in creation order; a sorted list pages by offset behind the cursor.
            Paging::Cursor(None) if self.sort.is_none() => Ok(Window::After {
                position: None,
                limit,
            }),
            Paging::Cursor(None) => Ok(Window::Offset { offset: 0, limit }),
            Paging::Cursor(Some(c)) => {
                let pos = decode_cursor(c).ok_or_else(invalid_cursor)?;
                match (
                    pos.get("c").and_then(Value::as_i64),
                    pos.get("i").and_then(Value::as_str),
                    pos.get("o").and_then(Value::as_i64),
                ) {
                    (Some(created), Some(id), None) if self.sort.is_none() => Ok(Window::After {
                        position: Some((created, id.to_owned())),
                        limit,
                    }),
                    (None, None, Some(offset)) if self.sort.is_some() && offset >= 0 => {
                        Ok(Window::Offset { offset, limit })
                    }
                    _ => Err(invalid_cursor()),
                }
            }
        }
    }
}

fn invalid_cursor() -> ScimError {
    ScimError::InvalidCursor(
        "the cursor is not one this server issued for this query; start again without a cursor value".into(),
    )
}

/// Runs a query against one resource type and renders the `ListResponse`.
pub async fn search(
    state: &AppState,
    tenant: &TenantId,
    rt: &Arc<ResourceType>,
    req: &SearchRequest,
) -> Result<ListResponse<Box<RawValue>>, ScimError> {
    let plan = Plan::new(state, rt, req)?;
    let window = plan.window()?;
    let compiler = Compiler::new(state.db.dialect(), tenant.as_str(), rt, &state.base_url);
    let filter = plan.filter.as_ref().map(|f| compiler.compile(f));
    let sort = match &plan.sort {
        Some((attr, order)) => Some((
            compiler.sort_key(attr).ok_or_else(|| {
                ScimError::InvalidValue(format!("sortBy: cannot sort on {attr}; choose a single-valued attribute such as userName or meta.created"))
            })?,
            *order == SortOrder::Descending,
        )),
        None => None,
    };
    let page = Page {
        unique: filter.as_ref().is_some_and(SqlFragment::is_unique),
        rt: rt.clone(),
        view: plan.view,
        paging: plan.paging,
        filter,
        sort,
        window,
        tenant: tenant.clone(),
        base: state.base_url.clone(),
    };
    // A lookup by a unique key (the `userName eq` an IdP sends before each write) reads at most
    // one row: like a read by id, it runs on the event loop unless that row has many links.
    if page.unique {
        let small = page.clone();
        if let Some(v) = state.db.read_by_key(move |c| small.run(c, true)).await? {
            return Ok(v);
        }
    }
    state
        .db
        .run(move |c| {
            page.run(c, false)?.ok_or_else(|| {
                ScimError::internal(anyhow::anyhow!("a page read in full did not render"))
            })
        })
        .await
}

/// One page of a search, compiled and ready to read.
#[derive(Clone)]
struct Page {
    rt: Arc<ResourceType>,
    view: Projection,
    paging: Paging,
    filter: Option<SqlFragment>,
    sort: Option<(SortKey, bool)>,
    window: Window,
    /// Whether the filter can match one row at most.
    unique: bool,
    tenant: TenantId,
    base: std::sync::Arc<str>,
}

impl Page {
    /// Reads and renders the page; with `few`, `None` when its rows carry too many links to
    /// render on an event loop (see [`render_few`]).
    fn run(
        &self,
        c: &mut AnyConnection,
        few: bool,
    ) -> Result<Option<ListResponse<Box<RawValue>>>, ScimError> {
        let scope = Scope::new(&self.tenant);
        let query = ListQuery {
            filter: self.filter.as_ref(),
            sort: self.sort.as_ref().map(|(k, d)| (k, *d)),
            window: self.window.clone(),
        };
        let (rt, view) = (&self.rt, &self.view);
        let listed = scope.list(c, rt.id, &query)?;
        let next = listed
            .has_more
            .then(|| next_cursor(&self.window, &listed.rows))
            .flatten();
        let rendered = if few {
            match render_few(&scope, c, rt, &self.base, listed.rows, view)? {
                Some(r) => r,
                None => return Ok(None),
            }
        } else {
            render_rows(&scope, c, rt, &self.base, listed.rows, view)?
        };
        let resources = rendered.into_iter().map(|r| r.body).collect();
        Ok(Some(match &self.paging {
            Paging::Index { start_index } => list_response(listed.total, *start_index, resources),
            Paging::Cursor(_) => cursor_response(listed.total, resources, next),
        }))
    }
}

/// Runs a query across every resource type (`POST /.search`): Users first, then Groups.
pub async fn search_all(
    state: &AppState,
    tenant: &TenantId,
    schemas: &TenantSchemas,
    req: &SearchRequest,
) -> Result<ListResponse<Box<RawValue>>, ScimError> {
    if req.sort_by.is_some() || matches!(req.paging, Paging::Cursor(_)) {
        return Err(ScimError::InvalidValue(
            "sortBy and cursor are not supported across resource types; search /Users/.search or /Groups/.search".into(),
        ));
    }
    let Paging::Index { start_index } = req.paging else {
        unreachable!("cursor paging was rejected above")
    };
    // A filter that does not fit a type (e.g. userName on Groups) selects nothing of it; one
    // that fits no type is the client's mistake.
    // Each type's filter compiled, its projection resolved: (type, filter, view).
    let mut plans = Vec::new();
    let mut first_error = None;
    let mut count = 0;
    for rt in schemas.types() {
        match Plan::new(state, rt, req) {
            Ok(p) => {
                count = p.count;
                let compiler =
                    Compiler::new(state.db.dialect(), tenant.as_str(), rt, &state.base_url);
                let filter = p.filter.as_ref().map(|f| compiler.compile(f));
                plans.push((rt.clone(), filter, p.view));
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if plans.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            ScimError::InvalidFilter("the filter fits no resource type".into())
        }));
    }
    let (tenant, base) = (tenant.clone(), state.base_url.clone());
    state
        .db
        .run(move |c| {
            let scope = Scope::new(&tenant);
            let (mut skip, mut room, mut total, mut resources) =
                (start_index - 1, count, 0, Vec::new());
            for (rt, filter, view) in &plans {
                let window = Window::Offset {
                    offset: skip,
                    limit: room,
                };
                let listed = scope.list(
                    c,
                    rt.id,
                    &ListQuery {
                        filter: filter.as_ref(),
                        sort: None,
                        window,
                    },
                )?;
                total += listed.total;
                skip = (skip - listed.total).max(0);
                room -= listed.rows.len() as i64;
                resources.extend(
                    render_rows(&scope, c, rt, &base, listed.rows, view)?
                        .into_iter()
                        .map(|r| r.body),
                );
            }
            Ok(list_response(total, start_index, resources))
        })
        .await
}

fn next_cursor(window: &Window, rows: &[ResourceRow]) -> Option<String> {
    let mut pos = Map::new();
    match window {
        Window::After { .. } => {
            let last = rows.last()?;
            pos.insert("c".into(), last.created_at.into());
            pos.insert("i".into(), last.id.clone().into());
        }
        Window::Offset { offset, .. } => {
            pos.insert("o".into(), (offset + rows.len() as i64).into());
        }
    }
    Some(encode_cursor(&pos))
}
