//! Condition values as the linter reads them: keyless-policy's [`Pattern`] (the evaluator's
//! tokenizer and matcher), plus what only the linter asks of a value: its literal prefix (the
//! tenant-pinning test), where its first wildcard sits, and a concrete string it matches (the
//! attacker's claim value).

use keyless_policy::{Case, Context, Pattern, Segment};

/// One element of a condition value: a [`Segment`] of its [`Pattern`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Literal text (including `${*}`, `${?}`, `${$}` escapes).
    Literal(String),
    /// `*`.
    AnyRun,
    /// `?`.
    AnyChar,
    /// `${key}` or `${key, 'default'}`: resolved from the request at evaluation time.
    Variable,
}

/// A condition value, read as the evaluator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    pattern: Pattern,
    pub(crate) tokens: Vec<Token>,
}

impl Value {
    /// Reads `text`. `variables`: `${...}` is recognised (Version 2012-10-17);
    /// `wildcards`: `*`/`?` are wildcards (Like operators).
    pub(crate) fn new(text: &str, variables: bool, wildcards: bool) -> Value {
        let pattern = Pattern::new(text, variables, wildcards);
        let tokens = pattern
            .segments()
            .map(|segment| match segment {
                Segment::Literal(text) => Token::Literal(text.to_string()),
                Segment::AnyRun => Token::AnyRun,
                Segment::AnyChar => Token::AnyChar,
                Segment::Variable => Token::Variable,
            })
            .collect();
        Value { pattern, tokens }
    }

    /// True when the value has no wildcard and no variable: it matches one string.
    pub(crate) fn is_exact(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// The literal text before the first wildcard or variable.
    pub(crate) fn literal_prefix(&self) -> String {
        let mut prefix = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(s) => prefix.push_str(s),
                _ => break,
            }
        }
        prefix
    }

    /// Whether `candidate` matches, compared as `case` says (the evaluator's matcher; a
    /// variable resolves against an empty request, so only its default can match).
    pub(crate) fn matches(&self, candidate: &str, case: Case) -> bool {
        self.pattern.matches(candidate, &Context::new(), case) == Some(true)
    }

    /// A concrete string matching the value: the first wildcard becomes `first_fill`, later
    /// `*`/`?` become `x`. `None` when the value holds a variable.
    pub(crate) fn instantiate(&self, first_fill: &str) -> Option<String> {
        let mut out = String::new();
        let mut first = true;
        for token in &self.tokens {
            match token {
                Token::Literal(s) => out.push_str(s),
                Token::AnyRun | Token::AnyChar if first => {
                    first = false;
                    out.push_str(first_fill);
                }
                Token::AnyRun | Token::AnyChar => out.push('x'),
                Token::Variable => return None,
            }
        }
        Some(out)
    }

    /// The first wildcard token and whether it is the last token.
    pub(crate) fn first_wildcard(&self) -> Option<(usize, bool)> {
        self.tokens
            .iter()
            .position(|t| matches!(t, Token::AnyRun | Token::AnyChar | Token::Variable))
            .map(|i| (i, i + 1 == self.tokens.len()))
    }

    /// The literal text right after token `index`, if any.
    pub(crate) fn literal_after(&self, index: usize) -> Option<&str> {
        match self.tokens.get(index + 1) {
            Some(Token::Literal(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether the token at `index` is `?`.
    pub(crate) fn is_any_char(&self, index: usize) -> bool {
        matches!(self.tokens.get(index), Some(Token::AnyChar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_wildcards_and_variables() {
        let v = Value::new("repo:${aws:x}/a*b?${*}", true, true);
        assert_eq!(
            v.tokens,
            vec![
                Token::Literal("repo:".into()),
                Token::Variable,
                Token::Literal("/a".into()),
                Token::AnyRun,
                Token::Literal("b".into()),
                Token::AnyChar,
                Token::Literal("*".into()),
            ]
        );
        assert_eq!(v.literal_prefix(), "repo:");
        assert!(Value::new("a*b", true, false).is_exact());
        assert!(!Value::new("${x}", true, false).is_exact());
        assert_eq!(
            Value::new("${x}", false, true).tokens,
            vec![Token::Literal("${x}".into())]
        );
    }

    #[test]
    fn matching_crosses_delimiters() {
        let v = Value::new("project_path:mygroup*", true, true);
        assert!(v.matches(
            "project_path:mygroup-evil/x:ref_type:branch:ref:main",
            Case::Sensitive
        ));
        assert!(!v.matches("project_path:other/x", Case::Sensitive));
        let q = Value::new("a?c*", true, true);
        assert!(q.matches("abc", Case::Sensitive));
        assert!(q.matches("abcdef", Case::Sensitive));
        assert!(!q.matches("ac", Case::Sensitive));
        let mid = Value::new("repo:o/*:ref:refs/heads/main", true, true);
        assert!(mid.matches("repo:o/x:ref:refs/heads/main", Case::Sensitive));
        assert!(!mid.matches("repo:o/x:ref:refs/heads/dev", Case::Sensitive));
        assert!(Value::new("ABC", true, false).matches("abc", Case::Insensitive));
        assert!(!Value::new("ABC", true, false).matches("abc", Case::Sensitive));
    }

    #[test]
    fn instantiation_fills_the_first_wildcard() {
        let v = Value::new("repo:*/*:ref:refs/heads/main", true, true);
        assert_eq!(
            v.instantiate("attacker-org").as_deref(),
            Some("repo:attacker-org/x:ref:refs/heads/main")
        );
        assert_eq!(v.first_wildcard(), Some((1, false)));
        assert_eq!(v.literal_after(1), Some("/"));
        assert_eq!(Value::new("${a}", true, true).instantiate("x"), None);
    }
}
