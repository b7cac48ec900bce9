-- Outbound identity federation: the account's switch (no row until it is first enabled) and
-- its signing keys (one algorithm each: RS256 or ES384), the private keys sealed under the
-- master key like the built-in issuers' keys.

CREATE TABLE outbound_federation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    enabled BIGINT NOT NULL,
    changed BIGINT NOT NULL
);

CREATE TABLE outbound_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    sealed_pkcs8 BYTEA NOT NULL,
    created BIGINT NOT NULL,
    state TEXT NOT NULL,
    state_changed BIGINT NOT NULL
);
