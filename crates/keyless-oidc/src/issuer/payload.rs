//! Mint requests and the GitLab / GitHub claim sets.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::Value;

use super::claims::ClaimList;
use super::{IssuerError, SigningKey};

/// Default token lifetime in seconds: GitLab's default job timeout (1 hour).
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// The `iss` of GitHub Actions ID tokens.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// GitLab's default `ci_id_token_sub_claim_components`.
pub const DEFAULT_GITLAB_SUB_COMPONENTS: [&str; 3] = ["project_path", "ref_type", "ref"];

/// Components GitLab accepts in `ci_id_token_sub_claim_components`.
const ALLOWED_SUB_COMPONENTS: [&str; 9] = [
    "project_path",
    "ref_type",
    "ref",
    "ref_protected",
    "environment_protected",
    "deployment_tier",
    "project_id",
    "job_project_id",
    "source_project_id",
];

/// Components a GitLab `sub` may start with (a path, or an ID that survives path reuse).
const LEADING_SUB_COMPONENTS: [&str; 4] = [
    "project_path",
    "project_id",
    "job_project_id",
    "source_project_id",
];

/// GitLab's `nbf` offset: tokens are valid from 5 seconds before issue.
const GITLAB_NBF_SKEW_SECS: i64 = 5;
/// GitHub's `nbf` offset as observed in issued tokens.
const GITHUB_NBF_SKEW_SECS: i64 = 300;

/// The platform whose ID tokens are emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// GitLab CI `id_tokens` (JwtV2 claim set).
    Gitlab,
    /// GitHub Actions OIDC tokens.
    Github,
}

impl Profile {
    /// The lowercase profile name: `gitlab` or `github`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Gitlab => "gitlab",
            Profile::Github => "github",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = IssuerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gitlab" => Ok(Profile::Gitlab),
            "github" => Ok(Profile::Github),
            other => Err(IssuerError::InvalidRequest(format!(
                "unknown profile {other:?} (expected gitlab or github)"
            ))),
        }
    }
}

/// Whether the job runs for a branch or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    /// A branch (`refs/heads/...`).
    Branch,
    /// A tag (`refs/tags/...`).
    Tag,
}

impl RefType {
    /// The `ref_type` claim value: `branch` or `tag`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefType::Branch => "branch",
            RefType::Tag => "tag",
        }
    }

    /// The prefix of the fully qualified ref: `refs/heads/` or `refs/tags/`.
    pub fn ref_prefix(self) -> &'static str {
        match self {
            RefType::Branch => "refs/heads/",
            RefType::Tag => "refs/tags/",
        }
    }
}

impl fmt::Display for RefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RefType {
    type Err = IssuerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "branch" => Ok(RefType::Branch),
            "tag" => Ok(RefType::Tag),
            other => Err(IssuerError::InvalidRequest(format!(
                "unknown ref type {other:?} (expected branch or tag)"
            ))),
        }
    }
}

/// Everything needed to mint one ID token.
///
/// Build one with [`MintRequest::gitlab`] or [`MintRequest::github`] and adjust the fields.
/// Values not given here (IDs, pipeline data, commit SHA) are generated: stable IDs (project,
/// namespace, user, runner, commit SHA) are derived from the project path, user and ref so that
/// repeated mints agree; per-run IDs (pipeline, job, run) are random.
#[derive(Debug, Clone, PartialEq)]
pub struct MintRequest {
    /// Which platform's claim set to emit.
    pub profile: Profile,
    /// The `iss` value, e.g. `https://gitlab.com`.
    pub issuer: String,
    /// One audience gives `"aud": "<string>"`, several give an array. At least one is required;
    /// the GitHub profile takes exactly one.
    pub audiences: Vec<String>,
    /// Token lifetime: `exp = iat + ttl_secs` (GitLab: the job timeout).
    pub ttl_secs: u64,
    /// Issue time (`iat`), Unix seconds.
    pub now: i64,
    /// GitLab `group/sub/project`; GitHub `owner/repo`.
    pub project_path: String,
    /// Short branch or tag name (`main`, `v1.2.0`), without `refs/heads/` or `refs/tags/`.
    pub git_ref: String,
    /// Whether `git_ref` is a branch or a tag.
    pub ref_type: RefType,
    /// GitLab `ci_id_token_sub_claim_components`, joined as `name:value` pairs; components whose
    /// claim is absent or empty are skipped. Must start with `project_path`, `project_id`,
    /// `job_project_id` or `source_project_id` (the latter uses the `project_id` value). Allowed
    /// further: `ref_type`, `ref`, `ref_protected`, `environment_protected`, `deployment_tier`.
    /// The GitHub profile builds its own `sub` and requires the GitLab default here.
    pub sub_components: Vec<String>,
    /// Deployment environment of the job. GitLab adds `environment`, `environment_protected`,
    /// `deployment_tier` (guessed from the name as GitLab does) and `environment_action`; GitHub
    /// adds `environment` and uses the `repo:R:environment:E` subject.
    pub environment: Option<String>,
    /// `ref_protected`; `None` means protected exactly for the branches `main` and `master`.
    pub ref_protected: Option<bool>,
    /// GitLab `environment_protected`; `None` means protected exactly when the deployment tier is
    /// `production`.
    pub environment_protected: Option<bool>,
    /// User running the job (`user_login` / GitHub `actor`). `None` means no user: GitLab then
    /// emits `user_id: ""` and `null` login, email and access level; GitHub names the
    /// `github-actions[bot]` actor.
    pub user_login: Option<String>,
    /// Commit SHA (40 lowercase hex digits); `None` derives a stable one from project and ref.
    pub sha: Option<String>,
    /// Extra or overriding claims, applied last in order (later wins). An existing claim keeps its
    /// position; a new one goes after the platform claims, before `jti` (GitLab) or `iss`
    /// (GitHub). Unless `sub` itself is given, `sub` is built from the claims after overrides.
    /// Other claims are not recomputed (overriding `iat` leaves `nbf` and `exp` as they were).
    pub claims: Vec<(String, Value)>,
}

impl MintRequest {
    /// A GitLab request for a branch pipeline of `project_path` at `git_ref`, issued now, with
    /// the default lifetime and `sub` components, user `ci-user` and no audience yet (add one
    /// with [`MintRequest::with_audience`]).
    pub fn gitlab(
        issuer: impl Into<String>,
        project_path: impl Into<String>,
        git_ref: impl Into<String>,
    ) -> Self {
        MintRequest {
            profile: Profile::Gitlab,
            issuer: issuer.into(),
            audiences: Vec::new(),
            ttl_secs: DEFAULT_TTL_SECS,
            now: unix_now(),
            project_path: project_path.into(),
            git_ref: git_ref.into(),
            ref_type: RefType::Branch,
            sub_components: DEFAULT_GITLAB_SUB_COMPONENTS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            environment: None,
            ref_protected: None,
            environment_protected: None,
            user_login: Some("ci-user".to_owned()),
            sha: None,
            claims: Vec::new(),
        }
    }

    /// A GitHub Actions request for a push to `repository` (`owner/repo`) at `git_ref`, issued
    /// now, lasting 300 seconds, with GitHub's default audience `https://github.com/<owner>`.
    pub fn github(
        issuer: impl Into<String>,
        repository: impl Into<String>,
        git_ref: impl Into<String>,
    ) -> Self {
        let repository = repository.into();
        let owner = repository.split('/').next().unwrap_or_default();
        let audiences = vec![format!("https://github.com/{owner}")];
        MintRequest {
            profile: Profile::Github,
            audiences,
            ttl_secs: 300,
            user_login: Some("octocat".to_owned()),
            ..MintRequest::gitlab(issuer, repository, git_ref)
        }
    }

    /// Adds an audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Sets the deployment environment.
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Sets the ref type.
    pub fn with_ref_type(mut self, ref_type: RefType) -> Self {
        self.ref_type = ref_type;
        self
    }

    /// Sets the token lifetime in seconds.
    pub fn with_ttl_secs(mut self, ttl_secs: u64) -> Self {
        self.ttl_secs = ttl_secs;
        self
    }

    /// Sets the issue time (Unix seconds).
    pub fn with_now(mut self, now: i64) -> Self {
        self.now = now;
        self
    }

    /// Adds an extra or overriding claim.
    pub fn with_claim(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.push((key.into(), value.into()));
        self
    }
}

/// Builds the JSON payload text of the token described by `req`.
///
/// GitLab profile: the JwtV2 claim set in GitLab's order (platform claims, then `jti`, `iss`,
/// `iat`, `nbf`, `exp`, `sub`, `aud`) with GitLab's JSON types: string IDs, `"true"`/`"false"`
/// strings, integer `runner_id`/`iat`/`nbf`/`exp`, `null` where GitLab emits null.
/// `nbf = iat - 5`, `exp = iat + ttl_secs`, `jti` is a random UUIDv4.
///
/// GitHub profile: the Actions claim set (all strings except the times), `nbf = iat - 300`,
/// `exp = iat + ttl_secs`, and `sub` = `repo:R:environment:E` when an environment is set, else
/// `repo:R:pull_request` for `event_name` `pull_request`, else `repo:R:ref:<full ref>`.
pub fn build_payload(req: &MintRequest) -> Result<String, IssuerError> {
    validate_common(req)?;
    let claims = match req.profile {
        Profile::Gitlab => gitlab_claims(req)?,
        Profile::Github => github_claims(req)?,
    };
    claims.to_json()
}

/// Builds the payload for `req` and signs it with `key`: a compact RS256 JWT.
pub fn mint(key: &SigningKey, req: &MintRequest) -> Result<String, IssuerError> {
    let payload = build_payload(req)?;
    key.sign_object_text(&payload)
}

fn invalid(message: impl Into<String>) -> IssuerError {
    IssuerError::InvalidRequest(message.into())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn validate_common(req: &MintRequest) -> Result<(), IssuerError> {
    let host = req
        .issuer
        .strip_prefix("https://")
        .or_else(|| req.issuer.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(format!(
                "issuer {:?} must be an http:// or https:// URL",
                req.issuer
            ))
        })?;
    if host.is_empty()
        || host.starts_with('/')
        || req
            .issuer
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "issuer {:?} is not a valid URL",
            req.issuer
        )));
    }
    if req.audiences.is_empty() {
        return Err(invalid("at least one audience is required"));
    }
    if req.audiences.iter().any(|aud| aud.is_empty()) {
        return Err(invalid("audiences must not be empty strings"));
    }
    if req.ttl_secs == 0 {
        return Err(invalid("ttl_secs must be greater than zero"));
    }
    validate_git_ref(&req.git_ref)?;
    if let Some(environment) = &req.environment
        && (environment.is_empty() || environment.chars().any(char::is_control))
    {
        return Err(invalid(
            "environment must be a non-empty name without control characters",
        ));
    }
    if let Some(login) = &req.user_login
        && (login.is_empty() || login.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(invalid(
            "user_login must be non-empty and contain no whitespace",
        ));
    }
    if let Some(sha) = &req.sha
        && (sha.len() != 40 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(invalid("sha must be 40 lowercase hexadecimal digits"));
    }
    if req.claims.iter().any(|(key, _)| key.is_empty()) {
        return Err(invalid("claim names must not be empty"));
    }
    Ok(())
}

fn validate_git_ref(git_ref: &str) -> Result<(), IssuerError> {
    if git_ref.is_empty() {
        return Err(invalid("git_ref must not be empty"));
    }
    if git_ref.starts_with("refs/") {
        return Err(invalid(format!(
            "git_ref {git_ref:?} must be a short branch or tag name (without refs/heads/ or refs/tags/)"
        )));
    }
    let forbidden_char = git_ref.chars().any(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    });
    if forbidden_char
        || git_ref.contains("..")
        || git_ref.contains("@{")
        || git_ref.contains("//")
        || git_ref.starts_with(['/', '-', '.'])
        || git_ref.ends_with(['/', '.'])
        || git_ref.ends_with(".lock")
    {
        return Err(invalid(format!(
            "git_ref {git_ref:?} is not a valid git branch or tag name"
        )));
    }
    Ok(())
}

/// Checks a `/`-separated path of `min_segments..=max_segments` segments of `[A-Za-z0-9_.-]`.
fn validate_path(
    path: &str,
    what: &str,
    shape: &str,
    min_segments: usize,
    max_segments: usize,
) -> Result<(), IssuerError> {
    let segments: Vec<&str> = path.split('/').collect();
    let segment_ok = |segment: &&str| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if segments.len() < min_segments
        || segments.len() > max_segments
        || !segments.iter().all(segment_ok)
    {
        return Err(invalid(format!(
            "{what} {path:?} is not valid (expected {shape}, each part made of letters, digits, '_', '-', '.')"
        )));
    }
    Ok(())
}

fn nbf_and_exp(req: &MintRequest, nbf_skew: i64) -> Result<(i64, i64), IssuerError> {
    let ttl = i64::try_from(req.ttl_secs).map_err(|_| invalid("ttl_secs is too large"))?;
    let exp = req
        .now
        .checked_add(ttl)
        .ok_or_else(|| invalid("now + ttl_secs overflows"))?;
    let nbf = req
        .now
        .checked_sub(nbf_skew)
        .ok_or_else(|| invalid("now is out of range"))?;
    Ok((nbf, exp))
}

fn audience_value(audiences: &[String]) -> Value {
    match audiences {
        [single] => Value::String(single.clone()),
        several => Value::Array(several.iter().cloned().map(Value::String).collect()),
    }
}

fn default_ref_protected(req: &MintRequest) -> bool {
    req.ref_protected.unwrap_or(
        req.ref_type == RefType::Branch && matches!(req.git_ref.as_str(), "main" | "master"),
    )
}

fn bool_string(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// A stable number in `[low, high)` derived from `label` and `input`.
fn derived_number(label: &str, input: &str, low: u64, high: u64) -> u64 {
    let hash = digest(&SHA256, format!("{label}\0{input}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    low + u64::from_be_bytes(first) % (high - low)
}

/// A random number in `[low, high)`.
fn random_number(low: u64, high: u64) -> Result<u64, IssuerError> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| IssuerError::Random)?;
    Ok(low + u64::from_be_bytes(bytes) % (high - low))
}

fn random_uuid_v4() -> Result<String, IssuerError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| IssuerError::Random)?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// A stable 40-hex-digit commit SHA for `project` at `ref_path`.
fn derived_sha(project: &str, ref_path: &str) -> String {
    let hash = digest(&SHA256, format!("commit\0{project}\0{ref_path}").as_bytes());
    hash.as_ref()[..20]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// GitLab's guess of the deployment tier from an environment name.
fn guess_deployment_tier(environment: &str) -> &'static str {
    let name = environment.to_ascii_lowercase();
    let contains_any = |needles: &[&str]| needles.iter().any(|needle| name.contains(needle));
    if contains_any(&["dev", "review", "trunk"]) {
        "development"
    } else if contains_any(&[
        "test", "tst", "int", "acpt", "accept", "qa", "qc", "control", "quality",
    ]) {
        "testing"
    } else if contains_any(&["stag", "stg", "model", "modl", "pre", "demo", "non"]) {
        "staging"
    } else if contains_any(&["prod", "prd", "live"]) {
        "production"
    } else {
        "other"
    }
}

fn validate_sub_components(components: &[String]) -> Result<(), IssuerError> {
    let Some(first) = components.first() else {
        return Err(invalid("sub_components must not be empty"));
    };
    if let Some(unknown) = components
        .iter()
        .find(|c| !ALLOWED_SUB_COMPONENTS.contains(&c.as_str()))
    {
        return Err(invalid(format!(
            "unknown sub component {unknown:?} (allowed: {})",
            ALLOWED_SUB_COMPONENTS.join(", ")
        )));
    }
    if !LEADING_SUB_COMPONENTS.contains(&first.as_str()) {
        return Err(invalid(format!(
            "sub_components must start with one of {}, not {first:?}",
            LEADING_SUB_COMPONENTS.join(", ")
        )));
    }
    for (index, component) in components.iter().enumerate() {
        if components[..index].contains(component) {
            return Err(invalid(format!(
                "sub component {component:?} is listed twice"
            )));
        }
    }
    Ok(())
}

/// The text of a claim used inside `sub`; `None` when absent, null, `false` or empty.
fn sub_value(claims: &ClaimList, claim: &str) -> Result<Option<String>, IssuerError> {
    match claims.get(claim) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Bool(true)) => Ok(Some("true".to_owned())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(Value::Array(_) | Value::Object(_)) => Err(invalid(format!(
            "claim {claim:?} is used in sub and must be a string, number or boolean"
        ))),
    }
}

fn gitlab_sub(claims: &ClaimList, components: &[String]) -> Result<String, IssuerError> {
    let mut parts = Vec::with_capacity(components.len() * 2);
    for component in components {
        let claim = if component == "source_project_id" {
            "project_id"
        } else {
            component.as_str()
        };
        if let Some(value) = sub_value(claims, claim)? {
            parts.push(component.clone());
            parts.push(value);
        }
    }
    Ok(parts.join(":"))
}

fn apply_overrides(claims: &mut ClaimList, req: &MintRequest, anchor: &str) -> bool {
    let mut sub_overridden = false;
    for (key, value) in &req.claims {
        sub_overridden |= key == "sub";
        claims.set(key, value.clone(), anchor);
    }
    sub_overridden
}

fn gitlab_claims(req: &MintRequest) -> Result<ClaimList, IssuerError> {
    validate_path(
        &req.project_path,
        "project_path",
        "group/project or group/subgroup/project",
        2,
        usize::MAX,
    )?;
    validate_sub_components(&req.sub_components)?;
    let (nbf, exp) = nbf_and_exp(req, GITLAB_NBF_SKEW_SECS)?;

    let project_path = req.project_path.as_str();
    let namespace_path = project_path
        .rsplit_once('/')
        .map_or(project_path, |(namespace, _)| namespace);
    let project_id = derived_number("project", project_path, 10_000_000, 80_000_000).to_string();
    let namespace_id =
        derived_number("namespace", namespace_path, 1_000_000, 120_000_000).to_string();
    let ref_path = format!("{}{}", req.ref_type.ref_prefix(), req.git_ref);
    let sha = req
        .sha
        .clone()
        .unwrap_or_else(|| derived_sha(project_path, &ref_path));
    let host = req
        .issuer
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');

    let mut claims = ClaimList::default();
    claims.push("namespace_id", namespace_id.as_str());
    claims.push("namespace_path", namespace_path);
    claims.push("project_id", project_id.as_str());
    claims.push("project_path", project_path);
    match &req.user_login {
        Some(login) => {
            claims.push(
                "user_id",
                derived_number("user", login, 1_000_000, 30_000_000).to_string(),
            );
            claims.push("user_login", login.as_str());
            claims.push("user_email", format!("{login}@example.com"));
            claims.push("user_access_level", "maintainer");
        }
        None => {
            claims.push("user_id", "");
            claims.push("user_login", Value::Null);
            claims.push("user_email", Value::Null);
            claims.push("user_access_level", Value::Null);
        }
    }
    claims.push("job_project_id", project_id.as_str());
    claims.push("job_project_path", project_path);
    claims.push("job_namespace_id", namespace_id.as_str());
    claims.push("job_namespace_path", namespace_path);
    claims.push(
        "pipeline_id",
        random_number(1_500_000_000, 2_500_000_000)?.to_string(),
    );
    claims.push("pipeline_source", "push");
    claims.push(
        "job_id",
        random_number(10_000_000_000, 13_000_000_000)?.to_string(),
    );
    claims.push("ref", req.git_ref.as_str());
    claims.push("ref_type", req.ref_type.as_str());
    claims.push("ref_path", ref_path.as_str());
    claims.push("ref_protected", bool_string(default_ref_protected(req)));
    if let Some(environment) = &req.environment {
        let tier = guess_deployment_tier(environment);
        let protected = req.environment_protected.unwrap_or(tier == "production");
        claims.push("environment", environment.as_str());
        claims.push("environment_protected", bool_string(protected));
        claims.push("deployment_tier", tier);
        claims.push("environment_action", "start");
    }
    claims.push(
        "runner_id",
        derived_number("runner", host, 1_000, 50_000_000),
    );
    claims.push(
        "runner_environment",
        if host == "gitlab.com" {
            "gitlab-hosted"
        } else {
            "self-hosted"
        },
    );
    claims.push("sha", sha.as_str());
    claims.push("project_visibility", "private");
    claims.push(
        "ci_config_ref_uri",
        format!("{host}/{project_path}//.gitlab-ci.yml@{ref_path}"),
    );
    claims.push("ci_config_sha", sha.as_str());
    claims.push("job_source", "push");
    claims.push("jti", random_uuid_v4()?);
    claims.push("iss", req.issuer.as_str());
    claims.push("iat", req.now);
    claims.push("nbf", nbf);
    claims.push("exp", exp);
    claims.push("sub", Value::Null);
    claims.push("aud", audience_value(&req.audiences));

    if !apply_overrides(&mut claims, req, "jti") {
        let sub = gitlab_sub(&claims, &req.sub_components)?;
        claims.set("sub", Value::String(sub), "jti");
    }
    Ok(claims)
}

/// A string claim needed to build the GitHub `sub`, with `:` escaped as GitHub does.
fn github_sub_part(claims: &ClaimList, claim: &str) -> Result<String, IssuerError> {
    match claims.get(claim) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.replace(':', "%3A")),
        _ => Err(invalid(format!(
            "claim {claim:?} must be a non-empty string to build sub"
        ))),
    }
}

fn github_sub(claims: &ClaimList) -> Result<String, IssuerError> {
    let repository = github_sub_part(claims, "repository")?;
    if matches!(claims.get("environment"), Some(Value::String(env)) if !env.is_empty()) {
        let environment = github_sub_part(claims, "environment")?;
        return Ok(format!("repo:{repository}:environment:{environment}"));
    }
    if matches!(claims.get("event_name"), Some(Value::String(event)) if event == "pull_request") {
        return Ok(format!("repo:{repository}:pull_request"));
    }
    let git_ref = github_sub_part(claims, "ref")?;
    Ok(format!("repo:{repository}:ref:{git_ref}"))
}

fn github_claims(req: &MintRequest) -> Result<ClaimList, IssuerError> {
    validate_path(&req.project_path, "repository", "owner/repo", 2, 2)?;
    if req
        .sub_components
        .iter()
        .map(String::as_str)
        .ne(DEFAULT_GITLAB_SUB_COMPONENTS)
    {
        return Err(invalid(
            "sub_components apply to the GitLab profile only; override the sub claim instead",
        ));
    }
    if req.audiences.len() != 1 {
        return Err(invalid(
            "the GitHub profile issues tokens for exactly one audience",
        ));
    }
    let (nbf, exp) = nbf_and_exp(req, GITHUB_NBF_SKEW_SECS)?;

    let repository = req.project_path.as_str();
    let owner = repository.split('/').next().unwrap_or(repository);
    let full_ref = format!("{}{}", req.ref_type.ref_prefix(), req.git_ref);
    let sha = req
        .sha
        .clone()
        .unwrap_or_else(|| derived_sha(repository, &full_ref));
    let (actor, actor_id) = match &req.user_login {
        Some(login) => (
            login.clone(),
            derived_number("actor", login, 1_000_000, 250_000_000).to_string(),
        ),
        None => ("github-actions[bot]".to_owned(), "41898282".to_owned()),
    };
    let workflow_ref = format!("{repository}/.github/workflows/ci.yml@{full_ref}");

    let mut claims = ClaimList::default();
    claims.push("jti", random_uuid_v4()?);
    claims.push("sub", Value::Null);
    if let Some(environment) = &req.environment {
        claims.push("environment", environment.as_str());
    }
    claims.push("aud", audience_value(&req.audiences));
    claims.push("ref", full_ref.as_str());
    claims.push("sha", sha.as_str());
    claims.push("repository", repository);
    claims.push("repository_owner", owner);
    claims.push(
        "repository_owner_id",
        derived_number("owner", owner, 1_000_000, 250_000_000).to_string(),
    );
    claims.push("repository_visibility", "private");
    claims.push(
        "repository_id",
        derived_number("repository", repository, 100_000_000, 1_100_000_000).to_string(),
    );
    claims.push("actor_id", actor_id);
    claims.push("actor", actor);
    claims.push(
        "run_id",
        random_number(10_000_000_000, 20_000_000_000)?.to_string(),
    );
    claims.push("run_number", random_number(1, 2_000)?.to_string());
    claims.push("run_attempt", "1");
    claims.push("runner_environment", "github-hosted");
    claims.push("workflow", "CI");
    claims.push("head_ref", "");
    claims.push("base_ref", "");
    claims.push("event_name", "push");
    claims.push("ref_protected", bool_string(default_ref_protected(req)));
    claims.push("ref_type", req.ref_type.as_str());
    claims.push("workflow_ref", workflow_ref.as_str());
    claims.push("workflow_sha", sha.as_str());
    claims.push("job_workflow_ref", workflow_ref.as_str());
    claims.push("job_workflow_sha", sha.as_str());
    claims.push(
        "check_run_id",
        random_number(30_000_000_000, 60_000_000_000)?.to_string(),
    );
    claims.push("iss", req.issuer.as_str());
    claims.push("nbf", nbf);
    claims.push("exp", exp);
    claims.push("iat", req.now);

    if !apply_overrides(&mut claims, req, "iss") {
        let sub = github_sub(&claims)?;
        claims.set("sub", Value::String(sub), "iss");
    }
    Ok(claims)
}
