//! Minting a role session: session policies, the sealed session token, and the `Credentials`
//! element every assume-role response carries.

use keyless_credentials::ids;
use keyless_credentials::session::{SessionClaims, SessionOrigin};
use keyless_policy::{Context, ContextValue, ParseOptions, Policy, PolicyKind};

use crate::error::AwsError;
use crate::query::QueryParams;
use crate::state::{RoleEntry, StsState};
use crate::validate::{self, Violations};
use crate::web_identity::RequestEnv;
use crate::xml::XmlWriter;

/// The plaintext budget shared by `Policy` and `PolicyArns`.
pub const SESSION_POLICY_BUDGET: usize = 2048;
/// The most managed session policies one request may name.
pub const MAX_POLICY_ARNS: usize = 10;

/// The session policies of an assume-role request.
#[derive(Debug, Clone, Default)]
pub struct SessionPolicies {
    /// The inline `Policy` document.
    pub policy: Option<String>,
    /// `PolicyArns`.
    pub policy_arns: Vec<String>,
}

impl SessionPolicies {
    /// Reads `Policy` and `PolicyArns.member.N.arn`, recording constraint violations.
    pub fn from_query(q: &QueryParams, v: &mut Violations) -> SessionPolicies {
        let policy = q.get("Policy").map(str::to_owned);
        if let Some(p) = &policy {
            v.pattern(
                "policy",
                p,
                validate::POLICY_PATTERN,
                validate::is_policy_char,
            );
            v.length("policy", p, 1, SESSION_POLICY_BUDGET);
        }
        let policy_arns: Vec<String> = q
            .list("PolicyArns", Some("arn"))
            .into_iter()
            .map(str::to_owned)
            .collect();
        for arn in &policy_arns {
            v.pattern(
                "policyArns.member.arn",
                arn,
                validate::ARN_PATTERN,
                validate::is_arn_char,
            );
            v.length("policyArns.member.arn", arn, 20, 2048);
        }
        v.list_length("policyArns", policy_arns.len(), MAX_POLICY_ARNS);
        SessionPolicies {
            policy,
            policy_arns,
        }
    }

    /// Whether any session policy was passed.
    pub fn is_empty(&self) -> bool {
        self.policy.is_none() && self.policy_arns.is_empty()
    }

    /// Parses the inline policy and checks that each ARN names a managed policy. Returns the
    /// packed size (percent of the budget) when session policies were passed.
    pub fn resolve(&self, state: &StsState) -> Result<Option<u32>, AwsError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut used = 0usize;
        if let Some(doc) = &self.policy {
            let mut opts = ParseOptions::new(PolicyKind::Session);
            opts.max_chars = None;
            Policy::parse(doc, &opts).map_err(|e| AwsError::malformed_policy(e.to_string()))?;
            used += keyless_policy::policy_size(doc);
        }
        for arn in &self.policy_arns {
            if !state.managed_policies.contains_key(arn) {
                return Err(AwsError::malformed_policy(format!(
                    "Policy {arn} does not exist or is not attachable."
                )));
            }
            used += arn.len();
        }
        let percent = (used * 100).div_ceil(SESSION_POLICY_BUDGET) as u32;
        if percent > 100 {
            return Err(AwsError::new(
                "PackedPolicyTooLarge",
                400,
                format!(
                    "Packed policy consumes {percent}% of allotted space, please use smaller policy."
                ),
            ));
        }
        Ok(Some(percent))
    }
}

/// Reads and checks `RoleArn` and `RoleSessionName`, common to every assume-role operation.
pub fn role_and_session<'q>(
    q: &'q QueryParams,
    v: &mut Violations,
) -> (Option<&'q str>, Option<&'q str>) {
    let role_arn = v.required("roleArn", q.get("RoleArn"));
    if let Some(arn) = role_arn {
        v.pattern("roleArn", arn, validate::ARN_PATTERN, validate::is_arn_char);
        v.length("roleArn", arn, 20, 2048);
    }
    let session = v.required("roleSessionName", q.get("RoleSessionName"));
    if let Some(s) = session {
        v.pattern(
            "roleSessionName",
            s,
            validate::NAME_PATTERN,
            validate::is_name_char,
        );
        v.length("roleSessionName", s, 2, 64);
    }
    (role_arn, session)
}

/// Freshly minted temporary credentials.
#[derive(Clone)]
pub struct Minted {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The sealed session token.
    pub session_token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// `AROA…:<session>`.
    pub assumed_role_id: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
    /// `PackedPolicySize`, when session policies were passed.
    pub packed_policy_size: Option<u32>,
    /// The source identity, if any.
    pub source_identity: Option<String>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .field("assumed_role_arn", &self.assumed_role_arn)
            .finish_non_exhaustive()
    }
}

/// Mints and seals a role session.
#[allow(clippy::too_many_arguments)]
pub fn mint(
    state: &StsState,
    role: &RoleEntry,
    session_name: &str,
    now: i64,
    duration: u32,
    origin: SessionOrigin,
    policies: &SessionPolicies,
    packed_policy_size: Option<u32>,
    source_identity: Option<String>,
    transitive_tags: Vec<(String, String)>,
    chained: bool,
) -> Result<Minted, AwsError> {
    let claims = SessionClaims {
        access_key_id: ids::new_access_key_id("ASIA"),
        secret_access_key: ids::new_secret_access_key(),
        account: state.account.clone(),
        role_name: role.model.name.clone(),
        role_path: role.model.path.clone(),
        role_id: role.model.role_id.clone(),
        session_name: session_name.to_owned(),
        issued_at: now,
        expires_at: now + i64::from(duration),
        origin,
        session_policy: policies.policy.clone(),
        policy_arns: policies.policy_arns.clone(),
        source_identity: source_identity.clone(),
        transitive_tags,
        chained,
    };
    let session_token = state
        .keyring
        .seal(&claims)
        .map_err(|_| AwsError::internal())?;
    Ok(Minted {
        assumed_role_id: claims.user_id(),
        assumed_role_arn: claims.assumed_role_arn(),
        access_key_id: claims.access_key_id.clone(),
        secret_access_key: claims.secret_access_key.clone(),
        session_token,
        expires_at: claims.expires_at,
        packed_policy_size,
        source_identity,
    })
}

/// Writes `<Credentials>…</Credentials>`.
pub fn write_credentials(w: &mut XmlWriter, m: &Minted) {
    w.open("Credentials")
        .element("AccessKeyId", &m.access_key_id)
        .element("SecretAccessKey", &m.secret_access_key)
        .element("SessionToken", &m.session_token)
        .element("Expiration", &iso8601(m.expires_at))
        .close("Credentials");
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form of every AWS `Expiration`.
pub fn iso8601(unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "1970-01-01T00:00:00Z".to_owned();
    };
    let mut out = String::with_capacity(20);
    // Years before 0 or after 9999 cannot come from a valid Unix time within `time`'s range
    // that AWS would show; they are written with as many digits as they need.
    match u32::try_from(t.year()) {
        Ok(year) if year <= 9999 => push_digits(&mut out, year, 4),
        _ => out.push_str(&format!("{:04}", t.year())),
    }
    for (separator, value) in [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        out.push(separator);
        push_digits(&mut out, u32::from(value), 2);
    }
    out.push('Z');
    out
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Adds the session tags a request sets: `aws:RequestTag/<key>` and `aws:TagKeys`, and
/// `sts:TransitiveTagKeys` for the keys marked transitive.
pub fn add_request_tags(ctx: &mut Context, tags: &[(String, String)], transitive_keys: &[String]) {
    if !tags.is_empty() {
        for (k, v) in tags {
            ctx.insert(
                &format!("aws:RequestTag/{k}"),
                ContextValue::Single(v.clone()),
            );
        }
        ctx.insert(
            "aws:TagKeys",
            ContextValue::Multi(tags.iter().map(|(k, _)| k.clone()).collect()),
        );
    }
    if !transitive_keys.is_empty() {
        ctx.insert(
            "sts:TransitiveTagKeys",
            ContextValue::Multi(transitive_keys.to_vec()),
        );
    }
}

/// Adds the global keys AWS sets on every request: `aws:CurrentTime`, `aws:EpochTime`,
/// `aws:SecureTransport`, and `aws:SourceIp` / `aws:UserAgent` when known.
pub fn add_global_keys(ctx: &mut Context, now: i64, env: &RequestEnv) {
    ctx.insert("aws:CurrentTime", ContextValue::Single(iso8601(now)));
    ctx.insert("aws:EpochTime", ContextValue::Single(now.to_string()));
    ctx.insert(
        "aws:SecureTransport",
        ContextValue::Single(env.secure_transport.to_string()),
    );
    if let Some(ip) = &env.source_ip {
        ctx.insert("aws:SourceIp", ContextValue::Single(ip.clone()));
    }
    if let Some(ua) = &env.user_agent {
        ctx.insert("aws:UserAgent", ContextValue::Single(ua.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_has_no_fraction_and_ends_in_z() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_634_057), "2026-11-25T19:14:17Z");
    }
}
