//! AWS IAM policy engine: strict parser, validator, evaluator and explain traces. No I/O.
//!
//! Three layers:
//! 1. [`Policy::parse`] reads a document strictly (duplicate keys, unknown elements and
//!    wrong types are errors with IAM's `MalformedPolicyDocument` text and a JSON pointer)
//!    into a validated AST ([`Policy::statements`]) with matching data compiled up front.
//! 2. [`Policy::evaluate`] decides a [`Request`] (explicit Deny > Allow > implicit deny).
//! 3. [`Policy::evaluate_traced`] also returns a [`PolicyTrace`] explaining every
//!    statement and condition, rendered by [`render_trace_text`] or [`simulate_json`].
//!
//! Role sessions combine layers with [`evaluate_session`] / [`evaluate_layers`].
//! Semantics and every reading chosen where AWS is silent: `docs/policy-semantics.md`.
//!
//! ```
//! use keyless_policy::{Context, ContextValue, Decision, ParseOptions, Policy, PolicyKind, Principal, Request};
//!
//! let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!     "Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/gitlab.com"},
//!     "Action":"sts:AssumeRoleWithWebIdentity",
//!     "Condition":{"StringLike":{"gitlab.com:sub":"project_path:group/project:*"}}}]}"#;
//! let policy = Policy::parse(trust, &ParseOptions::new(PolicyKind::Trust)).unwrap();
//! let mut ctx = Context::new();
//! ctx.insert("gitlab.com:sub", ContextValue::Single("project_path:group/project:ref_type:branch:ref:main".into()));
//! let req = Request {
//!     principal: Some(Principal::Federated("arn:aws:iam::111122223333:oidc-provider/gitlab.com")),
//!     action: "sts:AssumeRoleWithWebIdentity",
//!     resource: None,
//!     context: &ctx,
//! };
//! assert_eq!(policy.evaluate(&req), Decision::Allow);
//!
//! let mut fork = Context::new();
//! fork.insert("gitlab.com:sub", ContextValue::Single("project_path:group/project-fork:ref_type:branch:ref:main".into()));
//! assert_eq!(policy.evaluate(&Request { context: &fork, ..req }), Decision::ImplicitDeny);
//! ```

#![warn(missing_docs)]

mod ast;
mod context;
mod error;
mod eval;
mod json;
mod parse;
mod pattern;
mod request;
mod resource_types;
mod trace;
mod values;

pub use ast::{
    ActionElement, Condition, ConditionOperator, Effect, ElementValue, OperatorFamily,
    OperatorKind, PrincipalElement, PrincipalType, PrincipalValue, ResourceElement, SetQualifier,
    SourcePosition, Statement,
};
pub use context::{Context, ContextValue};
pub use error::{PolicyError, PolicyErrorKind};
pub use json::policy_size;
pub use parse::{ParseOptions, PolicyKind};
pub use pattern::{Case, Pattern, Segment};
pub use request::{Decision, Principal, Request};
pub use resource_types::resource_arn_template;
pub use trace::{
    Closest, ConditionTrace, ElementTrace, LayerTrace, PolicyLayer, PolicyTrace, SessionTrace,
    StatementTrace, render_session_trace_text, render_trace_text,
};
pub use values::ValueKind;

/// A parsed and validated policy. Cheap to evaluate many times; `Send + Sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses and validates `doc` under the rules of `opts.kind`.
    pub fn parse(doc: &str, opts: &ParseOptions) -> Result<Policy, PolicyError> {
        let parsed = parse::parse_document(doc, opts)?;
        Ok(Policy {
            kind: opts.kind,
            version: parsed.version,
            id: parsed.id,
            statements: parsed.statements,
        })
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// `Version`, if present (`2012-10-17` or `2008-10-17`).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `Id`, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The condition keys the policy reads, as IAM's `GetContextKeysFor*Policy` lists them:
    /// per statement in document order, the policy variables of its `Resource` (or
    /// `NotResource`), then its condition keys and the variables in their values; spelled as
    /// first written, each key once (compared ignoring case).
    pub fn context_keys(&self) -> Vec<String> {
        let variables = self.version.as_deref() != Some("2008-10-17");
        let mut keys: Vec<String> = Vec::new();
        let mut add = |key: &str| {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                keys.push(key.to_owned());
            }
        };
        for statement in &self.statements {
            if variables && let Some(resource) = &statement.resource {
                for value in &resource.values {
                    pattern::variable_keys(&value.text).for_each(&mut add);
                }
            }
            for condition in &statement.conditions {
                add(&condition.key);
                if variables {
                    for value in &condition.values {
                        pattern::variable_keys(&value.text).for_each(&mut add);
                    }
                }
            }
        }
        keys
    }

    /// The kind the policy was validated as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Decides `req` (no trace, no allocation).
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        eval::decide_statements(&self.statements, req).decision
    }

    /// Decides `req` and says why, as cheaply as [`Policy::evaluate`] (no trace is built): the
    /// statement that decided, and for an implicit deny where the Allow statements fell short.
    ///
    /// ```
    /// use keyless_policy::{Context, Decision, ParseOptions, Policy, PolicyKind, Request, Shortfall};
    ///
    /// let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow",
    ///     "Action":"s3:GetObject","Resource":"*",
    ///     "Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
    /// let policy = Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).unwrap();
    /// let ctx = Context::new();
    /// let req = Request { principal: None, action: "s3:GetObject", resource: Some("arn:aws:s3:::b/k"), context: &ctx };
    /// let verdict = policy.decide(&req);
    /// assert_eq!(verdict.decision, Decision::ImplicitDeny);
    /// let Some(Shortfall::Condition { statement, condition }) = verdict.shortfall else { panic!() };
    /// assert_eq!((statement.sid(), condition.key()), (Some("Read"), "aws:SecureTransport"));
    /// ```
    pub fn decide(&self, req: &Request<'_>) -> Verdict<'_> {
        let d = eval::decide_statements(&self.statements, req);
        let statement = d.statement.and_then(|i| self.statements.get(i));
        let shortfall = (d.decision == Decision::ImplicitDeny).then(|| {
            if !d.any_allow {
                Shortfall::NoAllow
            } else if let Some((s, c)) = d.condition_miss {
                let statement = &self.statements[s];
                Shortfall::Condition {
                    statement,
                    condition: &statement.conditions[c],
                }
            } else if let Some(s) = d.principal_miss {
                Shortfall::Principal {
                    statement: &self.statements[s],
                }
            } else {
                Shortfall::NotCovered
            }
        });
        Verdict {
            decision: d.decision,
            statement,
            shortfall,
        }
    }

    /// The [`Verdict`] a trace of this policy records, so that a traced evaluation needs no
    /// second, untraced one.
    pub fn verdict_of(&self, trace: &PolicyTrace) -> Verdict<'_> {
        let applied = |effect: Effect| {
            trace
                .statements
                .iter()
                .find(|s| s.applied && s.effect == effect)
                .and_then(|s| self.statements.get(s.index))
        };
        let statement = match trace.decision {
            Decision::ExplicitDeny => applied(Effect::Deny),
            Decision::Allow => applied(Effect::Allow),
            Decision::ImplicitDeny => None,
        };
        let shortfall = (trace.decision == Decision::ImplicitDeny).then(|| {
            let allows = || {
                trace
                    .statements
                    .iter()
                    .filter(|s| s.effect == Effect::Allow)
            };
            let principal_ok = |s: &StatementTrace| s.principal.as_ref().is_none_or(|p| p.matched);
            let scoped = |s: &&StatementTrace| {
                principal_ok(s) && s.action.matched && s.resource.as_ref().is_none_or(|r| r.matched)
            };
            if allows().next().is_none() {
                Shortfall::NoAllow
            } else if let Some((s, c)) = allows().filter(scoped).find_map(|s| {
                let c = s.conditions.iter().position(|c| !c.result)?;
                Some((s.index, c))
            }) {
                let statement = &self.statements[s];
                Shortfall::Condition {
                    statement,
                    condition: &statement.conditions[c],
                }
            } else if let Some(s) = allows().find(|s| !principal_ok(s)) {
                Shortfall::Principal {
                    statement: &self.statements[s.index],
                }
            } else {
                Shortfall::NotCovered
            }
        });
        Verdict {
            decision: trace.decision,
            statement,
            shortfall,
        }
    }

    /// Decides `req` and explains the decision.
    pub fn evaluate_traced(&self, req: &Request<'_>) -> (Decision, PolicyTrace) {
        trace::trace_statements(&self.statements, req)
    }
}

/// A policy's decision on one request with its reasons: what [`Policy::decide`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'p> {
    /// The decision.
    pub decision: Decision,
    /// The statement that decided: the applicable Deny of an explicit deny, the first
    /// applicable Allow of an allow; `None` for an implicit deny.
    pub statement: Option<&'p Statement>,
    /// For an implicit deny, where the Allow statements fell short; `None` otherwise.
    pub shortfall: Option<Shortfall<'p>>,
}

/// Where the Allow statements of a policy fell short of a request that nothing denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall<'p> {
    /// The policy has no Allow statement.
    NoAllow,
    /// The first Allow statement whose principal, action and resource match failed on this
    /// condition (the first false one, in document order).
    Condition {
        /// The statement.
        statement: &'p Statement,
        /// Its first false condition.
        condition: &'p Condition,
    },
    /// No Allow statement matched on everything but its conditions, and this one (the first)
    /// names another principal.
    Principal {
        /// The statement.
        statement: &'p Statement,
    },
    /// No Allow statement covers the request's action and resource.
    NotCovered,
}

/// One layer of a layered evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// Which layer.
    pub kind: PolicyLayer,
    /// Its policies (an Allow in any of them allows the layer).
    pub policies: &'a [&'a Policy],
}

/// Layered evaluation: an explicit Deny in any policy of any layer denies; otherwise every
/// layer must allow (each [`PolicyLayer::ServiceControl`] layer, one per level of an
/// organization, on its own). The [`PolicyLayer::Identity`] layer is always required (no identity
/// policy = implicit deny), except that an Allow of the [`PolicyLayer::Resource`] layer
/// stands in for it; a boundary, session or resource layer with no policies is absent and
/// does not restrict.
pub fn evaluate_layers(layers: &[Layer<'_>], req: &Request<'_>) -> Decision {
    let mut allows = Vec::with_capacity(layers.len());
    for layer in layers {
        if layer.policies.is_empty() && layer.kind != PolicyLayer::Identity {
            continue;
        }
        let mut layer_allows = false;
        for policy in layer.policies {
            match policy.evaluate(req) {
                Decision::ExplicitDeny => return Decision::ExplicitDeny,
                Decision::Allow => layer_allows = true,
                Decision::ImplicitDeny => {}
            }
        }
        allows.push((layer.kind, layer_allows));
    }
    combine_layers(&allows)
}

/// Allow when the identity layer (or, standing in for it, the resource layer) allows and
/// every other present layer allows; nothing denied.
fn combine_layers(allows: &[(PolicyLayer, bool)]) -> Decision {
    let allowed = |kind| allows.iter().any(|&(k, a)| k == kind && a);
    let granted = allowed(PolicyLayer::Identity) || allowed(PolicyLayer::Resource);
    let limited = allows.iter().all(|&(kind, allows)| {
        matches!(kind, PolicyLayer::Identity | PolicyLayer::Resource) || allows
    });
    if granted && limited {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Traced form of [`evaluate_layers`].
pub fn evaluate_layers_traced(layers: &[Layer<'_>], req: &Request<'_>) -> (Decision, SessionTrace) {
    let mut traces = Vec::with_capacity(layers.len());
    let mut any_deny = false;
    let mut allows = Vec::with_capacity(layers.len());
    for layer in layers {
        if layer.policies.is_empty() && layer.kind != PolicyLayer::Identity {
            continue;
        }
        let policies: Vec<PolicyTrace> = layer
            .policies
            .iter()
            .map(|p| p.evaluate_traced(req).1)
            .collect();
        let decision = if policies
            .iter()
            .any(|p| p.decision == Decision::ExplicitDeny)
        {
            Decision::ExplicitDeny
        } else if policies.iter().any(|p| p.decision == Decision::Allow) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        };
        any_deny |= decision == Decision::ExplicitDeny;
        allows.push((layer.kind, decision == Decision::Allow));
        traces.push(LayerTrace {
            layer: layer.kind,
            decision,
            policies,
        });
    }
    let decision = if any_deny {
        Decision::ExplicitDeny
    } else {
        combine_layers(&allows)
    };
    (
        decision,
        SessionTrace {
            decision,
            layers: traces,
        },
    )
}

fn session_layers<'a>(identity: &'a [&'a Policy], session: &'a [&'a Policy]) -> [Layer<'a>; 2] {
    [
        Layer {
            kind: PolicyLayer::Identity,
            policies: identity,
        },
        Layer {
            kind: PolicyLayer::Session,
            policies: session,
        },
    ]
}

/// Permissions of a role session: the role's identity policies ∩ the session policies
/// (an empty `session` slice means no session layer). An explicit Deny anywhere wins.
pub fn evaluate_session(identity: &[&Policy], session: &[&Policy], req: &Request<'_>) -> Decision {
    evaluate_layers(&session_layers(identity, session), req)
}

/// Traced form of [`evaluate_session`].
pub fn evaluate_session_traced(
    identity: &[&Policy],
    session: &[&Policy],
    req: &Request<'_>,
) -> (Decision, SessionTrace) {
    evaluate_layers_traced(&session_layers(identity, session), req)
}

/// `{"decision": "...", "trace": {...}}`: the output of `keyless policy simulate`.
pub fn simulate_json(policy: &Policy, req: &Request<'_>) -> serde_json::Value {
    let (decision, trace) = policy.evaluate_traced(req);
    serde_json::json!({ "decision": decision, "trace": trace })
}
