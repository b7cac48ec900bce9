//! Explain traces: why each statement did or did not apply.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ast::{
    Condition, ConditionOperator, Effect, OperatorFamily, OperatorKind, SetQualifier, Statement,
};
use crate::context::Context;
use crate::eval::{
    Hit, Note, action_applies, evaluate_condition, find_action, find_resource, has_variables,
    match_principal, render_policy_value, resource_applies,
};
use crate::request::{Decision, Request};

/// Match detail of a `Principal`, `Action`/`NotAction` or `Resource`/`NotResource` element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementTrace {
    /// Element name as written (`Principal`, `Action`, `NotAction`, `Resource`, `NotResource`).
    pub element: String,
    /// JSON pointer of the element.
    pub pointer: String,
    /// Whether the element lets the statement apply.
    pub matched: bool,
    /// The request's value (`AWS:arn:...` style for principals; `None`: not supplied).
    pub request_value: Option<String>,
    /// The listed value that matched the request, if any. For `NotAction`/`NotResource`
    /// this is the value that excluded the request.
    pub matching_value: Option<String>,
    /// JSON pointer of `matching_value`.
    pub matching_pointer: Option<String>,
}

/// The policy value closest to the request value of a failed String condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Closest {
    /// The policy value (after variable substitution).
    pub policy_value: String,
    /// The request value it was compared with.
    pub context_value: String,
    /// The longest common prefix of the two.
    pub common_prefix: String,
}

/// Evaluation detail of one condition (one operator applied to one key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionTrace {
    /// Operator as written.
    pub operator: String,
    /// Condition key as written.
    pub key: String,
    /// JSON pointer of the key's values.
    pub pointer: String,
    /// Values of the key in the request; `None` when the key is missing.
    pub context_values: Option<Vec<String>>,
    /// Policy values as written.
    pub policy_values: Vec<String>,
    /// Policy values after variable substitution (`None` entries: unresolved variable);
    /// only present when the values contain variables.
    pub resolved_policy_values: Option<Vec<Option<String>>>,
    /// Condition result.
    pub result: bool,
    /// The result came from the key being missing from the request.
    pub key_missing: bool,
    /// A policy value that matched a request value, if any.
    pub matched_value: Option<String>,
    /// For failed String conditions: the policy value that came closest.
    pub closest: Option<Closest>,
    /// Explanation of a special rule that decided the result.
    pub note: Option<String>,
}

/// Evaluation detail of one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementTrace {
    /// Position in the policy.
    pub index: usize,
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// JSON pointer of the statement.
    pub pointer: String,
    /// Whether the statement applied (principal, action, resource and all conditions matched).
    pub applied: bool,
    /// Principal match (`None`: the statement has no `Principal`).
    pub principal: Option<ElementTrace>,
    /// Action match.
    pub action: ElementTrace,
    /// Resource match (`None`: no `Resource`; in trust policies the resource is the role).
    pub resource: Option<ElementTrace>,
    /// Per-condition detail, in document order.
    pub conditions: Vec<ConditionTrace>,
}

/// Evaluation detail of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTrace {
    /// Decision of this policy alone.
    pub decision: Decision,
    /// Per-statement detail.
    pub statements: Vec<StatementTrace>,
}

fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let end = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or_else(|| a.len().min(b.len()), |((i, _), _)| i);
    a.get(..end).unwrap_or_default()
}

fn closest_value(policy_values: &[Option<String>], context_values: &[String]) -> Option<Closest> {
    let mut best: Option<Closest> = None;
    for policy_value in policy_values.iter().flatten() {
        for context_value in context_values {
            let prefix = common_prefix(policy_value, context_value);
            if best
                .as_ref()
                .is_none_or(|b| prefix.chars().count() > b.common_prefix.chars().count())
            {
                best = Some(Closest {
                    policy_value: policy_value.clone(),
                    context_value: context_value.clone(),
                    common_prefix: prefix.to_string(),
                });
            }
        }
    }
    best
}

/// What a request value must be for a typed operator family.
fn type_name(family: OperatorFamily) -> &'static str {
    match family {
        OperatorFamily::Numeric => "a number",
        OperatorFamily::Date => "a date",
        OperatorFamily::Bool => "a boolean",
        OperatorFamily::Binary => "base64",
        OperatorFamily::IpAddress => "an IP address",
        OperatorFamily::Arn => "an ARN",
        OperatorFamily::String | OperatorFamily::Null => "of the operator's type",
    }
}

fn note_text(note: Note) -> String {
    match note {
        Note::MultiValuedWithoutQualifier => "the request key is multi-valued and the operator has no ForAllValues:/ForAnyValue: qualifier: the condition does not match".to_string(),
        Note::EmptyListIfExists => "IfExists with an empty value list matches only when the key is missing".to_string(),
        Note::NotOfOperatorType(family) => format!("a request value is not {}: no comparison can be made, so neither the operator nor its negated form matches it", type_name(family)),
    }
}

impl Condition {
    /// Explains this condition on `ctx`: the values compared, the result, and the closest policy
    /// value of a failed String condition. The same evaluation as [`crate::Policy::decide`].
    pub fn trace(&self, ctx: &Context) -> ConditionTrace {
        trace_condition(self, ctx)
    }
}

fn trace_condition(condition: &Condition, ctx: &Context) -> ConditionTrace {
    let outcome = evaluate_condition(condition, ctx);
    let context_values = ctx
        .get_lower(&condition.key_lower)
        .map(|v| v.values().to_vec())
        .filter(|v| !v.is_empty());
    let resolved: Vec<Option<String>> = (0..condition.values.len())
        .map(|i| render_policy_value(condition, i, ctx))
        .collect();
    let closest = match (&context_values, outcome.result) {
        (Some(values), false)
            if condition.operator.family() == OperatorFamily::String
                && !condition.operator.is_negated() =>
        {
            closest_value(&resolved, values)
        }
        _ => None,
    };
    ConditionTrace {
        operator: condition.operator_text.clone(),
        key: condition.key.clone(),
        pointer: condition.pointer.clone(),
        context_values,
        policy_values: condition.values.iter().map(|v| v.text.clone()).collect(),
        resolved_policy_values: has_variables(condition).then_some(resolved),
        result: outcome.result,
        key_missing: outcome.key_missing,
        matched_value: outcome
            .matched
            .and_then(|i| condition.values.get(i))
            .map(|v| v.text.clone()),
        closest,
        note: outcome.note.map(note_text),
    }
}

fn trace_statement(statement: &Statement, req: &Request<'_>) -> StatementTrace {
    let ctx: &Context = req.context;
    let principal = statement.principal.as_ref().map(|element| {
        let hit = match_principal(element, req.principal);
        let (matching_value, matching_pointer) = match hit {
            Some(Hit::Wildcard) => (Some("*".to_string()), Some(element.pointer.clone())),
            Some(Hit::Value(i)) => element.values.get(i).map_or((None, None), |v| {
                (
                    Some(format!("{}:{}", v.principal_type.as_str(), v.value.text)),
                    Some(v.value.pointer.clone()),
                )
            }),
            None => (None, None),
        };
        ElementTrace {
            element: "Principal".to_string(),
            pointer: element.pointer.clone(),
            matched: hit.is_some(),
            request_value: req
                .principal
                .map(|p| format!("{}:{}", p.type_name(), p.value())),
            matching_value,
            matching_pointer,
        }
    });
    let action = {
        let element = &statement.action;
        let found = find_action(element, req.action, ctx);
        let value = found.and_then(|i| element.values.get(i));
        ElementTrace {
            element: if element.negated {
                "NotAction"
            } else {
                "Action"
            }
            .to_string(),
            pointer: element.pointer.clone(),
            matched: action_applies(element, found),
            request_value: Some(req.action.to_string()),
            matching_value: value.map(|v| v.text.clone()),
            matching_pointer: value.map(|v| v.pointer.clone()),
        }
    };
    let resource = statement.resource.as_ref().map(|element| {
        let found = find_resource(element, req.resource, ctx);
        let value = found.and_then(|i| element.values.get(i));
        ElementTrace {
            element: if element.negated {
                "NotResource"
            } else {
                "Resource"
            }
            .to_string(),
            pointer: element.pointer.clone(),
            matched: resource_applies(element, found),
            request_value: req.resource.map(str::to_string),
            matching_value: value.map(|v| v.text.clone()),
            matching_pointer: value.map(|v| v.pointer.clone()),
        }
    });
    let conditions: Vec<ConditionTrace> = statement
        .conditions
        .iter()
        .map(|condition| trace_condition(condition, ctx))
        .collect();
    let applied = principal.as_ref().is_none_or(|p| p.matched)
        && action.matched
        && resource.as_ref().is_none_or(|r| r.matched)
        && conditions.iter().all(|c| c.result);
    StatementTrace {
        index: statement.index,
        sid: statement.sid.clone(),
        effect: statement.effect,
        pointer: statement.pointer.clone(),
        applied,
        principal,
        action,
        resource,
        conditions,
    }
}

/// Traced evaluation of one policy.
pub(crate) fn trace_statements(
    statements: &[Statement],
    req: &Request<'_>,
) -> (Decision, PolicyTrace) {
    let traces: Vec<StatementTrace> = statements.iter().map(|s| trace_statement(s, req)).collect();
    let applied = |effect| traces.iter().any(|t| t.applied && t.effect == effect);
    let decision = if applied(Effect::Deny) {
        Decision::ExplicitDeny
    } else if applied(Effect::Allow) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    (
        decision,
        PolicyTrace {
            decision,
            statements: traces,
        },
    )
}

fn quote_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn render_element(out: &mut String, element: &ElementTrace) {
    let status = if element.matched { "match" } else { "NO MATCH" };
    let request = element
        .request_value
        .as_deref()
        .map_or_else(|| "(none)".to_string(), |v| format!("{v:?}"));
    let _ = write!(out, "    {}: {status}; request {request}", element.element);
    match (&element.matching_value, element.element.starts_with("Not")) {
        (Some(value), false) => {
            let _ = write!(out, " matched {value:?}");
        }
        (Some(value), true) => {
            let _ = write!(out, " is excluded by {value:?}");
        }
        (None, false) => out.push_str(" matched no listed value"),
        (None, true) => out.push_str(" is not excluded by any listed value"),
    }
    let _ = writeln!(out, " ({})", element.pointer);
}

/// Explains which missing-key rule decided a condition.
fn missing_key_rule(operator_text: &str) -> &'static str {
    let Some(operator) = ConditionOperator::parse(operator_text) else {
        return "the missing-key rule applies";
    };
    if operator.kind == OperatorKind::Null {
        return "Null tests exactly this";
    }
    match operator.set_qualifier {
        Some(SetQualifier::ForAnyValue) if operator.if_exists => {
            "ForAnyValue: is false when the key is missing, IfExists notwithstanding"
        }
        Some(SetQualifier::ForAnyValue) => "ForAnyValue: is false when the key is missing",
        _ if operator.if_exists => "IfExists makes the condition true when the key is missing",
        Some(SetQualifier::ForAllValues) => "ForAllValues: is true when the key is missing",
        None if operator.is_negated() => "a negated operator is true when the key is missing",
        None => "the condition is false when the key is missing",
    }
}

fn render_condition(out: &mut String, condition: &ConditionTrace) {
    let status = match (condition.result, condition.key_missing) {
        (true, true) => "pass (KEY MISSING)",
        (true, false) => "pass",
        (false, true) => "FAIL (KEY MISSING)",
        (false, false) => "FAIL",
    };
    let _ = writeln!(
        out,
        "      [{status}] {} {} {} ({})",
        condition.operator,
        condition.key,
        quote_list(&condition.policy_values),
        condition.pointer
    );
    if let Some(resolved) = &condition.resolved_policy_values {
        let shown: Vec<String> = resolved
            .iter()
            .map(|v| {
                v.as_ref()
                    .map_or_else(|| "<unresolved>".to_string(), |v| format!("{v:?}"))
            })
            .collect();
        let _ = writeln!(
            out,
            "          after variable substitution: [{}]",
            shown.join(", ")
        );
    }
    match &condition.context_values {
        Some(values) => {
            let _ = writeln!(out, "          request has {}", quote_list(values));
        }
        None => {
            let _ = writeln!(
                out,
                "          key {:?} is not in the request: {}",
                condition.key,
                missing_key_rule(&condition.operator)
            );
        }
    }
    if let Some(value) = &condition.matched_value {
        let _ = writeln!(out, "          matched policy value {value:?}");
    }
    if let Some(closest) = &condition.closest {
        let _ = writeln!(
            out,
            "          closest: the policy wants {:?} and the request says {:?} (they agree up to {:?})",
            closest.policy_value, closest.context_value, closest.common_prefix
        );
    }
    if let Some(note) = &condition.note {
        let _ = writeln!(out, "          note: {note}");
    }
}

fn render_policy(out: &mut String, trace: &PolicyTrace) {
    for statement in &trace.statements {
        let sid = statement
            .sid
            .as_deref()
            .map(|s| format!(" {s:?}"))
            .unwrap_or_default();
        let status = if statement.applied {
            "APPLIED"
        } else {
            "not applied"
        };
        let _ = writeln!(
            out,
            "  Statement {}{sid} ({:?}) at {}: {status}",
            statement.index, statement.effect, statement.pointer
        );
        if let Some(principal) = &statement.principal {
            render_element(out, principal);
        }
        render_element(out, &statement.action);
        match &statement.resource {
            Some(resource) => render_element(out, resource),
            None => out.push_str("    Resource: none (the resource is the role itself)\n"),
        }
        if statement.conditions.is_empty() {
            out.push_str("    Conditions: none\n");
        } else {
            out.push_str("    Conditions (all must pass):\n");
            for condition in &statement.conditions {
                render_condition(out, condition);
            }
        }
    }
}

/// Human-readable explanation of a traced evaluation (for `--explain`).
pub fn render_trace_text(decision: Decision, trace: &PolicyTrace) -> String {
    let mut out = format!("Decision: {}\n", decision.as_str());
    render_policy(&mut out, trace);
    out
}

/// Kind of a policy layer in a layered (session) evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyLayer {
    /// The service control policies of one level of an organization (root, an OU, the
    /// account): each level present must allow.
    ServiceControl,
    /// The role's identity-based policies: an Allow is always required.
    Identity,
    /// A permissions boundary: when present, an Allow is also required.
    PermissionsBoundary,
    /// Session policies: when present, an Allow is also required.
    Session,
    /// A resource-based policy of the resource's account: its Allow stands in for the
    /// identity layer's (the other layers still limit it); its Deny denies.
    Resource,
}

/// Evaluation detail of one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerTrace {
    /// Which layer.
    pub layer: PolicyLayer,
    /// Decision of this layer alone (`ImplicitDeny` when no policy allows).
    pub decision: Decision,
    /// Per-policy detail, in the order given.
    pub policies: Vec<PolicyTrace>,
}

/// Evaluation detail of a layered evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionTrace {
    /// The final decision.
    pub decision: Decision,
    /// Layers that took part (absent optional layers are omitted).
    pub layers: Vec<LayerTrace>,
}

/// Human-readable explanation of a layered evaluation.
pub fn render_session_trace_text(trace: &SessionTrace) -> String {
    let mut out = format!("Decision: {}\n", trace.decision.as_str());
    for layer in &trace.layers {
        let _ = writeln!(out, "Layer {:?}: {}", layer.layer, layer.decision.as_str());
        for (i, policy) in layer.policies.iter().enumerate() {
            let _ = writeln!(out, " Policy {i}: {}", policy.decision.as_str());
            render_policy(&mut out, policy);
        }
    }
    out
}
