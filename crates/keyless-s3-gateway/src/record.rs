//! One CloudTrail-shaped data event and the metrics of each request, written when its
//! response has been sent (or abandoned), with the bytes that went each way.

use std::time::Instant;

use http::StatusCode;
use keyless_node::audit::{self, Auditor, Bounded, Event};
use keyless_s3::S3Error;
use keyless_s3::address::Target;
use keyless_sts::auth::Caller;
use keyless_sts::context::RequestEnv;

/// The event source of S3 data events.
const EVENT_SOURCE: &str = "s3.amazonaws.com";
/// The longest bucket, key or path an event or error repeats.
const MAX_NAME: usize = 1024;

/// A wait on the backend that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// No response head in time (or the backend stopped taking the upload).
    BackendResponse,
    /// The response body stopped.
    BackendBody,
}

impl Timeout {
    fn as_str(self) -> &'static str {
        match self {
            Timeout::BackendResponse => "backendResponse",
            Timeout::BackendBody => "backendBody",
        }
    }
}

/// What the audit event and the metrics of one request say.
pub(crate) struct Record {
    request_id: String,
    source_ip: Option<String>,
    user_agent: Option<String>,
    started: Instant,
    operation: &'static str,
    bucket: Option<String>,
    key: Option<String>,
    access_key_id: Option<String>,
    caller: Option<(String, String, String)>,
    error: Option<(&'static str, String)>,
    allowed: bool,
    bytes_in: u64,
    /// A `DeleteObjects`' objects allowed and refused.
    deletes: Option<(usize, usize)>,
    timed_out: Option<Timeout>,
}

impl Record {
    pub(crate) fn new(request_id: &str, env: &RequestEnv, started: Instant) -> Record {
        Record {
            request_id: request_id.to_owned(),
            source_ip: env.source_ip.clone(),
            user_agent: env.user_agent.clone(),
            started,
            operation: "Unknown",
            bucket: None,
            key: None,
            access_key_id: None,
            caller: None,
            error: None,
            allowed: false,
            bytes_in: 0,
            deletes: None,
            timed_out: None,
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    pub(crate) fn target(&mut self, target: &Target) {
        self.bucket = target.bucket.clone();
        self.key = target.key.clone();
    }

    pub(crate) fn access_key(&mut self, access_key_id: &str) {
        self.access_key_id = Some(access_key_id.chars().take(128).collect());
    }

    pub(crate) fn caller(&mut self, caller: &Caller) {
        let kind = match caller {
            Caller::Admin { .. } => "Root",
            Caller::Session(_) => "AssumedRole",
        };
        self.caller = Some((kind.to_owned(), caller.arn(), caller.user_id()));
    }

    pub(crate) fn operation(&mut self, name: &'static str) {
        self.operation = name;
    }

    /// Every need of the request was allowed.
    pub(crate) fn allowed(&mut self) {
        self.allowed = true;
    }

    pub(crate) fn refused(&mut self, error: &S3Error) {
        self.error = Some((error.code(), error.message()));
    }

    pub(crate) fn bytes_in(&mut self, bytes: u64) {
        self.bytes_in = bytes;
    }

    /// How many objects of a `DeleteObjects` were allowed and refused.
    pub(crate) fn deletes(&mut self, allowed: usize, refused: usize) {
        self.deletes = Some((allowed, refused));
    }

    /// A wait on the backend ran out.
    pub(crate) fn timed_out(&mut self, timeout: Timeout) {
        self.timed_out = Some(timeout);
    }

    /// Writes the event and the metrics.
    pub(crate) fn finish(
        self,
        auditor: &Auditor,
        account: &str,
        status: StatusCode,
        bytes_out: u64,
    ) {
        let outcome = match &self.error {
            _ if self.timed_out.is_some() => "BackendTimeout",
            Some((code, _)) => *code,
            None if status.is_success() || status.is_redirection() => "Success",
            None => "BackendError",
        };
        let labels = [("operation", self.operation), ("outcome", outcome)];
        metrics::counter!("keyless_s3_requests_total", &labels).increment(1);
        metrics::histogram!(
            "keyless_s3_request_duration_seconds",
            "operation" => self.operation
        )
        .record(self.started.elapsed().as_secs_f64());
        metrics::counter!("keyless_s3_bytes_total", "direction" => "in").increment(self.bytes_in);
        metrics::counter!("keyless_s3_bytes_total", "direction" => "out").increment(bytes_out);

        let mut event = Event::new(EVENT_SOURCE, self.operation, &self.request_id, account);
        event.set("eventCategory", "Data");
        event.set("sourceIPAddress", &self.source_ip);
        event.set(
            "userAgent",
            &audit::bounded_opt(self.user_agent.as_deref(), audit::MAX_USER_AGENT),
        );
        if let Some((kind, arn, principal_id)) = &self.caller {
            event.set(
                "userIdentity",
                &serde_identity(kind, arn, principal_id, self.access_key_id.as_deref()),
            );
        } else if let Some(access_key_id) = &self.access_key_id {
            event.set(
                "userIdentity",
                &serde_identity("Unknown", "", "", Some(access_key_id)),
            );
        }
        event.set(
            "requestParameters",
            &RequestParameters {
                bucket_name: self.bucket.as_deref().map(|b| Bounded::new(b, MAX_NAME)),
                key: self.key.as_deref().map(|k| Bounded::new(k, MAX_NAME)),
            },
        );
        event.additional("bytesTransferredIn", &self.bytes_in);
        event.additional("bytesTransferredOut", &bytes_out);
        event.additional("httpStatus", &status.as_u16());
        if let Some((allowed, refused)) = self.deletes {
            event.additional("objectsAllowed", &allowed);
            event.additional("objectsRefused", &refused);
        }
        if let Some(timeout) = self.timed_out {
            event.additional("timeout", timeout.as_str());
        }
        event.additional(
            "decision",
            match (&self.error, self.allowed) {
                (Some(("AccessDenied", _)), false) => "Deny",
                (None, false) if self.deletes.is_some() => "Deny",
                (_, true) => "Allow",
                _ if self.caller.is_none() => "Unauthenticated",
                _ => "NotDecided",
            },
        );
        if let Some((code, message)) = &self.error {
            event.error(code, message);
        }
        auditor.record(event.finish());
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket_name: Option<Bounded<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Bounded<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    arn: &'a str,
    principal_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
}

fn serde_identity<'a>(
    kind: &'a str,
    arn: &'a str,
    principal_id: &'a str,
    access_key_id: Option<&'a str>,
) -> Identity<'a> {
    Identity {
        kind,
        arn,
        principal_id,
        access_key_id,
    }
}

/// A request ID as S3's look: 16 upper-case letters and digits.
pub(crate) fn request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let random = uuid::Uuid::new_v4();
    random
        .as_bytes()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// The `x-amz-id-2` of a request: derived from its ID, never the backend's.
pub(crate) fn host_id(request_id: &str) -> String {
    format!("keyless/{request_id}")
}

/// A request path bounded for an error's `Resource`.
pub(crate) fn bounded_path(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded.chars().take(MAX_NAME).collect()
}
