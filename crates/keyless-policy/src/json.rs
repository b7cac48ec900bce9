//! Strict JSON reader for policy documents.
//!
//! `serde_json::Value` silently keeps the last of two identical object keys; IAM policy
//! documents must not contain duplicate keys at any depth, so documents are read with this
//! small RFC 8259 parser that keeps member order, rejects duplicates and keeps the source
//! text of numbers (condition values are compared as their written text).

use crate::error::PolicyError;

/// Maximum nesting depth accepted; deeper documents are rejected instead of recursing.
const MAX_DEPTH: usize = 64;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A number, kept as its source text.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; keys are unique.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// JSON type name used in error details.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// Escapes one reference token for an RFC 6901 JSON pointer.
pub(crate) fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Joins a parent pointer and a child token.
pub(crate) fn child_pointer(parent: &str, token: &str) -> String {
    format!("{parent}/{}", escape_pointer_token(token))
}

/// Counts policy size the way IAM does: every character except whitespace outside strings.
pub fn policy_size(doc: &str) -> usize {
    let mut in_string = false;
    let mut escaped = false;
    let mut count = 0;
    for c in doc.chars() {
        if in_string {
            count += 1;
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            count += 1;
            if c == '"' {
                in_string = true;
            }
        }
    }
    count
}

/// Error produced by [`parse`]; converted into a [`PolicyError`] by the caller.
#[derive(Debug)]
pub(crate) enum JsonError {
    /// Not well-formed JSON: detail and byte offset.
    Invalid(String, usize),
    /// A duplicate object key; pointer to the duplicate member.
    DuplicateKey { pointer: String, key: String },
}

impl JsonError {
    /// Converts into a policy error with the given message for malformed JSON.
    pub(crate) fn into_policy_error(self, invalid_json_message: &str) -> PolicyError {
        match self {
            JsonError::Invalid(detail, offset) => PolicyError::malformed(invalid_json_message, "")
                .with_detail(format!("{detail} at byte {offset}")),
            JsonError::DuplicateKey { pointer, key } => {
                PolicyError::malformed(crate::error::SYNTAX_ERRORS, pointer)
                    .with_detail(format!("duplicate key \"{key}\""))
            }
        }
    }
}

/// Parses a complete JSON document, and returns with it where each statement of a policy
/// document lies: the byte offsets at which IAM's simulator starts and ends it (see
/// [`crate::SourcePosition`]). A top-level `Statement` object starts just after its `{`; the
/// first statement of a `Statement` array just after the `[`, each later one where the one
/// before ended; a statement ends just after its closing `}`.
pub(crate) fn parse_with_statement_spans(
    text: &str,
) -> Result<(Json, Vec<(usize, usize)>), JsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        path: Vec::new(),
        record_items: false,
        statement_spans: Vec::new(),
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.invalid("trailing characters after the document"));
    }
    Ok((value, parser.statement_spans))
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    path: Vec<String>,
    /// The next array read is the top-level `Statement`: record its items' spans.
    record_items: bool,
    statement_spans: Vec<(usize, usize)>,
}

impl Parser<'_> {
    fn invalid(&self, detail: &str) -> JsonError {
        JsonError::Invalid(detail.to_string(), self.pos)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect_literal(&mut self, literal: &str) -> Result<(), JsonError> {
        if self.text[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.invalid("unexpected token"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.expect_literal("true").map(|()| Json::Bool(true)),
            Some(b'f') => self.expect_literal("false").map(|()| Json::Bool(false)),
            Some(b'n') => self.expect_literal("null").map(|()| Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.invalid("unexpected character")),
            None => Err(self.invalid("unexpected end of input")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.invalid("expected an object key"));
            }
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                let mut pointer = String::new();
                for token in &self.path {
                    pointer = child_pointer(&pointer, token);
                }
                return Err(JsonError::DuplicateKey {
                    pointer: child_pointer(&pointer, &key),
                    key,
                });
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.invalid("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let mut object_start = None;
            if depth == 0 && key == "Statement" {
                match self.peek() {
                    Some(b'[') => self.record_items = true,
                    Some(b'{') => object_start = Some(self.pos + 1),
                    _ => {}
                }
            }
            self.path.push(key.clone());
            let value = self.value(depth + 1)?;
            self.path.pop();
            if let Some(start) = object_start {
                self.statement_spans.push((start, self.pos));
            }
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.invalid("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        let record = std::mem::take(&mut self.record_items);
        self.pos += 1;
        let mut item_start = self.pos;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            self.path.push(items.len().to_string());
            let value = self.value(depth + 1)?;
            self.path.pop();
            if record {
                self.statement_spans.push((item_start, self.pos));
                item_start = self.pos;
            }
            items.push(value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.invalid("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.invalid("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("invalid number"));
            }
            self.digits();
        }
        Ok(Json::Number(self.text[start..self.pos].to_string()))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.invalid("truncated \\u escape"))?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.invalid("invalid \\u escape"));
        }
        let code = u32::from_str_radix(hex, 16).map_err(|_| self.invalid("invalid \\u escape"))?;
        self.pos += 4;
        Ok(code)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self
                        .peek()
                        .ok_or_else(|| self.invalid("truncated escape"))?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                if !self.text[self.pos..].starts_with("\\u") {
                                    return Err(self.invalid("unpaired surrogate"));
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(self.invalid("unpaired surrogate"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.invalid("unpaired surrogate"))?;
                            out.push(c);
                        }
                        _ => return Err(self.invalid("invalid escape")),
                    }
                }
                Some(_) => return Err(self.invalid("control character in string")),
                None => return Err(self.invalid("unterminated string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Json, JsonError> {
        parse_with_statement_spans(text).map(|(value, _)| value)
    }

    #[test]
    fn parses_nested_values_in_order() {
        let json = parse(r#"{"b":[1,-2.5e3,true,null],"a":"x\u00e9\ud83d\ude00"}"#).unwrap();
        let Json::Object(members) = json else {
            panic!("object expected")
        };
        assert_eq!(members[0].0, "b");
        assert_eq!(
            members[0].1,
            Json::Array(vec![
                Json::Number("1".into()),
                Json::Number("-2.5e3".into()),
                Json::Bool(true),
                Json::Null
            ])
        );
        assert_eq!(members[1].1, Json::String("xé😀".into()));
    }

    #[test]
    fn rejects_duplicate_keys_with_pointer() {
        let err = parse(r#"{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}"#).unwrap_err();
        match err {
            JsonError::DuplicateKey { pointer, key } => {
                assert_eq!(pointer, "/Statement/0/Effect");
                assert_eq!(key, "Effect");
            }
            JsonError::Invalid(..) => panic!("duplicate expected"),
        }
    }

    #[test]
    fn rejects_malformed_documents() {
        for doc in [
            "",
            "{",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "\"\\ud800\"",
            "{}x",
            "\"\t\"",
            "tru",
            "-",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(parse(doc).is_err(), "{doc:?} must be rejected");
        }
    }

    #[test]
    fn rejects_excessive_nesting() {
        let doc = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(parse(&doc), Err(JsonError::Invalid(..))));
    }

    #[test]
    fn size_ignores_whitespace_outside_strings_only() {
        assert_eq!(policy_size("{ \"a b\" : 1 }\n"), 9);
        assert_eq!(policy_size(r#"{"a\"b":1}"#), 10);
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(child_pointer("/x", "a/b~c"), "/x/a~1b~0c");
    }
}
