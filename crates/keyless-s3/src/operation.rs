//! Which S3 operation a request is, and what it needs: the IAM actions, the resources they
//! act on, and the condition keys the request supplies.
//!
//! [`classify`] recognises the operation from the method, the [`Target`] (service, bucket or
//! object), the subresource query parameters and the headers that change an operation
//! (`x-amz-copy-source`), in the order of the S3 gateway reference, and names it as S3 does
//! (`GetObject`, `ListObjectsV2`, `CreateMultipartUpload`, …). [`Operation::needs`] are the
//! `(action, resource, context)` triples the caller's policies must all allow, each one a
//! `keyless_sts::permissions::PermissionQuery` (its `context` is exactly what the query takes;
//! the principal and global keys are added by the permission decision itself, and the
//! signature keys by [`auth_context`]).
//!
//! Fail closed: an operation keyless cannot map, a subresource it does not know, or a query
//! parameter that is neither is refused with `NotImplemented` naming it, never authorized as
//! some other operation (a `PUT ?foo` is not a `PutObject`).
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Method};
//! use keyless_policy::ContextValue;
//! use keyless_s3::address::Target;
//! use keyless_s3::operation::classify;
//!
//! let object = Target { bucket: Some("photos".into()), key: Some("2026/a.jpg".into()), virtual_hosted: false };
//! let mut headers = HeaderMap::new();
//! headers.insert("x-amz-tagging", HeaderValue::from_static("team=web"));
//! let put = classify(&Method::PUT, &object, "x-id=PutObject", &headers).unwrap();
//! assert_eq!(put.name(), "PutObject");
//! let actions: Vec<&str> = put.needs().iter().map(|n| n.action.as_str()).collect();
//! assert_eq!(actions, ["s3:PutObject", "s3:PutObjectTagging"]);
//! assert_eq!(put.needs()[0].resource, "arn:aws:s3:::photos/2026/a.jpg");
//! assert_eq!(
//!     put.needs()[0].context.get("s3:RequestObjectTag/team"),
//!     Some(&ContextValue::Single("web".into()))
//! );
//!
//! let bucket = Target { bucket: Some("photos".into()), key: None, virtual_hosted: false };
//! let list = classify(&Method::GET, &bucket, "list-type=2&prefix=2026%2F", &HeaderMap::new()).unwrap();
//! assert_eq!((list.name(), list.needs()[0].action.as_str()), ("ListObjectsV2", "s3:ListBucket"));
//! assert_eq!(list.needs()[0].resource, "arn:aws:s3:::photos");
//! assert_eq!(list.needs()[0].context.get("s3:prefix"), Some(&ContextValue::Single("2026/".into())));
//!
//! let unknown = classify(&Method::PUT, &object, "foo", &HeaderMap::new()).unwrap_err();
//! assert_eq!(unknown.code(), "NotImplemented");
//! ```

use crate::address::{MAX_KEY_BYTES, Target, bucket_arn, check_bucket_name, object_arn};
use crate::delete::DeleteRequest;
use crate::error::S3Error;
use crate::xml;
use http::{HeaderMap, Method};
use keyless_policy::{Context, ContextValue};
use percent_encoding::percent_decode_str;

/// The most tags an object may carry (`x-amz-tagging`, `PutObjectTagging`).
pub const MAX_TAGS: usize = 10;
/// The largest `PutObjectTagging` body read.
pub const MAX_TAGGING_BODY: usize = 64 << 10;
/// The most `<Tag>` elements parsed before the count is checked.
const MAX_TAGGING_ELEMENTS: usize = 50;

/// One authorization an operation needs: `action` on `resource` with `context`.
#[derive(Debug, Clone)]
pub struct Need {
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource's ARN (`arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`), or `*`.
    pub resource: String,
    /// The S3 condition keys of the request (what `PermissionQuery::context` takes).
    pub context: Context,
}

/// A classified S3 request.
#[derive(Debug, Clone)]
pub struct Operation {
    name: &'static str,
    needs: Vec<Need>,
    changes_backend_authorization: bool,
    reads_body: Option<BodyNeeds>,
    missing_key: Option<Need>,
}

/// What an operation's body adds to its authorization.
#[derive(Debug, Clone)]
enum BodyNeeds {
    /// `DeleteObjects`: one delete per key, with the request's condition keys.
    DeleteObjects {
        target: Target,
        bypass_governance: bool,
        context: Context,
    },
    /// `PutObjectTagging`: the tags are the `s3:RequestObjectTag/<key>` keys.
    Tagging,
}

impl Operation {
    /// The operation, as S3 names it (`GetObject`, `ListObjectsV2`, …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What the request line and headers need; every one must be allowed. For an operation
    /// whose authorization [`reads_body`](Self::reads_body) this is incomplete: authorize
    /// [`needs_with_body`](Self::needs_with_body) instead.
    pub fn needs(&self) -> &[Need] {
        &self.needs
    }

    /// Whether the authorization depends on the request body, which must then be read
    /// (bounded: [`MAX_DELETE_BODY`](crate::delete::MAX_DELETE_BODY), [`MAX_TAGGING_BODY`])
    /// and verified before authorizing: `DeleteObjects` (one `s3:DeleteObject` per key,
    /// [`delete_needs`](Self::delete_needs); [`needs`](Self::needs) is empty) and
    /// `PutObjectTagging` (the tags are condition keys,
    /// [`needs_with_body`](Self::needs_with_body)).
    pub fn reads_body(&self) -> bool {
        self.reads_body.is_some()
    }

    /// Every need, the body's included: [`needs`](Self::needs) plus, for `DeleteObjects`,
    /// every object's needs ([`delete_needs`](Self::delete_needs)) in order; for
    /// `PutObjectTagging`, the needs with the body's tags as `s3:RequestObjectTag/<key>` and
    /// `s3:RequestObjectTagKeys`. For an operation that does not read its body,
    /// [`needs`](Self::needs).
    pub fn needs_with_body(&self, body: &[u8]) -> Result<Vec<Need>, S3Error> {
        let mut needs = self.needs.clone();
        match &self.reads_body {
            None => {}
            Some(BodyNeeds::DeleteObjects { .. }) => {
                if let Some((_, per_object)) = self.delete_needs(body)? {
                    needs.extend(per_object.into_iter().flatten());
                }
            }
            Some(BodyNeeds::Tagging) => {
                let tags = parse_tagging(body)?;
                for need in &mut needs {
                    add_tags(&mut need.context, tags.clone(), "Tagging", "")?;
                }
            }
        }
        Ok(needs)
    }

    /// For `DeleteObjects`, its `<Delete>` document ([`DeleteRequest::parse`]) and, for each
    /// object in order, what deleting it needs: `s3:DeleteObject` on its key, or
    /// `s3:DeleteObjectVersion` (with `s3:VersionId`) for an object with a `VersionId`, with
    /// the request's condition keys, and `s3:BypassGovernanceRetention` on the key when
    /// `x-amz-bypass-governance-retention: true`. S3 decides each object on its own: a refused
    /// one is an error of the result, not of the request. `None` for any other operation.
    #[allow(clippy::type_complexity)] // the document and its needs, object by object
    pub fn delete_needs(
        &self,
        body: &[u8],
    ) -> Result<Option<(DeleteRequest, Vec<Vec<Need>>)>, S3Error> {
        let Some(BodyNeeds::DeleteObjects {
            target,
            bypass_governance,
            context,
        }) = &self.reads_body
        else {
            return Ok(None);
        };
        let request = DeleteRequest::parse(body)?;
        let mut per_object = Vec::with_capacity(request.objects.len());
        for mut need in delete_objects_needs_of(target, &request)? {
            for (key, value) in context.iter() {
                need.context.insert(key, value.clone());
            }
            let bypass = bypass_governance.then(|| Need {
                action: "s3:BypassGovernanceRetention".to_owned(),
                resource: need.resource.clone(),
                context: need.context.clone(),
            });
            let mut needs = vec![need];
            needs.extend(bypass);
            per_object.push(needs);
        }
        Ok(Some((request, per_object)))
    }

    /// Whether the operation writes the backend's own authorization state (bucket policies,
    /// ACLs, public access blocks, CORS, website, notification, replication, logging,
    /// inventory, ownership controls) or an object write carries a non-`private` ACL. The
    /// backend is reached with the gateway's own key, so the gateway refuses these unless it
    /// is configured to let them through; they are mapped so that policies can still grant
    /// them.
    pub fn changes_backend_authorization(&self) -> bool {
        self.changes_backend_authorization
    }

    /// For GetObject, HeadObject and GetObjectAttributes, the need that decides how a missing
    /// key is answered: `s3:ListBucket` on the bucket (without `s3:prefix`). AWS answers
    /// `404 NoSuchKey` only to a caller it allows, `403 AccessDenied` to anyone else, so the
    /// gateway decides it before passing the backend's `NoSuchKey` on.
    pub fn missing_key_need(&self) -> Option<&Need> {
        self.missing_key.as_ref()
    }
}

/// How a request was authenticated: the values of `s3:authType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// The `Authorization` header: `REST-HEADER`.
    Header,
    /// A presigned URL: `REST-QUERY-STRING`.
    QueryString,
    /// A browser form upload: `POST`.
    Post,
}

impl AuthType {
    /// The `s3:authType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Header => "REST-HEADER",
            AuthType::QueryString => "REST-QUERY-STRING",
            AuthType::Post => "POST",
        }
    }
}

/// The signature's condition keys, for every need of the request: `s3:signatureversion`
/// (`AWS4-HMAC-SHA256`), `s3:authType`, and `s3:signatureAge` (milliseconds since the signing
/// time) when known.
pub fn auth_context(
    signature_version: &str,
    auth_type: AuthType,
    signature_age_ms: Option<i64>,
) -> Vec<(&'static str, ContextValue)> {
    let mut keys = vec![
        (
            "s3:signatureversion",
            ContextValue::Single(signature_version.to_owned()),
        ),
        (
            "s3:authType",
            ContextValue::Single(auth_type.as_str().to_owned()),
        ),
    ];
    if let Some(age) = signature_age_ms {
        keys.push(("s3:signatureAge", ContextValue::Single(age.to_string())));
    }
    keys
}

/// Subresources S3 defines. One present that this module does not map for the method and
/// level is `NotImplemented`.
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metadataConfiguration",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "renameObject",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "session",
    "tagging",
    "torrent",
    "uploads",
    "versioning",
    "versions",
    "website",
];

/// Parameters that select or qualify within an operation, never an operation of their own.
const PARAMETERS: &[&str] = &[
    "bucket-region",
    "continuation-token",
    "delimiter",
    "encoding-type",
    "fetch-owner",
    "id",
    "key-marker",
    "list-type",
    "marker",
    "max-buckets",
    "max-keys",
    "max-parts",
    "max-uploads",
    "part-number-marker",
    "partNumber",
    "prefix",
    "select-type",
    "start-after",
    "upload-id-marker",
    "uploadId",
    "version-id-marker",
    "versionId",
    "x-id",
];

/// The request's query, decoded as RFC 3986 percent-encoding (`+` is a plus).
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: &str) -> Result<Query, S3Error> {
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let decode = |s: &str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|v| v.into_owned())
                    .map_err(|_| {
                        S3Error::invalid_argument("A query parameter is not valid UTF-8.", name, s)
                    })
            };
            let name = decode(name)?;
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(S3Error::invalid_argument(
                    "A query parameter may appear only once.",
                    &name,
                    "",
                ));
            }
            // The signature's own parameters (the session token is most of a presigned
            // URL) are checked by the signature and never classify: they are not decoded.
            let value = if crate::sigv4::PRESIGN_PARAMETERS.contains(&name.as_str()) {
                String::new()
            } else {
                decode(value)?
            };
            pairs.push((name, value));
        }
        Ok(Query { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The one subresource the query names, after checking every parameter is known.
    fn subresource(&self) -> Result<Option<&'static str>, S3Error> {
        let mut found: Option<&'static str> = None;
        for (name, _) in &self.pairs {
            if let Some(sub) = SUBRESOURCES.iter().find(|s| **s == name.as_str()) {
                if found.is_some_and(|f| f != *sub) {
                    return Err(not_implemented(&format!(
                        "A request with both the {} and {sub} subresources is not implemented.",
                        found.unwrap_or_default()
                    )));
                }
                found = Some(sub);
            } else if !PARAMETERS.contains(&name.as_str())
                && !name.starts_with("response-")
                && !name.to_ascii_lowercase().starts_with("x-amz-")
            {
                return Err(not_implemented(&format!(
                    "The query parameter {} is not implemented.",
                    bounded(name)
                )));
            }
        }
        Ok(found)
    }
}

fn bounded(value: &str) -> String {
    let mut end = value.len().min(64);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn not_implemented(message: &str) -> S3Error {
    S3Error::NotImplemented {
        message: message.to_owned(),
    }
}

/// A header [`check_headers`] has vetted.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The headers classification reads besides [`HEADER_KEYS`] and [`LOCK_HEADERS`]: each must
/// appear at most once and be visible ASCII, so
/// that the backend cannot act on a value authorization did not see (a second
/// `x-amz-copy-source`, or one classification would skip as unreadable).
const CONSULTED_HEADERS: [&str; 8] = [
    "x-amz-content-sha256",
    "x-amz-copy-source",
    "x-amz-tagging",
    "x-amz-bypass-governance-retention",
    "x-amz-bucket-object-lock-enabled",
    "x-amz-object-ownership",
    "if-match",
    "if-none-match",
];

/// The object-lock headers, also consulted.
const LOCK_HEADERS: [&str; 3] = [
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
];

fn check_headers(headers: &HeaderMap) -> Result<(), S3Error> {
    let consulted = HEADER_KEYS
        .iter()
        .chain(&CONSULTED_HEADERS)
        .chain(&LOCK_HEADERS);
    for name in consulted {
        let mut values = headers.get_all(*name).iter();
        let (first, second) = (values.next(), values.next());
        if second.is_some() {
            return Err(S3Error::invalid_argument(
                "This header may appear only once.",
                name,
                "",
            ));
        }
        if let Some(value) = first
            && value.to_str().is_err()
        {
            return Err(S3Error::invalid_argument(
                "This header's value must be visible ASCII.",
                name,
                &String::from_utf8_lossy(value.as_bytes()),
            ));
        }
    }
    Ok(())
}

/// The ACL headers of a write.
const GRANT_HEADERS: [&str; 5] = [
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
];

/// Headers whose value is the condition key of the same name (`s3:<header>`), where present.
const HEADER_KEYS: [&str; 12] = [
    "x-amz-acl",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-metadata-directive",
];

fn has_acl_headers(headers: &HeaderMap) -> bool {
    headers.contains_key("x-amz-acl") || GRANT_HEADERS.iter().any(|h| headers.contains_key(*h))
}

/// Whether the ACL headers of a write grant more than the owner's own access.
fn grants_access(headers: &HeaderMap) -> bool {
    header(headers, "x-amz-acl").is_some_and(|acl| acl != "private")
        || GRANT_HEADERS.iter().any(|h| headers.contains_key(*h))
}

fn is_true(headers: &HeaderMap, name: &str) -> bool {
    header(headers, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A request's source object (`x-amz-copy-source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// The source bucket.
    pub bucket: String,
    /// The source key, decoded.
    pub key: String,
    /// The source version, from `?versionId=`.
    pub version_id: Option<String>,
}

impl CopySource {
    /// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=v]`, URL-encoded. The bucket
    /// must be a valid name and the key non-empty; anything else is `InvalidArgument`, as
    /// S3 answers.
    pub fn parse(value: &str) -> Result<CopySource, S3Error> {
        let invalid = || {
            S3Error::invalid_argument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                "x-amz-copy-source",
                value,
            )
        };
        let (path, query) = match value.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (value, None),
        };
        let version_id = match query {
            None => None,
            Some(query) => {
                let version = query.strip_prefix("versionId=").ok_or_else(invalid)?;
                let version = percent_decode_str(version)
                    .decode_utf8()
                    .map_err(|_| invalid())?;
                if version.is_empty() || version.contains('&') {
                    return Err(invalid());
                }
                Some(version.into_owned())
            }
        };
        let path = percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| invalid())?;
        let path = path.strip_prefix('/').unwrap_or(&path);
        let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
        if key.is_empty() {
            return Err(invalid());
        }
        check_bucket_name(bucket).map_err(|_| invalid())?;
        if key.len() > MAX_KEY_BYTES {
            return Err(S3Error::KeyTooLong);
        }
        Ok(CopySource {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id,
        })
    }

    /// The object's ARN.
    pub fn arn(&self) -> String {
        object_arn(&self.bucket, &self.key)
    }
}

/// Adds tags to the `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` keys: at most
/// [`MAX_TAGS`], keys non-empty and distinct, else `InvalidArgument` naming `source`.
fn add_tags(
    context: &mut Context,
    tags: Vec<(String, String)>,
    source: &str,
    raw: &str,
) -> Result<(), S3Error> {
    let mut keys: Vec<String> = Vec::with_capacity(tags.len());
    for (key, _) in &tags {
        let problem = if key.is_empty() {
            Some("A tag key must not be empty.")
        } else if keys.contains(key) {
            Some("Cannot provide multiple Tags with the same key")
        } else if keys.len() == MAX_TAGS {
            Some("Object tags cannot be greater than 10")
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(S3Error::invalid_argument(message, source, raw));
        }
        keys.push(key.clone());
    }
    for (key, value) in tags {
        context.insert(
            &format!("s3:RequestObjectTag/{key}"),
            ContextValue::Single(value),
        );
    }
    context.insert("s3:RequestObjectTagKeys", ContextValue::Multi(keys));
    Ok(())
}

/// Reads `x-amz-tagging` (`k1=v1&k2=v2`, form-encoded) into the tag keys.
fn add_tagging_header(context: &mut Context, value: &str) -> Result<(), S3Error> {
    let tags = form_urlencoded::parse(value.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    add_tags(context, tags, "x-amz-tagging", value)
}

/// What the classifier collects while deciding.
struct Builder<'r> {
    target: &'r Target,
    headers: &'r HeaderMap,
    query: Query,
    context: Context,
    needs: Vec<(&'static str, String)>,
    changes_backend_authorization: bool,
}

impl<'r> Builder<'r> {
    fn bucket(&self) -> String {
        bucket_arn(self.target.bucket.as_deref().unwrap_or_default())
    }

    fn object(&self) -> String {
        self.target.arn()
    }

    fn need(&mut self, action: &'static str, resource: String) {
        self.needs.push((action, resource));
    }

    /// The base action, or its `…Version…` form when the request names a version.
    fn versioned(&mut self, action: &'static str, version_action: &'static str) {
        let resource = self.object();
        if let Some(version) = self.query.get("versionId") {
            self.context
                .insert("s3:VersionId", ContextValue::Single(version.to_owned()));
            self.need(version_action, resource);
        } else {
            self.need(action, resource);
        }
    }

    fn add_list_keys(&mut self) -> Result<(), S3Error> {
        for name in ["prefix", "delimiter", "max-keys"] {
            if let Some(value) = self.query.get(name) {
                if name == "max-keys"
                    && (value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(S3Error::invalid_argument(
                        "Provided max-keys not an integer or within integer range",
                        "max-keys",
                        value,
                    ));
                }
                let value = value.to_owned();
                self.context
                    .insert(&format!("s3:{name}"), ContextValue::Single(value));
            }
        }
        Ok(())
    }

    /// The extra permissions and keys of a write that creates an object (`PutObject`,
    /// `CopyObject`, `CreateMultipartUpload`): ACL, tagging and object-lock headers.
    fn object_write_extras(&mut self) -> Result<(), S3Error> {
        let resource = self.object();
        if has_acl_headers(self.headers) {
            self.need("s3:PutObjectAcl", resource.clone());
            self.changes_backend_authorization |= grants_access(self.headers);
        }
        if let Some(tagging) = header(self.headers, "x-amz-tagging") {
            add_tagging_header(&mut self.context, tagging)?;
            self.need("s3:PutObjectTagging", resource.clone());
        }
        for name in LOCK_HEADERS {
            if let Some(value) = header(self.headers, name) {
                // `x-amz-object-lock-mode` is `s3:object-lock-mode`, and so on.
                let key = format!("s3:{}", &name["x-amz-".len()..]);
                self.context
                    .insert(&key, ContextValue::Single(value.to_owned()));
            }
        }
        if self.headers.contains_key("x-amz-object-lock-mode")
            || self
                .headers
                .contains_key("x-amz-object-lock-retain-until-date")
        {
            self.need("s3:PutObjectRetention", resource.clone());
        }
        if self.headers.contains_key("x-amz-object-lock-legal-hold") {
            self.need("s3:PutObjectLegalHold", resource);
        }
        Ok(())
    }

    fn conditional_write_keys(&mut self, creates_object: bool) {
        for (name, key) in [
            ("if-match", "s3:if-match"),
            ("if-none-match", "s3:if-none-match"),
        ] {
            if let Some(value) = header(self.headers, name) {
                self.context
                    .insert(key, ContextValue::Single(value.to_owned()));
            }
        }
        self.context.insert(
            "s3:ObjectCreationOperation",
            ContextValue::Single(creates_object.to_string()),
        );
    }

    /// `s3:GetObject` (or `s3:GetObjectVersion`) on the copy source.
    fn copy_source(&mut self, value: &str) -> Result<(), S3Error> {
        let source = CopySource::parse(value)?;
        self.context.insert(
            "s3:x-amz-copy-source",
            ContextValue::Single(format!("{}/{}", source.bucket, source.key)),
        );
        let action = if source.version_id.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        self.need(action, source.arn());
        Ok(())
    }

    fn bypass_governance(&mut self) {
        if is_true(self.headers, "x-amz-bypass-governance-retention") {
            let resource = self.object();
            self.need("s3:BypassGovernanceRetention", resource);
        }
    }
}

fn method_not_allowed(method: &Method) -> S3Error {
    S3Error::MethodNotAllowed {
        method: method.as_str().to_owned(),
    }
}

/// Classifies a request: `method`, the `target` it addresses, its raw query string (without
/// `?`, still percent-encoded) and its headers.
///
/// Errors: `MethodNotAllowed` for a method the addressed resource does not take,
/// `NotImplemented` naming an operation, subresource or query parameter keyless does not
/// map, `InvalidArgument` for a malformed `x-amz-copy-source`, part number, `max-keys` or
/// `x-amz-tagging`, a copy source on a request that is not a copy, a query parameter named
/// twice, or a header classification reads that is repeated or not visible ASCII (the
/// gateway forwards exactly the query and headers classified, so the backend acts on what
/// was authorized).
pub fn classify(
    method: &Method,
    target: &Target,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<Operation, S3Error> {
    check_headers(headers)?;
    let query = Query::parse(raw_query)?;
    let subresource = query.subresource()?;
    let mut b = Builder {
        target,
        headers,
        query,
        context: Context::new(),
        needs: Vec::new(),
        changes_backend_authorization: false,
    };
    for name in HEADER_KEYS.iter().chain(["x-amz-content-sha256"].iter()) {
        if let Some(value) = header(headers, name) {
            b.context.insert(
                &format!("s3:{name}"),
                ContextValue::Single(value.to_owned()),
            );
        }
    }
    let copy_source = header(headers, "x-amz-copy-source").map(str::to_owned);
    let name = match (&target.bucket, &target.key) {
        (None, _) => service_level(&mut b, method, subresource)?,
        (Some(_), None) => bucket_level(&mut b, method, subresource)?,
        (Some(_), Some(_)) => object_level(&mut b, method, subresource, copy_source.as_deref())?,
    };
    let copies = matches!(name, "CopyObject" | "UploadPartCopy");
    if copy_source.is_some() && !copies {
        return Err(S3Error::invalid_argument(
            "This operation does not take a copy source.",
            "x-amz-copy-source",
            copy_source.as_deref().unwrap_or_default(),
        ));
    }
    let reads_body = match name {
        "DeleteObjects" => Some(BodyNeeds::DeleteObjects {
            target: target.clone(),
            bypass_governance: is_true(headers, "x-amz-bypass-governance-retention"),
            context: b.context.clone(),
        }),
        "PutObjectTagging" => Some(BodyNeeds::Tagging),
        _ => None,
    };
    let missing_key =
        matches!(name, "GetObject" | "HeadObject" | "GetObjectAttributes").then(|| {
            // The request's keys but the version, which is not a listing's.
            let mut context = Context::new();
            for (key, value) in b.context.iter() {
                if !key.eq_ignore_ascii_case("s3:VersionId") {
                    context.insert(key, value.clone());
                }
            }
            Need {
                action: "s3:ListBucket".to_owned(),
                resource: b.bucket(),
                context,
            }
        });
    let context = b.context;
    Ok(Operation {
        name,
        needs: b
            .needs
            .into_iter()
            .map(|(action, resource)| Need {
                action: action.to_owned(),
                resource,
                context: context.clone(),
            })
            .collect(),
        changes_backend_authorization: b.changes_backend_authorization,
        reads_body,
        missing_key,
    })
}

fn service_level(
    b: &mut Builder<'_>,
    method: &Method,
    subresource: Option<&'static str>,
) -> Result<&'static str, S3Error> {
    if let Some(sub) = subresource {
        return Err(not_implemented(&format!(
            "The {sub} subresource of the service is not implemented."
        )));
    }
    if *method != Method::GET {
        return Err(method_not_allowed(method));
    }
    b.need("s3:ListAllMyBuckets", "*".to_owned());
    Ok("ListBuckets")
}

/// Bucket subresources: (subresource, method, operation, action, changes the backend's
/// authorization).
#[rustfmt::skip]
const BUCKET_SUBRESOURCES: &[(&str, Method, &str, &str, bool)] = &[
    ("acl", Method::GET, "GetBucketAcl", "s3:GetBucketAcl", false),
    ("acl", Method::PUT, "PutBucketAcl", "s3:PutBucketAcl", true),
    ("cors", Method::GET, "GetBucketCors", "s3:GetBucketCORS", false),
    ("cors", Method::PUT, "PutBucketCors", "s3:PutBucketCORS", true),
    ("cors", Method::DELETE, "DeleteBucketCors", "s3:PutBucketCORS", false),
    ("encryption", Method::GET, "GetBucketEncryption", "s3:GetEncryptionConfiguration", false),
    ("encryption", Method::PUT, "PutBucketEncryption", "s3:PutEncryptionConfiguration", false),
    ("encryption", Method::DELETE, "DeleteBucketEncryption", "s3:PutEncryptionConfiguration", false),
    ("lifecycle", Method::GET, "GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration", false),
    ("lifecycle", Method::PUT, "PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration", false),
    ("lifecycle", Method::DELETE, "DeleteBucketLifecycle", "s3:PutLifecycleConfiguration", false),
    ("location", Method::GET, "GetBucketLocation", "s3:GetBucketLocation", false),
    ("object-lock", Method::GET, "GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", false),
    ("object-lock", Method::PUT, "PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration", false),
    ("ownershipControls", Method::GET, "GetBucketOwnershipControls", "s3:GetBucketOwnershipControls", false),
    ("ownershipControls", Method::PUT, "PutBucketOwnershipControls", "s3:PutBucketOwnershipControls", true),
    ("ownershipControls", Method::DELETE, "DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls", true),
    ("policy", Method::GET, "GetBucketPolicy", "s3:GetBucketPolicy", false),
    ("policy", Method::PUT, "PutBucketPolicy", "s3:PutBucketPolicy", true),
    ("policy", Method::DELETE, "DeleteBucketPolicy", "s3:DeleteBucketPolicy", true),
    ("policyStatus", Method::GET, "GetBucketPolicyStatus", "s3:GetBucketPolicyStatus", false),
    ("publicAccessBlock", Method::GET, "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", false),
    ("publicAccessBlock", Method::PUT, "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock", true),
    ("publicAccessBlock", Method::DELETE, "DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock", true),
    ("tagging", Method::GET, "GetBucketTagging", "s3:GetBucketTagging", false),
    ("tagging", Method::PUT, "PutBucketTagging", "s3:PutBucketTagging", false),
    ("tagging", Method::DELETE, "DeleteBucketTagging", "s3:PutBucketTagging", false),
    ("uploads", Method::GET, "ListMultipartUploads", "s3:ListBucketMultipartUploads", false),
    ("versioning", Method::GET, "GetBucketVersioning", "s3:GetBucketVersioning", false),
    ("versioning", Method::PUT, "PutBucketVersioning", "s3:PutBucketVersioning", false),
    ("website", Method::GET, "GetBucketWebsite", "s3:GetBucketWebsite", false),
    ("website", Method::PUT, "PutBucketWebsite", "s3:PutBucketWebsite", true),
    ("website", Method::DELETE, "DeleteBucketWebsite", "s3:DeleteBucketWebsite", false),
    ("notification", Method::GET, "GetBucketNotificationConfiguration", "s3:GetBucketNotification", false),
    ("notification", Method::PUT, "PutBucketNotificationConfiguration", "s3:PutBucketNotification", true),
    ("logging", Method::GET, "GetBucketLogging", "s3:GetBucketLogging", false),
    ("logging", Method::PUT, "PutBucketLogging", "s3:PutBucketLogging", true),
    ("replication", Method::GET, "GetBucketReplication", "s3:GetReplicationConfiguration", false),
    ("replication", Method::PUT, "PutBucketReplication", "s3:PutReplicationConfiguration", true),
    ("replication", Method::DELETE, "DeleteBucketReplication", "s3:PutReplicationConfiguration", false),
    ("requestPayment", Method::GET, "GetBucketRequestPayment", "s3:GetBucketRequestPayment", false),
    ("requestPayment", Method::PUT, "PutBucketRequestPayment", "s3:PutBucketRequestPayment", false),
    ("accelerate", Method::GET, "GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration", false),
    ("accelerate", Method::PUT, "PutBucketAccelerateConfiguration", "s3:PutAccelerateConfiguration", false),
    ("analytics", Method::PUT, "PutBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", false),
    ("analytics", Method::DELETE, "DeleteBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", false),
    ("inventory", Method::PUT, "PutBucketInventoryConfiguration", "s3:PutInventoryConfiguration", true),
    ("inventory", Method::DELETE, "DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration", false),
    ("metrics", Method::PUT, "PutBucketMetricsConfiguration", "s3:PutMetricsConfiguration", false),
    ("metrics", Method::DELETE, "DeleteBucketMetricsConfiguration", "s3:PutMetricsConfiguration", false),
    ("intelligent-tiering", Method::PUT, "PutBucketIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration", false),
    ("intelligent-tiering", Method::DELETE, "DeleteBucketIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration", false),
];

/// Bucket configurations read one by `id` or listed without: (subresource, get, list,
/// action).
#[rustfmt::skip]
const BUCKET_CONFIGURATIONS: &[(&str, &str, &str, &str)] = &[
    ("analytics", "GetBucketAnalyticsConfiguration", "ListBucketAnalyticsConfigurations", "s3:GetAnalyticsConfiguration"),
    ("inventory", "GetBucketInventoryConfiguration", "ListBucketInventoryConfigurations", "s3:GetInventoryConfiguration"),
    ("metrics", "GetBucketMetricsConfiguration", "ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration"),
    ("intelligent-tiering", "GetBucketIntelligentTieringConfiguration", "ListBucketIntelligentTieringConfigurations", "s3:GetIntelligentTieringConfiguration"),
];

fn bucket_level(
    b: &mut Builder<'_>,
    method: &Method,
    subresource: Option<&'static str>,
) -> Result<&'static str, S3Error> {
    let bucket = b.bucket();
    let Some(sub) = subresource else {
        return match *method {
            Method::GET => {
                b.add_list_keys()?;
                b.need("s3:ListBucket", bucket);
                match b.query.get("list-type") {
                    None => Ok("ListObjects"),
                    Some("2") => Ok("ListObjectsV2"),
                    Some(other) => Err(S3Error::invalid_argument(
                        "Invalid List Type specified",
                        "list-type",
                        other,
                    )),
                }
            }
            Method::HEAD => {
                b.need("s3:ListBucket", bucket);
                Ok("HeadBucket")
            }
            Method::PUT => {
                b.need("s3:CreateBucket", bucket.clone());
                if grants_access(b.headers) {
                    b.need("s3:PutBucketAcl", bucket.clone());
                    b.changes_backend_authorization = true;
                }
                if is_true(b.headers, "x-amz-bucket-object-lock-enabled") {
                    b.need("s3:PutBucketObjectLockConfiguration", bucket.clone());
                    b.need("s3:PutBucketVersioning", bucket.clone());
                }
                if let Some(ownership) = header(b.headers, "x-amz-object-ownership") {
                    b.context.insert(
                        "s3:x-amz-object-ownership",
                        ContextValue::Single(ownership.to_owned()),
                    );
                    b.need("s3:PutBucketOwnershipControls", bucket);
                }
                Ok("CreateBucket")
            }
            Method::DELETE => {
                b.need("s3:DeleteBucket", bucket);
                Ok("DeleteBucket")
            }
            Method::POST => Err(not_implemented(
                "Browser-form POST uploads are not implemented.",
            )),
            _ => Err(method_not_allowed(method)),
        };
    };
    match (sub, method) {
        ("versions", &Method::GET) => {
            b.add_list_keys()?;
            b.need("s3:ListBucketVersions", bucket);
            return Ok("ListObjectVersions");
        }
        ("delete", &Method::POST) => return Ok("DeleteObjects"),
        _ => {}
    }
    if *method == Method::GET
        && let Some((_, get, list, action)) = BUCKET_CONFIGURATIONS.iter().find(|c| c.0 == sub)
    {
        b.need(action, bucket);
        return Ok(if b.query.has("id") { get } else { list });
    }
    match BUCKET_SUBRESOURCES
        .iter()
        .find(|(s, m, ..)| *s == sub && m == method)
    {
        Some((_, _, name, action, changes)) => {
            b.need(action, bucket);
            b.changes_backend_authorization |= *changes;
            Ok(name)
        }
        None if BUCKET_SUBRESOURCES.iter().any(|(s, ..)| *s == sub)
            || matches!(sub, "versions" | "delete") =>
        {
            Err(method_not_allowed(method))
        }
        None => Err(not_implemented(&format!(
            "The {sub} subresource of a bucket is not implemented."
        ))),
    }
}

/// The part number of `UploadPart` and `UploadPartCopy`: 1 to 10,000.
fn check_part_number(value: &str) -> Result<(), S3Error> {
    match value.parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) && !value.starts_with('+') => Ok(()),
        _ => Err(S3Error::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            value,
        )),
    }
}

fn object_level(
    b: &mut Builder<'_>,
    method: &Method,
    subresource: Option<&'static str>,
    copy_source: Option<&str>,
) -> Result<&'static str, S3Error> {
    let object = b.object();
    let upload_id = b.query.get("uploadId").map(str::to_owned);
    let part_number = b.query.get("partNumber").map(str::to_owned);
    let Some(sub) = subresource else {
        return match (method, &upload_id) {
            (&Method::GET, None) => {
                b.versioned("s3:GetObject", "s3:GetObjectVersion");
                Ok("GetObject")
            }
            (&Method::HEAD, None) => {
                b.versioned("s3:GetObject", "s3:GetObjectVersion");
                Ok("HeadObject")
            }
            (&Method::GET, Some(_)) => {
                b.need("s3:ListMultipartUploadParts", object);
                Ok("ListParts")
            }
            (&Method::PUT, Some(_)) => {
                let part_number = part_number.ok_or_else(|| {
                    S3Error::invalid_argument(
                        "An upload's part needs a part number.",
                        "partNumber",
                        "",
                    )
                })?;
                check_part_number(&part_number)?;
                b.conditional_write_keys(false);
                b.need("s3:PutObject", object);
                match copy_source {
                    Some(source) => {
                        b.copy_source(source)?;
                        Ok("UploadPartCopy")
                    }
                    None => Ok("UploadPart"),
                }
            }
            (&Method::PUT, None) => {
                if let Some(part_number) = &part_number {
                    return Err(S3Error::invalid_argument(
                        "A part number needs an upload ID.",
                        "partNumber",
                        part_number,
                    ));
                }
                b.conditional_write_keys(true);
                b.need("s3:PutObject", object);
                b.object_write_extras()?;
                match copy_source {
                    Some(source) => {
                        b.copy_source(source)?;
                        Ok("CopyObject")
                    }
                    None => Ok("PutObject"),
                }
            }
            (&Method::POST, Some(_)) => {
                b.conditional_write_keys(true);
                b.need("s3:PutObject", object);
                Ok("CompleteMultipartUpload")
            }
            (&Method::DELETE, Some(_)) => {
                b.need("s3:AbortMultipartUpload", object);
                Ok("AbortMultipartUpload")
            }
            (&Method::DELETE, None) => {
                b.versioned("s3:DeleteObject", "s3:DeleteObjectVersion");
                b.bypass_governance();
                Ok("DeleteObject")
            }
            (&Method::POST, None) => Err(method_not_allowed(method)),
            _ => Err(method_not_allowed(method)),
        };
    };
    let name = match (sub, method) {
        ("uploads", &Method::POST) => {
            b.conditional_write_keys(false);
            b.need("s3:PutObject", object);
            b.object_write_extras()?;
            "CreateMultipartUpload"
        }
        ("acl", &Method::GET) => {
            b.versioned("s3:GetObjectAcl", "s3:GetObjectVersionAcl");
            "GetObjectAcl"
        }
        ("acl", &Method::PUT) => {
            b.versioned("s3:PutObjectAcl", "s3:PutObjectVersionAcl");
            b.changes_backend_authorization = true;
            "PutObjectAcl"
        }
        ("tagging", &Method::GET) => {
            b.versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging");
            "GetObjectTagging"
        }
        ("tagging", &Method::PUT) => {
            b.versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging");
            "PutObjectTagging"
        }
        ("tagging", &Method::DELETE) => {
            b.versioned("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging");
            "DeleteObjectTagging"
        }
        ("attributes", &Method::GET) => {
            b.versioned("s3:GetObject", "s3:GetObjectVersion");
            b.versioned("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes");
            "GetObjectAttributes"
        }
        ("retention", &Method::GET) => {
            b.need("s3:GetObjectRetention", object);
            "GetObjectRetention"
        }
        ("retention", &Method::PUT) => {
            b.need("s3:PutObjectRetention", object);
            b.bypass_governance();
            "PutObjectRetention"
        }
        ("legal-hold", &Method::GET) => {
            b.need("s3:GetObjectLegalHold", object);
            "GetObjectLegalHold"
        }
        ("legal-hold", &Method::PUT) => {
            b.need("s3:PutObjectLegalHold", object);
            "PutObjectLegalHold"
        }
        ("restore", &Method::POST) => {
            b.need("s3:RestoreObject", object);
            "RestoreObject"
        }
        ("select", &Method::POST) if b.query.get("select-type") == Some("2") => {
            b.need("s3:GetObject", object);
            "SelectObjectContent"
        }
        ("torrent", &Method::GET) => {
            b.versioned("s3:GetObjectTorrent", "s3:GetObjectVersionTorrent");
            "GetObjectTorrent"
        }
        (
            "uploads" | "acl" | "tagging" | "attributes" | "retention" | "legal-hold" | "restore"
            | "select" | "torrent",
            _,
        ) => return Err(method_not_allowed(method)),
        (sub, _) => {
            return Err(not_implemented(&format!(
                "The {sub} subresource of an object is not implemented."
            )));
        }
    };
    Ok(name)
}

/// The needs of a `DeleteObjects` body: `s3:DeleteObject` on each key it names, or
/// `s3:DeleteObjectVersion` (with `s3:VersionId`) for an entry with a `VersionId`, in order.
/// The body is read by [`DeleteRequest::parse`] (its errors are this function's); `target`
/// is the bucket the request addresses.
pub fn delete_objects_needs(target: &Target, body: &[u8]) -> Result<Vec<Need>, S3Error> {
    delete_objects_needs_of(target, &DeleteRequest::parse(body)?)
}

/// The delete of each object of `request`, in order.
fn delete_objects_needs_of(target: &Target, request: &DeleteRequest) -> Result<Vec<Need>, S3Error> {
    let Some(bucket) = target.bucket.as_deref() else {
        return Err(S3Error::InternalError);
    };
    Ok(request
        .objects
        .iter()
        .map(|object| {
            let mut context = Context::new();
            let action = match &object.version_id {
                Some(version) => {
                    context.insert("s3:VersionId", ContextValue::Single(version.clone()));
                    "s3:DeleteObjectVersion"
                }
                None => "s3:DeleteObject",
            };
            Need {
                action: action.to_owned(),
                resource: object_arn(bucket, &object.key),
                context,
            }
        })
        .collect())
}

/// The tags of a `PutObjectTagging` body: `<Tagging><TagSet>` with `<Tag>` entries of one
/// `<Key>` and one `<Value>` each.
fn parse_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    if body.len() > MAX_TAGGING_BODY {
        return Err(S3Error::MaxMessageLengthExceeded);
    }
    let root = xml::parse(body, 2 + 3 * MAX_TAGGING_ELEMENTS)?;
    if root.name != "Tagging" || root.children.len() != 1 {
        return Err(S3Error::MalformedXml);
    }
    let tag_set = root.all("TagSet").next().ok_or(S3Error::MalformedXml)?;
    tag_set.only(&["Tag"])?;
    let mut tags = Vec::new();
    for tag in tag_set.all("Tag") {
        tag.only(&["Key", "Value"])?;
        match (tag.leaf("Key")?, tag.leaf("Value")?) {
            (Some(key), Some(value)) => tags.push((key.to_owned(), value.to_owned())),
            _ => return Err(S3Error::MalformedXml),
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delete::{MAX_DELETE_BODY, MAX_DELETE_KEYS};

    fn target(bucket: Option<&str>, key: Option<&str>) -> Target {
        Target {
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
            virtual_hosted: false,
        }
    }

    fn object() -> Target {
        target(Some("bkt"), Some("dir/a b.txt"))
    }

    fn bucket() -> Target {
        target(Some("bkt"), None)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// The operation's name and its `(action, resource)` needs.
    fn classified(
        method: Method,
        target: &Target,
        query: &str,
        pairs: &[(&str, &str)],
    ) -> (&'static str, Vec<(String, String)>) {
        let op = classify(&method, target, query, &headers(pairs))
            .unwrap_or_else(|e| panic!("{method} {target:?} ?{query}: {e}"));
        let needs = op
            .needs()
            .iter()
            .map(|n| (n.action.clone(), n.resource.clone()))
            .collect();
        (op.name(), needs)
    }

    fn single(need: &Need, key: &str) -> Option<String> {
        match need.context.get(key) {
            Some(ContextValue::Single(v)) => Some(v.clone()),
            Some(ContextValue::Multi(v)) => Some(v.join("|")),
            None => None,
        }
    }

    /// Method, target, query, headers, the operation and its needs.
    type Case<'a> = (
        Method,
        Target,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        Vec<(String, String)>,
    );

    const O: &str = "arn:aws:s3:::bkt/dir/a b.txt";
    const B: &str = "arn:aws:s3:::bkt";

    fn n(action: &str, resource: &str) -> (String, String) {
        (action.to_owned(), resource.to_owned())
    }

    #[test]
    fn the_reference_table_maps_every_operation() {
        let none: &[(&str, &str)] = &[];
        let copy: &[(&str, &str)] = &[("x-amz-copy-source", "/src/k%20ey?versionId=v1")];
        #[rustfmt::skip]
        let cases: Vec<Case<'_>> = vec![
            (Method::GET, target(None, None), "", none, "ListBuckets", vec![n("s3:ListAllMyBuckets", "*")]),
            (Method::PUT, bucket(), "", none, "CreateBucket", vec![n("s3:CreateBucket", B)]),
            (Method::DELETE, bucket(), "", none, "DeleteBucket", vec![n("s3:DeleteBucket", B)]),
            (Method::HEAD, bucket(), "", none, "HeadBucket", vec![n("s3:ListBucket", B)]),
            (Method::GET, bucket(), "location", none, "GetBucketLocation", vec![n("s3:GetBucketLocation", B)]),
            (Method::GET, bucket(), "", none, "ListObjects", vec![n("s3:ListBucket", B)]),
            (Method::GET, bucket(), "list-type=2&encoding-type=url", none, "ListObjectsV2", vec![n("s3:ListBucket", B)]),
            (Method::GET, bucket(), "versions", none, "ListObjectVersions", vec![n("s3:ListBucketVersions", B)]),
            (Method::GET, bucket(), "uploads", none, "ListMultipartUploads", vec![n("s3:ListBucketMultipartUploads", B)]),
            (Method::GET, object(), "response-content-type=text%2Fplain&x-id=GetObject", none, "GetObject", vec![n("s3:GetObject", O)]),
            (Method::GET, object(), "versionId=v1", none, "GetObject", vec![n("s3:GetObjectVersion", O)]),
            (Method::HEAD, object(), "partNumber=1", none, "HeadObject", vec![n("s3:GetObject", O)]),
            (Method::HEAD, object(), "versionId=null", none, "HeadObject", vec![n("s3:GetObjectVersion", O)]),
            (Method::GET, object(), "attributes", none, "GetObjectAttributes", vec![n("s3:GetObject", O), n("s3:GetObjectAttributes", O)]),
            (Method::GET, object(), "attributes&versionId=v", none, "GetObjectAttributes", vec![ n("s3:GetObjectVersion", O), n("s3:GetObjectVersionAttributes", O), ]),
            (Method::PUT, object(), "", none, "PutObject", vec![n("s3:PutObject", O)]),
            (Method::PUT, object(), "", copy, "CopyObject", vec![ n("s3:PutObject", O), n("s3:GetObjectVersion", "arn:aws:s3:::src/k ey"), ]),
            (Method::POST, object(), "uploads", none, "CreateMultipartUpload", vec![n("s3:PutObject", O)]),
            (Method::PUT, object(), "partNumber=3&uploadId=U", none, "UploadPart", vec![n("s3:PutObject", O)]),
            (Method::PUT, object(), "partNumber=3&uploadId=U", &[ ("x-amz-copy-source", "src/k"), ("x-amz-copy-source-range", "bytes=0-9"), ], "UploadPartCopy", vec![ n("s3:PutObject", O), n("s3:GetObject", "arn:aws:s3:::src/k"), ]),
            (Method::POST, object(), "uploadId=U", none, "CompleteMultipartUpload", vec![n("s3:PutObject", O)]),
            (Method::DELETE, object(), "uploadId=U", none, "AbortMultipartUpload", vec![n("s3:AbortMultipartUpload", O)]),
            (Method::GET, object(), "uploadId=U&max-parts=10", none, "ListParts", vec![n("s3:ListMultipartUploadParts", O)]),
            (Method::DELETE, object(), "", none, "DeleteObject", vec![n("s3:DeleteObject", O)]),
            (Method::DELETE, object(), "versionId=v", &[("x-amz-bypass-governance-retention", "true")], "DeleteObject", vec![ n("s3:DeleteObjectVersion", O), n("s3:BypassGovernanceRetention", O), ]),
            (Method::POST, bucket(), "delete", none, "DeleteObjects", vec![]),
            (Method::GET, object(), "tagging", none, "GetObjectTagging", vec![n("s3:GetObjectTagging", O)]),
            (Method::PUT, object(), "tagging&versionId=v", none, "PutObjectTagging", vec![n("s3:PutObjectVersionTagging", O)]),
            (Method::DELETE, object(), "tagging", none, "DeleteObjectTagging", vec![n("s3:DeleteObjectTagging", O)]),
            (Method::DELETE, object(), "tagging&versionId=v", none, "DeleteObjectTagging", vec![n("s3:DeleteObjectVersionTagging", O)]),
            (Method::GET, object(), "acl&versionId=v", none, "GetObjectAcl", vec![n("s3:GetObjectVersionAcl", O)]),
            (Method::PUT, object(), "acl", none, "PutObjectAcl", vec![n("s3:PutObjectAcl", O)]),
            (Method::GET, bucket(), "acl", none, "GetBucketAcl", vec![n("s3:GetBucketAcl", B)]),
            (Method::PUT, bucket(), "acl", none, "PutBucketAcl", vec![n("s3:PutBucketAcl", B)]),
            (Method::GET, bucket(), "policy", none, "GetBucketPolicy", vec![n("s3:GetBucketPolicy", B)]),
            (Method::PUT, bucket(), "policy", none, "PutBucketPolicy", vec![n("s3:PutBucketPolicy", B)]),
            (Method::DELETE, bucket(), "policy", none, "DeleteBucketPolicy", vec![n("s3:DeleteBucketPolicy", B)]),
            (Method::GET, bucket(), "policyStatus", none, "GetBucketPolicyStatus", vec![n("s3:GetBucketPolicyStatus", B)]),
            (Method::PUT, bucket(), "versioning", none, "PutBucketVersioning", vec![n("s3:PutBucketVersioning", B)]),
            (Method::DELETE, bucket(), "tagging", none, "DeleteBucketTagging", vec![n("s3:PutBucketTagging", B)]),
            (Method::DELETE, bucket(), "cors", none, "DeleteBucketCors", vec![n("s3:PutBucketCORS", B)]),
            (Method::GET, bucket(), "cors", none, "GetBucketCors", vec![n("s3:GetBucketCORS", B)]),
            (Method::DELETE, bucket(), "lifecycle", none, "DeleteBucketLifecycle", vec![n("s3:PutLifecycleConfiguration", B)]),
            (Method::DELETE, bucket(), "encryption", none, "DeleteBucketEncryption", vec![n("s3:PutEncryptionConfiguration", B)]),
            (Method::GET, bucket(), "object-lock", none, "GetObjectLockConfiguration", vec![n("s3:GetBucketObjectLockConfiguration", B)]),
            (Method::PUT, object(), "retention", &[("x-amz-bypass-governance-retention", "TRUE")], "PutObjectRetention", vec![ n("s3:PutObjectRetention", O), n("s3:BypassGovernanceRetention", O), ]),
            (Method::GET, object(), "legal-hold", none, "GetObjectLegalHold", vec![n("s3:GetObjectLegalHold", O)]),
            (Method::DELETE, bucket(), "publicAccessBlock", none, "DeletePublicAccessBlock", vec![n("s3:PutBucketPublicAccessBlock", B)]),
            (Method::DELETE, bucket(), "ownershipControls", none, "DeleteBucketOwnershipControls", vec![n("s3:PutBucketOwnershipControls", B)]),
            (Method::PUT, bucket(), "notification", none, "PutBucketNotificationConfiguration", vec![n("s3:PutBucketNotification", B)]),
            (Method::POST, object(), "restore", none, "RestoreObject", vec![n("s3:RestoreObject", O)]),
            (Method::POST, object(), "select&select-type=2", none, "SelectObjectContent", vec![n("s3:GetObject", O)]),
            (Method::GET, object(), "torrent&versionId=v", none, "GetObjectTorrent", vec![n("s3:GetObjectVersionTorrent", O)]),
            (Method::GET, bucket(), "metrics", none, "ListBucketMetricsConfigurations", vec![n("s3:GetMetricsConfiguration", B)]),
            (Method::GET, bucket(), "metrics&id=m1", none, "GetBucketMetricsConfiguration", vec![n("s3:GetMetricsConfiguration", B)]),
            (Method::GET, bucket(), "replication", none, "GetBucketReplication", vec![n("s3:GetReplicationConfiguration", B)]),
        ];
        for (method, target, query, pairs, name, needs) in cases {
            let what = format!("{method} {target:?} ?{query}");
            for (action, resource) in &needs {
                assert_resource_type(action, resource);
            }
            assert_eq!(
                classified(method, &target, query, pairs),
                (name, needs),
                "{what}"
            );
        }
        for (_, _, _, action, _) in BUCKET_SUBRESOURCES {
            assert_resource_type(action, B);
        }
        for (_, _, _, action) in BUCKET_CONFIGURATIONS {
            assert_resource_type(action, B);
        }
    }

    /// The simulator's resource type of `action` (`keyless_policy::resource_arn_template`) is
    /// the kind of ARN the gateway decides it on: none for `*`, the bucket's or the object's.
    fn assert_resource_type(action: &str, resource: &str) {
        let expected = match resource.strip_prefix("arn:aws:s3:::") {
            None => None,
            Some(path) if path.contains('/') => Some("arn:aws:s3:::${BucketName}/${KeyName}"),
            Some(_) => Some("arn:aws:s3:::${BucketName}"),
        };
        assert_eq!(
            keyless_policy::resource_arn_template(action),
            expected,
            "{action} on {resource}"
        );
    }

    #[test]
    fn a_missing_key_is_decided_by_list_bucket() {
        for (method, query) in [
            (Method::GET, "versionId=v"),
            (Method::HEAD, ""),
            (Method::GET, "attributes"),
        ] {
            let op = classify(
                &method,
                &object(),
                query,
                &headers(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]),
            )
            .unwrap();
            let need = op.missing_key_need().expect("a read of one object");
            assert_eq!(
                (need.action.as_str(), need.resource.as_str()),
                ("s3:ListBucket", B)
            );
            assert_eq!(single(need, "s3:prefix"), None);
            assert_eq!(single(need, "s3:VersionId"), None);
            assert_eq!(
                single(need, "s3:x-amz-content-sha256").as_deref(),
                Some("UNSIGNED-PAYLOAD")
            );
        }
        for (method, target, query) in [
            (Method::PUT, object(), ""),
            (Method::GET, object(), "tagging"),
            (Method::GET, bucket(), ""),
        ] {
            let op = classify(&method, &target, query, &HeaderMap::new()).unwrap();
            assert!(op.missing_key_need().is_none(), "{method} ?{query}");
        }
    }

    #[test]
    fn backend_authorization_changes_are_flagged() {
        let flagged = |method: Method, target: &Target, query: &str, pairs: &[(&str, &str)]| {
            classify(&method, target, query, &headers(pairs))
                .unwrap()
                .changes_backend_authorization()
        };
        for (method, query) in [
            (Method::PUT, "policy"),
            (Method::DELETE, "policy"),
            (Method::PUT, "acl"),
            (Method::PUT, "publicAccessBlock"),
            (Method::DELETE, "publicAccessBlock"),
            (Method::PUT, "cors"),
            (Method::PUT, "website"),
            (Method::PUT, "notification"),
            (Method::PUT, "replication"),
            (Method::PUT, "logging"),
            (Method::PUT, "ownershipControls"),
        ] {
            assert!(
                flagged(method.clone(), &bucket(), query, &[]),
                "{method} ?{query}"
            );
        }
        assert!(flagged(Method::PUT, &object(), "acl", &[]));
        assert!(flagged(
            Method::PUT,
            &object(),
            "",
            &[("x-amz-acl", "public-read")]
        ));
        assert!(flagged(
            Method::PUT,
            &bucket(),
            "",
            &[("x-amz-grant-read", "uri=x")]
        ));
        assert!(!flagged(
            Method::PUT,
            &object(),
            "",
            &[("x-amz-acl", "private")]
        ));
        assert!(!flagged(
            Method::PUT,
            &bucket(),
            "",
            &[("x-amz-acl", "private")]
        ));
        for (method, query) in [
            (Method::GET, "policy"),
            (Method::DELETE, "cors"),
            (Method::PUT, "tagging"),
        ] {
            assert!(!flagged(method, &bucket(), query, &[]), "{query}");
        }
        assert!(!flagged(Method::GET, &object(), "", &[]));
    }

    #[test]
    fn writes_need_the_extra_permissions_of_their_headers() {
        let (name, needs) = classified(
            Method::PUT,
            &object(),
            "",
            &[
                ("x-amz-acl", "private"),
                ("x-amz-tagging", "a=1&b=two+words"),
                ("x-amz-object-lock-mode", "GOVERNANCE"),
                (
                    "x-amz-object-lock-retain-until-date",
                    "2030-01-01T00:00:00Z",
                ),
                ("x-amz-object-lock-legal-hold", "ON"),
            ],
        );
        assert_eq!(name, "PutObject");
        assert_eq!(
            needs,
            vec![
                n("s3:PutObject", O),
                n("s3:PutObjectAcl", O),
                n("s3:PutObjectTagging", O),
                n("s3:PutObjectRetention", O),
                n("s3:PutObjectLegalHold", O),
            ]
        );
        let (_, needs) = classified(
            Method::POST,
            &object(),
            "uploads",
            &[("x-amz-grant-read", "id=1")],
        );
        assert_eq!(needs, vec![n("s3:PutObject", O), n("s3:PutObjectAcl", O)]);
        let (_, needs) = classified(
            Method::PUT,
            &bucket(),
            "",
            &[
                ("x-amz-acl", "public-read"),
                ("x-amz-bucket-object-lock-enabled", "true"),
                ("x-amz-object-ownership", "BucketOwnerEnforced"),
            ],
        );
        assert_eq!(
            needs,
            vec![
                n("s3:CreateBucket", B),
                n("s3:PutBucketAcl", B),
                n("s3:PutBucketObjectLockConfiguration", B),
                n("s3:PutBucketVersioning", B),
                n("s3:PutBucketOwnershipControls", B),
            ]
        );
    }

    #[test]
    fn condition_keys_come_from_the_request() {
        let op = classify(
            &Method::PUT,
            &object(),
            "",
            &headers(&[
                ("x-amz-copy-source", "/src/dir%2Fk?versionId=v%201"),
                ("x-amz-metadata-directive", "REPLACE"),
                ("x-amz-server-side-encryption", "aws:kms"),
                (
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    "arn:aws:kms:us-east-1:1:key/k",
                ),
                ("x-amz-storage-class", "GLACIER"),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                ("x-amz-tagging", "team=web&env=prod%2Fa"),
                ("x-amz-acl", "bucket-owner-full-control"),
                ("if-none-match", "*"),
                ("x-amz-object-lock-mode", "COMPLIANCE"),
            ]),
        )
        .unwrap();
        assert_eq!(op.name(), "CopyObject");
        for need in op.needs() {
            let get = |key: &str| single(need, key);
            assert_eq!(get("s3:x-amz-copy-source").as_deref(), Some("src/dir/k"));
            assert_eq!(
                get("s3:x-amz-metadata-directive").as_deref(),
                Some("REPLACE")
            );
            assert_eq!(
                get("s3:x-amz-server-side-encryption").as_deref(),
                Some("aws:kms")
            );
            assert_eq!(
                get("s3:x-amz-server-side-encryption-aws-kms-key-id").as_deref(),
                Some("arn:aws:kms:us-east-1:1:key/k")
            );
            assert_eq!(get("s3:x-amz-storage-class").as_deref(), Some("GLACIER"));
            assert_eq!(
                get("s3:x-amz-content-sha256").as_deref(),
                Some("UNSIGNED-PAYLOAD")
            );
            assert_eq!(get("s3:RequestObjectTag/team").as_deref(), Some("web"));
            assert_eq!(get("s3:RequestObjectTag/env").as_deref(), Some("prod/a"));
            assert_eq!(get("s3:RequestObjectTagKeys").as_deref(), Some("team|env"));
            assert_eq!(
                get("s3:x-amz-acl").as_deref(),
                Some("bucket-owner-full-control")
            );
            assert_eq!(get("s3:if-none-match").as_deref(), Some("*"));
            assert_eq!(get("s3:ObjectCreationOperation").as_deref(), Some("true"));
            assert_eq!(get("s3:object-lock-mode").as_deref(), Some("COMPLIANCE"));
            assert_eq!(
                get("s3:VersionId"),
                None,
                "the source's version is not the request's"
            );
        }
        assert_eq!(
            op.needs()[op.needs().len() - 1].resource,
            "arn:aws:s3:::src/dir/k"
        );

        let list = classify(
            &Method::GET,
            &bucket(),
            "versions&prefix=a%20b%2B&delimiter=%2F&max-keys=5",
            &HeaderMap::new(),
        )
        .unwrap();
        let need = &list.needs()[0];
        assert_eq!(single(need, "s3:prefix").as_deref(), Some("a b+"));
        assert_eq!(single(need, "s3:delimiter").as_deref(), Some("/"));
        assert_eq!(single(need, "s3:max-keys").as_deref(), Some("5"));
        let plain = classify(&Method::GET, &bucket(), "", &HeaderMap::new()).unwrap();
        assert!(
            plain.needs()[0].context.is_empty(),
            "absent parameters are absent keys"
        );
        let empty_prefix = classify(&Method::GET, &bucket(), "prefix=", &HeaderMap::new()).unwrap();
        assert_eq!(
            single(&empty_prefix.needs()[0], "s3:prefix").as_deref(),
            Some("")
        );

        let version = classify(
            &Method::GET,
            &object(),
            "versionId=3%2F4",
            &HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(
            single(&version.needs()[0], "s3:VersionId").as_deref(),
            Some("3/4")
        );
        let part = classify(
            &Method::PUT,
            &object(),
            "partNumber=1&uploadId=u",
            &HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(
            single(&part.needs()[0], "s3:ObjectCreationOperation").as_deref(),
            Some("false")
        );
    }

    #[test]
    fn unknown_and_malformed_requests_are_refused_naming_what() {
        let refused = |method: Method, target: &Target, query: &str, pairs: &[(&str, &str)]| {
            let error = classify(&method, target, query, &headers(pairs)).unwrap_err();
            (error.code(), error.message())
        };
        let (code, message) = refused(Method::PUT, &object(), "foo", &[]);
        assert_eq!(
            (code, message.as_str()),
            (
                "NotImplemented",
                "The query parameter foo is not implemented."
            )
        );
        let (code, message) = refused(Method::GET, &bucket(), "metadataTable", &[]);
        assert_eq!(code, "NotImplemented");
        assert!(message.contains("metadataTable"), "{message}");
        let (code, message) = refused(Method::GET, &object(), "location", &[]);
        assert_eq!(code, "NotImplemented");
        assert!(message.contains("location"), "{message}");
        let (code, message) = refused(Method::GET, &bucket(), "acl&policy", &[]);
        assert_eq!(code, "NotImplemented");
        assert!(
            message.contains("acl") && message.contains("policy"),
            "{message}"
        );
        assert_eq!(
            refused(Method::GET, &target(None, None), "acl", &[]).0,
            "NotImplemented"
        );
        assert_eq!(
            refused(Method::POST, &bucket(), "", &[]).0,
            "NotImplemented"
        );
        let long = "p".repeat(1000);
        assert!(refused(Method::GET, &bucket(), &long, &[]).1.len() < 200);
        for (method, target, query) in [
            (Method::PUT, target(None, None), ""),
            (Method::POST, object(), ""),
            (Method::PATCH, object(), ""),
            (Method::OPTIONS, bucket(), ""),
            (Method::POST, bucket(), "acl"),
            (Method::GET, bucket(), "delete"),
            (Method::PUT, bucket(), "versions"),
            (Method::DELETE, bucket(), "location"),
            (Method::DELETE, object(), "acl"),
            (Method::POST, object(), "select"),
            (Method::GET, object(), "uploads"),
        ] {
            let what = format!("{method} ?{query}");
            assert_eq!(
                refused(method, &target, query, &[]).0,
                "MethodNotAllowed",
                "{what}"
            );
        }
        for (method, target, query, pairs) in [
            (
                Method::GET,
                object(),
                "",
                &[("x-amz-copy-source", "src/k")][..],
            ),
            (
                Method::PUT,
                object(),
                "tagging",
                &[("x-amz-copy-source", "src/k")],
            ),
            (Method::PUT, object(), "", &[("x-amz-copy-source", "src")]),
            (Method::PUT, object(), "", &[("x-amz-copy-source", "/src/")]),
            (
                Method::PUT,
                object(),
                "",
                &[("x-amz-copy-source", "Bad_Bucket/k")],
            ),
            (
                Method::PUT,
                object(),
                "",
                &[("x-amz-copy-source", "src/k?foo=1")],
            ),
            (
                Method::PUT,
                object(),
                "",
                &[("x-amz-copy-source", "src/k?versionId=")],
            ),
            (
                Method::PUT,
                object(),
                "",
                &[("x-amz-copy-source", "src/%FF")],
            ),
            (Method::PUT, object(), "partNumber=0&uploadId=u", &[]),
            (Method::PUT, object(), "partNumber=10001&uploadId=u", &[]),
            (Method::PUT, object(), "partNumber=x&uploadId=u", &[]),
            (Method::PUT, object(), "uploadId=u", &[]),
            (Method::PUT, object(), "partNumber=1", &[]),
            (Method::GET, bucket(), "list-type=3", &[]),
            (Method::GET, bucket(), "max-keys=-1", &[]),
            (Method::GET, bucket(), "prefix=%FF", &[]),
            (Method::PUT, object(), "", &[("x-amz-tagging", "a=1&a=2")]),
            (Method::PUT, object(), "", &[("x-amz-tagging", "=1")]),
            (
                Method::PUT,
                object(),
                "",
                &[(
                    "x-amz-tagging",
                    "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1",
                )],
            ),
        ] {
            let what = format!("{method} ?{query} {pairs:?}");
            assert_eq!(
                refused(method, &target, query, pairs).0,
                "InvalidArgument",
                "{what}"
            );
        }
        for (query, pairs) in [
            ("versionId=a&versionId=b", &[][..]),
            (
                "",
                &[
                    ("x-amz-copy-source", "src/a"),
                    ("x-amz-copy-source", "src/b"),
                ],
            ),
            (
                "",
                &[("x-amz-acl", "private"), ("x-amz-acl", "public-read")],
            ),
            (
                "",
                &[
                    ("x-amz-object-lock-mode", "GOVERNANCE"),
                    ("x-amz-object-lock-mode", "COMPLIANCE"),
                ],
            ),
        ] {
            assert_eq!(
                refused(Method::PUT, &object(), query, pairs).0,
                "InvalidArgument",
                "{query} {pairs:?}"
            );
        }
        let mut binary = HeaderMap::new();
        binary.insert(
            "x-amz-copy-source",
            http::HeaderValue::from_bytes(b"src/caf\xc3\xa9").unwrap(),
        );
        let error = classify(&Method::PUT, &object(), "", &binary).unwrap_err();
        assert_eq!(
            error.code(),
            "InvalidArgument",
            "an unreadable copy source is not skipped"
        );
        let mut metadata = HeaderMap::new();
        metadata.insert(
            "x-amz-meta-name",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert!(classify(&Method::PUT, &object(), "", &metadata).is_ok());
        let long_key = format!("src/{}", "k".repeat(MAX_KEY_BYTES + 1));
        assert_eq!(
            refused(
                Method::PUT,
                &object(),
                "",
                &[("x-amz-copy-source", &long_key)]
            )
            .0,
            "KeyTooLongError"
        );
    }

    #[test]
    fn copy_sources_are_normalised() {
        assert_eq!(
            CopySource::parse("bkt/a%2Fb%20c%3Fd").unwrap(),
            CopySource {
                bucket: "bkt".into(),
                key: "a/b c?d".into(),
                version_id: None
            }
        );
        let versioned = CopySource::parse("/bkt//k?versionId=abc").unwrap();
        assert_eq!(
            (versioned.key.as_str(), versioned.version_id.as_deref()),
            ("/k", Some("abc"))
        );
        assert_eq!(versioned.arn(), "arn:aws:s3:::bkt//k");
    }

    #[test]
    fn auth_keys() {
        let keys = auth_context("AWS4-HMAC-SHA256", AuthType::QueryString, Some(1500));
        assert_eq!(
            keys,
            vec![
                (
                    "s3:signatureversion",
                    ContextValue::Single("AWS4-HMAC-SHA256".into())
                ),
                (
                    "s3:authType",
                    ContextValue::Single("REST-QUERY-STRING".into())
                ),
                ("s3:signatureAge", ContextValue::Single("1500".into())),
            ]
        );
        assert_eq!(
            auth_context("AWS4-HMAC-SHA256", AuthType::Header, None).len(),
            2
        );
        assert_eq!(AuthType::Header.as_str(), "REST-HEADER");
        assert_eq!(AuthType::Post.as_str(), "POST");
    }

    const DELETE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Quiet>true</Quiet>
  <!-- two entries -->
  <Object><Key>a &amp; b&#x2F;c</Key></Object>
  <Object><Key><![CDATA[d<e]]></Key><VersionId>v1</VersionId><ETag>"x"</ETag></Object>
  <Object><Key>f</Key><VersionId/></Object>
</Delete>"#;

    #[test]
    fn delete_objects_needs_one_delete_per_key() {
        let op = classify(
            &Method::POST,
            &bucket(),
            "delete",
            &headers(&[
                ("x-amz-bypass-governance-retention", "true"),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ]),
        )
        .unwrap();
        assert!(op.reads_body());
        assert!(op.needs().is_empty());
        let needs = op.needs_with_body(DELETE.as_bytes()).unwrap();
        let pairs: Vec<(String, String)> = needs
            .iter()
            .map(|n| (n.action.clone(), n.resource.clone()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                n("s3:DeleteObject", "arn:aws:s3:::bkt/a & b/c"),
                n("s3:BypassGovernanceRetention", "arn:aws:s3:::bkt/a & b/c"),
                n("s3:DeleteObjectVersion", "arn:aws:s3:::bkt/d<e"),
                n("s3:BypassGovernanceRetention", "arn:aws:s3:::bkt/d<e"),
                n("s3:DeleteObject", "arn:aws:s3:::bkt/f"),
                n("s3:BypassGovernanceRetention", "arn:aws:s3:::bkt/f"),
            ]
        );
        assert_eq!(single(&needs[2], "s3:VersionId").as_deref(), Some("v1"));
        assert_eq!(single(&needs[0], "s3:VersionId"), None);
        assert_eq!(
            single(&needs[0], "s3:x-amz-content-sha256").as_deref(),
            Some("UNSIGNED-PAYLOAD")
        );
        let plain = classify(&Method::GET, &object(), "", &HeaderMap::new()).unwrap();
        assert!(!plain.reads_body());
        assert_eq!(plain.needs_with_body(b"ignored").unwrap().len(), 1);
    }

    #[test]
    fn put_object_tagging_reads_its_tags_from_the_body() {
        let op = classify(&Method::PUT, &object(), "tagging", &HeaderMap::new()).unwrap();
        assert!(op.reads_body());
        let body = b"<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>\
            <Tag><Key>team</Key><Value>web &amp; mobile</Value></Tag>\
            <Tag><Key>env</Key><Value></Value></Tag></TagSet></Tagging>";
        let needs = op.needs_with_body(body).unwrap();
        assert_eq!(needs.len(), 1);
        assert_eq!(
            single(&needs[0], "s3:RequestObjectTag/team").as_deref(),
            Some("web & mobile")
        );
        assert_eq!(
            single(&needs[0], "s3:RequestObjectTag/env").as_deref(),
            Some("")
        );
        assert_eq!(
            single(&needs[0], "s3:RequestObjectTagKeys").as_deref(),
            Some("team|env")
        );
        let refused = |body: &str| op.needs_with_body(body.as_bytes()).unwrap_err().code();
        let tag = |k: &str| format!("<Tag><Key>{k}</Key><Value>v</Value></Tag>");
        let tagging = |tags: String| format!("<Tagging><TagSet>{tags}</TagSet></Tagging>");
        assert_eq!(refused(&tagging(tag("a").repeat(2))), "InvalidArgument");
        let eleven: String = (0..11).map(|i| tag(&format!("k{i}"))).collect();
        assert_eq!(refused(&tagging(eleven)), "InvalidArgument");
        let ten: String = (0..10).map(|i| tag(&format!("k{i}"))).collect();
        assert_eq!(
            op.needs_with_body(tagging(ten).as_bytes()).unwrap().len(),
            1
        );
        let many: String = (0..60).map(|i| tag(&format!("k{i}"))).collect();
        assert_eq!(refused(&tagging(many)), "MalformedXML");
        assert_eq!(refused(&tagging(tag(""))), "InvalidArgument");
        for body in [
            "<Tagging/>".to_owned(),
            "<Tags><TagSet/></Tags>".to_owned(),
            "<Tagging><TagSet/><TagSet/></Tagging>".to_owned(),
            tagging("<Tag><Key>a</Key></Tag>".to_owned()),
            tagging("<Tag><Key>a</Key><Value>b</Value><Value>c</Value></Tag>".to_owned()),
            tagging("<Tag><Key>a</Key><Value>b</Value><Other/></Tag>".to_owned()),
            tagging("<Other/>".to_owned()),
        ] {
            assert_eq!(refused(&body), "MalformedXML", "{body}");
        }
        let empty = op.needs_with_body(b"<Tagging><TagSet/></Tagging>").unwrap();
        assert_eq!(
            single(&empty[0], "s3:RequestObjectTagKeys").as_deref(),
            Some("")
        );
        assert_eq!(
            refused(&" ".repeat(MAX_TAGGING_BODY + 1)),
            "MaxMessageLengthExceeded"
        );
    }

    #[test]
    fn delete_bodies_are_bounded_and_strict() {
        let refused = |body: &str| {
            delete_objects_needs(&bucket(), body.as_bytes())
                .unwrap_err()
                .code()
        };
        let one = |object: &str| format!("<Delete>{object}</Delete>");
        for body in [
            "".to_owned(),
            "<Delete></Delete>".to_owned(),
            "<Delete><Object><Key>a</Key></Object>".to_owned(),
            "<Other><Object><Key>a</Key></Object></Other>".to_owned(),
            one("<Object></Object>"),
            one("<Object><Key></Key></Object>"),
            one("<Object><Key>a</Key><Key>b</Key></Object>"),
            one("<Object><Key>a</Key><Owner>x</Owner></Object>"),
            one("<Object><Key>a&unknown;</Key></Object>"),
            one("<Object><Key>a</Key></Object>text"),
            one("<Quiet>maybe</Quiet><Object><Key>a</Key></Object>"),
            format!("{}<x/>", one("<Object><Key>a</Key></Object>")),
            "<!DOCTYPE d [<!ENTITY e \"x\">]><Delete><Object><Key>&e;</Key></Object></Delete>"
                .to_owned(),
            format!(
                "<Delete>{}</Delete>",
                "<Object><Key>k</Key></Object>".repeat(MAX_DELETE_KEYS + 1)
            ),
        ] {
            assert_eq!(refused(&body), "MalformedXML", "{body:.120}");
        }
        assert_eq!(
            refused(&one(&format!(
                "<Object><Key>{}</Key></Object>",
                "k".repeat(MAX_KEY_BYTES + 1)
            ))),
            "KeyTooLongError"
        );
        let huge = " ".repeat(MAX_DELETE_BODY + 1);
        assert_eq!(refused(&huge), "MaxMessageLengthExceeded");
        assert_eq!(
            delete_objects_needs(&bucket(), b"<Delete>\xff</Delete>")
                .unwrap_err()
                .code(),
            "MalformedXML"
        );
        let most = format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(MAX_DELETE_KEYS)
        );
        assert_eq!(
            delete_objects_needs(&bucket(), most.as_bytes())
                .unwrap()
                .len(),
            MAX_DELETE_KEYS
        );
        assert_eq!(
            delete_objects_needs(&target(None, None), DELETE.as_bytes()).unwrap_err(),
            S3Error::InternalError
        );
    }
}
