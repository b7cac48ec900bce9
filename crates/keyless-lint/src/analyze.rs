//! The detectors.

use keyless_policy::{
    ActionElement, Case, Condition, Effect, ElementValue, OperatorFamily, OperatorKind, Policy,
    PolicyError, PrincipalElement, PrincipalType, SetQualifier, Statement,
};

use crate::provider::{
    ClaimShape, Provider, SubjectFormat, TenancyClaim, federated_prefix, is_oidc_key,
    is_saml_provider, url_prefix,
};
use crate::value::{Token, Value};
use crate::witness::{
    Claim, Scenario, WEB_IDENTITY, aws_caller_baseline, baseline, string_condition_admits,
    subject_format,
};
use crate::{CounterExample, Finding, KeyMode, LintOptions, Severity, rules};

/// Claims naming the user who runs the job: a condition on one restricts who, not which
/// organisation.
const USER_CLAIMS: &[&str] = &["user_id", "user_login", "user_email", "actor", "actor_id"];

/// Account used for principals that belong to somebody else.
const FOREIGN_ACCOUNT: &str = "999999999999";

/// How far a tenancy value reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// One tenant.
    Pinned,
    /// Every tenant whose name starts with the literal prefix.
    Unterminated,
    /// Every tenant.
    All,
}

/// Subjects a ref-pinning check tries: the subject marker, suffixes appended to the pinned
/// project, and the rule reported when one of them is admitted.
struct RefProbes {
    marker: &'static str,
    probes: &'static [(&'static str, &'static str)],
    rule: &'static str,
}

const GITHUB_REFS: RefProbes = RefProbes {
    marker: "repo:",
    probes: &[
        (":pull_request", "pull requests"),
        (":ref:refs/heads/attacker-branch", "any branch"),
        (":ref:refs/tags/attacker-tag", "any tag"),
    ],
    rule: rules::GH_PR_OR_ANY_REF,
};

const GITLAB_REFS: RefProbes = RefProbes {
    marker: "project_path:",
    probes: &[
        (":ref_type:branch:ref:attacker-branch", "any branch"),
        (":ref_type:tag:ref:attacker-tag", "any tag"),
    ],
    rule: rules::GL_UNPROTECTED_REF,
};

/// A finding before verification.
struct Draft {
    rule: &'static str,
    severity: Severity,
    message: String,
    pointer: String,
    fix: String,
    scenarios: Vec<Scenario>,
}

impl Draft {
    fn new(rule: &'static str, severity: Severity, pointer: &str, message: String) -> Draft {
        Draft {
            rule,
            severity,
            message,
            pointer: pointer.to_string(),
            fix: crate::rule(rule)
                .map(|r| r.help)
                .unwrap_or_default()
                .to_string(),
            scenarios: Vec::new(),
        }
    }

    fn fix(mut self, fix: String) -> Draft {
        self.fix = fix;
        self
    }

    fn scenario(mut self, scenario: Scenario) -> Draft {
        self.scenarios.push(scenario);
        self
    }
}

struct Analyzer<'a> {
    policy: &'a Policy,
    opts: &'a LintOptions,
    variables: bool,
    findings: Vec<Finding>,
}

/// Runs every detector over a parsed trust policy.
pub(crate) fn analyze(policy: &Policy, opts: &LintOptions) -> Vec<Finding> {
    let mut analyzer = Analyzer {
        policy,
        opts,
        variables: policy.version() == Some("2012-10-17"),
        findings: Vec::new(),
    };
    analyzer.version();
    for statement in policy.statements() {
        analyzer.statement(statement);
    }
    analyzer.findings
}

/// The finding for a document the parser rejected.
pub(crate) fn parse_error_finding(error: &PolicyError) -> Finding {
    let detail = error.detail.as_deref().unwrap_or_default();
    let rule = if error.message == "Has prohibited field NotPrincipal" {
        rules::NOT_PRINCIPAL
    } else if error.message.starts_with("Has prohibited field") {
        rules::RESOURCE
    } else if detail.contains("cannot be used with the IfExists suffix") {
        rules::NULL_IFEXISTS
    } else if detail.contains("with different capitalization") {
        rules::DUP_KEY_CASE
    } else if detail.starts_with("duplicate key") {
        rules::DUP_JSON_KEY
    } else if error.message.starts_with("Statement IDs (SID)") {
        rules::SID
    } else {
        rules::PARSE
    };
    let message = if detail.is_empty() {
        format!("The policy is rejected: {}", error.message)
    } else {
        format!("The policy is rejected: {} ({detail})", error.message)
    };
    Finding {
        rule,
        severity: Severity::Medium,
        message,
        pointer: error.pointer.clone(),
        fix: crate::rule(rule)
            .map(|r| r.help)
            .unwrap_or_default()
            .to_string(),
        counter_example: None,
        position: None,
    }
}

fn action_applies(element: &ActionElement, action: &str) -> bool {
    let listed = element
        .values()
        .iter()
        .any(|v| Value::new(v.text(), false, true).matches(action, Case::AsciiInsensitive));
    listed != element.is_not_action()
}

fn is_string_family(condition: &Condition) -> bool {
    matches!(
        condition.operator().family(),
        OperatorFamily::String | OperatorFamily::Arn
    )
}

fn has_wildcard(value: &Value) -> bool {
    value
        .tokens
        .iter()
        .any(|t| matches!(t, Token::AnyRun | Token::AnyChar))
}

/// Whether the condition's values are read with wildcards.
fn wildcards_active(condition: &Condition) -> bool {
    !matches!(
        condition.operator().kind,
        OperatorKind::StringEquals
            | OperatorKind::StringNotEquals
            | OperatorKind::StringEqualsIgnoreCase
            | OperatorKind::StringNotEqualsIgnoreCase
    )
}

/// True when a missing key makes the condition true (the restriction disappears).
/// `ForAnyValue:` is false on a missing key, `IfExists` notwithstanding.
fn fails_open(condition: &Condition) -> bool {
    let op = condition.operator();
    match op.set_qualifier {
        Some(SetQualifier::ForAnyValue) => false,
        Some(SetQualifier::ForAllValues) => true,
        None => op.if_exists || op.is_negated(),
    }
}

fn reach(value: &Value, shape: ClaimShape, format: SubjectFormat) -> Reach {
    if value.is_exact() {
        return Reach::Pinned;
    }
    let prefix = value.literal_prefix();
    match shape {
        ClaimShape::Exact => {
            if prefix.is_empty() {
                Reach::All
            } else {
                Reach::Unterminated
            }
        }
        ClaimShape::Path => path_reach(&prefix),
        ClaimShape::Subject => subject_reach(&prefix, format),
    }
}

fn path_reach(prefix: &str) -> Reach {
    if prefix.is_empty() {
        Reach::All
    } else if prefix.char_indices().any(|(i, c)| i > 0 && c == '/') {
        Reach::Pinned
    } else {
        Reach::Unterminated
    }
}

fn subject_reach(prefix: &str, format: SubjectFormat) -> Reach {
    let format = SubjectFormat::detect(prefix).unwrap_or(format);
    if let Some(marker) = format.marker() {
        if let Some(rest) = prefix.strip_prefix(marker) {
            if rest.is_empty() {
                return Reach::All;
            }
            return match rest.find(format.tenant_delimiter()) {
                Some(i) if i > 0 => Reach::Pinned,
                _ => Reach::Unterminated,
            };
        }
        if marker.starts_with(prefix) {
            return Reach::All;
        }
    }
    match prefix.split_once([':', '/']) {
        None if prefix.is_empty() => Reach::All,
        None => Reach::Unterminated,
        Some((_, "")) => Reach::All,
        Some((_, rest)) => {
            if rest
                .char_indices()
                .any(|(i, c)| i > 0 && (c == ':' || c == '/'))
            {
                Reach::Pinned
            } else {
                Reach::Unterminated
            }
        }
    }
}

/// A concrete value of another tenant that a broad pattern admits.
fn attacker_value(
    value: &Value,
    reach: Reach,
    claim: &TenancyClaim,
    format: SubjectFormat,
) -> Option<String> {
    let (index, last) = value.first_wildcard()?;
    let prefix = value.literal_prefix();
    let format = SubjectFormat::detect(&prefix).unwrap_or(format);
    if value.is_any_char(index) {
        return value.instantiate("z");
    }
    let fill: String = match (reach, claim.shape) {
        (Reach::Pinned, _) => return None,
        (Reach::Unterminated, ClaimShape::Subject) => {
            let tail = if last { format.unterminated_tail() } else { "" };
            if prefix.ends_with('@') {
                format!("999999999{tail}")
            } else if prefix.ends_with(|c: char| c.is_ascii_digit()) {
                let tail = if last { ":x" } else { "" };
                format!("9{tail}")
            } else {
                format!("-evil{tail}")
            }
        }
        (Reach::Unterminated, ClaimShape::Path) => {
            if last {
                "-evil/x".to_string()
            } else {
                "-evil".to_string()
            }
        }
        (Reach::Unterminated, ClaimShape::Exact) => {
            if prefix.chars().all(|c| c.is_ascii_digit()) {
                "9".to_string()
            } else {
                "-evil".to_string()
            }
        }
        (Reach::All, ClaimShape::Subject) => {
            let subject = format.attacker_subject();
            let head = format.attacker_head();
            let before_delimiter = value
                .literal_after(index)
                .is_some_and(|l| l.starts_with(format.tenant_delimiter()));
            if last && subject.starts_with(&prefix) {
                subject[prefix.len()..].to_string()
            } else if !last && before_delimiter && format.marker() == Some(prefix.as_str()) {
                format.attacker_tenant().to_string()
            } else if !last && head.starts_with(&prefix) {
                head[prefix.len()..].to_string()
            } else {
                "attacker".to_string()
            }
        }
        (Reach::All, ClaimShape::Path | ClaimShape::Exact) => {
            if last {
                claim.attacker_value.to_string()
            } else {
                "attacker".to_string()
            }
        }
    };
    value.instantiate(&fill)
}

/// Puts a claim (or a global tenancy key) into a scenario.
fn set_tenancy(scenario: &mut Scenario, claim: &TenancyClaim, value: &str) {
    if claim.claim.contains(':') {
        scenario.set_global(claim.claim, value);
    } else {
        scenario.set_str(claim.claim, value);
    }
}

impl Analyzer<'_> {
    fn emit(&mut self, draft: Draft) {
        let mut severity = draft.severity;
        let mut message = draft.message;
        let mut counter_example: Option<CounterExample> = None;
        for scenario in &draft.scenarios {
            let candidate = scenario.verify(self.policy, self.opts.mode);
            let verified = candidate.verified;
            if verified || counter_example.is_none() {
                counter_example = Some(candidate);
            }
            if verified {
                break;
            }
        }
        let verified = counter_example.as_ref().is_some_and(|c| c.verified);
        if severity >= Severity::High && !verified {
            severity = Severity::Medium;
            message.push_str(
                " No request the policy admits demonstrates it (another condition or statement blocks it), so it is reported as medium.",
            );
        }
        self.findings.push(Finding {
            rule: draft.rule,
            severity,
            message,
            pointer: draft.pointer,
            fix: draft.fix,
            counter_example,
            position: None,
        });
    }

    fn version(&mut self) {
        let uses_variables = self.policy.statements().iter().any(|s| {
            s.conditions()
                .iter()
                .any(|c| c.values().iter().any(|v| v.text().contains("${")))
        });
        let (pointer, what) = match self.policy.version() {
            None => ("", "The policy has no Version".to_string()),
            Some("2008-10-17") => ("/Version", "The policy uses Version 2008-10-17".to_string()),
            Some(_) => return,
        };
        let (severity, message) = if uses_variables {
            (
                Severity::Medium,
                format!(
                    "{what}: its ${{...}} policy variables are literal text and never resolve."
                ),
            )
        } else {
            (
                Severity::Low,
                format!("{what}; policy variables would be literal text."),
            )
        };
        self.emit(Draft::new(rules::VERSION, severity, pointer, message));
    }

    fn statement(&mut self, statement: &Statement) {
        self.value_checks(statement);
        if statement.effect() != Effect::Allow {
            return;
        }
        let Some(principal) = statement.principal() else {
            return;
        };
        let web_identity = action_applies(statement.action(), WEB_IDENTITY);
        let all_providers = federated_providers(principal);
        let saml = principal.values().iter().any(|v| {
            v.principal_type() == PrincipalType::Federated && is_saml_provider(v.value().text())
        });
        let wanted = self.opts.provider_url.as_deref().map(url_prefix);
        let providers: Vec<Provider> = all_providers
            .iter()
            .filter(|p| wanted.as_ref().is_none_or(|w| *w == p.prefix_lower))
            .cloned()
            .collect();
        let star = principal.is_wildcard()
            || principal
                .values()
                .iter()
                .any(|v| v.principal_type() == PrincipalType::Aws && v.value().text() == "*");
        let analysed = if star {
            self.inferred_providers(statement, principal)
        } else {
            providers.clone()
        };
        if star {
            self.principal_star(statement, principal, &analysed, web_identity);
        }
        if !all_providers.is_empty() {
            self.action_checks(statement, web_identity);
        } else if saml
            && web_identity
            && !action_applies(statement.action(), "sts:AssumeRoleWithSAML")
        {
            self.emit(
                Draft::new(
                    rules::ACTION_MISMATCH,
                    Severity::Medium,
                    statement.action().pointer(),
                    "A SAML provider is trusted only for sts:AssumeRoleWithWebIdentity; the statement never applies.".to_string(),
                ));
        }
        if !web_identity {
            return;
        }
        if !star && !all_providers.is_empty() {
            self.key_mismatch(statement, &all_providers, &providers);
        }
        if all_providers.len() > 1
            && statement.conditions().iter().any(|c| {
                let key = c.key().to_lowercase();
                all_providers.iter().any(|p| p.claim_of(&key).is_some())
            })
        {
            let names: Vec<&str> = all_providers.iter().map(|p| p.prefix.as_str()).collect();
            self.emit(
                Draft::new(
                    rules::MULTI_PROVIDER,
                    Severity::Medium,
                    principal.pointer(),
                    format!(
                        "The statement trusts {} providers ({}) with conditions keyed to individual providers; a condition on one provider's keys does not restrict the others.",
                        names.len(),
                        names.join(", ")
                    ),
                ));
        }
        for provider in &analysed {
            self.provider_checks(statement, provider);
        }
    }

    /// Providers a wildcard-principal statement is analysed for: the configured issuer, or
    /// the issuers its condition keys name.
    fn inferred_providers(
        &self,
        statement: &Statement,
        principal: &PrincipalElement,
    ) -> Vec<Provider> {
        let mut prefixes: Vec<String> = Vec::new();
        if let Some(url) = &self.opts.provider_url {
            prefixes.push(url_prefix(url));
        } else {
            for condition in statement.conditions() {
                let key = condition.key();
                if is_oidc_key(&key.to_lowercase())
                    && let Some((prefix, _)) = key.rsplit_once(':')
                    && !prefixes.iter().any(|p| p.eq_ignore_ascii_case(prefix))
                {
                    prefixes.push(prefix.to_string());
                }
            }
        }
        prefixes
            .into_iter()
            .map(|prefix| {
                let arn = Provider::synthetic_principal(&prefix, FOREIGN_ACCOUNT);
                Provider::new(&arn, prefix, principal.pointer())
            })
            .collect()
    }

    fn principal_star(
        &mut self,
        statement: &Statement,
        principal: &PrincipalElement,
        analysed: &[Provider],
        web_identity: bool,
    ) {
        let mut draft = Draft::new(
            rules::PRINCIPAL_STAR,
            Severity::Critical,
            principal.pointer(),
            "The trust statement allows every principal (\"*\"): any caller that satisfies the conditions can assume the role, whatever provider or account it comes from.".to_string(),
        );
        let mut providers: Vec<Provider> = analysed.to_vec();
        if providers.is_empty() {
            let prefix = "attacker.example".to_string();
            let arn = Provider::synthetic_principal(&prefix, FOREIGN_ACCOUNT);
            providers.push(Provider::new(&arn, prefix, principal.pointer()));
        }
        if web_identity {
            for provider in &providers {
                draft = draft.scenario(baseline(
                    statement,
                    provider,
                    self.opts.mode,
                    self.variables,
                ));
            }
        }
        if action_applies(statement.action(), "sts:AssumeRole") {
            draft = draft.scenario(aws_caller_baseline(
                statement,
                self.variables,
                &format!("arn:aws:iam::{FOREIGN_ACCOUNT}:root"),
            ));
        }
        self.emit(draft);
    }

    fn action_checks(&mut self, statement: &Statement, web_identity: bool) {
        let action = statement.action();
        let broad = action.is_not_action()
            || action
                .values()
                .iter()
                .any(|v| v.text() == "*" || v.text().eq_ignore_ascii_case("sts:*"));
        if broad {
            let what = if action.is_not_action() {
                "NotAction".to_string()
            } else {
                let listed: Vec<&str> = action.values().iter().map(|v| v.text()).collect();
                format!("Action {}", listed.join(", "))
            };
            self.emit(
                Draft::new(
                    rules::ACTION_BROAD,
                    Severity::Medium,
                    action.pointer(),
                    format!("The trust statement for an OIDC provider uses {what}; only sts:AssumeRoleWithWebIdentity (and sts:TagSession) is needed."),
                ));
        }
        if !web_identity {
            let listed: Vec<&str> = action.values().iter().map(|v| v.text()).collect();
            self.emit(
                Draft::new(
                    rules::ACTION_MISMATCH,
                    Severity::Medium,
                    action.pointer(),
                    format!(
                        "An OIDC provider is trusted only for {}; web identity tokens need sts:AssumeRoleWithWebIdentity, so the statement never applies.",
                        listed.join(", ")
                    ),
                ));
        }
    }

    fn value_checks(&mut self, statement: &Statement) {
        for condition in statement.conditions() {
            let op = condition.operator();
            if condition.values().is_empty() {
                self.emit(Draft::new(
                    rules::EMPTY_ARRAY,
                    Severity::Low,
                    condition.pointer(),
                    format!(
                        "{} on {} lists no values.",
                        condition.operator_text(),
                        condition.key()
                    ),
                ));
            }
            if op.kind == OperatorKind::Null && op.set_qualifier.is_some() {
                self.emit(
                    Draft::new(
                        rules::NULL_QUALIFIER,
                        Severity::Low,
                        condition.pointer(),
                        format!(
                            "{} on {}: ForAllValues:Null is always true and ForAnyValue:Null always false.",
                            condition.operator_text(),
                            condition.key()
                        ),
                    ));
            }
            if op.family() != OperatorFamily::String {
                continue;
            }
            let like = wildcards_active(condition);
            for value in condition.values() {
                let parsed = Value::new(value.text(), self.variables, true);
                if !like && has_wildcard(&parsed) {
                    self.emit(
                        Draft::new(
                            rules::WILDCARD_WITHOUT_LIKE,
                            Severity::Medium,
                            value.pointer(),
                            format!(
                                "{:?} under {} on {}: * and ? are literal characters here, not wildcards.",
                                value.text(),
                                condition.operator_text(),
                                condition.key()
                            ),
                        ));
                }
                if like && op.set_qualifier.is_none() && parsed.is_exact() {
                    self.emit(Draft::new(
                        rules::LIKE_WITHOUT_WILDCARD,
                        Severity::Info,
                        value.pointer(),
                        format!(
                            "{:?} under {} has no wildcard; it is an exact match.",
                            value.text(),
                            condition.operator_text()
                        ),
                    ));
                }
            }
        }
    }

    fn key_mismatch(&mut self, statement: &Statement, all: &[Provider], analysed: &[Provider]) {
        for condition in statement.conditions() {
            let key = condition.key().to_lowercase();
            if !is_oidc_key(&key) || all.iter().any(|p| p.claim_of(&key).is_some()) {
                continue;
            }
            let names: Vec<&str> = all.iter().map(|p| p.prefix.as_str()).collect();
            let open = fails_open(condition);
            let outcome = if open {
                "the condition is always true and its restriction disappears"
            } else {
                "the condition is always false and the statement can never be used"
            };
            let mut draft = Draft::new(
                rules::KEY_PROVIDER_MISMATCH,
                if open {
                    Severity::High
                } else {
                    Severity::Medium
                },
                condition.pointer(),
                format!(
                    "{} names no provider of the statement (trusted: {}); the key is never in the request context, so under {} {outcome}.",
                    condition.key(),
                    names.join(", "),
                    condition.operator_text()
                ),
            );
            if let Some(provider) = analysed.first() {
                let suffix = key.rsplit_once(':').map(|(_, c)| c).unwrap_or_default();
                let suggestion = format!("{}:{suffix}", provider.prefix);
                draft = draft.fix(format!(
                    "Spell the key for the trusted provider: {suggestion}."
                ));
                if open {
                    let mut scenario =
                        baseline(statement, provider, self.opts.mode, self.variables);
                    if let Some(value) = self.blocked_value(condition, provider, suffix) {
                        scenario.set_str(suffix, &value);
                    }
                    draft = draft.scenario(scenario);
                }
            }
            self.emit(draft);
        }
    }

    /// A value the condition was meant to keep out, for claim `claim` of `provider`.
    fn blocked_value(
        &self,
        condition: &Condition,
        provider: &Provider,
        claim: &str,
    ) -> Option<String> {
        if condition.operator().is_negated() {
            return condition.values().first().and_then(|v| {
                Value::new(v.text(), self.variables, wildcards_active(condition)).instantiate("x")
            });
        }
        let sub_conditions: Vec<&Condition> = Vec::new();
        if claim == "sub" {
            return Some(
                subject_format(provider, &sub_conditions)
                    .attacker_subject()
                    .to_string(),
            );
        }
        provider
            .profile
            .tenancy
            .iter()
            .find(|t| t.claim == claim)
            .map(|t| t.attacker_value.to_string())
            .or_else(|| Some("attacker-value".to_string()))
    }

    fn provider_checks(&mut self, statement: &Statement, provider: &Provider) {
        let mode = self.opts.mode;
        let base = baseline(statement, provider, mode, self.variables);
        let own: Vec<(&Condition, String)> = statement
            .conditions()
            .iter()
            .filter_map(|c| {
                provider
                    .claim_of(&c.key().to_lowercase())
                    .map(|claim| (c, claim.to_string()))
            })
            .collect();
        let exposed = |claim: &str| mode == KeyMode::All || provider.aws_exposes(claim);
        for (condition, claim) in &own {
            let op = condition.operator();
            if !exposed(claim) {
                let open = fails_open(condition);
                let mut scenario = base.clone();
                if let Some(value) = self.blocked_value(condition, provider, claim) {
                    scenario.set_str(claim, &value);
                }
                self.emit(
                    Draft::new(
                        rules::UNSUPPORTED_CLAIM,
                        if open { Severity::High } else { Severity::Medium },
                        condition.pointer(),
                        format!(
                            "AWS does not expose the claim {claim:?} of {} as a condition key; {} is never in the request context, so under {} the condition is always {}.",
                            provider.prefix,
                            condition.key(),
                            condition.operator_text(),
                            if open { "true" } else { "false" }
                        ),
                    )
                    .scenario(scenario));
                continue;
            }
            if op.if_exists && fails_open(condition) {
                let always = provider.always_present(claim);
                let mut scenario = base.clone();
                scenario.remove(claim);
                let severity = if always {
                    Severity::Low
                } else {
                    Severity::High
                };
                let note = if always {
                    "every token carries it, so this is only a latent weakness"
                } else {
                    "tokens without the claim pass"
                };
                self.emit(
                    Draft::new(
                        rules::IFEXISTS_VACUOUS,
                        severity,
                        condition.pointer(),
                        format!(
                            "{} on {} is true when the claim is missing; {note}.",
                            condition.operator_text(),
                            condition.key()
                        ),
                    )
                    .fix(format!(
                        "Use {} without the IfExists suffix.",
                        condition
                            .operator_text()
                            .get(
                                ..condition
                                    .operator_text()
                                    .len()
                                    .saturating_sub("IfExists".len())
                            )
                            .unwrap_or_default()
                    ))
                    .scenario(scenario),
                );
            }
            if op.set_qualifier == Some(SetQualifier::ForAllValues)
                && op.kind != OperatorKind::Null
                && !provider.profile.multi_valued.contains(&claim.as_str())
            {
                let mut scenario = base.clone();
                scenario.remove(claim);
                self.emit(
                    Draft::new(
                        rules::FORALLVALUES_SINGLE,
                        Severity::High,
                        condition.pointer(),
                        format!(
                            "{} on the single-valued claim {} is true when the claim is missing.",
                            condition.operator_text(),
                            condition.key()
                        ),
                    )
                    .scenario(scenario),
                );
            }
        }
        self.tenancy(statement, provider, &own, &base);
        self.audience(provider, &own);
        if provider.prefix_lower == "cognito-identity.amazonaws.com" {
            for (condition, claim) in &own {
                if claim == "amr"
                    && !condition.operator().is_negated()
                    && is_string_family(condition)
                    && string_condition_admits(condition, "unauthenticated", self.variables)
                {
                    self.emit(
                        Draft::new(
                            rules::COGNITO_UNAUTH,
                            Severity::Medium,
                            condition.pointer(),
                            "The amr condition admits \"unauthenticated\": guest identities of the pool can assume the role.".to_string(),
                        ));
                }
            }
        }
        if provider.prefix_lower == "accounts.google.com" {
            let restricted = |name: &str| {
                own.iter()
                    .any(|(c, claim)| claim == name && !c.operator().is_negated())
            };
            if restricted("aud")
                && !["oaud", "sub", "google/organization_number"]
                    .iter()
                    .any(|n| restricted(n))
                && let Some((condition, _)) = own.iter().find(|(_, claim)| claim == "aud")
            {
                self.emit(
                    Draft::new(
                        rules::GOOGLE_AZP,
                        Severity::Medium,
                        condition.pointer(),
                        "accounts.google.com:aud carries azp when the token has one; nothing else (oaud, sub, organization) is pinned.".to_string(),
                    ));
            }
        }
    }

    fn audience(&mut self, provider: &Provider, own: &[(&Condition, String)]) {
        if provider.profile.tenancy.iter().any(|t| t.claim == "aud") {
            return;
        }
        let restricted = own.iter().any(|(c, claim)| {
            (claim == "aud" || claim == "oaud") && !c.operator().is_negated() && is_string_family(c)
        });
        if restricted {
            return;
        }
        let (severity, why) = if provider.profile.shared {
            (
                Severity::Low,
                "on this shared issuer the job chooses its audience, so this is defence in depth",
            )
        } else {
            (
                Severity::Medium,
                "a token the issuer minted for another client ID it shares with this provider is accepted",
            )
        };
        self.emit(Draft::new(
            rules::MISSING_AUD,
            severity,
            &provider.pointer,
            format!("No condition restricts {}:aud; {why}.", provider.prefix),
        ));
    }

    fn tenancy(
        &mut self,
        statement: &Statement,
        provider: &Provider,
        own: &[(&Condition, String)],
        base: &Scenario,
    ) {
        let mode = self.opts.mode;
        let profile = provider.profile;
        let sub_conditions: Vec<&Condition> = own
            .iter()
            .filter(|(_, claim)| claim == "sub")
            .map(|(c, _)| *c)
            .collect();
        let format = subject_format(provider, &sub_conditions);
        // Tenancy conditions: (condition, claim description).
        let mut effective: Vec<(&Condition, &TenancyClaim)> = Vec::new();
        let mut negated: Vec<(&Condition, &TenancyClaim)> = Vec::new();
        for condition in statement.conditions() {
            let key = condition.key().to_lowercase();
            let Some(claim) = profile
                .tenancy
                .iter()
                .find(|t| t.key(&provider.prefix).to_lowercase() == key)
            else {
                continue;
            };
            let global = claim.claim.contains(':');
            if !global && mode == KeyMode::Aws && !provider.aws_exposes(claim.claim) {
                continue;
            }
            if !is_string_family(condition) {
                continue;
            }
            let op = condition.operator();
            let always = global || provider.always_present(claim.claim);
            if op.is_negated() {
                negated.push((condition, claim));
            } else if always || !fails_open(condition) {
                effective.push((condition, claim));
            }
        }
        let variables = self.variables;
        let classify =
            |condition: &Condition, claim: &TenancyClaim| -> Vec<(ElementValue, Value, Reach)> {
                condition
                    .values()
                    .iter()
                    .map(|v| {
                        let parsed = Value::new(v.text(), variables, wildcards_active(condition));
                        let r = reach(&parsed, claim.shape, format);
                        (v.clone(), parsed, r)
                    })
                    .collect()
            };
        let pinned_by = effective.iter().find(|(c, claim)| {
            !c.values().is_empty()
                && classify(c, claim)
                    .iter()
                    .all(|(_, _, r)| *r == Reach::Pinned)
        });
        if let Some((pin, pin_claim)) = pinned_by {
            self.pinned_checks(provider, own, base, pin, pin_claim, &sub_conditions);
            return;
        }
        let eks = profile.no_tenancy_rule == Some(rules::EKS_WIDE_SA);
        for (condition, claim) in &effective {
            let values = classify(condition, claim);
            let has_pinned = values.iter().any(|(_, _, r)| *r == Reach::Pinned);
            let mut weakest: Option<(String, Scenario, Reach)> = None;
            for (value, parsed, r) in &values {
                if *r == Reach::Pinned {
                    continue;
                }
                let mut scenario = base.clone();
                if let Some(attacker) = attacker_value(parsed, *r, claim, format) {
                    set_tenancy(&mut scenario, claim, &attacker);
                }
                let (rule, severity, what) = match (r, eks) {
                    (_, true) => (
                        rules::EKS_WIDE_SA,
                        Severity::High,
                        "does not pin a service-account namespace: pods of other namespaces match",
                    ),
                    (Reach::All, false) => (
                        rules::TENANCY_MATCHES_ALL,
                        if profile.shared {
                            Severity::Critical
                        } else {
                            Severity::High
                        },
                        "matches every tenant of the issuer",
                    ),
                    _ => (
                        rules::UNTERMINATED_PREFIX,
                        Severity::High,
                        "has a wildcard inside the tenant name, so tenants whose name merely starts the same match too",
                    ),
                };
                let prefix = parsed.literal_prefix();
                let fix = if *r == Reach::Unterminated && claim.shape != ClaimShape::Exact {
                    let delimiter = match claim.shape {
                        ClaimShape::Subject => SubjectFormat::detect(&prefix)
                            .unwrap_or(format)
                            .tenant_delimiter(),
                        _ => '/',
                    };
                    if prefix.ends_with('@') {
                        format!(
                            "Pin the immutable owner ID before the delimiter, e.g. \"{prefix}<owner-id>{delimiter}*\", or name the subject exactly."
                        )
                    } else {
                        format!(
                            "End the literal prefix at the tenant delimiter, e.g. \"{prefix}{delimiter}*\", or name the subject exactly."
                        )
                    }
                } else {
                    crate::rule(rule)
                        .map(|r| r.help)
                        .unwrap_or_default()
                        .to_string()
                };
                self.emit(
                    Draft::new(
                        rule,
                        severity,
                        value.pointer(),
                        format!(
                            "{:?} under {} on {} {what}.",
                            value.text(),
                            condition.operator_text(),
                            condition.key()
                        ),
                    )
                    .fix(fix)
                    .scenario(scenario.clone()),
                );
                let weaker = match &weakest {
                    None => true,
                    Some((_, _, w)) => *w == Reach::Unterminated && *r == Reach::All,
                };
                if weaker {
                    weakest = Some((value.pointer().to_string(), scenario, *r));
                }
            }
            if has_pinned && let Some((pointer, scenario, _)) = weakest {
                self.emit(
                    Draft::new(
                        rules::POISONED_LIST,
                        Severity::High,
                        &pointer,
                        format!(
                            "{} on {} lists tight values next to a broad one; values are OR-ed, so the broadest decides who can assume the role.",
                            condition.operator_text(),
                            condition.key()
                        ),
                    )
                    .scenario(scenario));
            }
        }
        if !effective.is_empty() {
            return;
        }
        let attackers = self.attacker_scenarios(provider, base, format);
        for (condition, _) in &negated {
            let mut draft = Draft::new(
                rules::NEGATED_ONLY,
                Severity::High,
                condition.pointer(),
                format!(
                    "{} on {} is the only restriction of the tenancy claim: a deny-list admits every tenant it does not name.",
                    condition.operator_text(),
                    condition.key()
                ),
            );
            for scenario in &attackers {
                draft = draft.scenario(scenario.clone());
            }
            self.emit(draft);
        }
        if let Some(rule) = profile.no_tenancy_rule {
            let claims: Vec<String> = profile
                .tenancy
                .iter()
                .filter(|t| {
                    t.claim.contains(':') || mode == KeyMode::All || provider.aws_exposes(t.claim)
                })
                .map(|t| t.key(&provider.prefix))
                .collect();
            let user_pin = own.iter().find(|(c, claim)| {
                USER_CLAIMS.contains(&claim.as_str())
                    && !c.operator().is_negated()
                    && !c.operator().if_exists
                    && c.operator().set_qualifier.is_none()
                    && is_string_family(c)
                    && !c.values().is_empty()
                    && c.values().iter().all(|v| {
                        Value::new(v.text(), self.variables, wildcards_active(c)).is_exact()
                    })
            });
            let severity = if rule == rules::EKS_WIDE_SA || user_pin.is_some() {
                Severity::High
            } else {
                Severity::Critical
            };
            let who = match (rule == rules::EKS_WIDE_SA, user_pin) {
                (true, _) => "every service account of the cluster".to_string(),
                (false, Some((c, _))) => format!(
                    "every project the user named by {} can run pipelines in (only the user is pinned)",
                    c.key()
                ),
                (false, None) => "every organisation using the issuer".to_string(),
            };
            let mut draft = Draft::new(
                rule,
                severity,
                &provider.pointer,
                format!(
                    "{} ({}) is trusted but no effective condition restricts its tenancy claims ({}): tokens of {who} are accepted.",
                    provider.prefix,
                    profile.name,
                    claims.join(", "),
                ),
            );
            for scenario in attackers {
                draft = draft.scenario(scenario);
            }
            self.emit(draft);
        }
    }

    /// Tokens of another tenant: every tenancy claim replaced; then the same with the claims
    /// a token may omit removed.
    fn attacker_scenarios(
        &self,
        provider: &Provider,
        base: &Scenario,
        format: SubjectFormat,
    ) -> Vec<Scenario> {
        let mut replaced = base.clone();
        let mut reduced = base.clone();
        for claim in provider.profile.tenancy {
            let value = if claim.shape == ClaimShape::Subject {
                format.attacker_subject()
            } else {
                claim.attacker_value
            };
            let global = claim.claim.contains(':');
            let present =
                global || claim.shape == ClaimShape::Subject || base.claim(claim.claim).is_some();
            if present {
                set_tenancy(&mut replaced, claim, value);
                if global
                    || provider.always_present(claim.claim)
                    || claim.shape == ClaimShape::Subject
                {
                    set_tenancy(&mut reduced, claim, value);
                } else {
                    reduced.remove(claim.claim);
                }
            }
        }
        vec![replaced, reduced]
    }

    /// Checks for statements whose tenant is pinned: refs, environments, mutable names.
    fn pinned_checks(
        &mut self,
        provider: &Provider,
        own: &[(&Condition, String)],
        base: &Scenario,
        pin: &Condition,
        pin_claim: &TenancyClaim,
        sub_conditions: &[&Condition],
    ) {
        let variables = self.variables;
        let exact_on = |names: &[&str]| {
            own.iter().any(|(c, claim)| {
                names.contains(&claim.as_str())
                    && !c.operator().is_negated()
                    && !c.operator().if_exists
                    && !c.values().is_empty()
                    && c.values()
                        .iter()
                        .all(|v| Value::new(v.text(), variables, wildcards_active(c)).is_exact())
            })
        };
        let ref_protected = own.iter().any(|(c, claim)| {
            claim == "ref_protected"
                && !c.operator().is_negated()
                && !c.operator().if_exists
                && !c.values().is_empty()
                && c.values()
                    .iter()
                    .all(|v| v.text().eq_ignore_ascii_case("true"))
        });
        let mut github_pinned = false;
        let mut gitlab_pinned = false;
        for condition in sub_conditions {
            if condition.operator().is_negated() || !is_string_family(condition) {
                continue;
            }
            for value in condition.values() {
                let parsed = Value::new(value.text(), self.variables, wildcards_active(condition));
                let text = value.text();
                if text.starts_with("repo:") {
                    github_pinned = true;
                    if text.contains(":environment:") {
                        self.emit(
                            Draft::new(
                                rules::ENV_UNVERIFIABLE,
                                Severity::Info,
                                value.pointer(),
                                format!("{text:?} trusts a GitHub environment; it is only as strong as the environment's protection rules."),
                            ));
                    }
                    if exact_on(&["ref", "environment"]) {
                        continue;
                    }
                    self.ref_probe(provider, base, condition, value, &parsed, &GITHUB_REFS);
                } else if text.starts_with("project_path:") {
                    gitlab_pinned = true;
                    if ref_protected || parsed.is_exact() {
                        continue;
                    }
                    if !self.ref_probe(provider, base, condition, value, &parsed, &GITLAB_REFS)
                        && let Some(widened) = parsed.instantiate("-attacker")
                    {
                        let mut scenario = base.clone();
                        scenario.set_str("sub", &widened);
                        self.emit(
                            Draft::new(
                                rules::GL_UNPROTECTED_REF,
                                Severity::Medium,
                                value.pointer(),
                                format!(
                                    "{text:?} leaves the ref open (e.g. {widened:?}) and no {}:ref_protected = \"true\" condition is present.",
                                    provider.prefix
                                ),
                            )
                            .scenario(scenario));
                    }
                }
            }
        }
        let github = github_pinned || provider.profile.format == SubjectFormat::GitHub;
        let gitlab = gitlab_pinned || provider.profile.format == SubjectFormat::GitLab;
        let immutable_sub = pin_claim.shape == ClaimShape::Subject
            && pin.values().iter().all(|v| {
                let text = v.text();
                let id_template = [
                    "repository_owner_id:",
                    "repository_id:",
                    "project_id:",
                    "namespace_id:",
                ]
                .iter()
                .any(|marker| text.starts_with(marker));
                id_template
                    || text
                        .strip_prefix("repo:")
                        .and_then(|rest| rest.split('/').next())
                        .is_some_and(|owner| owner.contains('@'))
            });
        let (ids, which): (&[&str], &str) = if github {
            (
                &["repository_id", "repository_owner_id"],
                "repository_owner_id or repository_id",
            )
        } else if gitlab {
            (
                &["project_id", "namespace_id"],
                "namespace_id or project_id",
            )
        } else {
            return;
        };
        let ids_pinned = own.iter().any(|(c, claim)| {
            ids.contains(&claim.as_str()) && !c.operator().is_negated() && is_string_family(c)
        });
        if !ids_pinned && !immutable_sub && !ids.contains(&pin_claim.claim) {
            self.emit(
                Draft::new(
                    rules::MUTABLE_NAME,
                    Severity::Low,
                    pin.pointer(),
                    format!(
                        "The tenant is pinned by name ({}) only; a renamed or deleted organisation's name can be registered by someone else.",
                        pin.key()
                    ),
                )
                .fix(format!(
                    "Also pin the immutable ID: StringEquals {}:{which}.",
                    provider.prefix
                )));
        }
    }

    /// Probes a pinned subject for refs it should not admit; emits `rule` and returns true
    /// when one matches.
    fn ref_probe(
        &mut self,
        provider: &Provider,
        base: &Scenario,
        condition: &Condition,
        value: &ElementValue,
        parsed: &Value,
        refs: &RefProbes,
    ) -> bool {
        let RefProbes {
            marker,
            probes,
            rule,
        } = *refs;
        let prefix = parsed.literal_prefix();
        let Some(after_marker) = prefix.strip_prefix(marker) else {
            return false;
        };
        let Some(slash) = after_marker.find('/') else {
            return false;
        };
        let project = &after_marker[slash + 1..];
        let base_subject = match project.find(':') {
            Some(colon) => format!("{marker}{}", &after_marker[..slash + 1 + colon]),
            None if parsed.is_exact() => return false,
            None => format!("{prefix}x"),
        };
        let case = if condition.operator().kind == OperatorKind::StringEqualsIgnoreCase {
            Case::Insensitive
        } else {
            Case::Sensitive
        };
        let admitted: Vec<(String, &str)> = probes
            .iter()
            .map(|(suffix, what)| (format!("{base_subject}{suffix}"), *what))
            .filter(|(probe, _)| parsed.matches(probe, case))
            .collect();
        let Some((first, _)) = admitted.first() else {
            return false;
        };
        let kinds: Vec<&str> = admitted.iter().map(|(_, what)| *what).collect();
        let mut scenario = base.clone();
        scenario.set("sub", Claim::Single(first.clone()));
        let protected_hint = if rule == rules::GL_UNPROTECTED_REF {
            format!(
                " and no {}:ref_protected = \"true\" condition is present",
                provider.prefix
            )
        } else {
            String::new()
        };
        self.emit(
            Draft::new(
                rule,
                Severity::Medium,
                value.pointer(),
                format!(
                    "{:?} admits {} (e.g. {first:?}){protected_hint}.",
                    value.text(),
                    kinds.join(", ")
                ),
            )
            .scenario(scenario),
        );
        true
    }
}

/// The OIDC providers a principal element names.
fn federated_providers(principal: &PrincipalElement) -> Vec<Provider> {
    principal
        .values()
        .iter()
        .filter(|v| v.principal_type() == PrincipalType::Federated)
        .filter_map(|v| {
            federated_prefix(v.value().text())
                .map(|prefix| Provider::new(v.value().text(), prefix, v.value().pointer()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str, format: SubjectFormat) -> Reach {
        reach(&Value::new(text, true, true), ClaimShape::Subject, format)
    }

    #[test]
    fn subject_reach_by_format() {
        let gl = SubjectFormat::GitLab;
        assert_eq!(sub("project_path:mygroup*", gl), Reach::Unterminated);
        assert_eq!(sub("project_path:mygroup/*", gl), Reach::Pinned);
        assert_eq!(sub("project_path:*", gl), Reach::All);
        assert_eq!(sub("*", gl), Reach::All);
        assert_eq!(sub("proj*", gl), Reach::All);
        let gh = SubjectFormat::GitHub;
        assert_eq!(sub("repo:*", gh), Reach::All);
        assert_eq!(sub("repo:*/*", gh), Reach::All);
        assert_eq!(sub("repo:org*", gh), Reach::Unterminated);
        assert_eq!(sub("repo:org@*", gh), Reach::Unterminated);
        assert_eq!(sub("repo:org/*", gh), Reach::Pinned);
        assert_eq!(sub("repo:org/app:ref:refs/heads/main", gh), Reach::Pinned);
        let eks = SubjectFormat::Eks;
        assert_eq!(sub("system:serviceaccount:*", eks), Reach::All);
        assert_eq!(sub("system:serviceaccount:prod:*", eks), Reach::Pinned);
        assert_eq!(sub("system:serviceaccount:prod*", eks), Reach::Unterminated);
        let generic = SubjectFormat::Generic;
        assert_eq!(sub("repository_owner_id:12:*", generic), Reach::Pinned);
        assert_eq!(sub("repository_owner_id:12*", generic), Reach::Unterminated);
        assert_eq!(sub("custom:*", generic), Reach::All);
    }

    #[test]
    fn attacker_values_match_their_pattern() {
        let claim = TenancyClaim {
            claim: "sub",
            shape: ClaimShape::Subject,
            attacker_value: "",
        };
        for (pattern, format, expected) in [
            (
                "project_path:mygroup*",
                SubjectFormat::GitLab,
                "project_path:mygroup-evil/x:ref_type:branch:ref:main",
            ),
            (
                "repo:*",
                SubjectFormat::GitHub,
                "repo:attacker-org/attacker-repo:ref:refs/heads/main",
            ),
            (
                "repo:*/*:ref:refs/heads/main",
                SubjectFormat::GitHub,
                "repo:attacker-org/x:ref:refs/heads/main",
            ),
            (
                "*:ref:refs/heads/main",
                SubjectFormat::GitHub,
                "repo:attacker-org/attacker-repo:ref:refs/heads/main",
            ),
        ] {
            let value = Value::new(pattern, true, true);
            let r = reach(&value, ClaimShape::Subject, format);
            let attacker = attacker_value(&value, r, &claim, format).expect("broad");
            assert_eq!(attacker, expected);
            assert!(value.matches(&attacker, Case::Sensitive));
        }
    }
}
