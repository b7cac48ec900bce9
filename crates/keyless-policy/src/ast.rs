//! Validated policy AST.
//!
//! Every element keeps its text as written and an RFC 6901 JSON pointer into the source
//! document, so linters and explain output can point at the exact spot. Matching data
//! (globs, parsed numbers, dates, CIDRs) is compiled once at parse time.

use serde::Serialize;

use crate::pattern::Pattern;
use crate::values::{Cidr, Decimal, Timestamp};

/// `Effect` of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// A string element value as written, with its JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementValue {
    pub(crate) text: String,
    pub(crate) pointer: String,
}

impl ElementValue {
    /// The value exactly as written in the document (numbers/booleans as their JSON text).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// JSON pointer of the value.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// The principal types of a `Principal` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrincipalType {
    /// `"AWS"`: accounts, IAM users and roles, role sessions.
    #[serde(rename = "AWS")]
    Aws,
    /// `"Federated"`: OIDC/SAML providers and built-in web identity providers.
    Federated,
    /// `"Service"`: AWS service principals.
    Service,
    /// `"CanonicalUser"`: S3 canonical user IDs.
    CanonicalUser,
}

impl PrincipalType {
    /// The map key as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// How an `AWS` principal value matches callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsPrincipalMatcher {
    /// `"*"`: every principal.
    Any,
    /// An account (`123456789012` or `arn:<p>:iam::123456789012:root`): any principal of it.
    Account(String),
    /// An exact ARN; for role ARNs also the role's sessions.
    Arn {
        arn: String,
        /// `(partition, account, role name)` when the ARN names an IAM role.
        role: Option<(String, String, String)>,
    },
}

/// One value of a `Principal` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalValue {
    pub(crate) principal_type: PrincipalType,
    pub(crate) value: ElementValue,
    pub(crate) aws: Option<AwsPrincipalMatcher>,
}

impl PrincipalValue {
    /// The principal type (map key).
    pub fn principal_type(&self) -> PrincipalType {
        self.principal_type
    }

    /// The value as written, with its pointer.
    pub fn value(&self) -> &ElementValue {
        &self.value
    }
}

/// The `Principal` element of a statement (`NotPrincipal` is rejected by every supported
/// policy kind, so it has no representation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalElement {
    pub(crate) pointer: String,
    pub(crate) wildcard: bool,
    pub(crate) values: Vec<PrincipalValue>,
}

impl PrincipalElement {
    /// True for `"Principal": "*"` (everyone).
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// Values of the principal map (empty for the `"*"` form).
    pub fn values(&self) -> &[PrincipalValue] {
        &self.values
    }

    /// JSON pointer of the element.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionElement {
    pub(crate) negated: bool,
    pub(crate) pointer: String,
    pub(crate) values: Vec<ElementValue>,
    pub(crate) patterns: Vec<Pattern>,
}

impl ActionElement {
    /// True for `NotAction`.
    pub fn is_not_action(&self) -> bool {
        self.negated
    }

    /// The listed actions.
    pub fn values(&self) -> &[ElementValue] {
        &self.values
    }

    /// JSON pointer of the element.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// A compiled resource ARN pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResourcePattern {
    /// `"*"`.
    Any,
    /// The six ARN components; variables only in the last (resource) part.
    Arn(Vec<Pattern>),
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceElement {
    pub(crate) negated: bool,
    pub(crate) pointer: String,
    pub(crate) values: Vec<ElementValue>,
    pub(crate) patterns: Vec<ResourcePattern>,
}

impl ResourceElement {
    /// True for `NotResource`.
    pub fn is_not_resource(&self) -> bool {
        self.negated
    }

    /// The listed resources.
    pub fn values(&self) -> &[ElementValue] {
        &self.values
    }

    /// JSON pointer of the element.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// Operator family of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperatorFamily {
    /// `String*`.
    String,
    /// `Numeric*`.
    Numeric,
    /// `Date*`.
    Date,
    /// `Bool`.
    Bool,
    /// `BinaryEquals`.
    Binary,
    /// `IpAddress`, `NotIpAddress`.
    IpAddress,
    /// `Arn*`.
    Arn,
    /// `Null`.
    Null,
}

macro_rules! operator_kinds {
    ($($name:ident => $family:ident, $negated:expr;)*) => {
        /// A condition operator without its `ForAllValues:`/`ForAnyValue:` prefix and
        /// `IfExists` suffix.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum OperatorKind {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name,
            )*
        }

        impl OperatorKind {
            const ALL: &'static [OperatorKind] = &[$(OperatorKind::$name),*];

            /// Canonical operator name.
            pub fn name(self) -> &'static str {
                match self { $(OperatorKind::$name => stringify!($name)),* }
            }

            /// Operator family.
            pub fn family(self) -> OperatorFamily {
                match self { $(OperatorKind::$name => OperatorFamily::$family),* }
            }

            /// True for negated operators (`StringNotEquals`, `NotIpAddress`, ...), which
            /// combine values with NOR and are true when the key is missing.
            pub fn is_negated(self) -> bool {
                match self { $(OperatorKind::$name => $negated),* }
            }
        }
    };
}

operator_kinds! {
    StringEquals => String, false;
    StringNotEquals => String, true;
    StringEqualsIgnoreCase => String, false;
    StringNotEqualsIgnoreCase => String, true;
    StringLike => String, false;
    StringNotLike => String, true;
    NumericEquals => Numeric, false;
    NumericNotEquals => Numeric, true;
    NumericLessThan => Numeric, false;
    NumericLessThanEquals => Numeric, false;
    NumericGreaterThan => Numeric, false;
    NumericGreaterThanEquals => Numeric, false;
    DateEquals => Date, false;
    DateNotEquals => Date, true;
    DateLessThan => Date, false;
    DateLessThanEquals => Date, false;
    DateGreaterThan => Date, false;
    DateGreaterThanEquals => Date, false;
    Bool => Bool, false;
    BinaryEquals => Binary, false;
    IpAddress => IpAddress, false;
    NotIpAddress => IpAddress, true;
    ArnEquals => Arn, false;
    ArnLike => Arn, false;
    ArnNotEquals => Arn, true;
    ArnNotLike => Arn, true;
    Null => Null, false;
}

impl OperatorKind {
    /// Looks an operator name up, ASCII case-insensitively.
    pub(crate) fn from_name(name: &str) -> Option<OperatorKind> {
        OperatorKind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// `ForAllValues:` / `ForAnyValue:` set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SetQualifier {
    /// `ForAllValues:`: every request value must match (true when the key is missing).
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match (false when missing).
    ForAnyValue,
}

/// A parsed condition operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConditionOperator {
    /// The base operator.
    pub kind: OperatorKind,
    /// Set qualifier prefix, if any.
    pub set_qualifier: Option<SetQualifier>,
    /// `IfExists` suffix.
    pub if_exists: bool,
}

impl ConditionOperator {
    /// Operator family.
    pub fn family(&self) -> OperatorFamily {
        self.kind.family()
    }

    /// True for negated operators.
    pub fn is_negated(&self) -> bool {
        self.kind.is_negated()
    }

    /// Parses an operator name (ASCII case-insensitive); `None` when unknown.
    pub fn parse(name: &str) -> Option<ConditionOperator> {
        let strip_prefix_ci = |s: &'_ str, prefix: &str| -> Option<usize> {
            s.get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .map(|_| prefix.len())
        };
        let (set_qualifier, rest) = if let Some(n) = strip_prefix_ci(name, "ForAllValues:") {
            (Some(SetQualifier::ForAllValues), &name[n..])
        } else if let Some(n) = strip_prefix_ci(name, "ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), &name[n..])
        } else {
            (None, name)
        };
        if let Some(kind) = OperatorKind::from_name(rest) {
            return Some(ConditionOperator {
                kind,
                set_qualifier,
                if_exists: false,
            });
        }
        let split = rest.len().checked_sub("IfExists".len())?;
        let (base, suffix) = (rest.get(..split)?, rest.get(split..)?);
        if !suffix.eq_ignore_ascii_case("IfExists") {
            return None;
        }
        OperatorKind::from_name(base).map(|kind| ConditionOperator {
            kind,
            set_qualifier,
            if_exists: true,
        })
    }
}

/// An owned exact decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecimalValue(String);

impl DecimalValue {
    pub(crate) fn new(text: &str) -> Option<DecimalValue> {
        Decimal::parse(text).map(|_| DecimalValue(text.to_string()))
    }

    pub(crate) fn get(&self) -> Option<Decimal<'_>> {
        Decimal::parse(&self.0)
    }
}

/// A compiled ARN condition value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnPattern {
    /// Whole-value glob, used when the pattern has fewer than six components.
    pub(crate) whole: Pattern,
    /// The six components, when present.
    pub(crate) parts: Option<Vec<Pattern>>,
}

/// Policy values compiled for their operator family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompiledValues {
    Strings(Vec<Pattern>),
    Numbers(Vec<DecimalValue>),
    Dates(Vec<Timestamp>),
    Bools(Vec<bool>),
    Binaries(Vec<Vec<u8>>),
    Cidrs(Vec<Cidr>),
    Arns(Vec<ArnPattern>),
    Null(Vec<bool>),
}

/// One condition: an operator applied to one key with a list of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub(crate) operator: ConditionOperator,
    pub(crate) operator_text: String,
    pub(crate) key: String,
    pub(crate) key_lower: String,
    pub(crate) pointer: String,
    pub(crate) values: Vec<ElementValue>,
    pub(crate) compiled: CompiledValues,
}

impl Condition {
    /// The parsed operator.
    pub fn operator(&self) -> ConditionOperator {
        self.operator
    }

    /// The operator name exactly as written.
    pub fn operator_text(&self) -> &str {
        &self.operator_text
    }

    /// The condition key as written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The policy values as written (normalised to strings).
    pub fn values(&self) -> &[ElementValue] {
        &self.values
    }

    /// JSON pointer of the key's value list (`/Statement/0/Condition/StringLike/gitlab.com:sub`).
    pub fn pointer(&self) -> &str {
        &self.pointer
    }
}

/// A place in a policy document's text, as IAM's policy simulator reports it
/// (`StartPosition`, `EndPosition`): 1-based line and column, columns counted in characters,
/// `\n`, `\r\n` and a lone `\r` each ending a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SourcePosition {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1: the characters before it on its line, plus one.
    pub column: usize,
}

/// A validated statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub(crate) index: usize,
    pub(crate) start: SourcePosition,
    pub(crate) end: SourcePosition,
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) pointer: String,
    pub(crate) principal: Option<PrincipalElement>,
    pub(crate) action: ActionElement,
    pub(crate) resource: Option<ResourceElement>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// Position in the document's statement list.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where the statement starts in the document's text, as IAM's simulator counts it: just
    /// after the `[` of the `Statement` array for the first statement, where the previous
    /// statement ended for the others, just after the `{` of a single `Statement` object.
    pub fn start(&self) -> SourcePosition {
        self.start
    }

    /// Where the statement ends in the document's text: just after its closing `}`.
    pub fn end(&self) -> SourcePosition {
        self.end
    }

    /// `Sid`, if present.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Effect`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// JSON pointer of the statement (`/Statement/0`, or `/Statement` for a single object).
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// `Principal` (trust policies only).
    pub fn principal(&self) -> Option<&PrincipalElement> {
        self.principal.as_ref()
    }

    /// `Action` / `NotAction`.
    pub fn action(&self) -> &ActionElement {
        &self.action
    }

    /// `Resource` / `NotResource` (absent in trust policies: the role itself).
    pub fn resource(&self) -> Option<&ResourceElement> {
        self.resource.as_ref()
    }

    /// Conditions, in document order (operator, then key).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_parsing() {
        let op = ConditionOperator::parse("ForAnyValue:StringLikeIfExists").expect("valid");
        assert_eq!(op.kind, OperatorKind::StringLike);
        assert_eq!(op.set_qualifier, Some(SetQualifier::ForAnyValue));
        assert!(op.if_exists);
        let lower = ConditionOperator::parse("stringequals").expect("case-insensitive");
        assert_eq!(lower.kind, OperatorKind::StringEquals);
        assert!(!lower.if_exists);
        assert!(ConditionOperator::parse("StringEqualsIfExistsIfExists").is_none());
        assert!(ConditionOperator::parse("IfExists").is_none());
        assert!(ConditionOperator::parse("StringLikeIgnoreCase").is_none());
        assert!(ConditionOperator::parse("ForAllValues:").is_none());
        assert!(ConditionOperator::parse("ÉÉÉÉÉIfExists").is_none());
        assert!(OperatorKind::NotIpAddress.is_negated());
        assert_eq!(OperatorKind::ArnLike.family(), OperatorFamily::Arn);
    }
}
