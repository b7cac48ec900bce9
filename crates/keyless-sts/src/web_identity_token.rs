//! `GetWebIdentityToken` (outbound identity federation): a signed caller trades its session for
//! a short-lived JWT signed by the account's outbound keys, in AWS's claim layout, for relying
//! parties outside keyless (real AWS, other clouds, SaaS).
//!
//! The call is validated, refused while the account's switch is off, authorized through
//! [`crate::permissions::authorize`] with AWS's condition keys (`sts:IdentityTokenAudience`,
//! `sts:DurationSeconds`, `sts:SigningAlgorithm`, `sts:SubjectMode`, `sts:IdentityTokenScope`,
//! the request tags), kept within the session's lifetime, and bounded in size before it is
//! signed.

use keyless_credentials::session::{SessionClaims, SessionKeyValue, SessionOrigin};
use keyless_oidc::outbound::{OutboundKey, OutboundKeyring, SigningAlgorithm};
use keyless_policy::{Context, ContextValue};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::context::{self, RequestEnv};
use crate::error::Error;
use crate::query::QueryParams;
use crate::state::StsState;
use crate::time::iso8601;
use crate::validate::{self, Violations};
use crate::xml::{self, XmlWriter};

/// The action every call needs.
pub const ACTION: &str = "sts:GetWebIdentityToken";
/// The action a call with `Tags` needs too.
pub const TAG_ACTION: &str = "sts:TagGetWebIdentityToken";
/// The action a call with `Scope` needs too.
pub const SCOPE_ACTION: &str = "sts:SetWebIdentityTokenScope";
/// The namespace claim of AWS's outbound tokens.
pub const NAMESPACE_CLAIM: &str = "https://sts.amazonaws.com/";
/// The claim AWS reads session tags from in `AssumeRoleWithWebIdentity`.
pub const SESSION_TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The most bytes of JSON a token's claims may take.
pub const MAX_PAYLOAD_BYTES: usize = 8192;
/// `DurationSeconds` when the call does not give it.
pub const DEFAULT_DURATION_SECS: u32 = 300;

/// Whose identity a token's `sub` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectMode {
    /// The calling principal: the role's ARN for a role session (the default).
    AwsIdentity,
    /// The identity the session came from: the original web identity token's subject.
    OriginIdentity,
}

impl SubjectMode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectMode::AwsIdentity => "AWSIdentity",
            SubjectMode::OriginIdentity => "OriginIdentity",
        }
    }
}

/// The account's outbound identity federation, as requests read it.
#[derive(Debug, Default)]
pub struct Outbound {
    /// The issuer URL: `iss` of every token, and where the discovery document and JWKS live.
    pub issuer: String,
    /// Whether the account's switch is on.
    pub enabled: bool,
    /// The signing keys.
    pub keyring: OutboundKeyring,
    /// Session tags for relying AWS accounts, `(tag key, origin claim)`: the origin web identity
    /// claim's value becomes the tag in the `https://aws.amazon.com/tags` claim.
    pub session_tags: Vec<(String, String)>,
}

/// The validated parameters of `GetWebIdentityToken`.
#[derive(Debug, Clone)]
pub struct TokenParams {
    /// `Audience.member.N`.
    pub audiences: Vec<String>,
    /// `SigningAlgorithm`.
    pub algorithm: SigningAlgorithm,
    /// `DurationSeconds`, or the default 300.
    pub duration_seconds: u32,
    /// `Tags`.
    pub tags: Vec<(String, String)>,
    /// `Scope`.
    pub scope: Option<String>,
    /// `SubjectMode`.
    pub subject_mode: SubjectMode,
}

/// `[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]`: a scope value's characters.
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x2B' | '\x2D'..='\x5B' | '\x5D'..='\x7E')
}

const SCOPE_PATTERN: &str =
    r"[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+( [\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+)*";

impl TokenParams {
    /// Reads and validates the parameters, reporting every violation at once in AWS's format.
    pub fn from_query(q: &QueryParams) -> Result<TokenParams, Error> {
        let mut v = Violations::new();
        let audiences: Vec<&str> = q.list("Audience", None);
        if audiences.is_empty() {
            v.required("audience", None);
        }
        v.list_length("audience", audiences.len(), 10);
        for audience in &audiences {
            v.length("audience.member", audience, 1, 1000);
        }
        let algorithm = v.required("signingAlgorithm", q.get("SigningAlgorithm"));
        let mut parsed_algorithm = None;
        if let Some(a) = algorithm {
            v.length("signingAlgorithm", a, 5, 5);
            parsed_algorithm = SigningAlgorithm::parse(a);
            if parsed_algorithm.is_none() && a.chars().count() == 5 {
                v.enumeration("signingAlgorithm", a, "[RS256, ES384]");
            }
        }
        let duration = q
            .get("DurationSeconds")
            .and_then(|d| v.integer("durationSeconds", d, 60, 3600));
        let tags = validate::session_tags(q, &mut v);
        let scope = q.get("Scope");
        if let Some(s) = scope {
            v.length("scope", s, 1, 256);
            let well_formed = !s.is_empty()
                && s.split(' ')
                    .all(|part| !part.is_empty() && part.chars().all(is_scope_char));
            if !well_formed {
                v.pattern("scope", s, SCOPE_PATTERN, |_| false);
            }
        }
        let subject_mode = match q.get("SubjectMode") {
            None | Some("AWSIdentity") => Some(SubjectMode::AwsIdentity),
            Some("OriginIdentity") => Some(SubjectMode::OriginIdentity),
            Some(other) => {
                v.enumeration("subjectMode", other, "[AWSIdentity, OriginIdentity]");
                None
            }
        };
        v.finish()?;
        let (Some(algorithm), Some(subject_mode)) = (parsed_algorithm, subject_mode) else {
            return Err(Error::Internal);
        };
        if let Some(s) = scope {
            if subject_mode != SubjectMode::OriginIdentity || audiences.len() != 1 {
                return Err(Error::Validation(
                    "Scope can only be requested with SubjectMode OriginIdentity and exactly one audience."
                        .to_owned(),
                ));
            }
            let mut values: Vec<&str> = s.split(' ').collect();
            values.sort_unstable();
            if values.windows(2).any(|w| w[0] == w[1]) {
                return Err(Error::Validation("Scope values must be unique.".to_owned()));
            }
        }
        Ok(TokenParams {
            audiences: audiences.into_iter().map(str::to_owned).collect(),
            algorithm,
            duration_seconds: duration.map_or(DEFAULT_DURATION_SECS, |d| d as u32),
            tags,
            scope: scope.map(str::to_owned),
            subject_mode,
        })
    }
}

/// An issued token and what its audit event records (never the token itself).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// The signing key's `kid`.
    pub kid: String,
    /// The token's unique ID.
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
}

/// Issues a token for `caller`: validated `params`, the account's `outbound` federation, the
/// region the call was signed for (`source_region`), at `now`.
pub fn issue(
    state: &StsState,
    outbound: &Outbound,
    caller: &Caller,
    params: &TokenParams,
    region: &str,
    now: i64,
    env: &RequestEnv,
) -> Result<IssuedToken, Error> {
    if !outbound.enabled {
        return Err(Error::OutboundFederationDisabled);
    }
    let mut actions = vec![ACTION];
    if !params.tags.is_empty() {
        actions.push(TAG_ACTION);
    }
    if params.scope.is_some() {
        actions.push(SCOPE_ACTION);
    }
    let ctx = request_context(params);
    crate::permissions::authorize_all(state, caller, &actions, "*", ctx, now, env)?;
    let session = match caller {
        Caller::Session(claims) => Some(claims.as_ref()),
        Caller::Admin { .. } => None,
    };
    let expires_at = now + i64::from(params.duration_seconds);
    if session.is_some_and(|s| expires_at > s.expires_at) {
        return Err(Error::SessionDurationEscalation);
    }
    let origin = session.and_then(|s| OriginIdentity::of(state, s));
    let subject = match params.subject_mode {
        SubjectMode::AwsIdentity => principal_arn(caller),
        SubjectMode::OriginIdentity => {
            let Some(origin) = &origin else {
                return Err(Error::Validation(
                    "SubjectMode OriginIdentity requires a session that carries an origin identity (a web identity session)."
                        .to_owned(),
                ));
            };
            check_origin_subject(&origin.subject)?;
            origin.subject.clone()
        }
    };
    let Some(key) = outbound.keyring.current(params.algorithm) else {
        return Err(Error::Internal);
    };
    let jti = uuid::Uuid::new_v4().to_string();
    let payload = claims(&ClaimInputs {
        outbound,
        caller,
        session,
        origin: origin.as_ref(),
        params,
        subject: &subject,
        region,
        now,
        expires_at,
        jti: &jti,
    })?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::JwtPayloadSizeExceeded {
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    let token = sign(key, &payload)?;
    Ok(IssuedToken {
        token,
        expires_at,
        kid: key.kid().to_owned(),
        jti,
        subject,
    })
}

fn sign(key: &OutboundKey, payload: &str) -> Result<String, Error> {
    key.sign(payload).map_err(|_| Error::Internal)
}

/// The `GetWebIdentityToken` response.
pub fn response(issued: &IssuedToken, request_id: &str) -> String {
    xml::success(
        "GetWebIdentityToken",
        xml::STS_NAMESPACE,
        request_id,
        issued.token.len() + 384,
        Some(&|w: &mut XmlWriter| {
            w.element("WebIdentityToken", &issued.token)
                .element("Expiration", &iso8601(issued.expires_at));
        }),
    )
}

/// The request's own condition keys.
fn request_context(params: &TokenParams) -> Context {
    let mut ctx = Context::new();
    ctx.insert(
        "sts:IdentityTokenAudience",
        ContextValue::Multi(params.audiences.clone()),
    );
    ctx.insert(
        "sts:DurationSeconds",
        ContextValue::Single(params.duration_seconds.to_string()),
    );
    ctx.insert(
        "sts:SigningAlgorithm",
        ContextValue::Single(params.algorithm.as_str().to_owned()),
    );
    ctx.insert(
        "sts:SubjectMode",
        ContextValue::Single(params.subject_mode.as_str().to_owned()),
    );
    if let Some(scope) = &params.scope {
        ctx.insert(
            "sts:IdentityTokenScope",
            ContextValue::Multi(scope.split(' ').map(str::to_owned).collect()),
        );
    }
    context::add_request_tags(&mut ctx, &params.tags, &[]);
    ctx
}

/// The calling principal's ARN as the token names it: the role (with its path) for a role
/// session, the account root for the admin key.
fn principal_arn(caller: &Caller) -> String {
    match caller {
        Caller::Admin { account, .. } => format!("arn:aws:iam::{account}:root"),
        Caller::Session(claims) => claims.role_arn(),
    }
}

/// AWS's rules for an origin subject: not an ARN, no surrounding space, and no control,
/// format or separator character other than a plain space.
fn check_origin_subject(subject: &str) -> Result<(), Error> {
    let invalid = subject.trim().is_empty()
        || subject
            .get(..4)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("arn:"))
        || subject.starts_with(' ')
        || subject.ends_with(' ')
        || subject
            .chars()
            .any(|c| c != ' ' && (c.is_control() || c.is_whitespace() || is_format_char(c)));
    if invalid {
        return Err(Error::Validation(
            "The origin identity's subject cannot be used as a token subject.".to_owned(),
        ));
    }
    Ok(())
}

/// Unicode format characters (category Cf) that can hide in a subject.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// Where a web identity session came from: the original token's issuer, subject and
/// audience, and the claims its provider lets the session carry.
struct OriginIdentity {
    issuer: String,
    subject: String,
    audience: String,
    claims: Vec<(String, SessionKeyValue)>,
}

impl OriginIdentity {
    fn of(state: &StsState, session: &SessionClaims) -> Option<OriginIdentity> {
        let SessionOrigin::WebIdentity {
            provider_arn,
            subject,
            audience,
        } = &session.origin
        else {
            return None;
        };
        let provider = state
            .providers_by_issuer
            .values()
            .find(|p| &p.arn == provider_arn);
        let (issuer, prefix) = match provider {
            Some(p) => (p.model.url.clone(), p.key_prefix.clone()),
            None => {
                let prefix = provider_arn
                    .split_once(":oidc-provider/")
                    .map_or("", |(_, rest)| rest)
                    .to_owned();
                (format!("https://{prefix}"), prefix)
            }
        };
        let claims = session
            .web_identity_keys
            .iter()
            .filter_map(|(key, value)| {
                let claim = key.strip_prefix(prefix.as_str())?.strip_prefix(':')?;
                Some((claim.to_owned(), value.clone()))
            })
            .collect();
        Some(OriginIdentity {
            issuer,
            subject: subject.clone(),
            audience: audience.clone(),
            claims,
        })
    }

    fn claim(&self, name: &str) -> Option<&SessionKeyValue> {
        self.claims
            .iter()
            .find(|(claim, _)| claim == name)
            .map(|(_, v)| v)
    }
}

struct ClaimInputs<'a> {
    outbound: &'a Outbound,
    caller: &'a Caller,
    session: Option<&'a SessionClaims>,
    origin: Option<&'a OriginIdentity>,
    params: &'a TokenParams,
    subject: &'a str,
    region: &'a str,
    now: i64,
    expires_at: i64,
    jti: &'a str,
}

/// Pairs written as a JSON object.
struct PairMap<'a, V>(&'a [(String, V)]);

impl<V: Serialize> Serialize for PairMap<'_, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The token's claims, written as they are laid out (no JSON tree is built).
#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience<'a>,
    iat: i64,
    exp: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_mode: Option<&'static str>,
    #[serde(rename = "https://sts.amazonaws.com/")]
    namespace: Namespace<'a>,
    #[serde(
        rename = "https://aws.amazon.com/tags",
        skip_serializing_if = "Option::is_none"
    )]
    session_tags: Option<Value>,
}

/// One audience as a string, several as an array.
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

/// The `https://sts.amazonaws.com/` claim.
#[derive(Serialize)]
struct Namespace<'a> {
    aws_account: &'a str,
    source_region: &'a str,
    principal_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_tags: Option<PairMap<'a, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_tags: Option<PairMap<'a, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_session_exp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    federated_provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_identity: Option<OriginClaim<'a>>,
}

/// `origin_identity`: the web identity a session came from.
#[derive(Serialize)]
struct OriginClaim<'a> {
    issuer: &'a str,
    subject: &'a str,
    audience: &'a str,
    claims: PairMap<'a, SessionKeyValue>,
}

/// The token's claims as JSON text.
fn claims(c: &ClaimInputs<'_>) -> Result<String, Error> {
    let principal_tags = c
        .session
        .map(|session| session.principal_tags())
        .filter(|tags| !tags.is_empty())
        .map(PairMap);
    let namespace = Namespace {
        aws_account: c.caller.account(),
        source_region: c.region,
        principal_id: principal_arn(c.caller),
        principal_tags,
        request_tags: (!c.params.tags.is_empty()).then_some(PairMap(&c.params.tags)),
        original_session_exp: c.session.map(|session| iso8601(session.expires_at)),
        federated_provider: c.session.and_then(|session| match &session.origin {
            SessionOrigin::WebIdentity { provider_arn, .. } => Some(provider_arn.as_str()),
            SessionOrigin::AssumeRole { .. } => None,
        }),
        source_identity: c
            .session
            .and_then(|session| session.source_identity.as_deref()),
        origin_identity: c.origin.map(|origin| OriginClaim {
            issuer: &origin.issuer,
            subject: &origin.subject,
            audience: &origin.audience,
            claims: PairMap(&origin.claims),
        }),
    };
    let payload = Payload {
        iss: &c.outbound.issuer,
        sub: c.subject,
        aud: match c.params.audiences.as_slice() {
            [one] => Audience::One(one),
            many => Audience::Many(many),
        },
        iat: c.now,
        exp: c.expires_at,
        jti: c.jti,
        scope: c.params.scope.as_deref(),
        subject_mode: (c.params.subject_mode == SubjectMode::OriginIdentity)
            .then_some(SubjectMode::OriginIdentity.as_str()),
        namespace,
        session_tags: session_tags_claim(c.outbound, c.origin),
    };
    serde_json::to_string(&payload).map_err(|_| Error::Internal)
}

/// The `https://aws.amazon.com/tags` claim from the configured mapping: each tag's value is
/// the origin claim's (one-element arrays, as AWS reads session tags); tags whose claim the
/// session does not carry are left out.
fn session_tags_claim(outbound: &Outbound, origin: Option<&OriginIdentity>) -> Option<Value> {
    let origin = origin?;
    let tags: Map<String, Value> = outbound
        .session_tags
        .iter()
        .filter_map(|(tag, claim)| {
            let value = match origin.claim(claim)? {
                SessionKeyValue::One(v) => v.clone(),
                SessionKeyValue::Many(vs) => vs.join(","),
            };
            let value: String = value.chars().take(256).collect();
            Some((tag.clone(), json!([value])))
        })
        .take(50)
        .collect();
    if tags.is_empty() {
        return None;
    }
    Some(json!({ "principal_tags": tags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(form: &str) -> Result<TokenParams, Error> {
        TokenParams::from_query(&QueryParams::parse("", form.as_bytes()).unwrap())
    }

    fn message(form: &str) -> String {
        parse(form).unwrap_err().message().into_owned()
    }

    #[test]
    fn defaults_and_every_parameter_are_read() {
        let p = parse("Audience.member.1=a&SigningAlgorithm=ES384").unwrap();
        assert_eq!(p.audiences, ["a"]);
        assert_eq!(p.algorithm, SigningAlgorithm::Es384);
        assert_eq!(p.duration_seconds, 300);
        assert_eq!(p.subject_mode, SubjectMode::AwsIdentity);
        let p = parse(
            "Audience.member.1=a&SigningAlgorithm=RS256&DurationSeconds=60&Tags.member.1.Key=k&Tags.member.1.Value=v&SubjectMode=OriginIdentity&Scope=read%20write",
        )
        .unwrap();
        assert_eq!(p.duration_seconds, 60);
        assert_eq!(p.tags, [("k".to_owned(), "v".to_owned())]);
        assert_eq!(p.scope.as_deref(), Some("read write"));
    }

    #[test]
    fn violations_are_reported_in_aws_format() {
        assert_eq!(
            message(""),
            "2 validation errors detected: Value null at 'audience' failed to satisfy constraint: Member must not be null; Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            message("Audience.member.1=a&SigningAlgorithm=ES256"),
            "1 validation error detected: Value 'ES256' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]"
        );
        assert!(
            message("Audience.member.1=a&SigningAlgorithm=RS2567")
                .contains("Member must have length less than or equal to 5")
        );
        assert!(
            message("Audience.member.1=a&SigningAlgorithm=RS256&DurationSeconds=4000")
                .contains("Value '4000' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600")
        );
        assert!(
            message("Audience.member.1=a&SigningAlgorithm=RS256&DurationSeconds=59")
                .contains("greater than or equal to 60")
        );
        let eleven: String = (1..=11)
            .map(|i| format!("Audience.member.{i}=a{i}&"))
            .collect();
        assert!(
            message(&format!("{eleven}SigningAlgorithm=RS256"))
                .contains("Value at 'audience' failed to satisfy constraint: Member must have length less than or equal to 10")
        );
        let long = "a".repeat(1001);
        assert!(
            message(&format!("Audience.member.1={long}&SigningAlgorithm=RS256"))
                .contains("less than or equal to 1000")
        );
        assert!(
            message("Audience.member.1=a&SigningAlgorithm=RS256&SubjectMode=Other")
                .contains("Member must satisfy enum value set: [AWSIdentity, OriginIdentity]")
        );
        assert!(
            message("Audience.member.1=a&SigningAlgorithm=RS256&Tags.member.1.Key=%21&Tags.member.1.Value=v")
                .contains("'tags.member.key'")
        );
        let tags: String = (1..=51)
            .map(|i| format!("Tags.member.{i}.Key=k{i}&Tags.member.{i}.Value=v&"))
            .collect();
        assert!(
            message(&format!("{tags}Audience.member.1=a&SigningAlgorithm=RS256"))
                .contains("Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
        );
    }

    #[test]
    fn scope_needs_origin_identity_one_audience_and_a_well_formed_value() {
        let base = "Audience.member.1=a&SigningAlgorithm=RS256";
        assert!(message(&format!("{base}&Scope=read")).contains("SubjectMode OriginIdentity"));
        assert!(
            message(&format!(
                "{base}&Audience.member.2=b&SubjectMode=OriginIdentity&Scope=read"
            ))
            .contains("exactly one audience")
        );
        for bad in ["read%20%20write", "%20read", "a%22b", "a,b", "a%5Cb", ""] {
            let m = message(&format!("{base}&SubjectMode=OriginIdentity&Scope={bad}"));
            assert!(m.contains("'scope'"), "{bad}: {m}");
        }
        assert!(
            message(&format!(
                "{base}&SubjectMode=OriginIdentity&Scope=read%20read"
            ))
            .contains("unique")
        );
    }

    #[test]
    fn origin_subjects_that_are_arns_or_hide_characters_are_refused() {
        for bad in [
            "arn:aws:iam::1:role/x",
            "ARN:x",
            " lead",
            "trail ",
            "tab\there",
            "zero\u{200B}width",
            "",
        ] {
            assert!(check_origin_subject(bad).is_err(), "{bad:?}");
        }
        assert!(check_origin_subject("project_path:group/app:ref_type:branch:ref:main").is_ok());
        assert!(check_origin_subject("with space").is_ok());
        assert!(check_origin_subject("ü-subject").is_ok());
        assert!(check_origin_subject("abcü").is_ok());
    }
}
