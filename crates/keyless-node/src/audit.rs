//! Audit events: one CloudTrail-shaped JSON record per STS and IAM call, success or failure.
//!
//! Recording never blocks a request and never wakes another thread per event: each event is
//! written once, as one JSON line, straight into a shared buffer; one writer thread takes the
//! whole buffer at a time and writes it to the sink, then waits a short batching window. When
//! the buffer already holds its limit of events, an event is dropped and counted
//! (`keyless_audit_events_dropped_total`). Events never carry a token, a secret or a session
//! token: a web identity token is reduced to its header, `iss`, `sub`, `aud` and `jti`, and
//! credentials to their access key ID.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use keyless_store::Store;

use crate::config::{AuditConfig, AuditSinkKind};

/// How long the writer lets events gather after writing a batch. Under load this bounds the
/// writer to about 50 wake-ups a second, whatever the request rate; an event recorded while
/// the writer is idle is written at once.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// The handle requests record events through.
#[derive(Clone)]
pub struct Auditor {
    queue: Option<Arc<Queue>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

/// Events recorded and not yet taken by the writer.
struct Queue {
    pending: Mutex<Pending>,
    wake: Condvar,
    capacity: u64,
}

#[derive(Default)]
struct Pending {
    /// JSON lines, each ending in `\n`.
    lines: Vec<u8>,
    /// How many lines `lines` holds.
    count: u64,
    /// The writer waits for the first event (so the next one must wake it).
    writer_idle: bool,
    /// No more events are accepted; the writer drains what is left and stops.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A poisoned lock only means a writer panicked mid-batch; the buffer is still valid.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Auditor {
    /// An auditor that records nothing.
    pub(crate) fn disabled() -> Auditor {
        Auditor {
            queue: None,
            writer: Arc::new(Mutex::new(None)),
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
        let queue = Arc::new(Queue {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            capacity: config.buffer.unwrap_or(8192).max(1) as u64,
        });
        let written = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let runtime = tokio::runtime::Handle::current();
        let writer = {
            let (queue, written, dropped) = (queue.clone(), written.clone(), dropped.clone());
            std::thread::Builder::new()
                .name("keyless-audit".into())
                .spawn(move || drain(&queue, sink, &written, &dropped, &runtime))?
        };
        Ok(Auditor {
            queue: Some(queue),
            writer: Arc::new(Mutex::new(Some(writer))),
            dropped,
            written,
        })
    }

    /// Queues a finished event; never waits for the sink. A full queue drops the event and
    /// counts it.
    pub fn record(&self, event: Vec<u8>) {
        let Some(queue) = &self.queue else { return };
        let mut pending = queue.lock();
        if pending.closed || pending.count >= queue.capacity {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.lines.extend_from_slice(&event);
        pending.lines.push(b'\n');
        pending.count += 1;
        if std::mem::take(&mut pending.writer_idle) {
            drop(pending);
            queue.wake.notify_one();
        }
    }

    /// Stops accepting events, writes every event already queued and waits for the writer to
    /// finish. Blocks: call it off the async workers (e.g. in `spawn_blocking`).
    pub fn close(&self) {
        let Some(queue) = &self.queue else { return };
        queue.lock().closed = true;
        queue.wake.notify_one();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer
            && writer.join().is_err()
        {
            tracing::error!("the audit writer panicked");
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

/// The writer thread: waits for events, takes every queued line at once, writes them in one
/// go, and lets the next batch gather for [`BATCH_WINDOW`].
fn drain(
    queue: &Queue,
    mut sink: Sink,
    written: &AtomicU64,
    dropped: &AtomicU64,
    runtime: &tokio::runtime::Handle,
) {
    let mut batch = Vec::new();
    loop {
        let (count, closed) = {
            let mut pending = queue.lock();
            while pending.count == 0 && !pending.closed {
                pending.writer_idle = true;
                pending = queue.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::swap(&mut batch, &mut pending.lines);
            (std::mem::take(&mut pending.count), pending.closed)
        };
        if count > 0 {
            let result = match &mut sink {
                Sink::File(f) => f.write(&batch),
                Sink::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&batch)
                        .and_then(|()| out.flush())
                        .map_err(anyhow::Error::from)
                }
                Sink::Database(store) => {
                    let lines: Vec<&str> = std::str::from_utf8(&batch)
                        .unwrap_or_default()
                        .lines()
                        .collect();
                    runtime
                        .block_on(store.insert_audit_events(&lines))
                        .map_err(anyhow::Error::from)
                }
            };
            match result {
                Ok(()) => {
                    written.fetch_add(count, Ordering::Relaxed);
                }
                Err(e) => {
                    dropped.fetch_add(count, Ordering::Relaxed);
                    tracing::error!("audit sink failed, {count} events lost: {e:#}");
                }
            }
            batch.clear();
            // Keep the buffer for the next batch unless one burst made it large.
            batch.shrink_to(1 << 20);
        }
        if closed {
            return;
        }
        std::thread::sleep(BATCH_WINDOW);
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

    /// Appends whole lines, rotating first when they would take the file past its limit.
    fn write(&mut self, lines: &[u8]) -> anyhow::Result<()> {
        if self.size > 0 && self.size + lines.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(lines)?;
        self.file.flush()?;
        self.size += lines.len() as u64;
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

/// An audit event under construction, written as JSON as it is built.
///
/// Each top-level field and each field of `additionalEventData` may be set once.
pub struct Event {
    /// The record so far: `{` and the members set, without the closing brace.
    json: Vec<u8>,
    /// The members of `additionalEventData` so far, without braces.
    additional: Vec<u8>,
    #[cfg(debug_assertions)]
    keys: Vec<&'static str>,
}

impl Event {
    /// A new event for `event_name` from `event_source` (`sts.amazonaws.com`, …).
    pub fn new(event_source: &str, event_name: &str, request_id: &str, account: &str) -> Event {
        let mut event = Event {
            json: Vec::with_capacity(1536),
            additional: Vec::new(),
            #[cfg(debug_assertions)]
            keys: Vec::new(),
        };
        event.json.extend_from_slice(br#"{"eventVersion":"1.08""#);
        event
            .set(
                "eventTime",
                &keyless_sts::time::iso8601(crate::clock::unix_now()),
            )
            .set("eventSource", event_source)
            .set("eventName", event_name)
            .set("eventType", "AwsApiCall")
            .set("requestID", request_id)
            .set(
                "eventID",
                uuid::Uuid::new_v4()
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            )
            .set("recipientAccountId", account);
        event
    }

    /// Sets a top-level field.
    pub fn set<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> &mut Self {
        self.check_once(key);
        self.json.push(b',');
        write_member(&mut self.json, key, value);
        self
    }

    /// Sets a field of `additionalEventData`.
    pub fn additional<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> &mut Self {
        self.check_once(key);
        if !self.additional.is_empty() {
            self.additional.push(b',');
        }
        write_member(&mut self.additional, key, value);
        self
    }

    /// Records a failure.
    pub fn error(&mut self, code: &str, message: &str) -> &mut Self {
        self.set("errorCode", code).set("errorMessage", message)
    }

    /// The finished record: one line of JSON.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.additional.is_empty() {
            self.json.extend_from_slice(br#","additionalEventData":{"#);
            self.json.extend_from_slice(&self.additional);
            self.json.push(b'}');
        }
        self.json.push(b'}');
        self.json
    }

    #[cfg(debug_assertions)]
    fn check_once(&mut self, key: &'static str) {
        debug_assert!(!self.keys.contains(&key), "audit field {key} set twice");
        self.keys.push(key);
    }

    #[cfg(not(debug_assertions))]
    fn check_once(&mut self, _key: &'static str) {}
}

/// Appends `"key":value`. Serializing into memory fails only for a map with non-string keys,
/// which no audit field has; such a value is recorded as `null` rather than corrupting the line.
fn write_member<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
    let start = out.len();
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    let value_start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(value_start);
        out.extend_from_slice(b"null");
    }
    debug_assert!(out.len() > start);
}

/// The parts of a decoded web identity token an audit record may carry: its header, `iss`,
/// `sub`, `aud` and `jti`.
#[derive(Serialize)]
pub struct TokenSummary<'a> {
    header: HeaderSummary<'a>,
    iss: &'a str,
    sub: Option<&'a str>,
    aud: &'a [String],
    jti: Option<&'a str>,
}

/// A token header as an audit record shows it.
#[derive(Serialize)]
struct HeaderSummary<'a> {
    alg: &'static str,
    kid: Option<&'a str>,
    typ: Option<&'a str>,
}

/// How an audit record shows a web identity token.
#[derive(Serialize)]
#[serde(untagged)]
pub enum TokenRecord<'a> {
    /// A token decoded by the exchange, summarized in place.
    Decoded(TokenSummary<'a>),
    /// A token the exchange did not get to decode (a failure path), summarized on its own.
    Summarized(serde_json::Value),
}

/// [`TokenRecord`] of a token not decoded yet (a failure path): its [`TokenSummary`], or why
/// it does not decode.
pub fn token_record(token: &str) -> TokenRecord<'static> {
    TokenRecord::Summarized(match keyless_oidc::jwt::decode(token) {
        Ok(jwt) => serde_json::to_value(jwt_summary(&jwt)).unwrap_or_default(),
        Err(e) => serde_json::json!({ "undecodable": e.message }),
    })
}

/// [`TokenSummary`] of a decoded token.
pub fn jwt_summary<'a>(jwt: &'a keyless_oidc::jwt::UnverifiedJwt<'_>) -> TokenSummary<'a> {
    TokenSummary {
        header: HeaderSummary {
            alg: jwt.header.alg.as_str(),
            kid: jwt.header.kid.as_deref(),
            typ: jwt.header.typ.as_deref(),
        },
        iss: &jwt.claims.iss,
        sub: jwt.claims.sub.as_deref(),
        aud: &jwt.claims.aud,
        jti: jwt.claims.jti.as_deref(),
    }
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
            let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(40));
            sink.write(line.as_bytes()).unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("audit.jsonl.1").exists());
        assert!(dir.path().join("audit.jsonl.2").exists());
        assert!(!dir.path().join("audit.jsonl.3").exists());
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("\"n\":9"));
    }

    #[test]
    fn events_are_one_line_of_json_with_additional_data_last() {
        let mut event = Event::new("sts.amazonaws.com", "GetCallerIdentity", "r-1", "123");
        event
            .set("userAgent", &Some("aws-cli/\"2\"\n"))
            .additional("decision", "Deny")
            .additional("statement", &None::<&str>)
            .error("AccessDenied", "no");
        let line = event.finish();
        assert!(!line.contains(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["eventName"], "GetCallerIdentity");
        assert_eq!(value["requestID"], "r-1");
        assert_eq!(value["userAgent"], "aws-cli/\"2\"\n");
        assert_eq!(value["errorCode"], "AccessDenied");
        assert_eq!(value["additionalEventData"]["decision"], "Deny");
        assert!(value["additionalEventData"]["statement"].is_null());
        assert_eq!(value["eventID"].as_str().map(str::len), Some(36));
    }

    async fn file_auditor(dir: &std::path::Path, buffer: usize) -> Auditor {
        let store = Store::open(
            &format!("sqlite://{}/k.db", dir.display()),
            keyless_store::MasterKey::generate(),
        )
        .await
        .unwrap();
        let config = AuditConfig {
            buffer: Some(buffer),
            ..AuditConfig::default()
        };
        Auditor::start(&config, dir, store).unwrap()
    }

    fn numbered_event(n: usize) -> Vec<u8> {
        let mut event = Event::new("sts.amazonaws.com", "GetCallerIdentity", "r", "1");
        event.set("n", &n);
        event.finish()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn close_writes_every_queued_event_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let auditor = file_auditor(dir.path(), 100_000).await;
        for n in 0..5000 {
            auditor.record(numbered_event(n));
        }
        let closing = auditor.clone();
        tokio::task::spawn_blocking(move || closing.close())
            .await
            .unwrap();
        auditor.record(numbered_event(5000));
        let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        let numbers: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(numbers, (0..5000).collect::<Vec<u64>>());
        assert_eq!(auditor.written(), 5000);
        assert_eq!(auditor.dropped(), 1, "an event after close is dropped");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let queue = Arc::new(Queue {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            capacity: 10,
        });
        // No writer takes anything from this queue.
        let auditor = Auditor {
            queue: Some(queue.clone()),
            writer: Arc::new(Mutex::new(None)),
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        };
        for n in 0..25 {
            auditor.record(numbered_event(n));
        }
        assert_eq!(auditor.dropped(), 15);
        let pending = queue.lock();
        assert_eq!(pending.count, 10);
        let kept: Vec<u64> = std::str::from_utf8(&pending.lines)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(kept, (0..10).collect::<Vec<u64>>());
    }

    #[test]
    fn token_records_never_carry_the_signature() {
        let record = token_record("eyJhbGciOiJub25lIn0.e30.c2ln");
        let summary = serde_json::to_string(&record).unwrap();
        assert!(!summary.contains("c2ln"));
    }
}
