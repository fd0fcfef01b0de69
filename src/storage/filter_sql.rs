//! Compiles a checked SCIM filter to a SQL predicate over `resources`.
//!
//! Hot attributes (id, externalId, userName, displayName, active, meta.*) use their extracted,
//! indexed columns (`userName eq`/`ne` its comparison key, as uniqueness does); everything else
//! reads the stored JSON; memberships read the `members` table. Client values only ever become
//! bind parameters: the SQL text holds nothing but schema-defined names. Every predicate is
//! two-valued (never NULL), so `not` means what it means in memory
//! ([`crate::scim::filter::matches`]), and the property tests hold both to the same answers.

use super::sql::{Part, SortKey, SqlFragment};

use crate::scim::filter::{CheckedFilter, CheckedNode, CompareOp, Operand};
use crate::scim::fold_case;
use crate::scim::path::{Owner, Resolved};
use crate::scim::schema::{AttrType, AttributeDef, Links, ResourceType};
use crate::scim::user_name;

/// A single value in SQL.
struct Scalar {
    expr: String,
    /// The column already holds the value case-folded.
    folded: bool,
    /// The value is JSON text (PostgreSQL's `->>`), so booleans and numbers need a cast.
    json: bool,
    /// The column of the value's comparison key, which `eq` and `ne` compare instead
    /// (userName: [`user_name::key`]).
    key: Option<&'static str>,
}

impl Scalar {
    fn column(expr: impl Into<String>, folded: bool) -> Self {
        Self {
            expr: expr.into(),
            folded,
            json: false,
            key: None,
        }
    }

    fn json(expr: String) -> Self {
        Self {
            expr,
            folded: false,
            json: true,
            key: None,
        }
    }
}

pub use super::sql::Dialect;

/// The filter compiler for one request.
pub struct Compiler<'a> {
    dialect: Dialect,
    tenant_id: &'a str,
    rt: &'a ResourceType,
    base_url: &'a str,
}

impl<'a> Compiler<'a> {
    /// A compiler for filters over `rt` in `tenant_id`; `base_url` is the SCIM base URL that
    /// `meta.location` and `$ref` values start with.
    pub fn new(
        dialect: Dialect,
        tenant_id: &'a str,
        rt: &'a ResourceType,
        base_url: &'a str,
    ) -> Self {
        Self {
            dialect,
            tenant_id,
            rt,
            base_url,
        }
    }

    /// The predicate for `filter`.
    pub fn compile(&self, filter: &CheckedFilter) -> SqlFragment {
        let mut out = SqlFragment::default();
        self.node(filter.root(), None, &mut out);
        // One comparison (the lookups IdPs send before each write) compiles to one of a few
        // texts per attribute and operator: its statement may stay prepared.
        let single =
            |n: &CheckedNode| matches!(n, CheckedNode::Compare { .. } | CheckedNode::Present(_));
        match filter.root() {
            // userName is unique per tenant, and only users have its key: `userName eq` finds
            // at most one user. `userName eq null` asks for those without one instead.
            CheckedNode::Compare {
                attr,
                op: CompareOp::Eq,
                value,
            } if user_name::is_user_name(attr) && !matches!(value, Operand::Null) => match value {
                Operand::Str(want) => out.bounded().by_user_name_key(user_name::key(want)),
                _ => out.bounded().unique(),
            },
            n if single(n) => out.bounded(),
            CheckedNode::ValuePath { filter, .. } if single(filter) => out.bounded(),
            _ => out,
        }
    }

    /// `elem` is the value path's element alias when compiling inside `attr[...]`.
    fn node(&self, node: &CheckedNode, elem: Option<Elem>, out: &mut SqlFragment) {
        match node {
            CheckedNode::Not(inner) => {
                out.sql("(NOT ");
                self.node(inner, elem, out);
                out.sql(")");
            }
            CheckedNode::And(l, r) | CheckedNode::Or(l, r) => {
                out.sql("(");
                self.node(l, elem, out);
                out.sql(if matches!(node, CheckedNode::And(..)) {
                    " AND "
                } else {
                    " OR "
                });
                self.node(r, elem, out);
                out.sql(")");
            }
            CheckedNode::ValuePath { attr, filter } => {
                self.elements(attr, out, |out, e| self.node(filter, Some(e), out))
            }
            CheckedNode::Present(attr) => {
                self.test(attr, elem, out, &|c, out, s, def| c.present(s, def, out))
            }
            CheckedNode::Compare {
                attr,
                op,
                value: Operand::Null,
            } => {
                // RFC 7643 §2.5: "eq null" asks for an unassigned attribute, "ne null" for an assigned one.
                if *op == CompareOp::Eq {
                    out.sql("(NOT ");
                }
                self.test(attr, elem, out, &|c, out, s, def| c.present(s, def, out));
                if *op == CompareOp::Eq {
                    out.sql(")");
                }
            }
            CheckedNode::Compare { attr, op, value } => {
                self.test(attr, elem, out, &|c, out, s, def| {
                    c.compare(s, def, *op, value, out)
                })
            }
        }
    }

    /// Applies a scalar test to the value(s) `attr` reaches: directly for a single value, as
    /// "any element" for a multi-valued attribute.
    fn test(&self, attr: &Resolved, elem: Option<Elem>, out: &mut SqlFragment, f: &ScalarTest<'_>) {
        let leaf = attr.leaf();
        if let Some(e) = elem {
            let scalar = self.element_scalar(e, leaf);
            return f(self, out, &scalar, leaf);
        }
        if attr.attr.multi_valued && attr.attr.is_complex() {
            return self.elements(attr, out, |out, e| match attr.sub {
                Some(sub) => f(self, out, &self.element_scalar(e, sub), sub),
                None => {
                    out.sql("1 = 1");
                }
            });
        }
        match self.special(attr) {
            Some(Special::Schemas) => self.schemas(attr, out, f),
            Some(Special::Meta(sub)) => f(self, out, &self.meta(sub), leaf),
            Some(Special::Column(scalar)) => f(self, out, &scalar, leaf),
            None => {
                if leaf.is_complex() {
                    // A single-valued complex attribute is present when its object is stored
                    // (validation drops empty ones); nothing else reaches here (check()).
                    out.sql(format!(
                        "({} IS NOT NULL)",
                        self.json_node(&json_path(attr))
                    ));
                } else {
                    f(
                        self,
                        out,
                        &Scalar::json(self.json_text(&json_path(attr))),
                        leaf,
                    )
                }
            }
        }
    }

    /// `EXISTS` one element of a multi-valued attribute for which `inner` holds.
    fn elements(
        &self,
        attr: &Resolved,
        out: &mut SqlFragment,
        inner: impl FnOnce(&mut SqlFragment, Elem),
    ) {
        // Where a membership is read from, seen from the resource being filtered.
        let links = (matches!(attr.owner, Owner::Core(_))
            && attr.attr.name == self.rt.links.attribute())
        .then_some(self.rt.links);
        if let Some(links) = links {
            // An IN over the members table, so `members[value eq "…"]` is an index lookup.
            let (own, other) = match links {
                Links::Members => ("group_id", "member_id"),
                Links::Groups => ("member_id", "group_id"),
            };
            out.sql(format!(
                "(resources.id IN (SELECT m.{own} FROM members m JOIN resources l \
                 ON l.tenant_id = m.tenant_id AND l.id = m.{other} WHERE m.tenant_id = "
            ));
            out.text(self.tenant_id).sql(" AND ");
            inner(out, Elem::Link(links));
            out.sql("))");
            return;
        }
        let path = json_path(&Resolved { sub: None, ..*attr });
        match self.dialect {
            Dialect::Sqlite => out.sql(format!("EXISTS (SELECT 1 FROM json_each(resources.doc, '{}') e WHERE ", sqlite_path(&path))),
            Dialect::Postgres => out.sql(format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(resources.doc_json #> '{}', '[]'::jsonb)) e(v) WHERE ",
                pg_path(&path)
            )),
        };
        inner(out, Elem::Json);
        out.sql(")");
    }

    fn element_scalar(&self, e: Elem, sub: &AttributeDef) -> Scalar {
        let expr = match (e, &*sub.name) {
            (Elem::Json, name) => {
                return Scalar::json(match self.dialect {
                    Dialect::Sqlite => format!("json_extract(e.value, '$.\"{name}\"')"),
                    Dialect::Postgres => format!("(e.v ->> '{name}')"),
                });
            }
            (Elem::Link(Links::Members), "value") => "m.member_id".into(),
            (Elem::Link(Links::Members), "type") => "l.resource_type".into(),
            (Elem::Link(Links::Groups), "value") => "m.group_id".into(),
            (Elem::Link(Links::Groups), "type") => "'direct'".into(),
            // A member's display is the one stored with the membership; a group's is its name.
            (Elem::Link(Links::Members), "display") => "m.display".into(),
            (Elem::Link(Links::Groups), "display") => "l.display".into(),
            (Elem::Link(links), _) => {
                // $ref: the base URL is configuration, spliced as a quoted literal like a name.
                let id = match links {
                    Links::Members => "m.member_id",
                    Links::Groups => "m.group_id",
                };
                format!(
                    "({} || CASE l.resource_type WHEN 'User' THEN '/Users/' ELSE '/Groups/' END || {id})",
                    quote(self.base_url)
                )
            }
        };
        Scalar::column(expr, false)
    }

    fn special<'s>(&self, attr: &Resolved<'s>) -> Option<Special<'s>> {
        let column = |expr: &str, folded| Some(Special::Column(Scalar::column(expr, folded)));
        match (attr.owner, &*attr.attr.name, attr.sub.map(|s| &*s.name)) {
            (Owner::Common, "schemas", _) => Some(Special::Schemas),
            (Owner::Common, "id", _) => column("resources.id", false),
            (Owner::Common, "externalId", _) => column("resources.external_id", false),
            (Owner::Common, "meta", Some(sub)) => Some(Special::Meta(sub)),
            _ if user_name::is_user_name(attr) => Some(Special::Column(Scalar {
                key: Some("resources.user_name_key"),
                ..Scalar::column("resources.user_name_lc", true)
            })),
            (Owner::Core(_), "displayName", None) => column("resources.display_name_lc", true),
            (Owner::Core(_), "active", None) if self.rt.indexed.contains(&"active") => {
                column("resources.active", false)
            }
            _ => None,
        }
    }

    /// `schemas` is computed: the core schema always, an extension when its object is stored.
    fn schemas(&self, attr: &Resolved, out: &mut SqlFragment, f: &ScalarTest<'_>) {
        // Each candidate URN is tested by the same scalar test on a literal; the literal is a
        // schema URN, so splicing it is as safe as splicing an attribute name.
        out.sql("(");
        for (i, schema) in self.rt.schemas().enumerate() {
            if i > 0 {
                out.sql(" OR ");
            }
            out.sql("(");
            if schema.id != self.rt.schema.id {
                out.sql(format!(
                    "{} IS NOT NULL AND ",
                    self.json_node(&[&*schema.id])
                ));
            }
            f(
                self,
                out,
                &Scalar::column(quote(&schema.id), false),
                attr.leaf(),
            );
            out.sql(")");
        }
        out.sql(")");
    }

    fn meta(&self, sub: &str) -> Scalar {
        let expr = match sub {
            "created" => "resources.created_at".to_owned(),
            "lastModified" => "resources.modified_at".to_owned(),
            "resourceType" => "resources.resource_type".to_owned(),
            "version" => "('W/\"' || resources.version || '\"')".to_owned(),
            _ => format!(
                "({} || resources.id)",
                quote(&format!("{}{}/", self.base_url, self.rt.endpoint))
            ),
        };
        Scalar::column(expr, false)
    }

    /// The sort key of `attr` (RFC 7644 §3.4.2.3): folded unless caseExact, ordered bytewise;
    /// a multi-valued attribute sorts by its primary value, else its first. `None` when the
    /// attribute cannot be sorted on (complex, or held outside the document).
    pub fn sort_key(&self, attr: &Resolved) -> Option<SortKey> {
        // `emails` sorts by `emails.value`, as a filter on `emails` compares `emails.value`.
        let with_value = Resolved {
            sub: attr.attr.sub_attribute("value"),
            ..*attr
        };
        let attr = if attr.attr.multi_valued && attr.sub.is_none() {
            &with_value
        } else {
            attr
        };
        let leaf = attr.leaf();
        if leaf.is_complex() {
            return None;
        }
        // Users always have a userName (validation requires it); meta values are columns every
        // resource has.
        let mut nullable = !user_name::is_user_name(attr);
        let scalar = if attr.attr.multi_valued {
            if self.special(attr).is_some() || matches!(&*attr.attr.name, "members" | "groups") {
                return None;
            }
            Scalar::json(self.primary_or_first(attr))
        } else {
            match self.special(attr) {
                Some(Special::Column(s)) => s,
                Some(Special::Meta(sub)) => {
                    nullable = false;
                    self.meta(sub)
                }
                Some(Special::Schemas) => return None,
                None => Scalar::json(self.json_text(&json_path(attr))),
            }
        };
        let is_text = matches!(
            leaf.ty,
            AttrType::String | AttrType::Reference | AttrType::Binary
        );
        let expr = match (is_text, leaf.case_exact || scalar.folded) {
            (true, false) => self.ordered(&self.fold(&scalar.expr)),
            (true, true) => self.ordered(&scalar.expr),
            (false, _) => scalar.expr,
        };
        Some(SortKey {
            // One text per sortable attribute: its statements may stay prepared.
            expr: SqlFragment::raw(expr).bounded(),
            nullable,
        })
    }

    /// The value of `attr`'s sub-attribute in its primary element, else its first element.
    fn primary_or_first(&self, attr: &Resolved) -> String {
        let array = json_path(&Resolved { sub: None, ..*attr });
        let sub = attr.sub.map_or("value", |s| &*s.name);
        match self.dialect {
            Dialect::Sqlite => format!(
                "(SELECT json_extract(e.value, '$.\"{sub}\"') FROM json_each(resources.doc, '{}') e \
                 ORDER BY json_extract(e.value, '$.\"primary\"') IS NOT 1, e.key LIMIT 1)",
                sqlite_path(&array)
            ),
            Dialect::Postgres => format!(
                "(SELECT e.v ->> '{sub}' FROM jsonb_array_elements(COALESCE(resources.doc_json #> '{}', '[]'::jsonb)) \
                 WITH ORDINALITY e(v, n) ORDER BY (e.v ->> 'primary') IS DISTINCT FROM 'true', e.n LIMIT 1)",
                pg_path(&array)
            ),
        }
    }

    fn present(&self, s: &Scalar, def: &AttributeDef, out: &mut SqlFragment) {
        match def.ty {
            AttrType::String | AttrType::Reference | AttrType::Binary => {
                out.sql(format!("({e} IS NOT NULL AND {e} <> '')", e = s.expr))
            }
            _ => out.sql(format!("({} IS NOT NULL)", s.expr)),
        };
    }

    fn compare(
        &self,
        s: &Scalar,
        def: &AttributeDef,
        op: CompareOp,
        value: &Operand,
        out: &mut SqlFragment,
    ) {
        let e = &s.expr;
        if let (Some(key), Operand::Str(want), CompareOp::Eq | CompareOp::Ne) = (s.key, value, op) {
            out.sql(format!("({key} IS NOT NULL AND {key} {} ", sql_op(op)))
                .text(user_name::key(want))
                .sql(")");
            return;
        }
        match value {
            Operand::Str(want) => {
                let (x, want) = if def.case_exact {
                    (e.clone(), want.clone())
                } else if s.folded {
                    (e.clone(), fold_case(want))
                } else {
                    (self.fold(e), fold_case(want))
                };
                out.sql(format!("({e} IS NOT NULL AND "));
                match op {
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew if want.is_empty() => {
                        out.sql("1 = 1")
                    }
                    CompareOp::Co => match self.dialect {
                        Dialect::Sqlite => out.sql(format!("instr({x}, ")).text(want).sql(") > 0"),
                        Dialect::Postgres => {
                            out.sql(format!("strpos({x}, ")).text(want).sql(") > 0")
                        }
                    },
                    CompareOp::Sw => {
                        if !s.json {
                            // The same prefix as a range of the bytewise order, which an index
                            // on the column serves; the substr test below stays the definition.
                            let o = self.ordered(&x);
                            out.sql(format!("{o} >= ")).text(want.clone());
                            if let Some(next) = prefix_successor(&want) {
                                out.sql(format!(" AND {o} < ")).text(next);
                            }
                            out.sql(" AND ");
                        }
                        out.sql(format!("substr({x}, 1, length("))
                            .text(want.clone())
                            .sql(")) = ")
                            .text(want)
                    }
                    CompareOp::Ew => out
                        .sql(format!("substr({x}, length({x}) - length("))
                        .text(want.clone())
                        .sql(") + 1) = ")
                        .text(want),
                    // Equality keeps the column's own collation so its index serves.
                    CompareOp::Eq | CompareOp::Ne => {
                        out.sql(format!("{x} {} ", sql_op(op))).text(want)
                    }
                    CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => out
                        .sql(format!("{} {} ", self.ordered(&x), sql_op(op)))
                        .text(want),
                };
                out.sql(")");
            }
            Operand::Bool(want) => {
                let x = match self.dialect {
                    Dialect::Postgres if s.json => format!("({e})::boolean"),
                    _ => e.clone(),
                };
                out.sql(format!("({e} IS NOT NULL AND {x} {} ", sql_op(op)));
                out.parts.push(Part::Bool(*want));
                out.sql(")");
            }
            Operand::Num(want) => {
                let x = match self.dialect {
                    Dialect::Postgres if s.json => format!("({e})::float8"),
                    _ => e.clone(),
                };
                out.sql(format!("({e} IS NOT NULL AND {x} {} ", sql_op(op)));
                out.parts
                    .push(Part::Double(want.as_f64().unwrap_or(f64::NAN)));
                out.sql(")");
            }
            Operand::DateTime(want) => {
                // Columns hold milliseconds; compare exactly against a nanosecond instant.
                let nanos = i128::from(want.unix_seconds()) * 1_000_000_000
                    + i128::from(want.subsec_nanos());
                let floor = i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX);
                let exact = nanos.rem_euclid(1_000_000) == 0;
                let (sql_op, bound) = match (op, exact) {
                    (CompareOp::Eq, false) => return void(out, "1 = 0"),
                    (CompareOp::Ne, false) => return void(out, "1 = 1"),
                    (CompareOp::Ge, false) => (">", floor),
                    (CompareOp::Lt, false) => ("<=", floor),
                    (op, _) => (sql_op(op), floor),
                };
                out.sql(format!("({e} {sql_op} "));
                out.parts.push(Part::Int(bound));
                out.sql(")");
            }
            Operand::Null => self.present(s, def, out),
        }
    }

    /// A string expression folded like [`fold_case`], ordered bytewise.
    fn fold(&self, e: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("lower({e})"),
            Dialect::Postgres => format!("lower(({e}) COLLATE \"C\")"),
        }
    }

    /// A string expression ordered bytewise, as Rust orders strings (SQLite's default).
    fn ordered(&self, e: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => e.to_owned(),
            Dialect::Postgres => format!("(({e}) COLLATE \"C\")"),
        }
    }

    /// The JSON text value at `path` in the stored document.
    fn json_text(&self, path: &[&str]) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("json_extract(resources.doc, '{}')", sqlite_path(path)),
            Dialect::Postgres => format!("(resources.doc_json #>> '{}')", pg_path(path)),
        }
    }

    /// The JSON node at `path` (NULL when absent).
    fn json_node(&self, path: &[&str]) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("json_type(resources.doc, '{}')", sqlite_path(path)),
            Dialect::Postgres => format!("(resources.doc_json #> '{}')", pg_path(path)),
        }
    }
}

type ScalarTest<'t> = dyn Fn(&Compiler<'_>, &mut SqlFragment, &Scalar, &AttributeDef) + 't;

#[derive(Debug, Clone, Copy)]
enum Elem {
    /// An element of a JSON array, aliased `e`.
    Json,
    /// A membership row `m` joined to the linked resource `l`.
    Link(Links),
}

enum Special<'s> {
    Schemas,
    Meta(&'s str),
    Column(Scalar),
}

fn void(out: &mut SqlFragment, sql: &str) {
    out.sql(format!("({sql})"));
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq | CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
    }
}

/// The stored-document path of an attribute: its extension URN, its name, its sub-attribute.
fn json_path<'s>(attr: &Resolved<'s>) -> Vec<&'s str> {
    let mut path = Vec::with_capacity(3);
    if let Owner::Extension(s) = attr.owner {
        path.push(&*s.id);
    }
    path.push(&*attr.attr.name);
    path.extend(attr.sub.map(|s| &*s.name));
    path
}

fn sqlite_path(path: &[&str]) -> String {
    path.iter()
        .fold(String::from("$"), |acc, k| format!("{acc}.\"{k}\""))
}

fn pg_path(path: &[&str]) -> String {
    format!(
        "{{{}}}",
        path.iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// The least string above every string that starts with `prefix` in bytewise order (UTF-8
/// orders code points), or `None` when every string above the prefix starts with it.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value; only the surrogate gap is skipped.
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A SQL string literal of trusted text (schema names, configuration).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn the_prefix_successor_bounds_every_string_with_the_prefix() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        for (prefix, s) in [("ab", "ab"), ("ab", "ab\u{10FFFF}\u{10FFFF}"), ("é", "éz")] {
            let next = prefix_successor(prefix).expect("bounded");
            assert!(
                s.starts_with(prefix) && prefix <= s && s < next.as_str(),
                "{s}"
            );
        }
        assert!("ac" >= prefix_successor("ab").expect("bounded").as_str());
    }
}
