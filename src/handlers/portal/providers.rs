//! The directory providers the SCIM Provisioning tab offers, each with its own setup steps, as
//! its public documentation describes them.

/// One identity provider's way of connecting to this endpoint.
pub struct Provider {
    /// The `provider=` value of its page.
    pub key: &'static str,
    pub name: &'static str,
    /// What the provider's console calls the two values it needs.
    pub url_label: &'static str,
    pub token_label: &'static str,
    /// Appended to the endpoint URL shown for this provider (Entra's SCIM 2.0 compliance flag).
    pub url_suffix: &'static str,
    pub steps: &'static [&'static str],
    /// Something the admin should know before starting.
    pub note: Option<&'static str>,
}

/// JumpCloud first: the provider this product was built for.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        key: "jumpcloud",
        name: "JumpCloud",
        url_label: "Base URL",
        token_label: "Token Key",
        url_suffix: "",
        steps: &[
            "In the JumpCloud Admin Portal, open SSO Applications and click “+ Add New Application”.",
            "Search for an application name that does not exist to create a custom application, click “Next”, and select “Export users to this app (Identity Management)”.",
            "Enter a display name (for example the name of this app) and click “Save Application”.",
            "Click “Configure Application”: the Identity Management tab opens. Paste the Endpoint URL below as the Base URL and the secret below as the Token Key.",
            "Click “Activate”, then “Save”. JumpCloud sends a test request: the checklist on this page shows it arrive.",
            "JumpCloud provisions through groups: open the application's User Groups tab, bind the groups whose users should reach this app, and click “Save”. Users added to those groups later are provisioned too.",
        ],
        note: Some(
            "JumpCloud only provisions users who are members of a user group bound to the application.",
        ),
    },
    Provider {
        key: "okta",
        name: "Okta",
        url_label: "SCIM connector base URL",
        token_label: "Bearer token (HTTP Header authentication)",
        url_suffix: "",
        steps: &[
            "In the Okta Admin Console, open Applications → Applications and select this app's integration (or create one with Create App Integration → SAML 2.0 or OIDC).",
            "On the General tab, click Edit under App Settings, set Provisioning to SCIM and save.",
            "On the Provisioning tab, under Integration, click Edit: paste the Endpoint URL below as the SCIM connector base URL, set Unique identifier field for users to userName, and tick Push New Users, Push Profile Updates and Push Groups.",
            "Choose HTTP Header as the authentication mode and paste the secret below as the bearer token. Click Test Connector Configuration, then Save.",
            "Under Provisioning → To App, click Edit and enable Create Users, Update User Attributes and Deactivate Users.",
            "Assign people or groups on the Assignments tab, and push groups on the Push Groups tab.",
        ],
        note: None,
    },
    Provider {
        key: "entra",
        name: "Microsoft Entra ID",
        url_label: "Tenant URL",
        token_label: "Secret Token",
        url_suffix: "?aadOptscim062020",
        steps: &[
            "In the Microsoft Entra admin center, open Enterprise applications → New application → Create your own application, name it and choose “Integrate any other application you don't find in the gallery (Non-gallery)”.",
            "Open the application's Provisioning page, click Get started and set Provisioning Mode to Automatic.",
            "Under Admin Credentials, paste the Endpoint URL below as the Tenant URL (it ends in ?aadOptscim062020, which makes Entra follow SCIM 2.0 for group memberships) and the secret below as the Secret Token.",
            "Click Test Connection, then Save.",
            "Under Mappings, check the user and group attribute mappings (userName from userPrincipalName is the default).",
            "Assign users and groups on the Users and groups page, set Provisioning Status to On and save. Entra provisions in cycles of about 40 minutes; “Provision on demand” sends one user at once.",
        ],
        note: Some(
            "Keep ?aadOptscim062020 on the Tenant URL: without it Entra removes group members in a way SCIM 2.0 does not define.",
        ),
    },
    Provider {
        key: "onelogin",
        name: "OneLogin",
        url_label: "SCIM Base URL",
        token_label: "SCIM Bearer Token",
        url_suffix: "",
        steps: &[
            "In the OneLogin admin portal, open Applications → Add App and choose “SCIM Provisioner with SAML (SCIM v2 Core)”; name it and save.",
            "On the Configuration tab, paste the Endpoint URL below as the SCIM Base URL and the secret below as the SCIM Bearer Token; set SCIM JSON Template to the default for SCIM v2 Core.",
            "Under API Connection, click Enable, then Save.",
            "On the Provisioning tab, tick Enable provisioning and choose whether creating, deleting and suspending users needs an admin's approval; save.",
            "Give users access through the Users tab or roles; OneLogin provisions them to this app.",
        ],
        note: None,
    },
    Provider {
        key: "google",
        name: "Google Workspace",
        url_label: "Endpoint URL",
        token_label: "Access token",
        url_suffix: "",
        steps: &[
            "In the Google Admin console, open Apps → Web and mobile apps and select this app (it must be one of the apps Google supports for automatic provisioning).",
            "Click Configure auto-provisioning. Where Google asks for the app's endpoint and token, paste the Endpoint URL and the secret below.",
            "Map the attributes Google asks for (the primary email as userName), choose the provisioning scope (all users, or a group) and the deprovisioning behaviour, then Finish.",
            "Turn Auto-provisioning on for the app.",
        ],
        note: Some(
            "Google Workspace provisions only to apps in its catalogue of auto-provisioning apps; a custom SAML app cannot push users by SCIM.",
        ),
    },
    Provider {
        key: "generic",
        name: "Generic SCIM 2.0",
        url_label: "SCIM base URL",
        token_label: "Bearer token",
        url_suffix: "",
        steps: &[
            "In your identity provider, add a SCIM 2.0 provisioning connection (RFC 7643 and 7644).",
            "Use the Endpoint URL below as the base URL: Users are at /Users, Groups at /Groups, and the server describes itself at /ServiceProviderConfig, /Schemas and /ResourceTypes.",
            "Authenticate with the secret below as an OAuth bearer token: the header “Authorization: Bearer <secret>”.",
            "Users are matched by userName (case-insensitive) or externalId; groups by displayName. PATCH, filters (eq, co, sw, and, or, not), sorting and paging are supported.",
        ],
        note: None,
    },
];

/// The provider a page asks for, JumpCloud when it asks for none or for one unknown.
pub fn find(key: Option<&str>) -> &'static Provider {
    key.and_then(|k| PROVIDERS.iter().find(|p| p.key == k))
        .unwrap_or(&PROVIDERS[0])
}
