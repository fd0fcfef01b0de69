//! A PATCH path (RFC 7644 §3.5.2, Figure 7): an attribute path with an optional value filter,
//! parsed from the client's text. Shared by the PATCH engine and the IdP quirk fixes.

use std::fmt;

use super::Violation;
use super::filter::{self, CheckedFilter, Filter};
use super::path::{AttrPath, Resolved, resolve};
use super::schema::ResourceType;

/// A PATCH path, `PATH = attrPath / valuePath [subAttr]` (RFC 7644 §3.5.2, Figure 7), as
/// written by the client and not yet resolved against a resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with the sub-attribute the operation targets: `name.givenName`, and also
    /// the `.value` of `emails[type eq "work"].value`.
    pub attr: AttrPath,
    /// The value filter between the brackets, which selects values of a multi-valued attribute.
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// Resolves the path against `rt`: the attribute (and sub-attribute) it names, and its value
    /// filter checked as the whole `attr[filter]`, which only a multi-valued attribute may have.
    pub fn resolve<'s>(
        &self,
        rt: &'s ResourceType,
    ) -> Result<(Resolved<'s>, Option<CheckedFilter<'s>>), Violation> {
        let at = resolve(rt, &self.attr).map_err(|e| Violation::InvalidPath(e.to_string()))?;
        let filter = match &self.filter {
            None => None,
            Some(_) if !at.attr.multi_valued => {
                return Err(Violation::InvalidPath(format!(
                    "{} has one value, so the path {self} cannot select values with a filter",
                    at.attr.name
                )));
            }
            Some(f) => {
                let whole = Filter::ValuePath {
                    attr: AttrPath {
                        sub: None,
                        ..self.attr.clone()
                    },
                    filter: Box::new(f.clone()),
                };
                Some(filter::check(whole, rt).map_err(|e| {
                    Violation::InvalidFilter(format!("the value filter in {self} is invalid: {e}"))
                })?)
            }
        };
        Ok((at, filter))
    }

    /// Parses `userName`, `name.givenName`, `urn:…:User:manager.value`,
    /// `members[value eq "…"]` or `addresses[type eq "work"].streetAddress`.
    pub fn parse(text: &str) -> Result<PatchPath, Violation> {
        if !text.contains('[') {
            let attr = AttrPath::parse(text).map_err(|e| Violation::InvalidPath(e.to_string()))?;
            return Ok(PatchPath { attr, filter: None });
        }
        // What may follow the "]" is "." and a sub-attribute name, which holds no "]"; so the
        // last "]" closes the filter, whatever brackets the filter's strings contain.
        let end = text.rfind(']').map_or(text.len(), |i| i + 1);
        let (value_path, rest) = text.split_at(end);
        let parsed = filter::parse(value_path).map_err(|e| {
            Violation::InvalidFilter(format!(
                "the value filter in the path {text:?} is invalid: {e}"
            ))
        })?;
        let invalid = |why: &str| Violation::InvalidPath(format!("the path {text:?} {why}"));
        let Filter::ValuePath { mut attr, filter } = parsed else {
            return Err(invalid(
                "must name one attribute, with at most one value filter such as emails[type eq \"work\"]",
            ));
        };
        if attr.sub.is_some() {
            return Err(invalid(
                "puts a value filter on a sub-attribute; filters select values of a whole attribute, as in emails[type eq \"work\"].value",
            ));
        }
        if !rest.is_empty() {
            let sub = rest.strip_prefix('.').map(AttrPath::parse);
            let Some(Ok(AttrPath {
                urn: None,
                name,
                sub: None,
            })) = sub
            else {
                return Err(invalid(
                    "may only have \".\" and a sub-attribute name after the \"]\"",
                ));
            };
            attr.sub = Some(name);
        }
        Ok(PatchPath {
            attr,
            filter: Some(*filter),
        })
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(filter) = &self.filter else {
            return self.attr.fmt(f);
        };
        if let Some(urn) = &self.attr.urn {
            write!(f, "{urn}:")?;
        }
        write!(f, "{}[{filter}]", self.attr.name)?;
        if let Some(sub) = &self.attr.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
