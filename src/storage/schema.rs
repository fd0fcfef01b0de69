//! Table definitions shared by both backends (portable types: Text ids, BigInt epoch
//! milliseconds, Text JSON). Kept in step with `migrations/` by the migration tests.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
        event_seq -> BigInt,
        default_role -> Nullable<Text>,
        attribute_mapping -> Nullable<Text>,
        schema_version -> BigInt,
        unknown_extensions -> Text,
        entitlements -> Nullable<Text>,
        mode -> Text,
        mode_since -> Nullable<BigInt>,
        shadow_of -> Nullable<Text>,
    }
}

diesel::table! {
    tenant_schemas (tenant_id, urn) {
        tenant_id -> Text,
        urn -> Text,
        resource_type -> Text,
        document -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    unique_values (tenant_id, resource_type, attribute, value_key) {
        tenant_id -> Text,
        resource_type -> Text,
        attribute -> Text,
        value_key -> Text,
        resource_id -> Text,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        tenant_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        schema_version -> BigInt,
        mode -> Text,
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
        user_name_key -> Nullable<Text>,
    }
}

diesel::table! {
    resource_counts (tenant_id, resource_type) {
        tenant_id -> Text,
        resource_type -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    members (tenant_id, group_id, member_id) {
        tenant_id -> Text,
        group_id -> Text,
        member_id -> Text,
        display -> Nullable<Text>,
    }
}

diesel::table! {
    events (tenant_id, seq) {
        tenant_id -> Text,
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        occurred_at -> BigInt,
        data -> Text,
    }
}

diesel::table! {
    role_mappings (tenant_id, group_ref, role) {
        tenant_id -> Text,
        group_ref -> Text,
        role -> Text,
    }
}

diesel::table! {
    event_cursors (tenant_id, consumer) {
        tenant_id -> Text,
        consumer -> Text,
        handled_seq -> BigInt,
        failures -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    connection_findings (tenant_id, kind) {
        tenant_id -> Text,
        kind -> Text,
        state -> Text,
        idp -> Text,
        seen -> BigInt,
        first_seen -> BigInt,
        last_seen -> BigInt,
        opened_at -> Nullable<BigInt>,
        resolved_at -> Nullable<BigInt>,
        evidence -> Text,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    webhooks (tenant_id) {
        tenant_id -> Text,
        url -> Text,
        secret -> Text,
        enabled -> Bool,
        delivered_seq -> BigInt,
        failures -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
        created_at -> BigInt,
        format -> Text,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        private_key -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    set_acks (tenant_id, seq) {
        tenant_id -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    webhook_attempts (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        event_seq -> BigInt,
        attempted_at -> BigInt,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    provisioning_log (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        at -> BigInt,
        method -> Text,
        path -> Text,
        status -> Integer,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        latency_ms -> BigInt,
        scim_type -> Nullable<Text>,
        detail -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        skeleton_id -> Nullable<Text>,
        shape_hashes -> Nullable<Text>,
    }
}

diesel::table! {
    log_skeletons (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        skeleton -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    log_shape_keys (id) {
        id -> Text,
        secret -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    portal_links (id) {
        id -> Text,
        tenant_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    portal_sessions (id) {
        id -> Text,
        tenant_id -> Text,
        link_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::joinable!(credentials -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    credentials,
    resources,
    resource_counts,
    members,
    events,
    event_cursors,
    connection_findings,
    role_mappings,
    webhooks,
    webhook_attempts,
    signing_keys,
    set_acks,
    provisioning_log,
    log_skeletons,
    log_shape_keys,
    portal_links,
    portal_sessions,
    tenant_schemas,
    unique_values,
);
