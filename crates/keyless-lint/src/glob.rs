//! Condition values as the linter sees them: literal text, `*`/`?` wildcards and policy
//! variables, tokenized the way the evaluator reads them.
//!
//! The linter needs three things the evaluator does not expose: the literal prefix of a value
//! (the tenant-pinning test), a matcher to pick witness values, and an instantiation that
//! turns a pattern into a concrete claim value.

/// One element of a condition value.
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

/// A tokenized condition value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) tokens: Vec<Token>,
}

fn is_variable_body(body: &str) -> bool {
    let valid_key = |key: &str| {
        !key.is_empty()
            && !key
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '\'' | '{' | '}' | '$' | ','))
    };
    match body.split_once(',') {
        None => valid_key(body),
        Some((key, rest)) => {
            let rest = rest.trim_start_matches(' ');
            rest.strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .is_some_and(|default| valid_key(key) && !default.contains('\''))
        }
    }
}

impl Value {
    /// Tokenizes `text`. `variables`: `${...}` is recognised (Version 2012-10-17);
    /// `wildcards`: `*`/`?` are wildcards (Like operators).
    pub(crate) fn new(text: &str, variables: bool, wildcards: bool) -> Value {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let body = &rest[2..end];
                let escape = match body {
                    "*" => Some('*'),
                    "?" => Some('?'),
                    "$" => Some('$'),
                    _ => None,
                };
                if let Some(ch) = escape {
                    literal.push(ch);
                    rest = &rest[end + 1..];
                    continue;
                }
                if is_variable_body(body) {
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(Token::Variable);
                    rest = &rest[end + 1..];
                    continue;
                }
            }
            match c {
                '*' if wildcards => {
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(Token::AnyRun);
                }
                '?' if wildcards => {
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(Token::AnyChar);
                }
                other => literal.push(other),
            }
            rest = &rest[c.len_utf8()..];
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Value { tokens }
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

    /// Whether `candidate` matches (variables never match: they are not resolved here).
    pub(crate) fn matches(&self, candidate: &str, ignore_case: bool) -> bool {
        let chars: Vec<char> = candidate.chars().collect();
        matches_from(&self.tokens, &chars, ignore_case)
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

fn literal_eq(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
}

fn matches_from(tokens: &[Token], input: &[char], ignore_case: bool) -> bool {
    // Iterative glob with single-star backtracking over a token list.
    let mut ti = 0usize;
    let mut ii = 0usize;
    let mut star: Option<(usize, usize)> = None;
    // Literal tokens are consumed char by char, so track an offset inside a literal.
    let mut lo = 0usize;
    loop {
        if ti == tokens.len() {
            if ii == input.len() {
                return true;
            }
        } else {
            match &tokens[ti] {
                Token::Literal(s) => {
                    let lit: Vec<char> = s.chars().collect();
                    if lo < lit.len() {
                        if ii < input.len() && literal_eq(lit[lo], input[ii], ignore_case) {
                            lo += 1;
                            ii += 1;
                            if lo == lit.len() {
                                ti += 1;
                                lo = 0;
                            }
                            continue;
                        }
                    } else {
                        ti += 1;
                        lo = 0;
                        continue;
                    }
                }
                Token::AnyChar => {
                    if ii < input.len() {
                        ti += 1;
                        ii += 1;
                        continue;
                    }
                }
                Token::AnyRun => {
                    star = Some((ti, ii));
                    ti += 1;
                    continue;
                }
                Token::Variable => return false,
            }
        }
        match star {
            Some((st, si)) if si < input.len() => {
                star = Some((st, si + 1));
                ti = st + 1;
                ii = si + 1;
                lo = 0;
            }
            _ => return false,
        }
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
            false
        ));
        assert!(!v.matches("project_path:other/x", false));
        let q = Value::new("a?c*", true, true);
        assert!(q.matches("abc", false));
        assert!(q.matches("abcdef", false));
        assert!(!q.matches("ac", false));
        let mid = Value::new("repo:o/*:ref:refs/heads/main", true, true);
        assert!(mid.matches("repo:o/x:ref:refs/heads/main", false));
        assert!(!mid.matches("repo:o/x:ref:refs/heads/dev", false));
        assert!(Value::new("ABC", true, false).matches("abc", true));
        assert!(!Value::new("ABC", true, false).matches("abc", false));
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
