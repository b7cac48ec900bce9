//! Source positions: where a JSON pointer's target sits in the document text.

use serde::Serialize;

/// A 1-based line and column (columns count Unicode code points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in Unicode code points.
    pub column: usize,
}

/// The position of a byte offset (clamped to the text).
pub(crate) fn position_of_offset(doc: &str, offset: usize) -> Position {
    let mut line = 1;
    let mut column = 1;
    for (i, c) in doc.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Position { line, column }
}

/// The position of the target of `pointer`: the member name for object members, the value
/// for array elements and the root. `None` when the pointer does not resolve.
pub(crate) fn position(doc: &str, pointer: &str) -> Option<Position> {
    let tokens = pointer_tokens(pointer)?;
    let offset = find(doc.as_bytes(), 0, &tokens)?;
    Some(position_of_offset(doc, offset))
}

fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

fn skip_ws(s: &[u8], mut pos: usize) -> usize {
    while pos < s.len() && matches!(s[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

/// Parses a string literal at `pos` (which must be `"`); returns the decoded text and the
/// offset after the closing quote.
fn string_at(s: &[u8], pos: usize) -> Option<(String, usize)> {
    if s.get(pos) != Some(&b'"') {
        return None;
    }
    let mut out: Vec<u16> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut i = pos + 1;
    let flush = |bytes: &mut Vec<u8>, out: &mut Vec<u16>| {
        if !bytes.is_empty() {
            out.extend(String::from_utf8_lossy(bytes).encode_utf16());
            bytes.clear();
        }
    };
    while i < s.len() {
        match s[i] {
            b'"' => {
                flush(&mut bytes, &mut out);
                return Some((String::from_utf16_lossy(&out), i + 1));
            }
            b'\\' => {
                flush(&mut bytes, &mut out);
                let escape = *s.get(i + 1)?;
                i += 2;
                match escape {
                    b'"' => out.push(u16::from(b'"')),
                    b'\\' => out.push(u16::from(b'\\')),
                    b'/' => out.push(u16::from(b'/')),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(u16::from(b'\n')),
                    b'r' => out.push(u16::from(b'\r')),
                    b't' => out.push(u16::from(b'\t')),
                    b'u' => {
                        let hex = std::str::from_utf8(s.get(i..i + 4)?).ok()?;
                        out.push(u16::from_str_radix(hex, 16).ok()?);
                        i += 4;
                    }
                    _ => return None,
                }
            }
            b => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    None
}

/// Offset just after the value starting at `pos`.
fn skip_value(s: &[u8], pos: usize) -> Option<usize> {
    let pos = skip_ws(s, pos);
    match s.get(pos)? {
        b'"' => string_at(s, pos).map(|(_, end)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = pos;
            while i < s.len() {
                match s[i] {
                    b'"' => {
                        i = string_at(s, i)?.1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = pos;
            while i < s.len() && !matches!(s[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            Some(i)
        }
    }
}

fn find(s: &[u8], pos: usize, tokens: &[String]) -> Option<usize> {
    let pos = skip_ws(s, pos);
    let Some((token, rest)) = tokens.split_first() else {
        return Some(pos);
    };
    match s.get(pos)? {
        b'{' => {
            let mut i = skip_ws(s, pos + 1);
            while s.get(i)? != &b'}' {
                let key_offset = i;
                let (key, after_key) = string_at(s, i)?;
                i = skip_ws(s, after_key);
                if s.get(i)? != &b':' {
                    return None;
                }
                let value_pos = skip_ws(s, i + 1);
                if key == *token {
                    return if rest.is_empty() {
                        Some(key_offset)
                    } else {
                        find(s, value_pos, rest)
                    };
                }
                i = skip_ws(s, skip_value(s, value_pos)?);
                if s.get(i)? == &b',' {
                    i = skip_ws(s, i + 1);
                }
            }
            None
        }
        b'[' => {
            let index: usize = token.parse().ok()?;
            let mut i = skip_ws(s, pos + 1);
            let mut n = 0usize;
            while s.get(i)? != &b']' {
                if n == index {
                    return find(s, i, rest);
                }
                i = skip_ws(s, skip_value(s, i)?);
                if s.get(i)? == &b',' {
                    i = skip_ws(s, i + 1);
                }
                n += 1;
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "{\n  \"Statement\": [\n    {\"Condition\": {\"StringLike\": {\"a~b/c\": [\"x\", \"y\"]}}}\n  ]\n}";

    #[test]
    fn locates_members_and_elements() {
        assert_eq!(position(DOC, ""), Some(Position { line: 1, column: 1 }));
        assert_eq!(
            position(DOC, "/Statement"),
            Some(Position { line: 2, column: 3 })
        );
        assert_eq!(
            position(DOC, "/Statement/0/Condition/StringLike/a~0b~1c"),
            Some(Position {
                line: 3,
                column: 35
            })
        );
        assert_eq!(
            position(DOC, "/Statement/0/Condition/StringLike/a~0b~1c/1"),
            Some(Position {
                line: 3,
                column: 50
            })
        );
        assert_eq!(position(DOC, "/Statement/1"), None);
        assert_eq!(position(DOC, "/Nope"), None);
        assert_eq!(position("{\"a\": [1, 2", "/a/5"), None);
    }
}
