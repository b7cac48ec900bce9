//! The rule catalogue.

use serde::Serialize;

use crate::Severity;

/// A lint rule: identifier, default severity and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable identifier, e.g. `OIDC-UNTERMINATED-PREFIX`.
    pub id: &'static str,
    /// Severity of a typical finding (individual findings may be lower; see each rule).
    pub severity: Severity,
    /// One-line title.
    pub title: &'static str,
    /// What the rule detects and why it matters.
    pub description: &'static str,
    /// How to fix it.
    pub help: &'static str,
}

pub(crate) const NO_TENANCY: &str = "OIDC-NO-TENANCY";
pub(crate) const TENANCY_MATCHES_ALL: &str = "OIDC-TENANCY-MATCHES-ALL";
pub(crate) const UNTERMINATED_PREFIX: &str = "OIDC-UNTERMINATED-PREFIX";
pub(crate) const POISONED_LIST: &str = "OIDC-POISONED-LIST";
pub(crate) const NEGATED_ONLY: &str = "OIDC-NEGATED-ONLY";
pub(crate) const IFEXISTS_VACUOUS: &str = "OIDC-IFEXISTS-VACUOUS";
pub(crate) const FORALLVALUES_SINGLE: &str = "OIDC-FORALLVALUES-SINGLE";
pub(crate) const KEY_PROVIDER_MISMATCH: &str = "OIDC-KEY-PROVIDER-MISMATCH";
pub(crate) const UNSUPPORTED_CLAIM: &str = "OIDC-UNSUPPORTED-CLAIM";
pub(crate) const WILDCARD_WITHOUT_LIKE: &str = "OIDC-WILDCARD-WITHOUT-LIKE";
pub(crate) const LIKE_WITHOUT_WILDCARD: &str = "OIDC-LIKE-WITHOUT-WILDCARD";
pub(crate) const MISSING_AUD: &str = "OIDC-MISSING-AUD";
pub(crate) const GH_PR_OR_ANY_REF: &str = "OIDC-GH-PR-OR-ANY-REF";
pub(crate) const GL_UNPROTECTED_REF: &str = "OIDC-GL-UNPROTECTED-REF";
pub(crate) const MUTABLE_NAME: &str = "OIDC-MUTABLE-NAME";
pub(crate) const ENV_UNVERIFIABLE: &str = "OIDC-ENV-UNVERIFIABLE";
pub(crate) const ACTION_BROAD: &str = "OIDC-ACTION-BROAD";
pub(crate) const ACTION_MISMATCH: &str = "OIDC-ACTION-MISMATCH";
pub(crate) const PRINCIPAL_STAR: &str = "TRUST-PRINCIPAL-STAR";
pub(crate) const MULTI_PROVIDER: &str = "OIDC-MULTI-PROVIDER-STATEMENT";
pub(crate) const EKS_WIDE_SA: &str = "OIDC-EKS-WIDE-SA";
pub(crate) const COGNITO_NO_AUD: &str = "OIDC-COGNITO-NO-AUD";
pub(crate) const COGNITO_UNAUTH: &str = "OIDC-COGNITO-UNAUTH";
pub(crate) const GOOGLE_AZP: &str = "OIDC-GOOGLE-AZP";
pub(crate) const NULL_QUALIFIER: &str = "GEN-NULL-QUALIFIER";
pub(crate) const VERSION: &str = "GEN-VERSION";
pub(crate) const EMPTY_ARRAY: &str = "GEN-EMPTY-ARRAY";
pub(crate) const SIZE: &str = "GEN-SIZE";
pub(crate) const PARSE: &str = "GEN-PARSE";
pub(crate) const NOT_PRINCIPAL: &str = "TRUST-NOTPRINCIPAL";
pub(crate) const RESOURCE: &str = "TRUST-RESOURCE";
pub(crate) const NULL_IFEXISTS: &str = "GEN-NULL-IFEXISTS";
pub(crate) const DUP_KEY_CASE: &str = "GEN-DUP-KEY-CASE";
pub(crate) const DUP_JSON_KEY: &str = "GEN-DUP-JSON-KEY";
pub(crate) const SID: &str = "GEN-SID";

static RULES: &[RuleInfo] = &[
    RuleInfo {
        id: NO_TENANCY,
        severity: Severity::Critical,
        title: "Shared issuer without a tenancy restriction",
        description: "An Allow statement trusts a shared OIDC issuer (GitHub Actions, gitlab.com, Buildkite, HCP Terraform, Google, ...) but no effective condition restricts the claim that identifies the tenant (sub, or another organisation/project claim). Every organisation using the issuer gets tokens the statement accepts, so anyone can assume the role. Conditions that do not count: negated operators, IfExists on claims a token may omit, set qualifiers on claims a token may omit, keys spelled for another provider, and (in aws mode) claims AWS does not expose. An aud condition does not count either: on CI issuers the job chooses its audience. High instead of critical when an exact condition pins the user running the job (user_login, user_id, actor, ...): then only that user's pipelines in any project are admitted.",
        help: "Add a StringEquals (or StringLike with a delimiter-terminated prefix) condition on <issuer>:sub naming your organisation and project, e.g. \"repo:my-org/my-repo:ref:refs/heads/main\" or \"project_path:my-group/my-project:ref_type:branch:ref:main\".",
    },
    RuleInfo {
        id: TENANCY_MATCHES_ALL,
        severity: Severity::Critical,
        title: "Tenancy condition matches every tenant",
        description: "A value of the tenancy condition has a wildcard at or before the tenant name (\"*\", \"repo:*\", \"project_path:*\", \"*/app\"), so it matches every organisation of the issuer. AWS's write-time identity-provider control accepts some of these (repo:*), and grandfathered policies are not checked at all. High instead of critical for a private issuer, where only the issuer's own users are exposed.",
        help: "Replace the wildcard by your organisation or group name followed by its delimiter (repo:my-org/..., project_path:my-group/...).",
    },
    RuleInfo {
        id: UNTERMINATED_PREFIX,
        severity: Severity::High,
        title: "Wildcard inside the tenant name",
        description: "A StringLike value has a wildcard inside the owner/group segment (\"repo:myorg*\", \"project_path:mygroup*\", \"repo:myorg@*\"). String wildcards cross ':' and '/', so the pattern also matches tenants whose name merely starts with yours: anyone can register \"mygroup-evil\" and assume the role.",
        help: "End the literal prefix with the tenant delimiter: \"project_path:mygroup/*\", \"repo:myorg/*\" (better: name the project and ref exactly).",
    },
    RuleInfo {
        id: POISONED_LIST,
        severity: Severity::High,
        title: "Broad value among tight ones",
        description: "The tenancy condition lists several values and at least one of them is much broader than the others. Values are OR-ed, so the exposure is that of the broadest value; the tight values only give a false sense of safety. AWS's write-time check does not inspect the remaining values of a list.",
        help: "Remove the broad value or split the list into separate, tightly scoped roles.",
    },
    RuleInfo {
        id: NEGATED_ONLY,
        severity: Severity::High,
        title: "Tenancy restricted only by a deny-list",
        description: "The tenancy claim is restricted only by negated operators (StringNotEquals, StringNotLike, ArnNotLike, or ForAnyValue with a negated operator) in an Allow statement. A negated condition admits everything it does not list, and it is true when the key is missing: every other tenant is admitted.",
        help: "Use a positive operator (StringEquals or StringLike) listing the subjects that may assume the role.",
    },
    RuleInfo {
        id: IFEXISTS_VACUOUS,
        severity: Severity::High,
        title: "IfExists condition on a claim a token can omit",
        description: "An ...IfExists operator on an OIDC claim in an Allow statement is true when the claim is missing. For claims that are only present in some tokens (GitHub environment or job_workflow_ref, GitLab environment) the restriction silently disappears for tokens without it. Low for sub and aud, which every token carries.",
        help: "Drop the IfExists suffix so that a missing claim fails the condition.",
    },
    RuleInfo {
        id: FORALLVALUES_SINGLE,
        severity: Severity::High,
        title: "ForAllValues on a single-valued claim",
        description: "ForAllValues: is true when the key is missing (the empty set satisfies \"all values match\"). On single-valued claims such as sub and aud the qualifier adds nothing when the claim is present and removes the restriction when it is absent (Access Analyzer FORALLVALUES_WITH_SINGLE_VALUED_KEY).",
        help: "Remove the ForAllValues: qualifier; use the plain operator for single-valued claims.",
    },
    RuleInfo {
        id: KEY_PROVIDER_MISMATCH,
        severity: Severity::High,
        title: "Condition key names another provider",
        description: "The condition key's prefix does not match any Federated provider of the statement (typo, copied example, gitlab.example.com vs gitlab.com). The key is never in the request context. With a negated operator, IfExists or ForAllValues the condition is then always true and the restriction disappears (high); with a positive operator it is always false and the statement can never be used (medium).",
        help: "Spell the key with the provider's issuer host and path exactly as in the Federated principal ARN (e.g. gitlab.com:sub for oidc-provider/gitlab.com).",
    },
    RuleInfo {
        id: UNSUPPORTED_CLAIM,
        severity: Severity::High,
        title: "Claim that AWS does not expose",
        description: "In aws key mode only the claims AWS documents become condition keys (aud, sub, amr, azp, email and the provider-specific lists); conditions on any other claim (gitlab.com:project_path, ...:repository_owner) behave as if the key were missing. Fails open (high) with negated, IfExists or ForAllValues operators; fails closed (medium) otherwise.",
        help: "Restrict the claim through sub (or a documented provider key such as gitlab.com:project_id), or use keyless's 'all' key mode.",
    },
    RuleInfo {
        id: WILDCARD_WITHOUT_LIKE,
        severity: Severity::Medium,
        title: "Wildcard under a non-Like operator",
        description: "A value contains * or ? under StringEquals/StringNotEquals (or their IgnoreCase forms), where they are literal characters. The author most likely meant a wildcard; the condition then matches nothing (or, negated, everything).",
        help: "Use StringLike/StringNotLike for patterns, or remove the wildcard characters.",
    },
    RuleInfo {
        id: LIKE_WITHOUT_WILDCARD,
        severity: Severity::Info,
        title: "StringLike without a wildcard",
        description: "A StringLike/StringNotLike value contains no wildcard; it behaves exactly like StringEquals.",
        help: "Use StringEquals for exact values: it states the intent and cannot be widened by accident.",
    },
    RuleInfo {
        id: MISSING_AUD,
        severity: Severity::Medium,
        title: "No audience condition",
        description: "No positive condition restricts <issuer>:aud. On a private issuer with several client IDs a token minted for another application is accepted. On shared CI issuers the job chooses its audience, so the check is defence in depth only (low).",
        help: "Add StringEquals <issuer>:aud with the client ID registered for this role (sts.amazonaws.com for GitHub/EKS, the URL configured in id_tokens for GitLab).",
    },
    RuleInfo {
        id: GH_PR_OR_ANY_REF,
        severity: Severity::Medium,
        title: "GitHub subject admits pull requests or any ref",
        description: "The GitHub subject pins the repository but admits ':pull_request' or any branch/tag (repo:o/r:*, ref:refs/heads/*). Anyone who can open a pull request or push a branch runs code with the role.",
        help: "Name the protected ref (repo:o/r:ref:refs/heads/main) or a protected environment (repo:o/r:environment:prod).",
    },
    RuleInfo {
        id: GL_UNPROTECTED_REF,
        severity: Severity::Medium,
        title: "GitLab subject admits unprotected refs",
        description: "The GitLab subject pins the project but admits any ref (project_path:g/p:*, ref_type:branch:ref:*, ref:main*) and no gitlab.com:ref_protected = \"true\" condition is present: every developer who can push a branch or tag gets the role.",
        help: "Add StringEquals {\"<issuer>:ref_protected\": \"true\"} or name the protected ref exactly (…:ref_type:branch:ref:main).",
    },
    RuleInfo {
        id: MUTABLE_NAME,
        severity: Severity::Low,
        title: "Tenant pinned by name only",
        description: "The tenant is identified by a name (repository or group path) and no immutable ID (repository_id / repository_owner_id, project_id / namespace_id) is pinned. A deleted or renamed organisation can be re-registered by someone else.",
        help: "Also pin the immutable ID: StringEquals <issuer>:repository_owner_id (GitHub) or <issuer>:namespace_id (GitLab).",
    },
    RuleInfo {
        id: ENV_UNVERIFIABLE,
        severity: Severity::Info,
        title: "GitHub environment subject",
        description: "The subject names a GitHub environment. It is only as strong as the environment's protection rules (required reviewers, deployment branches), which cannot be seen from the policy.",
        help: "Make sure the environment has deployment-branch and reviewer protection rules.",
    },
    RuleInfo {
        id: ACTION_BROAD,
        severity: Severity::Medium,
        title: "Trust statement allows more than web identity",
        description: "A statement with a Federated principal allows \"*\", \"sts:*\" or uses NotAction. For an OIDC provider only sts:AssumeRoleWithWebIdentity (and sts:TagSession when tokens carry session tags) is needed; broader grants hide intent and widen the statement if the principal changes. Reported as medium: extra STS actions do not widen who can present a token, so no counter-example can prove more.",
        help: "List the actions explicitly: \"sts:AssumeRoleWithWebIdentity\" (plus \"sts:TagSession\" if needed).",
    },
    RuleInfo {
        id: ACTION_MISMATCH,
        severity: Severity::Medium,
        title: "Action does not fit the principal",
        description: "An OIDC provider principal is paired only with actions it cannot use (sts:AssumeRole, sts:AssumeRoleWithSAML), or a SAML provider with sts:AssumeRoleWithWebIdentity. The statement never applies (Access Analyzer \"Mismatched action for principal\").",
        help: "Use sts:AssumeRoleWithWebIdentity with OIDC provider principals and sts:AssumeRoleWithSAML with SAML providers.",
    },
    RuleInfo {
        id: PRINCIPAL_STAR,
        severity: Severity::Critical,
        title: "Wildcard principal in a trust policy",
        description: "\"Principal\": \"*\" or {\"AWS\": \"*\"} in an Allow statement of a trust policy matches every caller, including web identity tokens of any provider. Only the conditions stand between the role and everyone.",
        help: "Name the provider: {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/<issuer>\"}.",
    },
    RuleInfo {
        id: MULTI_PROVIDER,
        severity: Severity::Medium,
        title: "Several providers in one statement",
        description: "A statement trusts more than one Federated provider while its conditions are keyed to some of them. Conditions keyed to one provider do not restrict the others (their keys are missing for the other provider's tokens), and negated or IfExists conditions even pass.",
        help: "Use one statement per provider, each with its own conditions.",
    },
    RuleInfo {
        id: EKS_WIDE_SA,
        severity: Severity::High,
        title: "EKS trust not pinned to a service account namespace",
        description: "An EKS cluster issuer is trusted without an effective sub condition pinning the namespace (no sub condition, system:serviceaccount:*, or a wildcard inside the namespace): any pod of the cluster with a projected token can assume the role.",
        help: "Add StringEquals <issuer>:sub \"system:serviceaccount:<namespace>:<service-account>\".",
    },
    RuleInfo {
        id: COGNITO_NO_AUD,
        severity: Severity::Critical,
        title: "Cognito identity pool without an audience condition",
        description: "cognito-identity.amazonaws.com is trusted without an effective condition on cognito-identity.amazonaws.com:aud (the identity pool ID): users of any identity pool, in any account, can assume the role.",
        help: "Add StringEquals {\"cognito-identity.amazonaws.com:aud\": \"<region>:<identity-pool-id>\"}.",
    },
    RuleInfo {
        id: COGNITO_UNAUTH,
        severity: Severity::Medium,
        title: "Cognito role admits unauthenticated identities",
        description: "The amr condition admits \"unauthenticated\": guest identities of the pool can assume the role without signing in.",
        help: "Require ForAnyValue:StringLike {\"cognito-identity.amazonaws.com:amr\": \"authenticated\"} for privileged roles.",
    },
    RuleInfo {
        id: GOOGLE_AZP,
        severity: Severity::Medium,
        title: "Google audience without oaud or sub",
        description: "accounts.google.com:aud holds the azp claim when a token carries one (service-account ID tokens do), not the audience. A condition on aud alone may pin the wrong thing.",
        help: "Also restrict accounts.google.com:oaud, accounts.google.com:sub or accounts.google.com:google/organization_number.",
    },
    RuleInfo {
        id: NULL_QUALIFIER,
        severity: Severity::Low,
        title: "Null with a set qualifier",
        description: "ForAllValues:Null is always true and ForAnyValue:Null always false (Access Analyzer \"Null with qualifier\").",
        help: "Use Null without a qualifier.",
    },
    RuleInfo {
        id: VERSION,
        severity: Severity::Low,
        title: "Missing or old policy Version",
        description: "The policy has no Version or uses 2008-10-17. Policy variables (${...}) are then literal text; medium when the policy contains variables, which then never resolve.",
        help: "Set \"Version\": \"2012-10-17\".",
    },
    RuleInfo {
        id: EMPTY_ARRAY,
        severity: Severity::Low,
        title: "Empty condition value list",
        description: "A condition lists no values. Plain operators then match nothing (negated: everything), ForAllValues matches only a missing key, IfExists only a missing key — almost certainly not what was meant.",
        help: "List the intended values or remove the condition.",
    },
    RuleInfo {
        id: SIZE,
        severity: Severity::Medium,
        title: "Trust policy exceeds the size quota",
        description: "The policy has more non-whitespace characters than the role trust policy quota (2048 by default), so IAM rejects it with LimitExceeded.",
        help: "Shorten the policy (merge values into lists, drop redundant statements) or raise the quota.",
    },
    RuleInfo {
        id: PARSE,
        severity: Severity::Medium,
        title: "Policy does not parse",
        description: "The document is not a valid trust policy (invalid JSON, unknown elements, wrong types, invalid values). IAM and keyless reject it; nothing else could be checked.",
        help: "Fix the error at the reported location.",
    },
    RuleInfo {
        id: NOT_PRINCIPAL,
        severity: Severity::Medium,
        title: "NotPrincipal in a trust policy",
        description: "Role trust policies do not support NotPrincipal; the document is rejected.",
        help: "Use Principal with the providers to trust.",
    },
    RuleInfo {
        id: RESOURCE,
        severity: Severity::Medium,
        title: "Resource in a trust policy",
        description: "A trust policy's resource is the role itself; Resource/NotResource are prohibited and the document is rejected (\"Has prohibited field Resource\").",
        help: "Remove the Resource/NotResource element.",
    },
    RuleInfo {
        id: NULL_IFEXISTS,
        severity: Severity::Medium,
        title: "NullIfExists",
        description: "The Null operator cannot take the IfExists suffix; the document is rejected.",
        help: "Use Null.",
    },
    RuleInfo {
        id: DUP_KEY_CASE,
        severity: Severity::Medium,
        title: "Condition key repeated with different case",
        description: "Condition keys are case-insensitive; the same key twice in one operator block is rejected.",
        help: "Merge the values into one key.",
    },
    RuleInfo {
        id: DUP_JSON_KEY,
        severity: Severity::Medium,
        title: "Duplicate JSON key",
        description: "An object repeats a key. JSON parsers disagree on which one wins (many keep the last silently), so the document is rejected.",
        help: "Remove the duplicate member.",
    },
    RuleInfo {
        id: SID,
        severity: Severity::Medium,
        title: "Invalid or duplicate Sid",
        description: "Statement IDs must be alphanumeric and unique; the document is rejected.",
        help: "Rename the Sid.",
    },
];

/// All rules, in catalogue order.
pub fn rules() -> &'static [RuleInfo] {
    RULES
}

/// Looks a rule up by identifier.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}
