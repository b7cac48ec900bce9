-- Initial schema (SQLite).

CREATE TABLE store_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    key_check BLOB
);
INSERT INTO store_state (id, generation, key_check) VALUES (1, 0, NULL);

CREATE TABLE oidc_providers (
    url TEXT PRIMARY KEY NOT NULL,
    client_ids TEXT NOT NULL,
    thumbprints TEXT NOT NULL,
    key_source TEXT NOT NULL,
    condition_keys TEXT NOT NULL,
    allow_insecure_http INTEGER NOT NULL,
    ca_bundle TEXT,
    tags TEXT NOT NULL,
    created INTEGER NOT NULL,
    managed_by TEXT NOT NULL
);

CREATE TABLE roles (
    name TEXT PRIMARY KEY NOT NULL,
    path TEXT NOT NULL,
    role_id TEXT NOT NULL UNIQUE,
    trust_policy TEXT NOT NULL,
    description TEXT,
    max_session_duration INTEGER NOT NULL,
    tags TEXT NOT NULL,
    created INTEGER NOT NULL,
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
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    managed_by TEXT NOT NULL,
    next_version INTEGER NOT NULL
);
CREATE UNIQUE INDEX managed_policies_name_case_insensitive ON managed_policies (lower(name));

CREATE TABLE policy_versions (
    policy_name TEXT NOT NULL REFERENCES managed_policies (name),
    version_number INTEGER NOT NULL,
    version_id TEXT NOT NULL,
    document TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (policy_name, version_id)
);

CREATE TABLE role_policy_attachments (
    role_name TEXT NOT NULL REFERENCES roles (name),
    policy_name TEXT NOT NULL REFERENCES managed_policies (name),
    policy_arn TEXT NOT NULL,
    PRIMARY KEY (role_name, policy_name)
);

CREATE TABLE sealing_keys (
    id INTEGER PRIMARY KEY NOT NULL,
    sealed_key BLOB NOT NULL,
    created INTEGER NOT NULL,
    state TEXT NOT NULL
);

CREATE TABLE issuer_keys (
    issuer TEXT NOT NULL,
    kid TEXT NOT NULL,
    sealed_pkcs8 BLOB NOT NULL,
    created INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_changed INTEGER NOT NULL,
    PRIMARY KEY (issuer, kid)
);

CREATE TABLE admin_credentials (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    access_key_id TEXT NOT NULL,
    sealed_secret BLOB NOT NULL
);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded INTEGER NOT NULL,
    event TEXT NOT NULL
);
