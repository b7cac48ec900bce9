-- Outbound identity federation: the account's switch (no row until it is first enabled) and
-- its signing keys (one algorithm each: RS256 or ES384), the private keys sealed under the
-- master key like the built-in issuers' keys.

CREATE TABLE outbound_federation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER NOT NULL,
    changed INTEGER NOT NULL
);

CREATE TABLE outbound_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    sealed_pkcs8 BLOB NOT NULL,
    created INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_changed INTEGER NOT NULL
);
