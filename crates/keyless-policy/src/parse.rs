//! Policy document parsing and validation.
//!
//! Checks run in IAM's order (as reproduced by moto's validator): JSON and grammar
//! (`Syntax errors in policy.`), fields the policy kind prohibits or requires, legacy
//! value parsing, Sid uniqueness, presence of actions and resources, resource format,
//! action vendor prefixes, Sid characters and principal values.

use crate::ast::{
    ActionElement, ArnPattern, AwsPrincipalMatcher, CompiledValues, Condition, ConditionOperator,
    DecimalValue, Effect, ElementValue, OperatorFamily, OperatorKind, PrincipalElement,
    PrincipalType, PrincipalValue, ResourceElement, ResourcePattern, SourcePosition, Statement,
};
use crate::error::{
    ACTION_TOO_MANY_COLONS, ACTION_VENDOR_MISSING, DUPLICATE_SID, INVALID_JSON, INVALID_PRINCIPAL,
    INVALID_SID, LEGACY_PARSING, MISSING_ACTIONS, MISSING_PRINCIPAL, MISSING_RESOURCES,
    PolicyError, PolicyErrorKind, SYNTAX_ERRORS,
};
use crate::json::{self, Json, child_pointer};
use crate::pattern::Pattern;
use crate::values::{Cidr, Timestamp, decode_base64, parse_bool};

/// The kind of policy document, which decides the required and prohibited elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A role trust policy (resource-based): `Principal` required; `NotPrincipal`,
    /// `Resource` and `NotResource` prohibited.
    Trust,
    /// A role identity policy (inline or managed): `Principal`/`NotPrincipal` prohibited,
    /// `Resource`/`NotResource` required.
    Identity,
    /// A session policy passed to STS: same rules as [`PolicyKind::Identity`].
    Session,
    /// A resource-based policy other than a trust policy (the `ResourcePolicy` of IAM's
    /// policy simulator): `Principal` and `Resource`/`NotResource` required, `NotPrincipal`
    /// prohibited.
    Resource,
}

/// Parsing options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Which element rules apply.
    pub kind: PolicyKind,
    /// Maximum size in characters, counted like IAM (whitespace outside strings excluded);
    /// `None` disables the check.
    pub max_chars: Option<usize>,
}

impl ParseOptions {
    /// Options with IAM's default size limits: trust 2048, identity 10240 (role inline
    /// policy aggregate), session 2048, resource 20480 (an S3 bucket policy's).
    pub fn new(kind: PolicyKind) -> Self {
        let max = match kind {
            PolicyKind::Trust | PolicyKind::Session => 2048,
            PolicyKind::Identity => 10240,
            PolicyKind::Resource => 20480,
        };
        ParseOptions {
            kind,
            max_chars: Some(max),
        }
    }
}

/// Policy language version `2012-10-17`, the only one with policy variables.
pub(crate) const VERSION_2012: &str = "2012-10-17";
const VERSION_2008: &str = "2008-10-17";

/// The result of parsing: version, id and statements.
pub(crate) struct ParsedDocument {
    pub(crate) version: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

fn syntax(pointer: impl Into<String>, detail: impl Into<String>) -> PolicyError {
    PolicyError::malformed(SYNTAX_ERRORS, pointer).with_detail(detail)
}

/// Statement elements as found in the document, after the grammar check.
struct RawStatement<'a> {
    index: usize,
    pointer: String,
    sid: Option<&'a str>,
    effect: &'a str,
    principal: Option<&'a Json>,
    not_principal: Option<&'a Json>,
    action: Option<(bool, &'a Json)>,
    resource: Option<(bool, &'a Json)>,
    condition: Option<&'a Json>,
}

impl RawStatement<'_> {
    fn field_pointer(&self, name: &str) -> String {
        child_pointer(&self.pointer, name)
    }
}

/// A string or an array of strings, with the pointer of each value.
fn string_list(value: &Json, pointer: &str) -> Result<Vec<ElementValue>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![ElementValue {
            text: s.clone(),
            pointer: pointer.to_string(),
        }]),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::String(s) => Ok(ElementValue {
                    text: s.clone(),
                    pointer: child_pointer(pointer, &i.to_string()),
                }),
                other => Err(syntax(
                    child_pointer(pointer, &i.to_string()),
                    format!("expected a string, found {}", other.type_name()),
                )),
            })
            .collect(),
        other => Err(syntax(
            pointer,
            format!(
                "expected a string or an array of strings, found {}",
                other.type_name()
            ),
        )),
    }
}

/// Condition values: string, number, boolean or an array of those, as strings.
fn condition_values(value: &Json, pointer: &str) -> Result<Vec<ElementValue>, PolicyError> {
    let scalar = |v: &Json, p: String| match v {
        Json::String(s) | Json::Number(s) => Ok(ElementValue {
            text: s.clone(),
            pointer: p,
        }),
        Json::Bool(b) => Ok(ElementValue {
            text: b.to_string(),
            pointer: p,
        }),
        other => Err(syntax(
            p,
            format!(
                "condition values must be strings, numbers or booleans, found {}",
                other.type_name()
            ),
        )),
    };
    match value {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| scalar(item, child_pointer(pointer, &i.to_string())))
            .collect(),
        other => Ok(vec![scalar(other, pointer.to_string())?]),
    }
}

fn object_members<'a>(
    value: &'a Json,
    pointer: &str,
    what: &str,
) -> Result<&'a [(String, Json)], PolicyError> {
    match value {
        Json::Object(members) => Ok(members),
        other => Err(syntax(
            pointer,
            format!("{what} must be an object, found {}", other.type_name()),
        )),
    }
}

/// Grammar check of one statement.
fn raw_statement<'a>(
    value: &'a Json,
    index: usize,
    pointer: String,
) -> Result<RawStatement<'a>, PolicyError> {
    let members = object_members(value, &pointer, "a statement")?;
    let mut raw = RawStatement {
        index,
        pointer,
        sid: None,
        effect: "",
        principal: None,
        not_principal: None,
        action: None,
        resource: None,
        condition: None,
    };
    let mut effect = None;
    for (name, v) in members {
        let p = raw.field_pointer(name);
        match name.as_str() {
            "Sid" => match v {
                Json::String(s) => raw.sid = Some(s),
                other => {
                    return Err(syntax(
                        p,
                        format!("Sid must be a string, found {}", other.type_name()),
                    ));
                }
            },
            "Effect" => match v {
                Json::String(s)
                    if s.eq_ignore_ascii_case("allow") || s.eq_ignore_ascii_case("deny") =>
                {
                    effect = Some(s.as_str())
                }
                Json::String(s) => return Err(syntax(p, format!("invalid Effect {s:?}"))),
                other => {
                    return Err(syntax(
                        p,
                        format!("Effect must be a string, found {}", other.type_name()),
                    ));
                }
            },
            "Principal" | "NotPrincipal" => {
                principal_syntax(v, &p)?;
                if name == "Principal" {
                    raw.principal = Some(v);
                } else {
                    raw.not_principal = Some(v);
                }
            }
            "Action" | "NotAction" => {
                if raw.action.is_some() {
                    return Err(syntax(p, "Action and NotAction are mutually exclusive"));
                }
                string_list(v, &p)?;
                raw.action = Some((name == "NotAction", v));
            }
            "Resource" | "NotResource" => {
                if raw.resource.is_some() {
                    return Err(syntax(p, "Resource and NotResource are mutually exclusive"));
                }
                string_list(v, &p)?;
                raw.resource = Some((name == "NotResource", v));
            }
            "Condition" => {
                condition_syntax(v, &p)?;
                raw.condition = Some(v);
            }
            other => return Err(syntax(p, format!("unknown statement element {other:?}"))),
        }
    }
    if raw.principal.is_some() && raw.not_principal.is_some() {
        return Err(syntax(
            raw.field_pointer("NotPrincipal"),
            "Principal and NotPrincipal are mutually exclusive",
        ));
    }
    raw.effect = effect.ok_or_else(|| syntax(raw.pointer.clone(), "statement has no Effect"))?;
    Ok(raw)
}

fn principal_syntax(value: &Json, pointer: &str) -> Result<(), PolicyError> {
    match value {
        Json::String(s) if s == "*" => Ok(()),
        Json::Object(members) if !members.is_empty() => {
            for (name, v) in members {
                let p = child_pointer(pointer, name);
                if !matches!(
                    name.as_str(),
                    "AWS" | "Federated" | "Service" | "CanonicalUser"
                ) {
                    return Err(syntax(p, format!("unknown principal type {name:?}")));
                }
                if string_list(v, &p)?.is_empty() {
                    return Err(syntax(p, "empty principal list"));
                }
            }
            Ok(())
        }
        _ => Err(syntax(
            pointer,
            "principal must be \"*\" or a non-empty principal map",
        )),
    }
}

fn condition_syntax(value: &Json, pointer: &str) -> Result<(), PolicyError> {
    for (operator, block) in object_members(value, pointer, "Condition")? {
        let op_pointer = child_pointer(pointer, operator);
        let keys = object_members(block, &op_pointer, "a condition operator block")?;
        let parsed = ConditionOperator::parse(operator);
        if parsed.is_none() && !keys.is_empty() {
            return Err(syntax(
                op_pointer,
                format!("unknown condition operator {operator:?}"),
            ));
        }
        if let Some(op) = parsed
            && op.kind == OperatorKind::Null
            && op.if_exists
        {
            return Err(syntax(
                op_pointer,
                "The Null condition operator cannot be used with the IfExists suffix.",
            ));
        }
        let mut seen: Vec<String> = Vec::with_capacity(keys.len());
        for (key, values) in keys {
            let key_pointer = child_pointer(&op_pointer, key);
            let lower = key.to_lowercase();
            if seen.contains(&lower) {
                return Err(syntax(
                    key_pointer,
                    format!(
                        "The condition key {key} appears more than once with different capitalization in the same condition block."
                    ),
                ));
            }
            seen.push(lower);
            condition_values(values, &key_pointer)?;
        }
    }
    Ok(())
}

/// The line and column of each of `offsets` (byte offsets into `text`, in ascending order),
/// counted in one pass over the text.
fn source_positions(text: &str, offsets: impl Iterator<Item = usize>) -> Vec<SourcePosition> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut here = SourcePosition { line: 1, column: 1 };
    for offset in offsets {
        while let Some(&(at, c)) = chars.peek() {
            if at >= offset {
                break;
            }
            chars.next();
            let crlf = c == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n');
            if crlf {
                // `\r\n` ends one line: its `\n` does.
                here.column += 1;
            } else if c == '\n' || c == '\r' {
                here = SourcePosition {
                    line: here.line + 1,
                    column: 1,
                };
            } else {
                here.column += 1;
            }
        }
        out.push(here);
    }
    out
}

/// Parses and validates a document.
pub(crate) fn parse_document(
    doc: &str,
    opts: &ParseOptions,
) -> Result<ParsedDocument, PolicyError> {
    if let Some(max) = opts.max_chars {
        let size = json::policy_size(doc);
        if size > max {
            let message = match opts.kind {
                PolicyKind::Trust => format!("Cannot exceed quota for ACLSizePerRole: {max}"),
                PolicyKind::Identity | PolicyKind::Session | PolicyKind::Resource => {
                    format!("Cannot exceed quota for PolicySize: {max}")
                }
            };
            return Err(PolicyError {
                message,
                pointer: String::new(),
                kind: PolicyErrorKind::LimitExceeded,
                detail: Some(format!("the document has {size} non-whitespace characters")),
            });
        }
    }
    let invalid_json = match opts.kind {
        PolicyKind::Trust => INVALID_JSON,
        PolicyKind::Identity | PolicyKind::Session | PolicyKind::Resource => SYNTAX_ERRORS,
    };
    let (root, spans) =
        json::parse_with_statement_spans(doc).map_err(|e| e.into_policy_error(invalid_json))?;
    let positions = source_positions(doc, spans.iter().flat_map(|&(start, end)| [start, end]));

    // Grammar.
    let top = object_members(&root, "", "the policy document")?;
    let mut version = None;
    let mut id = None;
    let mut statement_value = None;
    for (name, value) in top {
        let p = child_pointer("", name);
        match (name.as_str(), value) {
            ("Version", Json::String(v)) if v == VERSION_2012 || v == VERSION_2008 => {
                version = Some(v.clone())
            }
            ("Version", _) => {
                return Err(syntax(
                    p,
                    "Version must be \"2012-10-17\" or \"2008-10-17\"",
                ));
            }
            ("Id", Json::String(v)) => id = Some(v.clone()),
            ("Id", other) => {
                return Err(syntax(
                    p,
                    format!("Id must be a string, found {}", other.type_name()),
                ));
            }
            ("Statement", v) => statement_value = Some(v),
            (other, _) => return Err(syntax(p, format!("unknown policy element {other:?}"))),
        }
    }
    let statement_value =
        statement_value.ok_or_else(|| syntax("", "the policy has no Statement"))?;
    let raws: Vec<RawStatement<'_>> = match statement_value {
        Json::Object(_) => vec![raw_statement(statement_value, 0, "/Statement".to_string())?],
        Json::Array(items) if items.is_empty() => {
            return Err(syntax("/Statement", "Statement is empty"));
        }
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| raw_statement(item, i, format!("/Statement/{i}")))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(syntax(
                "/Statement",
                format!(
                    "Statement must be an object or an array, found {}",
                    other.type_name()
                ),
            ));
        }
    };

    // Elements the policy kind prohibits or requires.
    for raw in &raws {
        let prohibited = |field: &str| {
            PolicyError::malformed(
                format!("Has prohibited field {field}"),
                raw.field_pointer(field),
            )
        };
        if raw.not_principal.is_some() {
            return Err(prohibited("NotPrincipal"));
        }
        match opts.kind {
            PolicyKind::Trust => {
                if let Some((negated, _)) = raw.resource {
                    return Err(prohibited(if negated { "NotResource" } else { "Resource" }));
                }
                if raw.principal.is_none() {
                    return Err(PolicyError::malformed(
                        MISSING_PRINCIPAL,
                        raw.pointer.clone(),
                    ));
                }
            }
            PolicyKind::Identity | PolicyKind::Session => {
                if raw.principal.is_some() {
                    return Err(prohibited("Principal"));
                }
            }
            PolicyKind::Resource => {
                if raw.principal.is_none() {
                    return Err(PolicyError::malformed(
                        MISSING_PRINCIPAL,
                        raw.pointer.clone(),
                    ));
                }
            }
        }
    }

    // Legacy parsing: Effect case, typed condition values, ARN shape.
    let variables = version.as_deref() == Some(VERSION_2012);
    let mut effects = Vec::with_capacity(raws.len());
    let mut conditions = Vec::with_capacity(raws.len());
    for raw in &raws {
        effects.push(match raw.effect {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            other => {
                return Err(
                    PolicyError::malformed(LEGACY_PARSING, raw.field_pointer("Effect"))
                        .with_detail(format!("Effect is case-sensitive: {other:?}")),
                );
            }
        });
        conditions.push(match raw.condition {
            Some(block) => compile_conditions(block, &raw.field_pointer("Condition"), variables)?,
            None => Vec::new(),
        });
        if let Some((negated, value)) = raw.resource {
            let p = raw.field_pointer(if negated { "NotResource" } else { "Resource" });
            for resource in string_list(value, &p)? {
                let text = resource.text.as_str();
                if text != "*" && text.starts_with("arn:") && text.split(':').nth(5).is_none() {
                    return Err(PolicyError::malformed(LEGACY_PARSING, resource.pointer)
                        .with_detail(format!("{text:?} has fewer than six ARN components")));
                }
            }
        }
    }

    // Sid uniqueness.
    let mut sids: Vec<&str> = Vec::new();
    for raw in &raws {
        if let Some(sid) = raw.sid.filter(|s| !s.is_empty()) {
            if sids.contains(&sid) {
                return Err(PolicyError::malformed(
                    DUPLICATE_SID,
                    raw.field_pointer("Sid"),
                ));
            }
            sids.push(sid);
        }
    }

    // Actions, then resources, must be present and non-empty.
    for raw in &raws {
        let empty = |v: &Json| matches!(v, Json::Array(items) if items.is_empty());
        match raw.action {
            None => return Err(PolicyError::malformed(MISSING_ACTIONS, raw.pointer.clone())),
            Some((negated, v)) if empty(v) => {
                let field = if negated { "NotAction" } else { "Action" };
                return Err(PolicyError::malformed(
                    MISSING_ACTIONS,
                    raw.field_pointer(field),
                ));
            }
            Some(_) => {}
        }
        if opts.kind != PolicyKind::Trust {
            match raw.resource {
                None => {
                    return Err(PolicyError::malformed(
                        MISSING_RESOURCES,
                        raw.pointer.clone(),
                    ));
                }
                Some((negated, v)) if empty(v) => {
                    let field = if negated { "NotResource" } else { "Resource" };
                    return Err(PolicyError::malformed(
                        MISSING_RESOURCES,
                        raw.field_pointer(field),
                    ));
                }
                Some(_) => {}
            }
        }
    }

    // Resource format.
    let mut resources = Vec::with_capacity(raws.len());
    for raw in &raws {
        resources.push(match raw.resource {
            Some((negated, value)) => Some(compile_resources(raw, negated, value, variables)?),
            None => None,
        });
    }

    // Action vendor prefixes.
    let mut actions = Vec::with_capacity(raws.len());
    for raw in &raws {
        let Some((negated, value)) = raw.action else {
            return Err(PolicyError::malformed(MISSING_ACTIONS, raw.pointer.clone()));
        };
        actions.push(compile_actions(raw, negated, value)?);
    }

    // Sid characters.
    for raw in &raws {
        if let Some(sid) = raw.sid
            && !sid.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(PolicyError::malformed(
                INVALID_SID,
                raw.field_pointer("Sid"),
            ));
        }
    }

    // Principal values.
    let mut principals = Vec::with_capacity(raws.len());
    for raw in &raws {
        principals.push(match raw.principal {
            Some(value) => Some(compile_principal(value, &raw.field_pointer("Principal"))?),
            None => None,
        });
    }

    let statements = raws
        .iter()
        .zip(effects)
        .zip(conditions)
        .zip(resources)
        .zip(actions)
        .zip(principals)
        .map(
            |(((((raw, effect), conditions), resource), action), principal)| Statement {
                index: raw.index,
                start: positions.get(2 * raw.index).copied().unwrap_or_default(),
                end: positions
                    .get(2 * raw.index + 1)
                    .copied()
                    .unwrap_or_default(),
                sid: raw.sid.map(str::to_string),
                effect,
                pointer: raw.pointer.clone(),
                principal,
                action,
                resource,
                conditions,
            },
        )
        .collect();
    Ok(ParsedDocument {
        version,
        id,
        statements,
    })
}

fn compile_actions(
    raw: &RawStatement<'_>,
    negated: bool,
    value: &Json,
) -> Result<ActionElement, PolicyError> {
    let pointer = raw.field_pointer(if negated { "NotAction" } else { "Action" });
    let values = string_list(value, &pointer)?;
    let mut patterns = Vec::with_capacity(values.len());
    for action in &values {
        let text = action.text.as_str();
        if text != "*" {
            let mut parts = text.split(':');
            let vendor = parts.next().unwrap_or_default();
            match (parts.next(), parts.next()) {
                (None, _) => {
                    return Err(PolicyError::malformed(
                        ACTION_VENDOR_MISSING,
                        action.pointer.clone(),
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(PolicyError::malformed(
                        ACTION_TOO_MANY_COLONS,
                        action.pointer.clone(),
                    ));
                }
                (Some(_), None) => {}
            }
            if vendor != "*"
                && !vendor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(PolicyError::malformed(
                    format!("Vendor {vendor} is not valid"),
                    action.pointer.clone(),
                ));
            }
        }
        patterns.push(Pattern::new(text, false, true));
    }
    Ok(ActionElement {
        negated,
        pointer,
        values,
        patterns,
    })
}

fn compile_resources(
    raw: &RawStatement<'_>,
    negated: bool,
    value: &Json,
    variables: bool,
) -> Result<ResourceElement, PolicyError> {
    let pointer = raw.field_pointer(if negated { "NotResource" } else { "Resource" });
    let values = string_list(value, &pointer)?;
    let mut patterns = Vec::with_capacity(values.len());
    for resource in &values {
        let text = resource.text.as_str();
        if text == "*" {
            patterns.push(ResourcePattern::Any);
            continue;
        }
        if !text.starts_with("arn:") {
            return Err(PolicyError::malformed(
                format!("Resource {text} must be in ARN format or \"*\"."),
                resource.pointer.clone(),
            ));
        }
        let components: Vec<&str> = text.splitn(6, ':').collect();
        if components.len() != 6 {
            return Err(PolicyError::malformed(
                LEGACY_PARSING,
                resource.pointer.clone(),
            ));
        }
        check_resource_arn(text, &components)
            .map_err(|message| PolicyError::malformed(message, resource.pointer.clone()))?;
        let parts = components
            .iter()
            .enumerate()
            .map(|(i, part)| Pattern::new(part, variables && i == 5, true))
            .collect();
        patterns.push(ResourcePattern::Arn(parts));
    }
    Ok(ResourceElement {
        negated,
        pointer,
        values,
        patterns,
    })
}

/// The partitions of AWS.
const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// The resource types an IAM resource ARN may name.
const IAM_RESOURCE_TYPES: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sts/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// IAM's checks of a `Resource` ARN beyond its shape, with IAM's messages: a known partition,
/// a service without wildcards, and the service rules IAM enforces (no region in an IAM or an
/// S3 bucket ARN, an IAM resource type).
fn check_resource_arn(text: &str, components: &[&str]) -> Result<(), String> {
    let [_, partition, service, region, account, resource] = components else {
        return Err(LEGACY_PARSING.to_string());
    };
    let wild = |s: &str| s.contains(['*', '?']);
    if !PARTITIONS.contains(partition) && !wild(partition) {
        return Err(format!(
            "Partition \"{partition}\" is not valid for resource \"{text}\"."
        ));
    }
    if service.is_empty() || wild(service) {
        return Err("Resource vendor must be fully qualified and cannot contain regexes.".into());
    }
    match *service {
        "iam" => {
            if !region.is_empty() {
                return Err(format!(
                    "IAM resource {text} cannot contain region information."
                ));
            }
            let resource_type = resource.split_inclusive('/').next().unwrap_or_default();
            if *resource != "*"
                && !wild(resource_type)
                && !IAM_RESOURCE_TYPES.contains(&resource_type)
            {
                return Err(format!(
                    "IAM resource path must either be \"*\" or start with {}.",
                    IAM_RESOURCE_TYPES.join(", ")
                ));
            }
        }
        "s3" if !region.is_empty() && account.is_empty() => {
            return Err(format!(
                "Resource {text} can not contain region information."
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Splits an ARN into its six components (the last keeps any further colons).
pub(crate) fn split_arn(text: &str) -> Option<[&str; 6]> {
    let mut it = text.splitn(6, ':');
    let parts = [
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ];
    (parts[0] == "arn").then_some(parts)
}

fn compile_principal(value: &Json, pointer: &str) -> Result<PrincipalElement, PolicyError> {
    let members = match value {
        Json::Object(members) => members.as_slice(),
        _ => {
            return Ok(PrincipalElement {
                pointer: pointer.to_string(),
                wildcard: true,
                values: Vec::new(),
            });
        }
    };
    let mut values = Vec::new();
    for (name, list) in members {
        let p = child_pointer(pointer, name);
        let principal_type = match name.as_str() {
            "AWS" => PrincipalType::Aws,
            "Federated" => PrincipalType::Federated,
            "Service" => PrincipalType::Service,
            _ => PrincipalType::CanonicalUser,
        };
        for value in string_list(list, &p)? {
            let text = value.text.as_str();
            let invalid = || PolicyError::malformed(INVALID_PRINCIPAL, value.pointer.clone());
            let wildcard_allowed = principal_type == PrincipalType::Aws && text == "*";
            if text.is_empty() || (!wildcard_allowed && text.contains(['*', '?'])) {
                return Err(invalid());
            }
            let aws = if principal_type == PrincipalType::Aws {
                Some(aws_matcher(text).ok_or_else(invalid)?)
            } else {
                None
            };
            values.push(PrincipalValue {
                principal_type,
                value,
                aws,
            });
        }
    }
    Ok(PrincipalElement {
        pointer: pointer.to_string(),
        wildcard: false,
        values,
    })
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn aws_matcher(text: &str) -> Option<AwsPrincipalMatcher> {
    if text == "*" {
        return Some(AwsPrincipalMatcher::Any);
    }
    if is_account_id(text) {
        return Some(AwsPrincipalMatcher::Account(text.to_string()));
    }
    let [_, partition, service, region, account, resource] = split_arn(text)?;
    if partition.is_empty() || service.is_empty() {
        return None;
    }
    if service == "iam" && region.is_empty() && is_account_id(account) && resource == "root" {
        return Some(AwsPrincipalMatcher::Account(account.to_string()));
    }
    let role = (service == "iam")
        .then(|| resource.strip_prefix("role/"))
        .flatten()
        .and_then(|path| path.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .map(|name| (partition.to_string(), account.to_string(), name.to_string()));
    Some(AwsPrincipalMatcher::Arn {
        arn: text.to_string(),
        role,
    })
}

fn compile_conditions(
    block: &Json,
    pointer: &str,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let mut conditions = Vec::new();
    for (operator_text, keys) in object_members(block, pointer, "Condition")? {
        let op_pointer = child_pointer(pointer, operator_text);
        let Some(operator) = ConditionOperator::parse(operator_text) else {
            continue;
        };
        for (key, raw_values) in object_members(keys, &op_pointer, "a condition operator block")? {
            let key_pointer = child_pointer(&op_pointer, key);
            let values = condition_values(raw_values, &key_pointer)?;
            let compiled = compile_values(operator, &values, variables)?;
            conditions.push(Condition {
                operator,
                operator_text: operator_text.clone(),
                key: key.clone(),
                key_lower: key.to_lowercase(),
                pointer: key_pointer,
                values,
                compiled,
            });
        }
    }
    Ok(conditions)
}

fn compile_values(
    operator: ConditionOperator,
    values: &[ElementValue],
    variables: bool,
) -> Result<CompiledValues, PolicyError> {
    fn typed<T>(
        values: &[ElementValue],
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, PolicyError> {
        values
            .iter()
            .map(|v| {
                parse(&v.text).ok_or_else(|| {
                    PolicyError::malformed(LEGACY_PARSING, v.pointer.clone())
                        .with_detail(format!("{:?} is not a valid {what}", v.text))
                })
            })
            .collect()
    }
    Ok(match operator.family() {
        OperatorFamily::String => {
            let wildcards = matches!(
                operator.kind,
                OperatorKind::StringLike | OperatorKind::StringNotLike
            );
            CompiledValues::Strings(
                values
                    .iter()
                    .map(|v| Pattern::new(&v.text, variables, wildcards))
                    .collect(),
            )
        }
        OperatorFamily::Arn => CompiledValues::Arns(
            values
                .iter()
                .map(|v| {
                    let whole = Pattern::new(&v.text, variables, true);
                    let parts = whole.split_arn();
                    ArnPattern { whole, parts }
                })
                .collect(),
        ),
        OperatorFamily::Numeric => {
            CompiledValues::Numbers(typed(values, "number", DecimalValue::new)?)
        }
        OperatorFamily::Date => CompiledValues::Dates(typed(values, "date", Timestamp::parse)?),
        OperatorFamily::Bool => CompiledValues::Bools(typed(values, "boolean", parse_bool)?),
        OperatorFamily::Binary => {
            CompiledValues::Binaries(typed(values, "base64 value", decode_base64)?)
        }
        OperatorFamily::IpAddress => {
            CompiledValues::Cidrs(typed(values, "IP address or CIDR block", Cidr::parse)?)
        }
        OperatorFamily::Null => CompiledValues::Null(typed(values, "boolean", parse_bool)?),
    })
}
