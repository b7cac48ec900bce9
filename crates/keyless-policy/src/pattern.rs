//! Pre-parsed policy strings: literal text, `*`/`?` wildcards and policy variables.
//!
//! Values are split into tokens once, at parse time. Characters produced by a policy
//! variable (including the `${*}`, `${?}` and `${$}` escapes) are always literal: they
//! never act as wildcards.

use crate::context::{Context, ContextValue};

/// One element of a pre-parsed policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Literal text.
    Literal(String),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
    /// `${key}` or `${key, 'default'}`; the key is stored lower-cased.
    Variable {
        key_lower: String,
        default: Option<String>,
    },
}

/// How [`Pattern::matches`] compares text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Byte-exact glob: the `String` operators (other than `IgnoreCase`), ARNs, resources.
    Sensitive,
    /// Glob with ASCII letters folded: action names.
    AsciiInsensitive,
    /// `StringEqualsIgnoreCase`: whole-text equality after Unicode simple lower-casing, `*`
    /// and `?` compared as themselves.
    Insensitive,
}

/// One element of a [`Pattern`], as [`Pattern::segments`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Literal text, with the `${*}`, `${?}` and `${$}` escapes already replaced.
    Literal(&'a str),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
    /// `${key}` or `${key, 'default'}`: resolved from the request at evaluation time.
    Variable,
}

/// A policy string value as the evaluator reads it: literal text, `*`/`?` wildcards and
/// policy variables, split once into [`Segment`]s.
///
/// ```
/// use keyless_policy::{Case, Context, Pattern, Segment};
///
/// let like = Pattern::new("repo:octo-org/*:ref:refs/heads/${*}", true, true);
/// assert_eq!(
///     like.segments().collect::<Vec<_>>(),
///     [
///         Segment::Literal("repo:octo-org/"),
///         Segment::AnyRun,
///         Segment::Literal(":ref:refs/heads/*"),
///     ]
/// );
/// let ctx = Context::new();
/// let own = "repo:octo-org/app:ref:refs/heads/*";
/// let other = "repo:octo-org-evil/app:ref:refs/heads/*";
/// assert_eq!(like.matches(own, &ctx, Case::Sensitive), Some(true));
/// assert_eq!(like.matches(other, &ctx, Case::Sensitive), Some(false));
///
/// let equals = Pattern::new("Octo-Org", true, false);
/// assert_eq!(equals.matches("octo-org", &ctx, Case::Insensitive), Some(true));
/// assert_eq!(equals.matches("octo-org", &ctx, Case::Sensitive), Some(false));
///
/// // A variable the request does not carry matches nothing.
/// let variable = Pattern::new("${aws:username}", true, true);
/// assert_eq!(variable.matches("alice", &ctx, Case::Sensitive), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

/// Parses the body of `${...}`; `None` when it is not a well-formed variable.
fn parse_variable(body: &str) -> Option<Token> {
    match body {
        "*" => return Some(Token::Literal("*".into())),
        "?" => return Some(Token::Literal("?".into())),
        "$" => return Some(Token::Literal("$".into())),
        _ => {}
    }
    let valid_key = |key: &str| {
        !key.is_empty()
            && !key
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '\'' | '{' | '}' | '$' | ','))
    };
    match body.split_once(',') {
        None => valid_key(body).then(|| Token::Variable {
            key_lower: body.to_lowercase(),
            default: None,
        }),
        Some((key, rest)) => {
            let rest = rest.trim_start_matches(' ');
            let default = rest.strip_prefix('\'')?.strip_suffix('\'')?;
            (valid_key(key) && !default.contains('\'')).then(|| Token::Variable {
                key_lower: key.to_lowercase(),
                default: Some(default.to_string()),
            })
        }
    }
}

/// The keys of the policy variables in `text` (`${aws:username}`, `${key, 'default'}`), as
/// written, in order; the `${*}`, `${?}` and `${$}` escapes are not variables.
pub(crate) fn variable_keys(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find("${")?;
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                rest = "";
                return None;
            };
            let body = &after[..end];
            if let Some(Token::Variable { .. }) = parse_variable(body) {
                rest = &after[end + 1..];
                return Some(body.split_once(',').map_or(body, |(key, _)| key));
            }
            rest = after;
        }
    })
}

impl Pattern {
    /// Tokenizes `text`. `variables`: recognise `${...}` (policy `Version` 2012-10-17);
    /// `wildcards`: `*` and `?` are wildcards (the `Like` and ARN operators; otherwise
    /// literal). A malformed `${` is literal text.
    pub fn new(text: &str, variables: bool, wildcards: bool) -> Pattern {
        let mut tokens: Vec<Token> = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
                && let Some(token) = parse_variable(&rest[2..end])
            {
                match token {
                    Token::Literal(text) => literal.push_str(&text),
                    other => {
                        if !literal.is_empty() {
                            tokens.push(Token::Literal(std::mem::take(&mut literal)));
                        }
                        tokens.push(other);
                    }
                }
                rest = &rest[end + 1..];
                continue;
            }
            if wildcards && (c == '*' || c == '?') {
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(if c == '*' {
                    Token::AnyRun
                } else {
                    Token::AnyChar
                });
            } else {
                literal.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Pattern { tokens }
    }

    /// The segments, in order (adjacent literal text is one segment).
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> {
        self.tokens.iter().map(|token| match token {
            Token::Literal(text) => Segment::Literal(text),
            Token::AnyRun => Segment::AnyRun,
            Token::AnyChar => Segment::AnyChar,
            Token::Variable { .. } => Segment::Variable,
        })
    }

    /// Splits at the first five literal `:` into the six ARN components, or `None` when
    /// the pattern has fewer than six components.
    pub(crate) fn split_arn(&self) -> Option<Vec<Pattern>> {
        let mut parts: Vec<Vec<Token>> = vec![Vec::new()];
        for token in &self.tokens {
            match token {
                Token::Literal(text) if parts.len() < 6 => {
                    let mut remaining = text.as_str();
                    while parts.len() < 6 {
                        let Some(idx) = remaining.find(':') else {
                            break;
                        };
                        if idx > 0
                            && let Some(last) = parts.last_mut()
                        {
                            last.push(Token::Literal(remaining[..idx].to_string()));
                        }
                        parts.push(Vec::new());
                        remaining = &remaining[idx + 1..];
                    }
                    if !remaining.is_empty()
                        && let Some(last) = parts.last_mut()
                    {
                        last.push(Token::Literal(remaining.to_string()));
                    }
                }
                other => {
                    if let Some(last) = parts.last_mut() {
                        last.push(other.clone());
                    }
                }
            }
        }
        (parts.len() == 6).then(|| parts.into_iter().map(|tokens| Pattern { tokens }).collect())
    }

    /// True when the pattern contains a policy variable.
    pub(crate) fn has_variables(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Variable { .. }))
    }

    /// Resolves one literal or variable token against the context.
    fn resolve<'a>(token: &'a Token, ctx: &'a Context) -> Option<&'a str> {
        match token {
            Token::Literal(text) => Some(text),
            Token::Variable { key_lower, default } => match ctx.get_lower(key_lower) {
                Some(ContextValue::Single(value)) => Some(value),
                Some(ContextValue::Multi(values)) if values.len() == 1 => {
                    values.first().map(String::as_str)
                }
                Some(ContextValue::Multi(values)) if values.is_empty() => default.as_deref(),
                Some(ContextValue::Multi(_)) => None,
                None => default.as_deref(),
            },
            Token::AnyRun | Token::AnyChar => None,
        }
    }

    /// True when every variable resolves in `ctx`.
    pub(crate) fn resolvable(&self, ctx: &Context) -> bool {
        self.tokens.iter().all(|t| match t {
            Token::Variable { .. } => Pattern::resolve(t, ctx).is_some(),
            _ => true,
        })
    }

    /// The text after variable substitution, wildcards shown as `*`/`?`; `None` when a
    /// variable does not resolve.
    pub(crate) fn render(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::AnyRun => out.push('*'),
                Token::AnyChar => out.push('?'),
                other => out.push_str(Pattern::resolve(other, ctx)?),
            }
        }
        Some(out)
    }

    /// Whether the whole `text` matches, compared as `case` says, with variables resolved
    /// from `ctx`. `None` when a variable does not resolve.
    pub fn matches(&self, text: &str, ctx: &Context, case: Case) -> Option<bool> {
        if case == Case::Insensitive {
            return self.equals_ignore_case(text, ctx);
        }
        if !self.resolvable(ctx) {
            return None;
        }
        Some(self.glob(text, ctx, case == Case::AsciiInsensitive))
    }

    fn glob(&self, text: &str, ctx: &Context, fold_ascii: bool) -> bool {
        let tokens = &self.tokens;
        let bytes = text.as_bytes();
        let (mut ti, mut pos) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(token) = tokens.get(ti) {
                match token {
                    Token::AnyRun => {
                        star = Some((ti + 1, pos));
                        ti += 1;
                        continue;
                    }
                    Token::AnyChar => {
                        if let Some(c) = text[pos..].chars().next() {
                            pos += c.len_utf8();
                            ti += 1;
                            continue;
                        }
                    }
                    other => {
                        if let Some(lit) = Pattern::resolve(other, ctx) {
                            let end = pos + lit.len();
                            let hit = bytes.get(pos..end).is_some_and(|window| {
                                if fold_ascii {
                                    window.eq_ignore_ascii_case(lit.as_bytes())
                                } else {
                                    window == lit.as_bytes()
                                }
                            });
                            if hit && text.is_char_boundary(end) {
                                pos = end;
                                ti += 1;
                                continue;
                            }
                        }
                    }
                }
            } else if pos == bytes.len() {
                return true;
            }
            match star {
                Some((star_ti, star_pos)) => match text[star_pos..].chars().next() {
                    Some(c) => {
                        let next = star_pos + c.len_utf8();
                        star = Some((star_ti, next));
                        ti = star_ti;
                        pos = next;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }

    /// Unicode case-insensitive equality (simple lower-casing, no normalisation), for
    /// `StringEqualsIgnoreCase`. `None` when a variable does not resolve.
    pub(crate) fn equals_ignore_case(&self, text: &str, ctx: &Context) -> Option<bool> {
        if !self.resolvable(ctx) {
            return None;
        }
        let policy_chars = self
            .tokens
            .iter()
            .filter_map(|t| match t {
                Token::AnyRun => Some("*"),
                Token::AnyChar => Some("?"),
                other => Pattern::resolve(other, ctx),
            })
            .flat_map(str::chars)
            .flat_map(char::to_lowercase);
        Some(policy_chars.eq(text.chars().flat_map(char::to_lowercase)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut ctx = Context::new();
        ctx.insert("aws:username", ContextValue::Single("alice".into()));
        ctx.insert("aws:star", ContextValue::Single("a*".into()));
        ctx.insert(
            "aws:multi",
            ContextValue::Multi(vec!["x".into(), "y".into()]),
        );
        ctx
    }

    #[test]
    fn globs_cross_separators() {
        let p = Pattern::new("project_path:group/*", false, true);
        let c = ctx();
        assert_eq!(
            p.matches("project_path:group/p:ref:main", &c, Case::Sensitive),
            Some(true)
        );
        assert_eq!(
            p.matches("project_path:group-evil/p", &c, Case::Sensitive),
            Some(false)
        );
        let q = Pattern::new("a?c*", false, true);
        assert_eq!(q.matches("aéc", &c, Case::Sensitive), Some(true));
        assert_eq!(q.matches("ac", &c, Case::Sensitive), Some(false));
        let r = Pattern::new("*a*b*a", false, true);
        assert_eq!(r.matches("xxaxxbxxbxa", &c, Case::Sensitive), Some(true));
        assert_eq!(r.matches("xxaxxbxxbx", &c, Case::Sensitive), Some(false));
    }

    #[test]
    fn variables_are_literal_and_escapes_work() {
        let c = ctx();
        let p = Pattern::new("home/${aws:UserName}/*", true, true);
        assert_eq!(p.matches("home/alice/x", &c, Case::Sensitive), Some(true));
        let star = Pattern::new("${aws:star}", true, true);
        assert_eq!(star.matches("a*", &c, Case::Sensitive), Some(true));
        assert_eq!(star.matches("ab", &c, Case::Sensitive), Some(false));
        let esc = Pattern::new("a${*}b", true, true);
        assert_eq!(esc.matches("a*b", &c, Case::Sensitive), Some(true));
        assert_eq!(esc.matches("axb", &c, Case::Sensitive), Some(false));
        let missing = Pattern::new("${aws:nope}", true, true);
        assert_eq!(missing.matches("", &c, Case::Sensitive), None);
        let multi = Pattern::new("${aws:multi}", true, true);
        assert_eq!(multi.matches("x", &c, Case::Sensitive), None);
        let default = Pattern::new("${aws:nope, 'dflt'}", true, true);
        assert_eq!(default.matches("dflt", &c, Case::Sensitive), Some(true));
        let literal = Pattern::new("${aws:username}", false, true);
        assert_eq!(
            literal.matches("${aws:username}", &c, Case::Sensitive),
            Some(true)
        );
        let malformed = Pattern::new("${bad key}", true, false);
        assert_eq!(
            malformed.matches("${bad key}", &c, Case::Sensitive),
            Some(true)
        );
    }

    #[test]
    fn ascii_insensitive_actions() {
        let p = Pattern::new("sts:AssumeRole*", false, true);
        assert_eq!(
            p.matches(
                "STS:assumerolewithwebidentity",
                &ctx(),
                Case::AsciiInsensitive
            ),
            Some(true)
        );
    }

    #[test]
    fn unicode_ignore_case() {
        let p = Pattern::new("ÉCOLE", true, false);
        assert_eq!(p.equals_ignore_case("école", &ctx()), Some(true));
        let s = Pattern::new("ß", true, false);
        assert_eq!(s.equals_ignore_case("ss", &ctx()), Some(false));
    }

    #[test]
    fn splits_arn_components_at_literal_colons() {
        let p = Pattern::new("arn:aws:s3:::b/${aws:username}:x", true, true);
        let parts = p.split_arn().expect("six parts");
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[5].render(&ctx()).as_deref(), Some("b/alice:x"));
        assert!(Pattern::new("arn:aws:s3", true, true).split_arn().is_none());
    }
}
