//! Statement and condition evaluation.
//!
//! The untraced path short-circuits and does not allocate; the traced path evaluates every
//! element of every statement so the explanation is complete. Both share the matching
//! functions below, so they cannot disagree.

use std::cmp::Ordering;
use std::net::IpAddr;

use crate::ast::{
    ActionElement, AwsPrincipalMatcher, CompiledValues, Condition, Effect, OperatorFamily,
    OperatorKind, PrincipalElement, PrincipalType, ResourceElement, ResourcePattern, SetQualifier,
    Statement,
};
use crate::context::{Context, ContextValue};
use crate::parse::split_arn;
use crate::pattern::{Case, Pattern};
use crate::request::{Decision, Principal, Request};
use crate::values::{Decimal, Timestamp, decode_base64, parse_bool};

/// Which listed value of an element matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// The `"*"` principal form.
    Wildcard,
    /// The value at this index.
    Value(usize),
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn aws_value_matches(matcher: &AwsPrincipalMatcher, caller: &str) -> bool {
    match matcher {
        AwsPrincipalMatcher::Any => true,
        AwsPrincipalMatcher::Account(account) => {
            if is_account_id(caller) {
                caller == account
            } else {
                split_arn(caller).is_some_and(|parts| parts[4] == account)
            }
        }
        AwsPrincipalMatcher::Arn { arn, role } => {
            if caller == arn {
                return true;
            }
            let Some((partition, account, name)) = role else {
                return false;
            };
            split_arn(caller).is_some_and(|[_, p, service, region, a, resource]| {
                p == partition
                    && service == "sts"
                    && region.is_empty()
                    && a == account
                    && resource
                        .strip_prefix("assumed-role/")
                        .and_then(|rest| rest.split_once('/'))
                        .is_some_and(|(role_name, session)| {
                            role_name == name && !session.is_empty()
                        })
            })
        }
    }
}

/// Finds the principal value matching the caller.
pub(crate) fn match_principal(
    element: &PrincipalElement,
    caller: Option<Principal<'_>>,
) -> Option<Hit> {
    if element.wildcard {
        return Some(Hit::Wildcard);
    }
    element
        .values
        .iter()
        .position(|value| {
            if value.aws == Some(AwsPrincipalMatcher::Any) {
                return true;
            }
            match (caller, value.principal_type) {
                (Some(Principal::Aws(arn)), PrincipalType::Aws) => value
                    .aws
                    .as_ref()
                    .is_some_and(|m| aws_value_matches(m, arn)),
                (Some(Principal::Federated(id)), PrincipalType::Federated)
                | (Some(Principal::Service(id)), PrincipalType::Service)
                | (Some(Principal::CanonicalUser(id)), PrincipalType::CanonicalUser) => {
                    value.value.text == id
                }
                _ => false,
            }
        })
        .map(Hit::Value)
}

/// Index of the first listed action matching `action` (ASCII case-insensitive glob).
pub(crate) fn find_action(element: &ActionElement, action: &str, ctx: &Context) -> Option<usize> {
    element
        .patterns
        .iter()
        .position(|p| p.matches(action, ctx, Case::AsciiInsensitive) == Some(true))
}

/// Whether the element applies to the action.
pub(crate) fn action_applies(element: &ActionElement, found: Option<usize>) -> bool {
    found.is_some() != element.negated
}

fn resource_pattern_matches(
    pattern: &ResourcePattern,
    resource: Option<&str>,
    ctx: &Context,
) -> bool {
    match pattern {
        ResourcePattern::Any => true,
        ResourcePattern::Arn(parts) => {
            let Some(components) = resource.and_then(split_arn) else {
                return false;
            };
            parts.iter().all(|p| p.resolvable(ctx))
                && parts
                    .iter()
                    .zip(components)
                    .all(|(p, c)| p.matches(c, ctx, Case::Sensitive) == Some(true))
        }
    }
}

/// Index of the first listed resource matching the request's resource.
pub(crate) fn find_resource(
    element: &ResourceElement,
    resource: Option<&str>,
    ctx: &Context,
) -> Option<usize> {
    element
        .patterns
        .iter()
        .position(|p| resource_pattern_matches(p, resource, ctx))
}

/// Whether the element applies to the resource.
pub(crate) fn resource_applies(element: &ResourceElement, found: Option<usize>) -> bool {
    found.is_some() != element.negated
}

/// Result of comparing one request value with the policy values (positive operator form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueMatch {
    /// Policy value at this index matched.
    Match(usize),
    /// No policy value matched.
    NoMatch,
    /// The request value is not of the operator's type (not a number, date, boolean,
    /// base64 value, IP address or ARN): no comparison can be made, so neither the positive
    /// nor the negated operator matches it. One rule for every typed family
    /// (`docs/policy-semantics.md` §2.2); String operators have no type and never give it.
    Invalid,
}

fn ordering_matches(kind: OperatorKind, ordering: Ordering) -> bool {
    use OperatorKind as K;
    match kind {
        K::NumericEquals | K::NumericNotEquals | K::DateEquals | K::DateNotEquals => {
            ordering == Ordering::Equal
        }
        K::NumericLessThan | K::DateLessThan => ordering == Ordering::Less,
        K::NumericLessThanEquals | K::DateLessThanEquals => ordering != Ordering::Greater,
        K::NumericGreaterThan | K::DateGreaterThan => ordering == Ordering::Greater,
        K::NumericGreaterThanEquals | K::DateGreaterThanEquals => ordering != Ordering::Less,
        _ => false,
    }
}

fn position_or_no_match(found: Option<usize>) -> ValueMatch {
    found.map_or(ValueMatch::NoMatch, ValueMatch::Match)
}

fn arn_components(text: &str) -> Option<[&str; 6]> {
    let mut it = text.splitn(6, ':');
    Some([
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ])
}

fn compare_value(condition: &Condition, value: &str, ctx: &Context) -> ValueMatch {
    let kind = condition.operator.kind;
    match &condition.compiled {
        CompiledValues::Strings(patterns) => {
            let ignore_case = matches!(
                kind,
                OperatorKind::StringEqualsIgnoreCase | OperatorKind::StringNotEqualsIgnoreCase
            );
            position_or_no_match(patterns.iter().position(|p| {
                let result = if ignore_case {
                    p.equals_ignore_case(value, ctx)
                } else {
                    p.matches(value, ctx, Case::Sensitive)
                };
                result == Some(true)
            }))
        }
        CompiledValues::Arns(patterns) => {
            let Some(components) = arn_components(value) else {
                return ValueMatch::Invalid;
            };
            position_or_no_match(patterns.iter().position(|p| {
                match &p.parts {
                    Some(parts) => {
                        p.whole.resolvable(ctx)
                            && parts.iter().zip(components).all(|(part, c)| {
                                part.matches(c, ctx, Case::Sensitive) == Some(true)
                            })
                    }
                    None => p.whole.matches(value, ctx, Case::Sensitive) == Some(true),
                }
            }))
        }
        CompiledValues::Numbers(numbers) => {
            let Some(request) = Decimal::parse(value) else {
                return ValueMatch::Invalid;
            };
            position_or_no_match(numbers.iter().position(|n| {
                n.get()
                    .is_some_and(|policy| ordering_matches(kind, request.compare(&policy)))
            }))
        }
        CompiledValues::Dates(dates) => {
            let Some(request) = Timestamp::parse(value) else {
                return ValueMatch::Invalid;
            };
            position_or_no_match(
                dates
                    .iter()
                    .position(|d| ordering_matches(kind, request.cmp(d))),
            )
        }
        CompiledValues::Bools(bools) => {
            let Some(request) = parse_bool(value) else {
                return ValueMatch::Invalid;
            };
            position_or_no_match(bools.iter().position(|b| *b == request))
        }
        CompiledValues::Binaries(binaries) => {
            let Some(request) = decode_base64(value) else {
                return ValueMatch::Invalid;
            };
            position_or_no_match(binaries.iter().position(|b| *b == request))
        }
        CompiledValues::Cidrs(cidrs) => {
            let Ok(request) = value.parse::<IpAddr>() else {
                return ValueMatch::Invalid;
            };
            position_or_no_match(cidrs.iter().position(|c| c.contains(request)))
        }
        // Null never compares request values (handled in `evaluate_condition`).
        CompiledValues::Null(_) => ValueMatch::NoMatch,
    }
}

/// Why a condition produced its result, beyond the plain comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// A plain operator met a multi-valued request key.
    MultiValuedWithoutQualifier,
    /// `IfExists` with an empty value list and the key present.
    EmptyListIfExists,
    /// The condition failed on a request value that is not of the operator's type.
    NotOfOperatorType(OperatorFamily),
}

/// Result of one condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConditionOutcome {
    pub(crate) result: bool,
    /// The result came from the key being absent from the request context.
    pub(crate) key_missing: bool,
    /// Index of a policy value that matched a request value, if any.
    pub(crate) matched: Option<usize>,
    pub(crate) note: Option<Note>,
}

fn present_values(value: Option<&ContextValue>) -> Option<&[String]> {
    value
        .map(ContextValue::values)
        .filter(|values| !values.is_empty())
}

/// Evaluates one condition against the request context.
pub(crate) fn evaluate_condition(condition: &Condition, ctx: &Context) -> ConditionOutcome {
    let operator = condition.operator;
    let values = present_values(ctx.get_lower(&condition.key_lower));
    let outcome = |result, key_missing, matched, note| ConditionOutcome {
        result,
        key_missing,
        matched,
        note,
    };
    if let CompiledValues::Null(expected) = &condition.compiled {
        let missing = values.is_none();
        let matched = expected
            .iter()
            .position(|want_missing| *want_missing == missing);
        let result = match (operator.set_qualifier, missing) {
            (Some(SetQualifier::ForAllValues), true) => true,
            (Some(SetQualifier::ForAnyValue), true) => false,
            _ => matched.is_some(),
        };
        return outcome(result, missing, matched, None);
    }
    let Some(values) = values else {
        // `ForAnyValue:` needs a request value that matches, so it is false when the key is
        // missing, `IfExists` notwithstanding (docs/policy-semantics.md §2.2).
        let result = match operator.set_qualifier {
            Some(SetQualifier::ForAllValues) => true,
            Some(SetQualifier::ForAnyValue) => false,
            None => operator.if_exists || operator.is_negated(),
        };
        return outcome(result, true, None, None);
    };
    if operator.if_exists && condition.values.is_empty() {
        return outcome(false, false, None, Some(Note::EmptyListIfExists));
    }
    let negated = operator.is_negated();
    let mut matched = None;
    let mut invalid = false;
    let mut value_passes = |v: &str| match compare_value(condition, v, ctx) {
        ValueMatch::Match(i) => {
            matched.get_or_insert(i);
            !negated
        }
        ValueMatch::NoMatch => negated,
        ValueMatch::Invalid => {
            invalid = true;
            false
        }
    };
    let (result, note) = match operator.set_qualifier {
        None => match values {
            [single] => (value_passes(single), None),
            _ => (false, Some(Note::MultiValuedWithoutQualifier)),
        },
        Some(SetQualifier::ForAnyValue) => (values.iter().any(|v| value_passes(v)), None),
        Some(SetQualifier::ForAllValues) => (values.iter().all(|v| value_passes(v)), None),
    };
    let note = note.or((invalid && !result).then(|| Note::NotOfOperatorType(operator.family())));
    outcome(result, false, matched, note)
}

/// The first element of a statement that does not match a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The `Principal` element names someone else.
    Principal,
    /// The `Action` / `NotAction` element does not cover the action.
    Action,
    /// The `Resource` / `NotResource` element does not cover the resource.
    Resource,
    /// The condition at this position is false.
    Condition(usize),
}

/// Where a statement stops applying to the request, checked in the order principal, action,
/// resource, conditions (untraced, short-circuiting); `None` when it applies.
pub(crate) fn statement_miss(statement: &Statement, req: &Request<'_>) -> Option<Miss> {
    let ctx = req.context;
    if let Some(principal) = &statement.principal
        && match_principal(principal, req.principal).is_none()
    {
        return Some(Miss::Principal);
    }
    if !action_applies(
        &statement.action,
        find_action(&statement.action, req.action, ctx),
    ) {
        return Some(Miss::Action);
    }
    if let Some(resource) = &statement.resource
        && !resource_applies(resource, find_resource(resource, req.resource, ctx))
    {
        return Some(Miss::Resource);
    }
    statement
        .conditions
        .iter()
        .position(|c| !evaluate_condition(c, ctx).result)
        .map(Miss::Condition)
}

/// The untraced decision of one policy: the decision, the statement that made it (the first
/// applicable Deny, or else the first applicable Allow), and for an implicit deny the closest
/// Allow statements' misses: the first one that failed only on a condition, and the first one
/// that named another principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deciding {
    pub(crate) decision: Decision,
    pub(crate) statement: Option<usize>,
    pub(crate) any_allow: bool,
    pub(crate) condition_miss: Option<(usize, usize)>,
    pub(crate) principal_miss: Option<usize>,
}

/// Decides one policy without a trace and without allocating.
pub(crate) fn decide_statements(statements: &[Statement], req: &Request<'_>) -> Deciding {
    let mut deciding = Deciding {
        decision: Decision::ImplicitDeny,
        statement: None,
        any_allow: false,
        condition_miss: None,
        principal_miss: None,
    };
    for (index, statement) in statements.iter().enumerate() {
        match statement.effect {
            Effect::Allow if deciding.statement.is_some() => continue,
            Effect::Allow => {
                deciding.any_allow = true;
                match statement_miss(statement, req) {
                    None => {
                        deciding.decision = Decision::Allow;
                        deciding.statement = Some(index);
                    }
                    Some(Miss::Condition(c)) => {
                        deciding.condition_miss.get_or_insert((index, c));
                    }
                    Some(Miss::Principal) => {
                        deciding.principal_miss.get_or_insert(index);
                    }
                    Some(Miss::Action | Miss::Resource) => {}
                }
            }
            Effect::Deny => {
                if statement_miss(statement, req).is_none() {
                    deciding.decision = Decision::ExplicitDeny;
                    deciding.statement = Some(index);
                    return deciding;
                }
            }
        }
    }
    deciding
}

/// Resolved text of a policy value for display; `None` when a variable is unresolved.
pub(crate) fn render_policy_value(
    condition: &Condition,
    index: usize,
    ctx: &Context,
) -> Option<String> {
    let pattern: &Pattern = match &condition.compiled {
        CompiledValues::Strings(patterns) => patterns.get(index)?,
        CompiledValues::Arns(patterns) => &patterns.get(index)?.whole,
        _ => return condition.values.get(index).map(|v| v.text.clone()),
    };
    pattern.render(ctx)
}

/// True when a condition's values contain policy variables.
pub(crate) fn has_variables(condition: &Condition) -> bool {
    match &condition.compiled {
        CompiledValues::Strings(patterns) => patterns.iter().any(Pattern::has_variables),
        CompiledValues::Arns(patterns) => patterns.iter().any(|p| p.whole.has_variables()),
        _ => false,
    }
}
