//! Parameter constraints from the AWS service models, reported in AWS's exact format:
//! `1 validation error detected: Value '…' at 'roleSessionName' failed to satisfy constraint: …`.

use crate::error::Error;
use crate::query::QueryParams;

/// Collects constraint violations for one request.
#[derive(Debug, Default)]
pub struct Violations {
    items: Vec<String>,
}

/// The longest value quoted back in a message; longer values are cut.
const MAX_QUOTED: usize = 256;

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Violations::default()
    }

    fn push(&mut self, value: Option<&str>, member: &str, constraint: &str) {
        let shown = match value {
            None => "null".to_owned(),
            Some(v) => {
                let cut: String = v.chars().take(MAX_QUOTED).collect();
                format!("'{cut}'")
            }
        };
        self.items.push(format!(
            "Value {shown} at '{member}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// A required member that is absent.
    pub fn required<'a>(&mut self, member: &str, value: Option<&'a str>) -> Option<&'a str> {
        if value.is_none() {
            self.push(None, member, "Member must not be null");
        }
        value
    }

    /// String length bounds, in characters.
    pub fn length(&mut self, member: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.push(
                Some(value),
                member,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        if n > max {
            self.push(
                Some(value),
                member,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// String length bounds for a sensitive member (a token): the value is never quoted back,
    /// as AWS leaves it out of the message.
    pub(crate) fn length_sensitive(&mut self, member: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        let bound = if n < min {
            Some(format!("greater than or equal to {min}"))
        } else if n > max {
            Some(format!("less than or equal to {max}"))
        } else {
            None
        };
        if let Some(bound) = bound {
            self.items.push(format!(
                "Value at '{member}' failed to satisfy constraint: Member must have length {bound}"
            ));
        }
    }

    /// A pattern, checked by `allowed` per character; `pattern` is the model's regular expression,
    /// quoted in the message.
    pub fn pattern(&mut self, member: &str, value: &str, pattern: &str, allowed: fn(char) -> bool) {
        if !value.chars().all(allowed) {
            self.push(
                Some(value),
                member,
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// A value outside the model's enumeration `values` (written `[A, B]`).
    pub fn enumeration(&mut self, member: &str, value: &str, values: &str) {
        self.push(
            Some(value),
            member,
            &format!("Member must satisfy enum value set: {values}"),
        );
    }

    /// An integer within bounds. Returns the value when it parses.
    pub fn integer(&mut self, member: &str, value: &str, min: i64, max: i64) -> Option<i64> {
        match value.trim().parse::<i64>() {
            Ok(n) => {
                if n < min {
                    self.push(
                        Some(value),
                        member,
                        &format!("Member must have value greater than or equal to {min}"),
                    );
                } else if n > max {
                    self.push(
                        Some(value),
                        member,
                        &format!("Member must have value less than or equal to {max}"),
                    );
                }
                Some(n)
            }
            Err(_) => {
                self.push(Some(value), member, "Member must be a number");
                None
            }
        }
    }

    /// A list with at most `max` members.
    pub fn list_length(&mut self, member: &str, len: usize, max: usize) {
        if len > max {
            self.items.push(format!(
                "Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            ));
        }
    }

    /// Whether nothing was violated.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(())`, or the `ValidationError` listing every violation in AWS's format.
    pub fn finish(self) -> Result<(), Error> {
        match self.items.len() {
            0 => Ok(()),
            1 => Err(Error::Validation(format!(
                "1 validation error detected: {}",
                self.items[0]
            ))),
            n => Err(Error::Validation(format!(
                "{n} validation errors detected: {}",
                self.items.join("; ")
            ))),
        }
    }
}

/// Reads and checks `RoleArn` and `RoleSessionName`, common to every assume-role operation.
pub(crate) fn role_and_session<'q>(
    q: &'q QueryParams,
    v: &mut Violations,
) -> (Option<&'q str>, Option<&'q str>) {
    let role_arn = v.required("roleArn", q.get("RoleArn"));
    if let Some(arn) = role_arn {
        v.pattern("roleArn", arn, ARN_PATTERN, is_arn_char);
        v.length("roleArn", arn, 20, 2048);
    }
    let session = v.required("roleSessionName", q.get("RoleSessionName"));
    if let Some(s) = session {
        v.pattern("roleSessionName", s, NAME_PATTERN, is_name_char);
        v.length("roleSessionName", s, 2, 64);
    }
    (role_arn, session)
}

/// `[\w+=,.@-]`: role and session names.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// The pattern text for [`is_name_char`].
pub(crate) const NAME_PATTERN: &str = r"[\w+=,.@-]*";

/// `arnType`: `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`.
pub fn is_arn_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The pattern text for [`is_arn_char`].
pub const ARN_PATTERN: &str =
    r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+";

/// Policy documents: `[\u0009\u000A\u000D\u0020-\u00FF]+`.
pub fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}')
}

/// The pattern text for [`is_policy_char`].
pub const POLICY_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u00FF]+";

/// The `Tags.member.N.Key`/`Value` pairs of an STS call (`AssumeRole`, `GetWebIdentityToken`),
/// each checked against the service model's pattern and length, at most 50.
pub(crate) fn session_tags(q: &QueryParams, v: &mut Violations) -> Vec<(String, String)> {
    let tags: Vec<(String, String)> = q
        .pairs_list("Tags", "Key", "Value")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (key, value) in &tags {
        v.pattern(
            "tags.member.key",
            key,
            r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+",
            is_tag_char,
        );
        v.length("tags.member.key", key, 1, 128);
        v.pattern(
            "tags.member.value",
            value,
            r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*",
            is_tag_char,
        );
        v.length("tags.member.value", value, 0, 256);
    }
    v.list_length("tags", tags.len(), 50);
    tags
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c.is_whitespace()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_one_violation_like_aws() {
        let mut v = Violations::new();
        v.pattern(
            "roleSessionName",
            "PowerUser/hjacobs",
            NAME_PATTERN,
            is_name_char,
        );
        assert_eq!(
            v.finish().unwrap_err().message(),
            r"1 validation error detected: Value 'PowerUser/hjacobs' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*"
        );
    }

    #[test]
    fn formats_several_violations_joined() {
        let mut v = Violations::new();
        v.integer("durationSeconds", "600", 900, 43200);
        v.length("roleSessionName", "a", 2, 64);
        let err = v.finish().unwrap_err();
        assert_eq!(err.code(), "ValidationError");
        assert_eq!(
            err.message(),
            "2 validation errors detected: Value '600' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900; Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"
        );
    }

    #[test]
    fn never_quotes_sensitive_values() {
        let mut v = Violations::new();
        v.length_sensitive("webIdentityToken", &"x".repeat(20001), 4, 20000);
        let message = v.finish().unwrap_err().message().into_owned();
        assert_eq!(
            message,
            "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000"
        );
    }

    #[test]
    fn reports_missing_members_as_null() {
        let mut v = Violations::new();
        assert!(v.required("roleArn", None).is_none());
        assert_eq!(
            v.finish().unwrap_err().message(),
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn character_classes() {
        assert!("dependabot".chars().all(is_name_char));
        assert!(!"dependabot[bot]".chars().all(is_name_char));
        assert!("arn:aws:iam::1:role/x".chars().all(is_arn_char));
        assert!(!"\u{1}".chars().all(is_arn_char));
        assert!(!"\u{100}".chars().all(is_policy_char));
    }
}
