//! Short, precise reasons for policy refusals, from a [`Verdict`]: the Deny that applied, or
//! the Allow statement that came closest and the condition it failed on.

use keyless_policy::{ConditionTrace, Decision, Request, Shortfall, Statement, Verdict};

/// Names a statement: `statement <Sid> (<pointer>)`, or its position when it has no `Sid`.
pub(crate) fn statement_name(s: &Statement) -> String {
    match s.sid() {
        Some(sid) => format!("statement {sid} ({})", s.pointer()),
        None => format!("statement {} ({})", s.index(), s.pointer()),
    }
}

/// Why `req` was refused by a policy (called a `label`, e.g. `trust policy`), and the statement
/// responsible.
pub(crate) fn reason<'p>(
    verdict: &Verdict<'p>,
    label: &str,
    req: &Request<'_>,
) -> (String, Option<&'p Statement>) {
    let action = req.action;
    if verdict.decision == Decision::ExplicitDeny {
        let name = verdict.statement.map(statement_name).unwrap_or_default();
        return (
            format!("{action} is explicitly denied by {name}"),
            verdict.statement,
        );
    }
    match verdict.shortfall {
        Some(Shortfall::Condition {
            statement,
            condition,
        }) => (
            format!(
                "{}: {}",
                statement_name(statement),
                condition_reason(&condition.trace(req.context))
            ),
            Some(statement),
        ),
        Some(Shortfall::Principal { statement }) => {
            let who = req
                .principal
                .map(|p| format!("{}:{}", p.type_name(), p.value()))
                .unwrap_or_else(|| "the caller".into());
            (
                format!("no Allow statement names the principal {who}"),
                Some(statement),
            )
        }
        Some(Shortfall::NoAllow) => (
            format!("the {label} has no Allow statement for {action}"),
            None,
        ),
        Some(Shortfall::NotCovered) | None => (
            format!("no Allow statement covers the action {action}"),
            None,
        ),
    }
}

/// Describes why one condition failed.
pub(crate) fn condition_reason(c: &ConditionTrace) -> String {
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
