//! Short, precise reasons for trust-policy decisions, drawn from the policy engine's trace.

use keyless_policy::{ConditionTrace, Decision, Effect, PolicyTrace, Statement, StatementTrace};

/// Names a statement: `Sid` if it has one, else its position and JSON pointer.
pub fn statement_name(s: &StatementTrace) -> String {
    match &s.sid {
        Some(sid) => format!("statement {sid} ({})", s.pointer),
        None => format!("statement {} ({})", s.index, s.pointer),
    }
}

/// Describes why one condition failed.
pub fn condition_reason(c: &ConditionTrace) -> String {
    let wants = if c.policy_values.len() == 1 {
        c.policy_values[0].clone()
    } else {
        format!("one of {:?}", c.policy_values)
    };
    match &c.context_values {
        None if c.key_missing => format!(
            "{} {}: the request has no {} key (the policy wants {wants})",
            c.operator, c.key, c.key
        ),
        None => format!("{} {}: the request has no {} key", c.operator, c.key, c.key),
        Some(values) => {
            let has = if values.len() == 1 {
                values[0].clone()
            } else {
                format!("{values:?}")
            };
            let mut text = format!(
                "{} {}: the policy wants {wants} and the request has {has}",
                c.operator, c.key
            );
            if let Some(closest) = &c.closest
                && !closest.common_prefix.is_empty()
                && c.policy_values.len() > 1
            {
                text.push_str(&format!(
                    " (closest: {}, which agrees up to {:?})",
                    closest.policy_value, closest.common_prefix
                ));
            }
            if let Some(note) = &c.note {
                text.push_str(&format!(" ({note})"));
            }
            text
        }
    }
}

/// Why `action` was not allowed, and the statement responsible when one is.
pub fn denial_reason(
    decision: Decision,
    trace: &PolicyTrace,
    action: &str,
) -> (String, Option<String>) {
    if decision == Decision::ExplicitDeny
        && let Some(s) = trace
            .statements
            .iter()
            .find(|s| s.applied && s.effect == Effect::Deny)
    {
        let name = statement_name(s);
        return (
            format!("{action} is explicitly denied by {name}"),
            Some(name),
        );
    }
    let allows: Vec<&StatementTrace> = trace
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .collect();
    if allows.is_empty() {
        return (
            format!("the trust policy has no Allow statement for {action}"),
            None,
        );
    }
    let principal_ok = |s: &StatementTrace| s.principal.as_ref().is_none_or(|p| p.matched);
    let Some(candidate) = allows.iter().find(|s| {
        principal_ok(s) && s.action.matched && s.resource.as_ref().is_none_or(|r| r.matched)
    }) else {
        if let Some(s) = allows.iter().find(|s| !principal_ok(s)) {
            let who = s
                .principal
                .as_ref()
                .and_then(|p| p.request_value.clone())
                .unwrap_or_else(|| "the caller".into());
            return (
                format!("no Allow statement names the principal {who}"),
                Some(statement_name(s)),
            );
        }
        return (
            format!("no Allow statement covers the action {action}"),
            None,
        );
    };
    let name = statement_name(candidate);
    match candidate.conditions.iter().find(|c| !c.result) {
        Some(c) => (format!("{name}: {}", condition_reason(c)), Some(name)),
        None => (format!("{name} does not apply"), Some(name)),
    }
}

/// Names a statement of the policy AST the way [`statement_name`] names a traced one.
pub fn ast_statement_name(s: &Statement) -> String {
    match s.sid() {
        Some(sid) => format!("statement {sid} ({})", s.pointer()),
        None => format!("statement {} ({})", s.index(), s.pointer()),
    }
}
