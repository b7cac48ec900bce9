//! Test databases: a fresh SQLite file, or a fresh PostgreSQL schema when
//! `KEYLESS_TEST_POSTGRES_URL` is set.

use std::sync::atomic::{AtomicU32, Ordering};

use keyless_store::{MasterKey, Store};
use sqlx::AnyPool;

const POSTGRES_URL_VAR: &str = "KEYLESS_TEST_POSTGRES_URL";

/// One isolated database, removed when dropped.
pub struct TestDb {
    /// The URL `Store::open` is given.
    pub url: String,
    /// The master key the database was first opened with.
    pub key: String,
    /// The SQLite file, for SQLite databases.
    pub sqlite_path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
    _postgres: Option<PostgresSchema>,
}

impl TestDb {
    /// A new SQLite database in a temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("keyless.db");
        TestDb {
            url: format!("sqlite:{}", path.display()),
            key: MasterKey::generate().to_base64(),
            sqlite_path: Some(path),
            _dir: Some(dir),
            _postgres: None,
        }
    }

    /// A new PostgreSQL schema, or `None` (after saying so) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
            println!("skipped: {POSTGRES_URL_VAR} is not set");
            return None;
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let schema = format!(
            "keyless_test_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::any::install_default_drivers();
        let admin = AnyPool::connect(&base)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{separator}options=-c%20search_path%3D{schema}"),
            key: MasterKey::generate().to_base64(),
            sqlite_path: None,
            _dir: None,
            _postgres: Some(PostgresSchema { base, schema }),
        })
    }

    /// Opens a store with this database's master key.
    pub async fn open(&self) -> Store {
        Store::open(&self.url, self.master_key())
            .await
            .expect("open store")
    }

    /// A fresh copy of the master key.
    pub fn master_key(&self) -> MasterKey {
        MasterKey::from_base64(&self.key).expect("valid key")
    }

    /// A direct connection pool, bypassing the store.
    pub async fn raw(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.url).await.expect("raw connection")
    }
}

struct PostgresSchema {
    base: String,
    schema: String,
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let base = self.base.clone();
        let schema = self.schema.clone();
        // Runs on its own thread and runtime so it also works while a test is unwinding.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let admin = AnyPool::connect(&base).await.expect("connect");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&admin)
                .await
                .expect("drop schema");
                admin.close().await;
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}

/// Runs a test case once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::support::TestDb::sqlite();
                    super::$case(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(db) = $crate::support::TestDb::postgres().await else {
                        return;
                    };
                    super::$case(&db).await;
                }
            }
        )*
    };
}
