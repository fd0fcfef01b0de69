//! What each finding means and how to fix it, in the words of the console the admin has open:
//! the steps are per identity provider where its console differs.

use serde::Serialize;

use super::{Idp, Kind};
use crate::scim::compat::ENTRA_COMPAT_DOC;

/// A finding explained for a person.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Advice {
    /// `error` when provisioning is failing, `warning` when it works in a worse way.
    pub severity: &'static str,
    pub title: &'static str,
    pub explanation: &'static str,
    /// The steps that fix it, in order.
    pub fix: Vec<&'static str>,
    /// Where the IdP documents it.
    pub source: Option<&'static str>,
}

/// The advice on a finding of `kind` whose traffic came from `idp`.
pub fn of(kind: Kind, idp: Idp) -> Advice {
    match kind {
        Kind::EntraLegacyDialect => Advice {
            severity: "warning",
            title: "Microsoft Entra ID is using its older SCIM dialect",
            explanation: "Entra ID sends PATCH operations spelled \"Replace\", \"Add\" and \
                \"Remove\", and sends active as the text \"True\" or \"False\". Scimitar accepts \
                them, but this is how Entra behaves in apps set up without the aadOptscim062020 \
                flag, which Microsoft documents as not compliant with SCIM: other parts of that \
                dialect change multi-valued attributes and group members in ways that go wrong \
                in some apps.",
            fix: vec![
                "In the Microsoft Entra admin center, open Enterprise applications and select \
                    this app.",
                "Open Provisioning. Under Admin Credentials, add ?aadOptscim062020 to the end \
                    of the Tenant URL (for example https://scim.example.com/scim/v2?aadOptscim062020).",
                "Select Test Connection, then Save. The next provisioning cycle uses the \
                    current SCIM dialect.",
            ],
            source: Some(ENTRA_COMPAT_DOC),
        },
        Kind::MembersInPut => Advice {
            severity: "warning",
            title: "Group memberships arrive as whole-group replacements",
            explanation: "The identity provider sends each group's complete member list in a \
                PUT request instead of PATCH changes. Scimitar applies it, but every push \
                rewrites the whole group: a member added in between is removed again, and large \
                groups are slow to sync.",
            fix: match idp {
                Idp::Okta => vec![
                    "In the Okta Admin Console, open Applications, select this app and open the \
                        Provisioning tab.",
                    "Check the integration's SCIM version: an app integration made from Okta's \
                        SCIM 2.0 template sends membership changes as PATCH; older connectors \
                        replace the group.",
                    "After changing the integration, open Push Groups and push the groups \
                        again.",
                ],
                _ => vec![
                    "In the identity provider's provisioning settings for this app, choose \
                        PATCH (incremental) updates for groups if it offers them.",
                ],
            },
            source: Some("https://developer.okta.com/docs/reference/scim/scim-20/"),
        },
        Kind::RevokedToken => Advice {
            severity: "error",
            title: "The identity provider still sends a token whose secret was regenerated",
            explanation: "Requests are refused with 401 because the token's secret was \
                regenerated, or its grace period after the regeneration has ended. Until the \
                identity provider has the new token, no user or group change reaches the app.",
            fix: match idp {
                Idp::JumpCloud => vec![
                    "In the JumpCloud Admin Portal, open SSO Applications, select this app and \
                        open the Identity Management tab.",
                    "Paste the current token into the Token Key field, then select Activate \
                        (or Update) and Save.",
                ],
                Idp::Okta => vec![
                    "In the Okta Admin Console, open Applications, select this app, then \
                        Provisioning > Integration > Edit.",
                    "Paste the current token as the API token (Bearer), select Test API \
                        Credentials, then Save.",
                ],
                Idp::Entra => vec![
                    "In the Microsoft Entra admin center, open Enterprise applications, select \
                        this app and open Provisioning.",
                    "Under Admin Credentials, paste the current token into Secret Token, select \
                        Test Connection, then Save.",
                ],
                _ => vec![
                    "Open this app's SCIM connection in the identity provider and paste the \
                        current token as the bearer token, then test and save the connection.",
                ],
            },
            source: None,
        },
        Kind::NoMemberships => Advice {
            severity: "warning",
            title: "Users arrive, but no group memberships",
            explanation: "The identity provider keeps creating users but has never sent a \
                group with members. Roles are mapped from groups, so these users get no role \
                in the app.",
            fix: match idp {
                Idp::JumpCloud => vec![
                    "JumpCloud provisions groups only for the user groups bound to the app: in \
                        the JumpCloud Admin Portal, open SSO Applications, select this app and \
                        bind the groups in its User Groups tab.",
                    "In the Identity Management tab, make sure \"Enable management of User \
                        Groups and Group Membership in this application\" is selected, then \
                        Save.",
                ],
                Idp::Okta => vec![
                    "In the Okta Admin Console, open Applications, select this app and open \
                        the Push Groups tab.",
                    "Push the groups whose members need a role (Push Groups > Find groups by \
                        name).",
                ],
                Idp::Entra => vec![
                    "In the Microsoft Entra admin center, open Enterprise applications, select \
                        this app and open Provisioning > Mappings.",
                    "Enable \"Provision Microsoft Entra ID Groups\", then assign the groups \
                        themselves (not only their users) under Users and groups.",
                ],
                _ => vec![
                    "In the identity provider, assign or push the groups to this app, not only \
                        their users, and turn on group provisioning.",
                ],
            },
            source: None,
        },
        Kind::UserNameMapping => Advice {
            severity: "error",
            title: "userName is empty, or the same for different people",
            explanation: "Users were refused because the userName they carry is missing, \
                blank, or already another user's in this directory. The identity provider's \
                attribute mapping for userName most likely points at a field that is empty for \
                some people or shared by several.",
            fix: match idp {
                Idp::JumpCloud => vec![
                    "JumpCloud sends each user's email (or username) as userName: make sure \
                        every user bound to this app has one, and that no two users share it.",
                ],
                Idp::Okta => vec![
                    "In the Okta Admin Console, open Applications, select this app, then \
                        Provisioning > To App > Attribute Mappings.",
                    "Map userName to an attribute every user has and no two users share, such \
                        as the Okta username.",
                ],
                Idp::Entra => vec![
                    "In the Microsoft Entra admin center, open Enterprise applications, select \
                        this app, then Provisioning > Mappings > Provision Microsoft Entra ID \
                        Users.",
                    "Map userName to userPrincipalName (or to mail only if every user has a \
                        unique one), then save and restart provisioning.",
                ],
                _ => vec![
                    "In the identity provider's attribute mappings for this app, map userName \
                        to a value every user has and no two users share.",
                ],
            },
            source: None,
        },
        Kind::RateLimited => Advice {
            severity: "warning",
            title: "The identity provider is slowed down by the rate limit",
            explanation: "Requests were answered 429 Too Many Requests because they came \
                faster than this tenant's rate limit allows. The identity provider retries them \
                later, so changes arrive late and a full sync takes longer.",
            fix: vec![
                "Ask the app's operator to raise the per-tenant rate limit \
                    (--tenant-rate-limit, SCIMITAR_TENANT_RATE_LIMIT) if this tenant's syncs \
                    are expected to be this busy.",
                "Otherwise nothing is lost: the identity provider retries each refused \
                    request.",
            ],
            source: None,
        },
        Kind::WebhookDisabled => Advice {
            severity: "error",
            title: "Events are no longer delivered to the app's webhook",
            explanation: "The app's webhook endpoint failed too many deliveries in a row, so \
                Scimitar switched it off. Users and groups still sync, but the app hears of no \
                change until the webhook is on again.",
            fix: vec![
                "Check that the webhook's URL answers with a 2xx status (the note says what it \
                    answered last).",
                "Switch the webhook on again (PUT /admin/v1/tenants/{id}/webhooks with \
                    \"enabled\": true). Delivery goes on from the first event it missed, as \
                    long as the events are kept.",
            ],
            source: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_fix_for_every_idp() {
        let idps = [
            Idp::Entra,
            Idp::Okta,
            Idp::JumpCloud,
            Idp::OneLogin,
            Idp::Google,
            Idp::Unknown,
        ];
        for kind in Kind::ALL {
            for idp in idps {
                let advice = of(kind, idp);
                assert!(!advice.fix.is_empty(), "{kind:?} {idp:?}");
                assert!(["error", "warning"].contains(&advice.severity));
            }
        }
    }
}
