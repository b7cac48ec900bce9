//! Session policies: the `Policy` document and `PolicyArns` an assume-role request narrows its
//! session with.

use keyless_policy::{ParseOptions, Policy, PolicyKind};

use crate::error::Error;
use crate::query::QueryParams;
use crate::state::StsState;
use crate::validate::{self, Violations};

/// The plaintext budget shared by `Policy` and `PolicyArns`.
pub(crate) const SESSION_POLICY_BUDGET: usize = 2048;
/// The most managed session policies one request may name.
pub(crate) const MAX_POLICY_ARNS: usize = 10;

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
    pub(crate) fn from_query(q: &QueryParams, v: &mut Violations) -> SessionPolicies {
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
    pub(crate) fn resolve(&self, state: &StsState) -> Result<Option<u32>, Error> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut used = 0usize;
        if let Some(doc) = &self.policy {
            let mut opts = ParseOptions::new(PolicyKind::Session);
            opts.max_chars = None;
            Policy::parse(doc, &opts).map_err(|e| Error::MalformedPolicyDocument(e.to_string()))?;
            used += keyless_policy::policy_size(doc);
        }
        for arn in &self.policy_arns {
            if !state.managed_policies.contains_key(arn) {
                return Err(Error::MalformedPolicyDocument(format!(
                    "Policy {arn} does not exist or is not attachable."
                )));
            }
            used += arn.len();
        }
        let percent = (used * 100).div_ceil(SESSION_POLICY_BUDGET) as u32;
        if percent > 100 {
            return Err(Error::PackedPolicyTooLarge { percent });
        }
        Ok(Some(percent))
    }
}
