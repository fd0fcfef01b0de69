//! What the app offers a tenant's users — its roles and entitlements — as the IdP reads them
//! at `/Roles` and `/Entitlements` (draft-ietf-scim-roles-entitlements-01 §3.2, §3.3, §3.3.2).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema::ResourceType;

/// One role or entitlement the app offers, as a tenant's admin configures it and as it is
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// What a user's `roles` or `entitlements` value holds, e.g. `Standard User`.
    pub value: String,
    /// What a person reads; the value when none is given.
    pub display: String,
    /// A label for its function, e.g. `Profile` (the draft's `type`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether it is the default, the one a user holds when given none: rendered
    /// `primary: true`, as the Salesforce connector sends `entitlements[primary=true]`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// Renders `offer` as a resource of `rt` (Role or Entitlement) with the stable `id` derived
/// from its value; `base` is the absolute SCIM base URL.
///
/// `supported` is true: the app offers only what its users can hold. Scimitar bounds no
/// number of holders, so `limitedAssignmentsPermitted` is false and the totals are left out
/// (the draft recommends them only for limited ones). The draft's hierarchy
/// (`contains`, `containedBy`) is not modelled, so neither appears.
pub fn render(rt: &ResourceType, id: &str, offer: &Offer, base: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), vec![rt.schema.id.to_string()].into());
    out.insert("id".into(), id.into());
    out.insert("value".into(), offer.value.as_str().into());
    out.insert("display".into(), offer.display.as_str().into());
    if let Some(kind) = &offer.kind {
        out.insert("type".into(), kind.as_str().into());
    }
    if offer.default {
        out.insert("primary".into(), true.into());
    }
    out.insert("supported".into(), true.into());
    out.insert("limitedAssignmentsPermitted".into(), false.into());
    out.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": rt.id,
            "location": format!("{base}{}/{id}", rt.endpoint),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::ENTITLEMENT_RESOURCE;

    #[test]
    fn the_default_is_the_primary_one() {
        let offer = Offer {
            value: "Standard User".into(),
            display: "Standard User".into(),
            kind: Some("Profile".into()),
            default: true,
        };
        assert_eq!(
            render(&ENTITLEMENT_RESOURCE, "e1", &offer, "https://x/scim/v2"),
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Entitlement"],
                "id": "e1",
                "value": "Standard User",
                "display": "Standard User",
                "type": "Profile",
                "primary": true,
                "supported": true,
                "limitedAssignmentsPermitted": false,
                "meta": {"resourceType": "Entitlement", "location": "https://x/scim/v2/Entitlements/e1"},
            })
        );
        let stored: Offer = serde_json::from_value(
            serde_json::json!({"value": "Read Only", "display": "Read Only"}),
        )
        .expect("an offer");
        assert!(!stored.default && stored.kind.is_none());
    }
}
