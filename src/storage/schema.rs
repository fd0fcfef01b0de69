//! Table definitions shared by both backends (portable types: Text ids, BigInt epoch
//! milliseconds, Text JSON). Kept in step with `migrations/` by the migration tests.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        tenant_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    resources (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        resource_type -> Text,
        user_name_lc -> Nullable<Text>,
        external_id -> Nullable<Text>,
        display_name_lc -> Nullable<Text>,
        active -> Nullable<Bool>,
        email_lc -> Nullable<Text>,
        display -> Nullable<Text>,
        created_at -> BigInt,
        modified_at -> BigInt,
        version -> BigInt,
        password_hash -> Nullable<Text>,
        doc -> Text,
    }
}

diesel::table! {
    members (tenant_id, group_id, member_id) {
        tenant_id -> Text,
        group_id -> Text,
        member_id -> Text,
    }
}

diesel::joinable!(credentials -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(tenants, credentials, resources, members);
