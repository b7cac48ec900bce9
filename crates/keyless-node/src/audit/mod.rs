//! Audit events: one CloudTrail-shaped JSON record per call, success or failure.
//!
//! Recording never blocks a request and never wakes another thread per event: each event is
//! written once, as one JSON line, straight into a shared buffer; one writer thread takes the
//! whole buffer at a time and writes it to the sink, then waits a short batching window. When
//! the buffer already holds its limit of events, an event is dropped and counted
//! (`keyless_audit_events_dropped_total`).
//!
//! With `[audit] durable = true`, a call waits until its event has been written and synced
//! ([`Auditor::record_durable`]); the writer then syncs after each batch and does not wait, so
//! the events of concurrent calls share one sync (group commit).
//!
//! Events never carry a token, a secret or a session token: a web identity token is reduced to
//! its header, `iss`, `sub`, `aud` and `jti`, and credentials to their access key ID. Every text
//! taken from untrusted input is bounded ([`Bounded`]), and under a flood of failed
//! unauthenticated calls the events of each source and error beyond the first few per window
//! are counted rather than written ([`Auditor::record_failure`]).

mod event;
mod flood;

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use keyless_store::Store;
use tokio::sync::watch;

use crate::config::{AuditConfig, AuditSinkKind};

pub use event::{
    Bounded, Event, MAX_AUDIENCES, MAX_CLAIM, MAX_EVENT_NAME, MAX_MESSAGE, MAX_USER_AGENT,
    TokenRecord, TokenSummary, bounded_opt, jwt_summary, token_record,
};

/// How long the writer lets events gather after writing a batch. Under load this bounds the
/// writer to about 50 wake-ups a second, whatever the request rate; an event recorded while
/// the writer is idle is written at once.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// The failed unauthenticated calls of one source and error written one by one per window
/// (`[audit] failures_per_window`, default).
const FAILURES_PER_WINDOW: u32 = 20;

/// An event that was not made durable: the queue was full or closed, or the sink failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit event could not be written")]
pub struct EventLost;

/// The handle requests record events through.
#[derive(Clone)]
pub struct Auditor {
    queue: Option<Arc<Queue>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    aggregated: Arc<AtomicU64>,
    flood: Arc<flood::Flood>,
}

/// Events recorded and not yet taken by the writer.
struct Queue {
    pending: Mutex<Pending>,
    wake: Condvar,
    capacity: u64,
    /// Sync after each batch and report progress to durable callers.
    durable: bool,
    /// How far the writer has got, for durable callers.
    progress: watch::Sender<Progress>,
    /// The account, for the summary events.
    account: String,
}

/// How far the writer has got: every event up to `through` has been handled, and those in
/// `lost` (recent failed batches, inclusive ranges) were not written.
#[derive(Debug, Clone, Default)]
struct Progress {
    through: u64,
    lost: Vec<(u64, u64)>,
}

/// The failed batches remembered for durable callers still waiting on them.
const LOST_RANGES_KEPT: usize = 64;

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
    /// The sequence number of the last event queued (the first is 1).
    last_seq: u64,
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
            aggregated: Arc::new(AtomicU64::new(0)),
            flood: Arc::new(flood::Flood::new(FAILURES_PER_WINDOW)),
        }
    }

    /// Starts the background writer for `config`; `account` names the summary events.
    pub fn start(
        config: &AuditConfig,
        data_dir: &std::path::Path,
        store: Store,
        account: &str,
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
            durable: config.durable.unwrap_or(false),
            progress: watch::Sender::new(Progress::default()),
            account: account.to_owned(),
        });
        let written = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let flood = Arc::new(flood::Flood::new(
            config.failures_per_window.unwrap_or(FAILURES_PER_WINDOW),
        ));
        let runtime = tokio::runtime::Handle::current();
        let writer = {
            let (queue, written, dropped, flood) = (
                queue.clone(),
                written.clone(),
                dropped.clone(),
                flood.clone(),
            );
            std::thread::Builder::new()
                .name("keyless-audit".into())
                .spawn(move || drain(&queue, sink, &written, &dropped, &flood, &runtime))?
        };
        Ok(Auditor {
            queue: Some(queue),
            writer: Arc::new(Mutex::new(Some(writer))),
            dropped,
            written,
            aggregated: Arc::new(AtomicU64::new(0)),
            flood,
        })
    }

    /// Whether calls wait for their events to be synced.
    pub fn is_durable(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.durable)
    }

    /// Queues a finished event; never waits for the sink. A full queue drops the event and
    /// counts it.
    pub fn record(&self, event: Vec<u8>) {
        self.enqueue(&event);
    }

    /// Queues an event and returns its sequence number; `None` when it was dropped.
    fn enqueue(&self, event: &[u8]) -> Option<u64> {
        let queue = self.queue.as_ref()?;
        let mut pending = queue.lock();
        if pending.closed || pending.count >= queue.capacity {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        pending.lines.extend_from_slice(event);
        pending.lines.push(b'\n');
        pending.count += 1;
        pending.last_seq += 1;
        let seq = pending.last_seq;
        if std::mem::take(&mut pending.writer_idle) {
            drop(pending);
            queue.wake.notify_one();
        }
        Some(seq)
    }

    /// Queues an event and, when the audit log is durable, waits until it has been written and
    /// synced. `Err` when it was dropped or the sink failed: the caller must not report
    /// success.
    pub async fn record_durable(&self, event: Vec<u8>) -> Result<(), EventLost> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let seq = self.enqueue(&event).ok_or(EventLost)?;
        if !queue.durable {
            return Ok(());
        }
        let mut progress = queue.progress.subscribe();
        let done = progress
            .wait_for(|p| p.through >= seq)
            .await
            .map_err(|_| EventLost)?;
        if done
            .lost
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&seq))
        {
            return Err(EventLost);
        }
        Ok(())
    }

    /// Records the event of a call that failed before its caller was authenticated: written
    /// when it is among the first of its source and error code in the current window, else
    /// only counted, and summarized when the window ends.
    pub fn record_failure(&self, source: IpAddr, code: &'static str, event: Vec<u8>) {
        if self.flood.admit(source, code, crate::clock::unix_now()) {
            self.record(event);
        } else {
            self.aggregated.fetch_add(1, Ordering::Relaxed);
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

    /// Events of failed unauthenticated calls counted into summaries instead of written.
    pub fn aggregated(&self) -> u64 {
        self.aggregated.load(Ordering::Relaxed)
    }
}

enum Sink {
    File(FileSink),
    Stdout,
    Database(Store),
}

/// The writer thread: waits for events, takes every queued line at once, writes them in one
/// go (syncing them when durable), and lets the next batch gather for [`BATCH_WINDOW`]. It
/// also ends the flood windows and writes their summaries.
fn drain(
    queue: &Queue,
    mut sink: Sink,
    written: &AtomicU64,
    dropped: &AtomicU64,
    flood: &flood::Flood,
    runtime: &tokio::runtime::Handle,
) {
    let mut batch = Vec::new();
    loop {
        let (count, through, closed) = {
            let mut pending = queue.lock();
            while pending.count == 0 && !pending.closed {
                pending.writer_idle = true;
                let (next, timeout) = queue
                    .wake
                    .wait_timeout(pending, flood::WINDOW)
                    .unwrap_or_else(|e| e.into_inner());
                pending = next;
                if timeout.timed_out() {
                    break;
                }
            }
            pending.writer_idle = false;
            std::mem::swap(&mut batch, &mut pending.lines);
            (
                std::mem::take(&mut pending.count),
                pending.last_seq,
                pending.closed,
            )
        };
        let mut summaries = 0;
        for aggregate in flood.roll(closed) {
            batch.extend_from_slice(&aggregate.event(&queue.account));
            batch.push(b'\n');
            summaries += 1;
        }
        if count + summaries > 0 {
            let result = sink.write(&batch, queue.durable, runtime);
            match result {
                Ok(()) => {
                    written.fetch_add(count + summaries, Ordering::Relaxed);
                }
                Err(e) => {
                    dropped.fetch_add(count + summaries, Ordering::Relaxed);
                    tracing::error!("audit sink failed, {count} events lost: {e:#}");
                    if count > 0 {
                        queue.progress.send_modify(|p| {
                            p.lost.push((through + 1 - count, through));
                            if p.lost.len() > LOST_RANGES_KEPT {
                                p.lost.remove(0);
                            }
                        });
                    }
                }
            }
            batch.clear();
            // Keep the buffer for the next batch unless one burst made it large.
            batch.shrink_to(1 << 20);
        }
        queue.progress.send_modify(|p| p.through = through);
        if closed {
            return;
        }
        if !queue.durable && count > 0 {
            std::thread::sleep(BATCH_WINDOW);
        }
    }
}

impl Sink {
    /// Writes whole lines; with `sync`, they are on disk (or committed) when this returns.
    fn write(
        &mut self,
        lines: &[u8],
        sync: bool,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<()> {
        match self {
            Sink::File(f) => f.write(lines, sync),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(lines)
                    .and_then(|()| out.flush())
                    .map_err(anyhow::Error::from)
            }
            Sink::Database(store) => {
                let lines: Vec<&str> = std::str::from_utf8(lines)
                    .unwrap_or_default()
                    .lines()
                    .collect();
                runtime
                    .block_on(store.insert_audit_events(&lines))
                    .map_err(anyhow::Error::from)
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

    /// Appends whole lines, rotating first when they would take the file past its limit;
    /// with `sync`, the data is on disk when this returns.
    fn write(&mut self, lines: &[u8], sync: bool) -> anyhow::Result<()> {
        if self.size > 0 && self.size + lines.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(lines)?;
        self.file.flush()?;
        if sync {
            self.file.sync_data()?;
        }
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
            sink.write(line.as_bytes(), false).unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("audit.jsonl.1").exists());
        assert!(dir.path().join("audit.jsonl.2").exists());
        assert!(!dir.path().join("audit.jsonl.3").exists());
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("\"n\":9"));
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
        Auditor::start(&config, dir, store, "1").unwrap()
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
            durable: false,
            progress: watch::Sender::new(Progress::default()),
            account: "1".to_owned(),
        });
        // No writer takes anything from this queue.
        let auditor = Auditor {
            queue: Some(queue.clone()),
            ..Auditor::disabled()
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_records_return_once_their_event_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("sqlite://{}/k.db", dir.path().display()),
            keyless_store::MasterKey::generate(),
        )
        .await
        .unwrap();
        let config = AuditConfig {
            durable: Some(true),
            ..AuditConfig::default()
        };
        let auditor = Auditor::start(&config, dir.path(), store, "1").unwrap();
        assert!(auditor.is_durable());
        let calls: Vec<_> = (0..200)
            .map(|n| {
                let auditor = auditor.clone();
                tokio::spawn(async move { auditor.record_durable(numbered_event(n)).await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().expect("written and synced");
        }
        // Every acknowledged event is in the file before close.
        let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 200);
        let closing = auditor.clone();
        tokio::task::spawn_blocking(move || closing.close())
            .await
            .unwrap();
        assert_eq!(
            auditor.record_durable(numbered_event(0)).await,
            Err(EventLost),
            "after close nothing is acknowledged"
        );
    }
}
