//! Audit events: one CloudTrail-shaped JSON record per STS and IAM call, success or failure.
//!
//! Recording never blocks a request: each event is serialized once, into one JSON line, and
//! queued on a bounded channel drained by one writer thread; when the queue is full the event
//! is dropped and counted
//! (`keyless_audit_events_dropped_total`). Events never carry a token, a secret or a session
//! token: a web identity token is reduced to its header, `iss`, `sub`, `aud` and `jti`, and
//! credentials to their access key ID.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::mpsc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use keyless_store::Store;

/// Where audit events go.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditSinkKind {
    /// A JSON-lines file, rotated by size (the default, in the data directory).
    #[default]
    File,
    /// Standard output, one JSON line per event.
    Stdout,
    /// The database's `audit_events` table.
    Database,
    /// Nowhere.
    None,
}

/// `[audit]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The sink.
    #[serde(default)]
    pub sink: AuditSinkKind,
    /// The file, for the file sink (default `<data dir>/audit.jsonl`).
    pub path: Option<PathBuf>,
    /// Rotate the file when it grows past this many bytes (default 64 MiB).
    pub max_bytes: Option<u64>,
    /// Rotated files kept (`audit.jsonl.1` … `.N`, default 5).
    pub keep: Option<u32>,
    /// Queue capacity (default 8192 events).
    pub buffer: Option<usize>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            sink: AuditSinkKind::File,
            path: None,
            max_bytes: None,
            keep: None,
            buffer: None,
        }
    }
}

/// The handle requests record events through.
#[derive(Clone)]
pub struct Auditor {
    tx: Option<mpsc::SyncSender<String>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl Auditor {
    /// An auditor that records nothing.
    pub fn disabled() -> Auditor {
        Auditor {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts the background writer for `config`.
    pub fn start(
        config: &AuditConfig,
        data_dir: &std::path::Path,
        store: Store,
    ) -> anyhow::Result<Auditor> {
        if config.sink == AuditSinkKind::None {
            return Ok(Auditor::disabled());
        }
        let capacity = config.buffer.unwrap_or(8192).max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let auditor = Auditor {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        };
        let sink = match config.sink {
            AuditSinkKind::File => {
                let path = config
                    .path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("audit.jsonl"));
                Sink::File(FileSink::open(
                    path,
                    config.max_bytes.unwrap_or(64 * 1024 * 1024),
                    config.keep.unwrap_or(5),
                )?)
            }
            AuditSinkKind::Stdout => Sink::Stdout,
            AuditSinkKind::Database => Sink::Database(store),
            AuditSinkKind::None => return Ok(Auditor::disabled()),
        };
        let runtime = tokio::runtime::Handle::current();
        let written = auditor.written.clone();
        let dropped = auditor.dropped.clone();
        std::thread::Builder::new()
            .name("keyless-audit".into())
            .spawn(move || drain(rx, sink, written, dropped, runtime))?;
        Ok(auditor)
    }

    /// Queues an event; never waits. A full queue drops the event and counts it.
    pub fn record(&self, event: Value) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(event.to_string()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events written to the sink so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Events dropped so far: refused by a full queue, or lost by a failing sink.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

enum Sink {
    File(FileSink),
    Stdout,
    Database(Store),
}

/// The writer thread: takes up to 256 queued lines at a time and writes them in one go.
fn drain(
    rx: mpsc::Receiver<String>,
    mut sink: Sink,
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    runtime: tokio::runtime::Handle,
) {
    let mut batch = Vec::with_capacity(256);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let result = match &mut sink {
            Sink::File(f) => f.write(&batch),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                batch
                    .iter()
                    .try_for_each(|l| writeln!(out, "{l}"))
                    .and_then(|_| out.flush())
                    .map_err(anyhow::Error::from)
            }
            Sink::Database(store) => runtime
                .block_on(store.insert_audit_events(&batch))
                .map_err(anyhow::Error::from),
        };
        batch.clear();
        match result {
            Ok(()) => {
                written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                dropped.fetch_add(n, Ordering::Relaxed);
                tracing::error!("audit sink failed, {n} events lost: {e:#}");
            }
        }
    }
}

/// A JSON-lines file rotated by size.
struct FileSink {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl FileSink {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> anyhow::Result<FileSink> {
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(FileSink {
            path,
            file,
            size,
            max_bytes,
            keep,
        })
    }

    fn write(&mut self, lines: &[String]) -> anyhow::Result<()> {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf.as_bytes())?;
        self.file.flush()?;
        self.size += buf.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> anyhow::Result<()> {
        let name = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(name(self.keep));
            for i in (1..self.keep).rev() {
                let from = name(i);
                if from.exists() {
                    std::fs::rename(&from, name(i + 1))?;
                }
            }
            std::fs::rename(&self.path, name(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open the audit log {}: {e}", path.display()))
}

/// An audit event under construction.
pub struct Event {
    fields: Map<String, Value>,
    additional: Map<String, Value>,
}

impl Event {
    /// A new event for `event_name` from `event_source` (`sts.amazonaws.com`, …).
    pub fn new(event_source: &str, event_name: &str, request_id: &str, account: &str) -> Event {
        let mut fields = Map::new();
        fields.insert("eventVersion".into(), json!("1.08"));
        fields.insert(
            "eventTime".into(),
            json!(keyless_sts::session::iso8601(crate::app::unix_now())),
        );
        fields.insert("eventSource".into(), json!(event_source));
        fields.insert("eventName".into(), json!(event_name));
        fields.insert("eventType".into(), json!("AwsApiCall"));
        fields.insert("requestID".into(), json!(request_id));
        fields.insert("eventID".into(), json!(uuid::Uuid::new_v4().to_string()));
        fields.insert("recipientAccountId".into(), json!(account));
        Event {
            fields,
            additional: Map::new(),
        }
    }

    /// Sets a top-level field.
    pub fn set(&mut self, key: &str, value: Value) -> &mut Self {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// Sets a field of `additionalEventData`.
    pub fn additional(&mut self, key: &str, value: Value) -> &mut Self {
        self.additional.insert(key.to_owned(), value);
        self
    }

    /// Records a failure.
    pub fn error(&mut self, code: &str, message: &str) -> &mut Self {
        self.set("errorCode", json!(code));
        self.set("errorMessage", json!(message))
    }

    /// The finished JSON record.
    pub fn finish(mut self) -> Value {
        if !self.additional.is_empty() {
            self.fields
                .insert("additionalEventData".into(), Value::Object(self.additional));
        }
        Value::Object(self.fields)
    }
}

/// The parts of a web identity token an audit record may carry: its header, `iss`, `sub`,
/// `aud` and `jti`. `None` when the token does not decode.
pub fn token_summary(token: &str) -> Value {
    match keyless_oidc::jwt::decode(token) {
        Ok(jwt) => jwt_summary(&jwt),
        Err(e) => json!({ "undecodable": e.message }),
    }
}

/// [`token_summary`] of a token already decoded.
pub fn jwt_summary(jwt: &keyless_oidc::jwt::UnverifiedJwt<'_>) -> Value {
    json!({
        "header": { "alg": jwt.header.alg.as_str(), "kid": jwt.header.kid, "typ": jwt.header.typ },
        "iss": jwt.claims.iss,
        "sub": jwt.claims.sub,
        "aud": jwt.claims.aud,
        "jti": jwt.claims.jti,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = FileSink::open(path.clone(), 100, 2).unwrap();
        for i in 0..10 {
            sink.write(&[format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(40))])
                .unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("audit.jsonl.1").exists());
        assert!(dir.path().join("audit.jsonl.2").exists());
        assert!(!dir.path().join("audit.jsonl.3").exists());
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("\"n\":9"));
    }

    #[test]
    fn token_summary_never_carries_the_signature() {
        let summary = token_summary("eyJhbGciOiJub25lIn0.e30.c2ln").to_string();
        assert!(!summary.contains("c2ln"));
    }
}
