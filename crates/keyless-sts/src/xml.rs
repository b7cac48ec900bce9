//! AWS Query XML responses: `<OpResponse><OpResult>…</OpResult><ResponseMetadata>…`, and the
//! `<ErrorResponse><Error>…</Error><RequestId>…` envelope.

use crate::error::Error;

/// The STS XML namespace.
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The IAM XML namespace.
pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// A small XML writer into a pre-sized string. Text and attribute values are escaped.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        XmlWriter {
            out: String::with_capacity(capacity),
        }
    }

    /// `<tag>`.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// `<tag>text</tag>`, with `text` escaped.
    pub fn element(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        escape_into(&mut self.out, text);
        self.close(tag)
    }

    /// `<tag>text</tag>` when `text` is present; nothing otherwise.
    pub fn optional(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.element(tag, text);
        }
        self
    }

    /// `<tag><member>a</member><member>b</member></tag>`.
    pub fn members<'a>(
        &mut self,
        tag: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.open(tag);
        for item in items {
            self.element("member", item);
        }
        self.close(tag)
    }

    /// The XML written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes `&`, `<` and `>` (quotes stay literal in text, as in AWS's responses) and drops
/// characters XML 1.0 cannot carry.
pub fn escape_into(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut written = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip 16 plain bytes at a time (the loop over a fixed-size chunk vectorizes); most
        // values (keys, tokens, ARNs) have nothing to escape at all.
        if let Some(chunk) = bytes.get(i..i + 16)
            && !chunk
                .iter()
                .fold(false, |any, &b| any | NEEDS_ESCAPE[usize::from(b)])
        {
            i += 16;
            continue;
        }
        let b = bytes[i];
        if !NEEDS_ESCAPE[usize::from(b)] {
            i += 1;
            continue;
        }
        let (replacement, len) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\r' => ("&#xD;", 1),
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters.
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => ("", 3),
            0xEF => {
                i += 1;
                continue;
            }
            // Other control characters cannot be carried by XML 1.0.
            _ => ("", 1),
        };
        // `i` is at an ASCII byte or at the lead byte of U+FFFE/U+FFFF: a char boundary.
        out.push_str(&text[written..i]);
        out.push_str(replacement);
        i += len;
        written = i;
    }
    out.push_str(&text[written..]);
}

/// The bytes [`escape_into`] stops at: markup, control characters but tab and newline, and the
/// lead byte of U+FFFE/U+FFFF.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != 0x09 && b != 0x0A;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xEF] = true;
    table
};

/// Renders a success response: `result` writes the members of `<{action}Result>`; `None` gives
/// an operation with no result members (only `ResponseMetadata`).
pub fn success(
    action: &str,
    namespace: &str,
    request_id: &str,
    capacity: usize,
    result: Option<&dyn Fn(&mut XmlWriter)>,
) -> String {
    let mut w = XmlWriter::with_capacity(capacity + 256);
    w.out.push('<');
    w.out.push_str(action);
    w.out.push_str("Response xmlns=\"");
    w.out.push_str(namespace);
    w.out.push_str("\">\n");
    if let Some(result) = result {
        w.out.push_str("  <");
        w.out.push_str(action);
        w.out.push_str("Result>\n");
        result(&mut w);
        w.out.push_str("\n  </");
        w.out.push_str(action);
        w.out.push_str("Result>\n");
    }
    w.out.push_str("  <ResponseMetadata>\n    <RequestId>");
    escape_into(&mut w.out, request_id);
    w.out.push_str("</RequestId>\n  </ResponseMetadata>\n</");
    w.out.push_str(action);
    w.out.push_str("Response>\n");
    w.finish()
}

/// Renders the error envelope. `RequestId` is a sibling of `Error`, and there is no `<Errors>`
/// wrapper: aws-sdk-rust reads `<Error>` at depth 1 only.
pub fn error(err: &Error, namespace: &str, request_id: &str) -> String {
    let message = err.message();
    let mut w = XmlWriter::with_capacity(256 + message.len());
    w.out.push_str("<ErrorResponse xmlns=\"");
    w.out.push_str(namespace);
    w.out.push_str("\">\n  <Error>\n    ");
    w.element("Type", err.fault_type());
    w.out.push_str("\n    ");
    w.element("Code", err.code());
    w.out.push_str("\n    ");
    w.element("Message", &message);
    w.out.push_str("\n  </Error>\n  ");
    w.element("RequestId", request_id);
    w.out.push_str("\n</ErrorResponse>\n");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"c'\u{1}d\n");
        assert_eq!(s, "a&lt;b&gt;&amp;\"c'd\n");
        let mut s = String::new();
        escape_into(&mut s, "é\r<ü\u{FFFE}x");
        assert_eq!(s, "é&#xD;&lt;üx");
        let mut s = String::new();
        escape_into(&mut s, "\u{FFFD}\u{FFFF}\u{F000}\t&");
        assert_eq!(s, "\u{FFFD}\u{F000}\t&amp;");
        let long = format!(
            "{}<{}\u{1}{}",
            "a".repeat(40),
            "b".repeat(17),
            "c".repeat(15)
        );
        let mut s = String::new();
        escape_into(&mut s, &long);
        assert_eq!(
            s,
            format!("{}&lt;{}{}", "a".repeat(40), "b".repeat(17), "c".repeat(15))
        );
    }

    #[test]
    fn result_comes_before_response_metadata() {
        let xml = success(
            "GetCallerIdentity",
            STS_NAMESPACE,
            "req-1",
            64,
            Some(&|w: &mut XmlWriter| {
                w.element("Account", "000000000000");
            }),
        );
        let result = xml.find("<GetCallerIdentityResult>").unwrap();
        let meta = xml.find("<ResponseMetadata>").unwrap();
        assert!(result < meta);
        assert!(xml.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        ));
        assert!(xml.contains("<Account>000000000000</Account>"));
        assert!(xml.contains("<RequestId>req-1</RequestId>"));
    }

    #[test]
    fn error_envelope_has_no_errors_wrapper() {
        let xml = error(
            &Error::Token(keyless_oidc::error::TokenError::invalid(
                "Incorrect token audience",
            )),
            STS_NAMESPACE,
            "r",
        );
        assert!(!xml.contains("<Errors>"));
        assert!(xml.contains("<Type>Sender</Type>"));
        assert!(xml.contains("<Code>InvalidIdentityToken</Code>"));
        assert!(xml.contains("</Error>\n  <RequestId>r</RequestId>\n</ErrorResponse>"));
    }
}
