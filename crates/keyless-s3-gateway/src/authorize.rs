//! Who signed a request and whether they may: the bucket and key, S3's SigV4 with the secret
//! the STS resolves, the operation and each of its needs through the one permission decision.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use keyless_node::node::Node;
use keyless_policy::ContextValue;
use keyless_s3::S3Error;
use keyless_s3::address::{Addressing, Target};
use keyless_s3::checksum;
use keyless_s3::chunked::{ChunkSigning, Decoder, Event};
use keyless_s3::delete::{self, DeleteRequest, MAX_DELETE_BODY, ObjectToDelete};
use keyless_s3::operation::{self, AuthType, Need, Operation};
use keyless_s3::sigv4::{self, AuthForm, Payload, PayloadHash, RequestHead, S3Auth};
use keyless_sts::auth::{self, Caller, CredentialProblem};
use keyless_sts::context::RequestEnv;
use keyless_sts::permissions::PermissionQuery;
use keyless_sts::{Error, Refused, authorization_message};

use crate::record::Record;

/// What requests are authorized against: the node's live state, the addressing and the
/// region clients sign for.
pub(crate) struct Authorizer {
    pub(crate) node: Arc<Node>,
    pub(crate) addressing: Addressing,
    pub(crate) region: String,
    /// The longest a body read whole may go without a byte.
    pub(crate) body_idle: Duration,
}

/// A request that passed authentication and authorization.
pub(crate) struct Authorized {
    pub(crate) caller: Caller,
    pub(crate) auth: S3Auth,
    pub(crate) secret: String,
    pub(crate) target: Target,
    pub(crate) operation: Operation,
    /// For an operation whose authorization reads the body (`DeleteObjects`,
    /// `PutObjectTagging`): the body to forward, read whole (bounded) and verified, or for a
    /// `DeleteObjects` with refused objects the document of the allowed ones.
    pub(crate) small_body: Option<Bytes>,
    /// A `DeleteObjects` decided object by object.
    pub(crate) deletes: Option<Deletes>,
}

/// A `DeleteObjects` decided object by object, as S3 decides it.
pub(crate) struct Deletes {
    request: DeleteRequest,
    /// The indexes of the objects allowed, in order.
    pub(crate) allowed: Vec<usize>,
    /// The indexes of the objects refused, in order.
    pub(crate) refused: Vec<usize>,
}

impl Deletes {
    fn refused_objects(&self) -> impl Iterator<Item = &ObjectToDelete> {
        self.refused
            .iter()
            .map(|&index| &self.request.objects[index])
    }

    /// The result when every object was refused.
    pub(crate) fn refused_result(&self) -> String {
        delete::refused_result(self.refused_objects())
    }

    /// The backend's result for the allowed objects, with the refused ones added.
    pub(crate) fn merge(&self, backend: &[u8]) -> Result<Vec<u8>, S3Error> {
        delete::merge_refused(backend, self.refused_objects())
    }
}

impl Authorizer {
    /// Locates, verifies and authorizes a request.
    pub(crate) fn authorize(
        &self,
        parts: &http::request::Parts,
        env: &RequestEnv,
        record: &mut Record,
    ) -> Result<Authorized, S3Error> {
        let now = self.node.now();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| S3Error::InvalidArgument {
                message: "A Host header is required.".to_owned(),
                name: "Host".to_owned(),
                value: String::new(),
            })?;
        let raw_path = parts.uri.path();
        let raw_query = parts.uri.query().unwrap_or("");
        let target = self.addressing.locate(host, raw_path)?;
        record.target(&target);
        let request_head = RequestHead {
            method: parts.method.as_str(),
            raw_path,
            raw_query,
            headers: &parts.headers,
        };
        let auth = sigv4::parse(&request_head, &self.region, now)?;
        record.access_key(&auth.access_key_id);
        let live = self.node.live.load();
        let state = &live.sts;
        let (caller, secret) = auth::resolve(
            state,
            &auth.access_key_id,
            auth.security_token.as_deref(),
            now,
        )
        .map_err(|problem| match problem {
            CredentialProblem::UnknownAccessKey => S3Error::InvalidAccessKeyId {
                access_key_id: auth.access_key_id.clone(),
            },
            CredentialProblem::InvalidToken => S3Error::InvalidToken,
            CredentialProblem::ExpiredToken => S3Error::ExpiredToken,
        })?;
        record.caller(&caller);
        let key = auth.signing_key(&secret, &state.signing_keys);
        sigv4::verify(&auth, &request_head, &key)?;

        let operation = operation::classify(&parts.method, &target, raw_query, &parts.headers)?;
        record.operation(operation.name());
        if operation.changes_backend_authorization() {
            return Err(S3Error::NotImplemented {
                message: format!(
                    "{} changes the backend's own authorization, which the gateway decides: it is not forwarded.",
                    operation.name()
                ),
            });
        }
        if !operation.reads_body() {
            let auth_context = auth_context(&auth, now);
            for need in operation.needs() {
                decide(state, &caller, need, &auth_context, env, now)?;
            }
            record.allowed();
        }
        Ok(Authorized {
            caller,
            auth,
            secret,
            target,
            operation,
            small_body: None,
            deletes: None,
        })
    }

    /// Reads the body an operation's authorization depends on (bounded), verifies it against
    /// the signature and the digests its headers declare, and decides every need it adds. A
    /// `DeleteObjects` is decided object by object: the refused objects become errors of the
    /// result, the allowed ones go to the backend.
    pub(crate) async fn authorize_body(
        &self,
        parts: &http::request::Parts,
        body: Body,
        authorized: &mut Authorized,
        env: &RequestEnv,
        record: &mut Record,
    ) -> Result<(), S3Error> {
        let raw = read_whole(body, MAX_DELETE_BODY, self.body_idle).await?;
        let bytes = verify_whole(&raw, authorized, &parts.headers)?;
        checksum::verify_whole(&parts.headers, &bytes)?;
        let now = self.node.now();
        let live = self.node.live.load();
        let auth_context = auth_context(&authorized.auth, now);
        let caller = &authorized.caller;
        if let Some((request, per_object)) = authorized.operation.delete_needs(&bytes)? {
            let (mut allowed, mut refused) = (Vec::new(), Vec::new());
            for (index, needs) in per_object.iter().enumerate() {
                let decided = needs
                    .iter()
                    .try_for_each(|need| decide(&live.sts, caller, need, &auth_context, env, now));
                match decided {
                    Ok(()) => allowed.push(index),
                    Err(S3Error::AccessDenied { .. }) => refused.push(index),
                    Err(other) => return Err(other),
                }
            }
            record.deletes(allowed.len(), refused.len());
            if !allowed.is_empty() {
                record.allowed();
                authorized.small_body = Some(if refused.is_empty() {
                    bytes
                } else {
                    Bytes::from(request.to_xml(|index| allowed.binary_search(&index).is_ok()))
                });
            }
            authorized.deletes = Some(Deletes {
                request,
                allowed,
                refused,
            });
            return Ok(());
        }
        for need in &authorized.operation.needs_with_body(&bytes)? {
            decide(&live.sts, caller, need, &auth_context, env, now)?;
        }
        record.allowed();
        authorized.small_body = Some(bytes);
        Ok(())
    }
}

/// Reads a body whole: at most `limit` bytes (`MaxMessageLengthExceeded`), none of its waits
/// longer than `idle` (`RequestTimeout`).
async fn read_whole(body: Body, limit: usize, idle: Duration) -> Result<Bytes, S3Error> {
    let mut body = http_body_util::Limited::new(body, limit);
    let mut out = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(S3Error::RequestTimeout),
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(error))) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(S3Error::MaxMessageLengthExceeded);
            }
            Ok(Some(Err(_))) => return Err(S3Error::IncompleteBody),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}

/// The condition keys of the signature: `s3:signatureversion`, `s3:authType`,
/// `s3:signatureAge`.
pub(crate) fn auth_context(auth: &S3Auth, now: i64) -> Vec<(&'static str, ContextValue)> {
    let auth_type = match auth.form {
        AuthForm::Header => AuthType::Header,
        AuthForm::Query => AuthType::QueryString,
    };
    operation::auth_context(sigv4::ALGORITHM, auth_type, Some(auth.age_millis(now)))
}

/// Decides one needed action with the one permission decision; a refusal is S3's
/// `AccessDenied` with IAM's message, the resource quoted as S3 quotes it, and the encoded
/// authorization failure message.
pub(crate) fn decide(
    state: &keyless_sts::state::StsState,
    caller: &Caller,
    need: &Need,
    auth_context: &[(&'static str, ContextValue)],
    env: &RequestEnv,
    now: i64,
) -> Result<(), S3Error> {
    let mut context = need.context.clone();
    for (key, value) in auth_context {
        context.insert(key, value.clone());
    }
    let query = PermissionQuery {
        action: &need.action,
        resource: &need.resource,
        context,
        env,
        now,
        trace: false,
    };
    match authorization_message::authorize(state, caller, query) {
        Ok(()) => Ok(()),
        Err(Error::AccessDenied(mut denial)) => {
            if let Refused::Caller {
                caller,
                action,
                resource,
            } = denial.refused
            {
                denial.refused = Refused::S3Caller {
                    caller,
                    action,
                    resource,
                };
            }
            Err(S3Error::AccessDenied {
                message: denial.message().into_owned(),
            })
        }
        Err(other) => {
            tracing::warn!("S3 authorization failed: {other}");
            Err(S3Error::InternalError)
        }
    }
}

/// The aws-chunked decoder of an authorized request, with its signing state in the signed
/// modes.
pub(crate) fn decoder(
    headers: &http::HeaderMap,
    authorized: &Authorized,
) -> Result<Decoder, S3Error> {
    let auth = &authorized.auth;
    let signing = match auth.payload {
        Payload::StreamingSigned | Payload::StreamingSignedTrailer => Some(ChunkSigning::new(
            &auth.access_key_id,
            &authorized.secret,
            &auth.date,
            &auth.scope(),
            auth.seed_signature(),
        )?),
        _ => None,
    };
    Decoder::for_request(headers, signing)
}

/// A body read whole, checked against the signature: its SHA-256, or its chunk signatures
/// and checksum (then decoded).
fn verify_whole(
    raw: &[u8],
    authorized: &Authorized,
    headers: &http::HeaderMap,
) -> Result<Bytes, S3Error> {
    match &authorized.auth.payload {
        Payload::Sha256(hex) => {
            let mut hash = PayloadHash::new(hex);
            hash.update(raw);
            hash.finish()?;
            Ok(Bytes::copy_from_slice(raw))
        }
        Payload::Unsigned => Ok(Bytes::copy_from_slice(raw)),
        _ => {
            let mut decoder = decoder(headers, authorized)?;
            let mut out = Vec::with_capacity(raw.len());
            for event in decoder.feed(raw)? {
                if let Event::Data(bytes) = event {
                    out.extend_from_slice(bytes);
                }
            }
            decoder.finish()?;
            Ok(Bytes::from(out))
        }
    }
}
