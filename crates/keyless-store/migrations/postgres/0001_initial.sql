-- Initial schema (PostgreSQL).

CREATE TABLE store_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    key_check BYTEA
);
INSERT INTO store_state (id, generation, key_check) VALUES (1, 0, NULL);

CREATE TABLE oidc_providers (
    url TEXT PRIMARY KEY NOT NULL,
    client_ids TEXT NOT NULL,
    thumbprints TEXT NOT NULL,
    key_source TEXT NOT NULL,
    condition_keys TEXT NOT NULL,
    allow_insecure_http BIGINT NOT NULL,
    ca_bundle TEXT,
    tags TEXT NOT NULL,
    created BIGINT NOT NULL,
    managed_by TEXT NOT NULL
);

CREATE TABLE roles (
    name TEXT PRIMARY KEY NOT NULL,
    path TEXT NOT NULL,
    role_id TEXT NOT NULL UNIQUE,
    trust_policy TEXT NOT NULL,
    description TEXT,
    max_session_duration BIGINT NOT NULL,
    tags TEXT NOT NULL,
    created BIGINT NOT NULL,
    managed_by TEXT NOT NULL
);
CREATE UNIQUE INDEX roles_name_case_insensitive ON roles (lower(name));

CREATE TABLE role_policies (
    role_name TEXT NOT NULL REFERENCES roles (name),
    policy_name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (role_name, policy_name)
);

CREATE TABLE managed_policies (
    name TEXT PRIMARY KEY NOT NULL,
    path TEXT NOT NULL,
    policy_id TEXT NOT NULL UNIQUE,
    description TEXT,
    tags TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    managed_by TEXT NOT NULL,
    next_version BIGINT NOT NULL
);
CREATE UNIQUE INDEX managed_policies_name_case_insensitive ON managed_policies (lower(name));

CREATE TABLE policy_versions (
    policy_name TEXT NOT NULL REFERENCES managed_policies (name),
    version_number BIGINT NOT NULL,
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (policy_name, version_id)
);

CREATE TABLE role_policy_attachments (
    role_name TEXT NOT NULL REFERENCES roles (name),
    policy_name TEXT NOT NULL REFERENCES managed_policies (name),
    policy_arn TEXT NOT NULL,
    PRIMARY KEY (role_name, policy_name)
);

CREATE TABLE sealing_keys (
    id BIGINT PRIMARY KEY NOT NULL,
    sealed_key BYTEA NOT NULL,
    created BIGINT NOT NULL,
    state TEXT NOT NULL
);

CREATE TABLE issuer_keys (
    issuer TEXT NOT NULL,
    kid TEXT NOT NULL,
    sealed_pkcs8 BYTEA NOT NULL,
    created BIGINT NOT NULL,
    state TEXT NOT NULL,
    state_changed BIGINT NOT NULL,
    PRIMARY KEY (issuer, kid)
);

CREATE TABLE admin_credentials (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    access_key_id TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL
);

CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded BIGINT NOT NULL,
    event TEXT NOT NULL
);
