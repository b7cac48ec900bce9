//! Persistent state on SQLite or PostgreSQL: providers, roles, policies, keys and admin credentials, with secrets encrypted at rest.
