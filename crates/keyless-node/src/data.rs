//! The data directory and first-start bootstrap: the master key, the database, and the keys
//! and admin credentials created at first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use keyless_credentials::{ids, session};
use keyless_oidc::issuer::SigningKey;
use keyless_store::{
    AdminCredentials, IssuerKeyRecord, KeyState, MasterKey, SealingKeyRecord, Store,
};

/// Where the state is.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// The data directory (SQLite database, master key, admin credentials file).
    pub data_dir: PathBuf,
    /// A database URL overriding the SQLite file in the data directory.
    pub database: Option<String>,
}

impl DataOptions {
    /// The database URL in use.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join(DATABASE_FILE).display()),
        }
    }

    /// The file the admin credentials are written to at first start.
    pub fn admin_file(&self) -> PathBuf {
        self.data_dir.join("admin-credentials")
    }
}

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "KEYLESS_MASTER_KEY";
/// The environment variables that give the admin pair at first start.
pub const ADMIN_KEY_ID_ENV: &str = "KEYLESS_ADMIN_ACCESS_KEY_ID";
/// See [`ADMIN_KEY_ID_ENV`].
pub const ADMIN_SECRET_ENV: &str = "KEYLESS_ADMIN_SECRET_ACCESS_KEY";

/// Creates the data directory (mode 0700) and opens the database with the master key from
/// `KEYLESS_MASTER_KEY` or the data directory's `master.key` (created at first start, 0600).
pub async fn open_store(opts: &DataOptions) -> anyhow::Result<Store> {
    create_private_dir(&opts.data_dir)?;
    let master = match std::env::var(MASTER_KEY_ENV) {
        Ok(text) => MasterKey::from_base64(text.trim())
            .map_err(|e| anyhow::anyhow!("{MASTER_KEY_ENV}: {e}"))?,
        Err(_) => {
            let path = opts.data_dir.join("master.key");
            let (key, created) = MasterKey::load_or_create(&path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if created {
                tracing::info!(path = %path.display(), "generated a new master key");
            }
            key
        }
    };
    let url = opts.database_url();
    if opts.database.is_none() {
        // SQLite gives the journal files the database file's mode: create it private.
        create_private_file(&opts.data_dir.join(DATABASE_FILE))?;
    }
    let store = Store::open(&url, master)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", redact_url(&url)))?;
    secure_files(&opts.data_dir)?;
    Ok(store)
}

/// The SQLite database file in the data directory.
const DATABASE_FILE: &str = "keyless.db";

/// Hides a password in a database URL.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates the data directory with mode 0700, or narrows an existing one to 0700 and says so.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    restrict(dir, 0o700)
}

/// Creates `path` empty with mode 0600 if it does not exist.
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))
}

/// Narrows every file of the data directory to mode 0600 (the database and its journals, the
/// keys, the runtime file, the audit log), saying which ones were wider.
fn secure_files(dir: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            restrict(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

/// Sets `path` to `mode` when it grants more (group or other bits), with a warning.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            anyhow::anyhow!(
                "{} has mode {current:o}, wider than {mode:o}, and cannot be narrowed: {e}",
                path.display()
            )
        })?;
        tracing::warn!(
            path = %path.display(),
            "mode {current:o} was wider than {mode:o}: narrowed to {mode:o}"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// Makes sure a current sealing key exists.
pub(crate) async fn ensure_sealing_key(store: &Store, now: i64) -> anyhow::Result<()> {
    let candidate = session::generate_sealing_key(1, now);
    let record = SealingKeyRecord {
        id: candidate.id,
        key: candidate.key,
        created: now,
        state: KeyState::Current,
    };
    store.ensure_initial_sealing_key(&record).await?;
    Ok(())
}

/// Makes sure the built-in issuer `name` has a current signing key.
pub(crate) async fn ensure_issuer_key(store: &Store, name: &str, now: i64) -> anyhow::Result<()> {
    let key = SigningKey::generate()?;
    let record = IssuerKeyRecord {
        issuer: name.to_owned(),
        kid: key.kid().to_owned(),
        pkcs8_der: key.to_pkcs8_der(),
        created: now,
        state: KeyState::Current,
        state_changed: now,
    };
    store.ensure_initial_issuer_key(&record).await?;
    Ok(())
}

/// The admin credentials, and whether they were created by this call.
pub(crate) struct AdminInit {
    /// The stored pair.
    pub credentials: AdminCredentials,
    /// Whether this start created them.
    pub created: bool,
}

/// Makes sure admin credentials exist: the pair from `KEYLESS_ADMIN_ACCESS_KEY_ID` /
/// `KEYLESS_ADMIN_SECRET_ACCESS_KEY` at first start, else a generated `AKIA…` pair. When the
/// environment gives a pair that differs from the stored one, start-up fails rather than
/// leaving an operator with credentials that do not work.
pub(crate) async fn ensure_admin(store: &Store) -> anyhow::Result<AdminInit> {
    let from_env = match (
        std::env::var(ADMIN_KEY_ID_ENV),
        std::env::var(ADMIN_SECRET_ENV),
    ) {
        (Ok(id), Ok(secret)) => {
            if id.len() < 16 || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                anyhow::bail!("{ADMIN_KEY_ID_ENV} must be 16-128 letters and digits");
            }
            if secret.len() < 16 {
                anyhow::bail!("{ADMIN_SECRET_ENV} must be at least 16 characters");
            }
            Some(AdminCredentials {
                access_key_id: id,
                secret_access_key: secret,
            })
        }
        (Err(_), Err(_)) => None,
        _ => anyhow::bail!("set both {ADMIN_KEY_ID_ENV} and {ADMIN_SECRET_ENV}, or neither"),
    };
    let proposed = from_env.clone().unwrap_or_else(|| AdminCredentials {
        access_key_id: ids::new_access_key_id("AKIA"),
        secret_access_key: ids::new_secret_access_key(),
    });
    let (stored, created) = store.init_admin_credentials(&proposed).await?;
    if let Some(env) = from_env
        && env != stored
    {
        anyhow::bail!(
            "this data already has admin credentials ({}); {ADMIN_KEY_ID_ENV} and {ADMIN_SECRET_ENV} apply at first start only",
            stored.access_key_id
        );
    }
    Ok(AdminInit {
        credentials: stored,
        created,
    })
}

/// Writes the admin pair to `path` with mode 0600, as shell `export` lines.
pub(crate) fn write_admin_file(path: &Path, creds: &AdminCredentials) -> anyhow::Result<()> {
    write_private_file(path, export_lines(creds).as_bytes())
}

/// Writes `contents` to `path` (created or truncated) with mode 0600, and syncs it.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// `export AWS_ACCESS_KEY_ID=…` and `export AWS_SECRET_ACCESS_KEY=…`.
pub fn export_lines(creds: &AdminCredentials) -> String {
    format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
        creds.access_key_id, creds.secret_access_key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn a_wide_data_directory_and_its_files_are_narrowed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("runtime.json"), b"{}").unwrap();
        std::fs::set_permissions(
            dir.join("runtime.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let opts = DataOptions {
            data_dir: dir.clone(),
            database: None,
        };
        let store = open_store(&opts).await.unwrap();
        ensure_sealing_key(&store, 0).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        assert!(
            dir.join("keyless.db-wal").exists(),
            "the journal exists and is private"
        );
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/k"),
            "postgres://u:***@db:5432/k"
        );
        assert_eq!(redact_url("postgres://u@db/k"), "postgres://u@db/k");
        assert_eq!(redact_url("sqlite:/x/k.db"), "sqlite:/x/k.db");
    }
}
