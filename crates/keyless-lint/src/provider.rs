//! Identity providers: which issuers are shared between organisations, which claim carries
//! the tenant and what subjects look like. Which claims AWS exposes as condition keys is
//! keyless's STS's knowledge ([`keyless_sts::condition_keys`]), not the linter's.

use keyless_sts::condition_keys::{self, KnownIssuer};

use crate::rules;

/// The layout of a subject claim, decided by its fixed leading marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectFormat {
    /// `repo:<owner>/<repo>:<qualifier>`.
    GitHub,
    /// `project_path:<group>/<project>:ref_type:<type>:ref:<ref>`.
    GitLab,
    /// `system:serviceaccount:<namespace>:<name>`.
    Eks,
    /// `organization:<org>:pipeline:<pipeline>:ref:<ref>:commit:<sha>:step:<step>`.
    Buildkite,
    /// `organization:<org>:project:<project>:workspace:<workspace>:run_phase:<phase>`.
    Terraform,
    /// Unknown template: `<claim>:<value>[:<claim>:<value>...]`.
    Generic,
}

impl SubjectFormat {
    /// The fixed text every subject of this format starts with.
    pub(crate) fn marker(self) -> Option<&'static str> {
        match self {
            SubjectFormat::GitHub => Some("repo:"),
            SubjectFormat::GitLab => Some("project_path:"),
            SubjectFormat::Eks => Some("system:serviceaccount:"),
            SubjectFormat::Buildkite | SubjectFormat::Terraform => Some("organization:"),
            SubjectFormat::Generic => None,
        }
    }

    /// The character ending the tenant segment after the marker.
    pub(crate) fn tenant_delimiter(self) -> char {
        match self {
            SubjectFormat::GitHub | SubjectFormat::GitLab => '/',
            _ => ':',
        }
    }

    /// Recognises the format from a value's leading text.
    pub(crate) fn detect(text: &str) -> Option<SubjectFormat> {
        [
            SubjectFormat::GitHub,
            SubjectFormat::GitLab,
            SubjectFormat::Eks,
            SubjectFormat::Buildkite,
        ]
        .into_iter()
        .find(|f| f.marker().is_some_and(|m| text.starts_with(m)))
    }

    /// A complete subject of another tenant.
    pub(crate) fn attacker_subject(self) -> &'static str {
        match self {
            SubjectFormat::GitHub => "repo:attacker-org/attacker-repo:ref:refs/heads/main",
            SubjectFormat::GitLab => {
                "project_path:attacker-group/attacker-project:ref_type:branch:ref:main"
            }
            SubjectFormat::Eks => "system:serviceaccount:attacker-ns:attacker-sa",
            SubjectFormat::Buildkite => {
                "organization:attacker-org:pipeline:attacker-pipeline:ref:refs/heads/main:commit:0000000:step:deploy"
            }
            SubjectFormat::Terraform => {
                "organization:attacker-org:project:attacker-project:workspace:attacker-ws:run_phase:apply"
            }
            SubjectFormat::Generic => "attacker:attacker-tenant",
        }
    }

    /// The attacker's subject up to the end of its tenant-owned resource
    /// (`repo:attacker-org/attacker-repo`).
    pub(crate) fn attacker_head(self) -> &'static str {
        match self {
            SubjectFormat::GitHub => "repo:attacker-org/attacker-repo",
            SubjectFormat::GitLab => "project_path:attacker-group/attacker-project",
            SubjectFormat::Eks => "system:serviceaccount:attacker-ns",
            SubjectFormat::Buildkite | SubjectFormat::Terraform => "organization:attacker-org",
            SubjectFormat::Generic => "attacker",
        }
    }

    /// The attacker's tenant name alone.
    pub(crate) fn attacker_tenant(self) -> &'static str {
        match self {
            SubjectFormat::GitLab => "attacker-group",
            SubjectFormat::Eks => "attacker-ns",
            _ => "attacker-org",
        }
    }

    /// What follows a hijacked tenant-name prefix (`mygroup` + `-evil` + this).
    pub(crate) fn unterminated_tail(self) -> &'static str {
        match self {
            SubjectFormat::GitHub => "/x:ref:refs/heads/main",
            SubjectFormat::GitLab => "/x:ref_type:branch:ref:main",
            SubjectFormat::Eks => ":x",
            SubjectFormat::Buildkite => ":pipeline:x:ref:refs/heads/main:commit:0000000:step:x",
            SubjectFormat::Terraform => ":project:x:workspace:x:run_phase:apply",
            SubjectFormat::Generic => ":x",
        }
    }

    /// A plausible subject of the policy owner, used when no condition fixes one.
    pub(crate) fn legit_subject(self) -> &'static str {
        match self {
            SubjectFormat::GitHub => "repo:example-org/example-repo:ref:refs/heads/main",
            SubjectFormat::GitLab => {
                "project_path:example-group/example-project:ref_type:branch:ref:main"
            }
            SubjectFormat::Eks => "system:serviceaccount:default:example",
            SubjectFormat::Buildkite => {
                "organization:example-org:pipeline:example:ref:refs/heads/main:commit:0000000:step:deploy"
            }
            SubjectFormat::Terraform => {
                "organization:example-org:project:example:workspace:example:run_phase:apply"
            }
            SubjectFormat::Generic => "example:example",
        }
    }
}

/// How a tenancy claim's values pin a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimShape {
    /// The subject (`sub`), in the provider's subject format.
    Subject,
    /// `owner/name[/...]`: pinned by a literal prefix through the first `/`.
    Path,
    /// A name or number: pinned only by an exact value.
    Exact,
}

/// A claim that identifies the tenant (organisation, group, project, pool).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TenancyClaim {
    /// Claim name, or a full condition key when it contains `:` (`sts:RoleSessionName`).
    pub(crate) claim: &'static str,
    /// How values pin a tenant.
    pub(crate) shape: ClaimShape,
    /// A value belonging to another tenant.
    pub(crate) attacker_value: &'static str,
}

impl TenancyClaim {
    /// The condition key for provider `prefix`.
    pub(crate) fn key(&self, prefix: &str) -> String {
        if self.claim.contains(':') {
            self.claim.to_string()
        } else {
            format!("{prefix}:{}", self.claim)
        }
    }
}

/// What the linter knows about an issuer.
#[derive(Debug)]
pub(crate) struct IssuerProfile {
    /// Display name.
    pub(crate) name: &'static str,
    /// True when organisations share the issuer URL (the tenant is only in the claims).
    pub(crate) shared: bool,
    /// Subject layout.
    pub(crate) format: SubjectFormat,
    /// Claims that pin a tenant; any one effective condition on one of them suffices.
    pub(crate) tenancy: &'static [TenancyClaim],
    /// Rule reported when no tenancy claim is restricted.
    pub(crate) no_tenancy_rule: Option<&'static str>,
    /// Claims every token of this issuer carries.
    pub(crate) always_present: &'static [&'static str],
    /// Claims that are multi-valued.
    pub(crate) multi_valued: &'static [&'static str],
    /// Audience used when no condition fixes one.
    pub(crate) default_audience: &'static str,
}

const fn tc(claim: &'static str, shape: ClaimShape, attacker_value: &'static str) -> TenancyClaim {
    TenancyClaim {
        claim,
        shape,
        attacker_value,
    }
}

const GITHUB_TENANCY: &[TenancyClaim] = &[
    tc("sub", ClaimShape::Subject, ""),
    tc(
        "job_workflow_ref",
        ClaimShape::Path,
        "attacker-org/attacker-repo/.github/workflows/deploy.yml@refs/heads/main",
    ),
    tc("repository", ClaimShape::Path, "attacker-org/attacker-repo"),
    tc("repository_id", ClaimShape::Exact, "999999999"),
    tc("repository_owner_id", ClaimShape::Exact, "999999999"),
    tc("repository_owner", ClaimShape::Exact, "attacker-org"),
];
const GITHUB_ALWAYS: &[&str] = &[
    "sub",
    "aud",
    "actor",
    "actor_id",
    "event_name",
    "ref",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "run_id",
    "workflow",
    "workflow_ref",
];

const GITLAB_TENANCY: &[TenancyClaim] = &[
    tc("sub", ClaimShape::Subject, ""),
    tc("project_id", ClaimShape::Exact, "999999999"),
    tc("namespace_id", ClaimShape::Exact, "999999999"),
    tc(
        "project_path",
        ClaimShape::Path,
        "attacker-group/attacker-project",
    ),
    tc("namespace_path", ClaimShape::Path, "attacker-group"),
];
const GITLAB_ALWAYS: &[&str] = &[
    "sub",
    "aud",
    "namespace_id",
    "namespace_path",
    "pipeline_id",
    "pipeline_source",
    "project_id",
    "project_path",
    "ref",
    "ref_path",
    "ref_protected",
    "ref_type",
    "runner_environment",
    "runner_id",
    "user_id",
    "user_login",
];

const SUB_ONLY: &[TenancyClaim] = &[tc("sub", ClaimShape::Subject, "")];
const SUB_AUD: &[&str] = &["sub", "aud"];

const BUILDKITE_TENANCY: &[TenancyClaim] = &[
    tc("sub", ClaimShape::Subject, ""),
    tc(
        "organization_id",
        ClaimShape::Exact,
        "99999999-9999-9999-9999-999999999999",
    ),
    tc("organization_slug", ClaimShape::Exact, "attacker-org"),
];
const TERRAFORM_TENANCY: &[TenancyClaim] = &[
    tc("sub", ClaimShape::Subject, ""),
    tc(
        "terraform_organization_id",
        ClaimShape::Exact,
        "org-attacker",
    ),
    tc(
        "terraform_organization_name",
        ClaimShape::Exact,
        "attacker-org",
    ),
];
const AUD_TENANCY: &[TenancyClaim] = &[tc("aud", ClaimShape::Exact, "attacker-audience")];
const COGNITO_TENANCY: &[TenancyClaim] = &[tc(
    "aud",
    ClaimShape::Exact,
    "us-east-1:99999999-9999-9999-9999-999999999999",
)];
const GOOGLE_TENANCY: &[TenancyClaim] = &[
    tc(
        "aud",
        ClaimShape::Exact,
        "999999999999-attacker.apps.googleusercontent.com",
    ),
    tc(
        "oaud",
        ClaimShape::Exact,
        "999999999999-attacker.apps.googleusercontent.com",
    ),
    tc("sub", ClaimShape::Exact, "999999999999999999999"),
    tc(
        "google/organization_number",
        ClaimShape::Exact,
        "999999999999",
    ),
];
const AMAZON_TENANCY: &[TenancyClaim] = &[
    tc(
        "app_id",
        ClaimShape::Exact,
        "amzn1.application-oa2-client.attacker",
    ),
    tc("user_id", ClaimShape::Exact, "amzn1.account.ATTACKER"),
];
const FACEBOOK_TENANCY: &[TenancyClaim] = &[
    tc("app_id", ClaimShape::Exact, "999999999999999"),
    tc("id", ClaimShape::Exact, "999999999999999"),
];
const SENTINEL_TENANCY: &[TenancyClaim] = &[tc(
    "sts:RoleSessionName",
    ClaimShape::Exact,
    "attacker-workspace",
)];

static GITHUB: IssuerProfile = IssuerProfile {
    name: "GitHub Actions",
    shared: true,
    format: SubjectFormat::GitHub,
    tenancy: GITHUB_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: GITHUB_ALWAYS,
    multi_valued: &[],
    default_audience: "sts.amazonaws.com",
};
static GITHUB_PRIVATE: IssuerProfile = IssuerProfile {
    name: "GitHub Actions (enterprise issuer)",
    shared: false,
    format: SubjectFormat::GitHub,
    tenancy: GITHUB_TENANCY,
    no_tenancy_rule: None,
    always_present: GITHUB_ALWAYS,
    multi_valued: &[],
    default_audience: "sts.amazonaws.com",
};
static GITLAB: IssuerProfile = IssuerProfile {
    name: "GitLab.com",
    shared: true,
    format: SubjectFormat::GitLab,
    tenancy: GITLAB_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: GITLAB_ALWAYS,
    multi_valued: &[],
    default_audience: "https://gitlab.com",
};
static BUILDKITE: IssuerProfile = IssuerProfile {
    name: "Buildkite",
    shared: true,
    format: SubjectFormat::Buildkite,
    tenancy: BUILDKITE_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "sts.amazonaws.com",
};
static TERRAFORM: IssuerProfile = IssuerProfile {
    name: "HCP Terraform",
    shared: true,
    format: SubjectFormat::Terraform,
    tenancy: TERRAFORM_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "aws.workload.identity",
};
static SHARED_SUB: IssuerProfile = IssuerProfile {
    name: "shared CI/SaaS issuer",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: SUB_ONLY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "sts.amazonaws.com",
};
static SHARED_AUD: IssuerProfile = IssuerProfile {
    name: "shared SaaS issuer (tenant in the audience)",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: AUD_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "example-audience",
};
static COGNITO: IssuerProfile = IssuerProfile {
    name: "Amazon Cognito identity pools",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: COGNITO_TENANCY,
    no_tenancy_rule: Some(rules::COGNITO_NO_AUD),
    always_present: SUB_AUD,
    multi_valued: &["amr"],
    default_audience: "us-east-1:00000000-0000-0000-0000-000000000000",
};
static GOOGLE: IssuerProfile = IssuerProfile {
    name: "Google",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: GOOGLE_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "000000000000-example.apps.googleusercontent.com",
};
static AMAZON: IssuerProfile = IssuerProfile {
    name: "Login with Amazon",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: AMAZON_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: &["app_id", "user_id"],
    multi_valued: &[],
    default_audience: "example-audience",
};
static FACEBOOK: IssuerProfile = IssuerProfile {
    name: "Facebook",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: FACEBOOK_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: &["app_id", "id"],
    multi_valued: &[],
    default_audience: "example-audience",
};
static SENTINEL: IssuerProfile = IssuerProfile {
    name: "Microsoft Sentinel",
    shared: true,
    format: SubjectFormat::Generic,
    tenancy: SENTINEL_TENANCY,
    no_tenancy_rule: Some(rules::NO_TENANCY),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "api://example",
};
static EKS: IssuerProfile = IssuerProfile {
    name: "Amazon EKS cluster",
    shared: false,
    format: SubjectFormat::Eks,
    tenancy: SUB_ONLY,
    no_tenancy_rule: Some(rules::EKS_WIDE_SA),
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "sts.amazonaws.com",
};
static CIRCLECI: IssuerProfile = IssuerProfile {
    name: "CircleCI (per-organisation issuer)",
    shared: false,
    format: SubjectFormat::Generic,
    tenancy: SUB_ONLY,
    no_tenancy_rule: None,
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "example-org-id",
};
static PRIVATE: IssuerProfile = IssuerProfile {
    name: "private issuer",
    shared: false,
    format: SubjectFormat::Generic,
    tenancy: SUB_ONLY,
    no_tenancy_rule: None,
    always_present: SUB_AUD,
    multi_valued: &[],
    default_audience: "sts.amazonaws.com",
};

/// Shared issuers whose tenant is in `sub` (§4.6 of the reference list).
const SHARED_SUB_ISSUERS: &[&str] = &[
    "oidc.codefresh.io",
    "studio.datachain.ai/api",
    "oidc-configuration.audit-log.githubusercontent.com",
    "vstoken.actions.githubusercontent.com",
    "scalr.io",
    "tokens.cloud.shisho.dev",
    "proidc.upbound.io",
];
/// Shared issuers whose tenant is in `aud`.
const SHARED_AUD_ISSUERS: &[&str] = &["api.pulumi.com/oidc", "sandboxes.cloud", "oidc.vercel.com"];

fn is_eks(host_path: &str) -> bool {
    host_path
        .strip_prefix("oidc.eks.")
        .and_then(|rest| rest.split_once(".amazonaws.com/id/"))
        .is_some_and(|(region, id)| !region.is_empty() && !id.is_empty() && !id.contains('/'))
}

/// The profile of the issuer with condition-key prefix `host_path` (lower-case).
pub(crate) fn classify(host_path: &str) -> &'static IssuerProfile {
    match host_path {
        "token.actions.githubusercontent.com" => &GITHUB,
        "gitlab.com" => &GITLAB,
        "agent.buildkite.com" => &BUILDKITE,
        "app.terraform.io" => &TERRAFORM,
        "cognito-identity.amazonaws.com" => &COGNITO,
        "accounts.google.com" => &GOOGLE,
        "www.amazon.com" => &AMAZON,
        "graph.facebook.com" => &FACEBOOK,
        "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d" => &SENTINEL,
        p if SHARED_SUB_ISSUERS.contains(&p) => &SHARED_SUB,
        p if SHARED_AUD_ISSUERS.contains(&p) => &SHARED_AUD,
        p if is_eks(p) => &EKS,
        p => match KnownIssuer::of(p) {
            Some(KnownIssuer::GitHub) => &GITHUB_PRIVATE,
            Some(KnownIssuer::CircleCi) => &CIRCLECI,
            _ => &PRIVATE,
        },
    }
}

/// A Federated principal of a statement, resolved to an OIDC provider.
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    /// The principal value as written (the provider ARN or built-in domain).
    pub(crate) principal: String,
    /// Condition-key prefix: the issuer host and path, as written in the principal.
    pub(crate) prefix: String,
    /// `prefix` lower-cased, for comparisons (condition keys are case-insensitive).
    pub(crate) prefix_lower: String,
    /// What is known about the issuer.
    pub(crate) profile: &'static IssuerProfile,
    /// JSON pointer of the principal value naming the provider.
    pub(crate) pointer: String,
}

impl Provider {
    /// A provider for `prefix` trusted through `principal` (at `pointer`).
    pub(crate) fn new(principal: &str, prefix: String, pointer: &str) -> Provider {
        Provider {
            principal: principal.to_string(),
            profile: classify(&prefix.to_lowercase()),
            prefix_lower: prefix.to_lowercase(),
            prefix,
            pointer: pointer.to_string(),
        }
    }

    /// The principal value to use when the statement trusts every principal: the built-in
    /// domain itself, or an OIDC provider ARN in `account`.
    pub(crate) fn synthetic_principal(prefix: &str, account: &str) -> String {
        if federated_prefix(prefix).is_some() {
            prefix.to_string()
        } else {
            format!("arn:aws:iam::{account}:oidc-provider/{prefix}")
        }
    }
}

impl Provider {
    /// Whether `claim` is a key AWS builds for this provider, as keyless's STS decides it.
    pub(crate) fn aws_exposes(&self, claim: &str) -> bool {
        condition_keys::aws_exposes(&self.prefix, claim)
    }

    /// Whether every token of the issuer carries `claim`.
    pub(crate) fn always_present(&self, claim: &str) -> bool {
        self.profile.always_present.contains(&claim)
    }

    /// The claim a condition key names for this provider (`gitlab.com:sub` -> `sub`),
    /// compared case-insensitively; `None` when the key belongs elsewhere.
    pub(crate) fn claim_of<'k>(&self, key_lower: &'k str) -> Option<&'k str> {
        key_lower
            .strip_prefix(self.prefix_lower.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .filter(|claim| !claim.is_empty())
    }
}

/// The condition-key prefix of a Federated principal value (as written): the host/path of an
/// IAM OIDC provider ARN, or a built-in web identity domain. `None` for SAML providers and values
/// that name no OIDC issuer.
pub(crate) fn federated_prefix(value: &str) -> Option<String> {
    if let Some(rest) = value.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (_partition, service, _region, _account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if service != "iam" {
            return None;
        }
        let host_path = resource.strip_prefix("oidc-provider/")?;
        return (!host_path.is_empty()).then(|| host_path.to_string());
    }
    let lower = value.to_lowercase();
    matches!(
        lower.as_str(),
        "cognito-identity.amazonaws.com"
            | "accounts.google.com"
            | "www.amazon.com"
            | "graph.facebook.com"
    )
    .then_some(lower)
}

/// True for a SAML provider ARN.
pub(crate) fn is_saml_provider(value: &str) -> bool {
    value.starts_with("arn:") && value.contains(":saml-provider/")
}

/// The condition-key prefix of an issuer URL (`https://gitlab.com/` -> `gitlab.com`).
pub(crate) fn url_prefix(url: &str) -> String {
    let without_scheme = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    without_scheme.trim_end_matches('/').to_lowercase()
}

/// True for a condition key that names an OIDC claim (`<host/path>:<claim>`) rather than a
/// global or service key (`aws:SourceIp`, `sts:RoleSessionName`).
pub(crate) fn is_oidc_key(key_lower: &str) -> bool {
    key_lower
        .split_once(':')
        .is_some_and(|(head, _)| head.contains('.') || head.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_from_principals() {
        assert_eq!(
            federated_prefix("arn:aws:iam::123456789012:oidc-provider/GitLab.com").as_deref(),
            Some("GitLab.com")
        );
        assert_eq!(
            federated_prefix(
                "arn:aws:iam::1:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
            )
            .as_deref(),
            Some("oidc.eks.us-east-1.amazonaws.com/id/ABC")
        );
        assert_eq!(
            federated_prefix("cognito-identity.amazonaws.com").as_deref(),
            Some("cognito-identity.amazonaws.com")
        );
        assert_eq!(federated_prefix("arn:aws:iam::1:saml-provider/okta"), None);
        assert!(is_saml_provider("arn:aws:iam::1:saml-provider/okta"));
        assert_eq!(url_prefix("https://gitlab.com/"), "gitlab.com");
    }

    #[test]
    fn classification() {
        assert!(classify("gitlab.com").shared);
        assert!(classify("token.actions.githubusercontent.com").shared);
        assert!(!classify("token.actions.githubusercontent.com/acme").shared);
        assert_eq!(
            classify("oidc.eks.eu-west-1.amazonaws.com/id/abc").no_tenancy_rule,
            Some(rules::EKS_WIDE_SA)
        );
        assert!(!classify("gitlab.example.com").shared);
        assert!(is_oidc_key("gitlab.com:sub"));
        assert!(!is_oidc_key("aws:sourceip"));
        assert!(!is_oidc_key("sts:rolesessionname"));
    }

    #[test]
    fn subject_formats() {
        assert_eq!(
            SubjectFormat::detect("repo:o/r:*"),
            Some(SubjectFormat::GitHub)
        );
        assert_eq!(
            SubjectFormat::detect("project_path:g/p:*"),
            Some(SubjectFormat::GitLab)
        );
        assert_eq!(SubjectFormat::detect("x:y"), None);
    }

    /// A condition-key prefix for every issuer profile, with every GitHub form AWS lists.
    const PREFIXES: &[&str] = &[
        "token.actions.githubusercontent.com",
        "token.actions.githubusercontent.com/acme",
        "github.com/enterprises/acme",
        "token.actions.acme.ghe.com",
        "gitlab.com",
        "GitLab.com",
        "gitlab.example.com",
        "agent.buildkite.com",
        "agent.eu.buildkite.dev",
        "app.terraform.io",
        "cognito-identity.amazonaws.com",
        "accounts.google.com",
        "www.amazon.com",
        "graph.facebook.com",
        "sts.windows.net/33e01921-4d64-4f8c-a055-5bdaffd5e33d",
        "oidc.codefresh.io",
        "api.pulumi.com/oidc",
        "oidc.eks.eu-west-1.amazonaws.com/id/abc",
        "oidc.circleci.com/org/1b3e5d7f-aaaa-bbbb-cccc-1234567890ab",
        "idcs-abc.identity.oraclecloud.com",
        "private.example.com",
    ];

    /// Claims worth asking about for `prefix`: the generic and provider-specific keys of the
    /// STS, every claim the linter's profile names, and claims AWS never exposes.
    fn claims_for(prefix: &str) -> Vec<&'static str> {
        let profile = classify(&prefix.to_lowercase());
        let provider_keys = KnownIssuer::of(prefix).map_or(&[][..], KnownIssuer::aws_claims);
        let mut claims: Vec<&'static str> = condition_keys::GENERIC_AWS_CLAIMS
            .iter()
            .chain(provider_keys)
            .chain(profile.always_present)
            .chain(profile.multi_valued)
            .chain(&[
                "repository_owner",
                "project_path",
                "workflow_ref",
                "id",
                "user_id",
            ])
            .copied()
            .chain(profile.tenancy.iter().map(|t| t.claim))
            .filter(|claim| !claim.contains(':'))
            .collect();
        claims.sort_unstable();
        claims.dedup();
        claims
    }

    #[test]
    fn aws_exposure_is_the_sts_decision() {
        for prefix in PREFIXES {
            let provider = Provider::new(
                &format!("arn:aws:iam::123456789012:oidc-provider/{prefix}"),
                prefix.to_string(),
                "/Statement/0/Principal/Federated",
            );
            for claim in claims_for(prefix) {
                assert_eq!(
                    provider.aws_exposes(claim),
                    condition_keys::aws_exposes(prefix, claim),
                    "{prefix}:{claim}"
                );
            }
        }
    }

    #[test]
    fn aws_mode_flags_exactly_the_claims_the_sts_leaves_out() {
        let opts = crate::LintOptions {
            mode: crate::KeyMode::Aws,
            ..crate::LintOptions::default()
        };
        for prefix in PREFIXES {
            for claim in claims_for(prefix) {
                let key = format!("{prefix}:{claim}");
                let mut values = serde_json::Map::new();
                values.insert(format!("{prefix}:aud"), "example-audience".into());
                values.insert(format!("{prefix}:sub"), "example:subject".into());
                values.insert(key.clone(), "example-value".into());
                let doc = serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {
                            "Federated": format!("arn:aws:iam::123456789012:oidc-provider/{prefix}")
                        },
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": values}
                    }]
                })
                .to_string();
                let pointer = format!(
                    "/Statement/0/Condition/StringEquals/{}",
                    key.replace('~', "~0").replace('/', "~1")
                );
                let flagged = crate::lint_policy(&doc, &opts)
                    .findings
                    .iter()
                    .any(|f| f.rule == rules::UNSUPPORTED_CLAIM && f.pointer == pointer);
                assert_eq!(
                    flagged,
                    !condition_keys::aws_exposes(prefix, claim),
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn enterprise_issuers_are_private_github_issuers() {
        for prefix in [
            "token.actions.githubusercontent.com/acme",
            "github.com/enterprises/acme",
            "token.actions.acme.ghe.com",
        ] {
            let profile = classify(prefix);
            assert_eq!(profile.format, SubjectFormat::GitHub, "{prefix}");
            assert!(!profile.shared, "{prefix}");
            assert_eq!(KnownIssuer::of(prefix), Some(KnownIssuer::GitHub));
        }
    }
}
