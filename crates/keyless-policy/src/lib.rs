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

#![warn(missing_docs)]

mod ast;
mod context;
mod error;
mod eval;
mod json;
mod parse;
mod pattern;
mod request;
mod trace;
mod values;

pub use ast::{
    ActionElement, Condition, ConditionOperator, Effect, ElementValue, OperatorFamily,
    OperatorKind, PrincipalElement, PrincipalType, PrincipalValue, ResourceElement, SetQualifier,
    Statement,
};
pub use context::{Context, ContextValue};
pub use error::{PolicyError, PolicyErrorKind};
pub use json::policy_size;
pub use parse::{ParseOptions, PolicyKind};
pub use pattern::{Case, Pattern, Segment};
pub use request::{Decision, Principal, Request};
pub use trace::{
    Closest, ConditionTrace, ElementTrace, LayerTrace, PolicyLayer, PolicyTrace, SessionTrace,
    StatementTrace, render_session_trace_text, render_trace_text,
};

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

    /// The kind the policy was validated as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Decides `req` (no trace, no allocation).
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        eval::evaluate_statements(&self.statements, req)
    }

    /// Like [`Policy::evaluate`], with the statement that decided: the applicable Deny for an
    /// explicit deny, the first applicable Allow for an allow, none for an implicit deny. As
    /// cheap as `evaluate`: no trace is built.
    pub fn evaluate_deciding(&self, req: &Request<'_>) -> (Decision, Option<&Statement>) {
        let (decision, index) = eval::evaluate_deciding(&self.statements, req);
        (decision, index.and_then(|i| self.statements.get(i)))
    }

    /// Decides `req` and explains the decision.
    pub fn evaluate_traced(&self, req: &Request<'_>) -> (Decision, PolicyTrace) {
        trace::trace_statements(&self.statements, req)
    }
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
/// layer must allow. The [`PolicyLayer::Identity`] layer is always required (no identity
/// policy = implicit deny); a boundary or session layer with no policies is absent and
/// does not restrict.
pub fn evaluate_layers(layers: &[Layer<'_>], req: &Request<'_>) -> Decision {
    let mut all_layers_allow = true;
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
        all_layers_allow &= layer_allows;
    }
    if all_layers_allow && layers.iter().any(|l| l.kind == PolicyLayer::Identity) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Traced form of [`evaluate_layers`].
pub fn evaluate_layers_traced(layers: &[Layer<'_>], req: &Request<'_>) -> (Decision, SessionTrace) {
    let mut traces = Vec::with_capacity(layers.len());
    let mut any_deny = false;
    let mut all_layers_allow = true;
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
        all_layers_allow &= decision == Decision::Allow;
        traces.push(LayerTrace {
            layer: layer.kind,
            decision,
            policies,
        });
    }
    let decision = if any_deny {
        Decision::ExplicitDeny
    } else if all_layers_allow && layers.iter().any(|l| l.kind == PolicyLayer::Identity) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
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
