//! One audit event: a CloudTrail-shaped JSON record, written as it is built, with every text
//! taken from untrusted input bounded.

use serde::{Serialize, Serializer};

/// The most characters of an event name (an `Action` is the caller's to choose).
pub const MAX_EVENT_NAME: usize = 64;
/// The most characters of a message or reason recorded.
pub const MAX_MESSAGE: usize = 2048;
/// The most characters of a `User-Agent` recorded.
pub const MAX_USER_AGENT: usize = 512;
/// The most characters of a token claim recorded (`iss`, `sub`, `aud`, `jti`, `kid`).
pub const MAX_CLAIM: usize = 512;
/// The most audiences of a token recorded.
pub const MAX_AUDIENCES: usize = 10;

/// A text from untrusted input, bounded for the audit log: the text itself when it has at most
/// `max` characters, else its first `max` characters followed by a marker with the original
/// length, e.g. `AAAA…[truncated: 250000 bytes]`. It stays a JSON string either way.
///
/// ```
/// use keyless_node::audit::Bounded;
/// assert_eq!(serde_json::to_string(&Bounded::new("short", 8)).unwrap(), r#""short""#);
/// assert_eq!(
///     serde_json::to_string(&Bounded::new("abcdefghij", 4)).unwrap(),
///     r#""abcd…[truncated: 10 bytes]""#
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Bounded<'a> {
    text: &'a str,
    max: usize,
}

impl<'a> Bounded<'a> {
    /// `text`, bounded to `max` characters.
    pub fn new(text: &'a str, max: usize) -> Bounded<'a> {
        Bounded { text, max }
    }

    /// Whether the text is cut.
    pub fn is_cut(&self) -> bool {
        self.cut_at().is_some()
    }

    /// The byte index the text is cut at, if it is longer than `max` characters.
    fn cut_at(&self) -> Option<usize> {
        if self.text.len() <= self.max {
            return None;
        }
        self.text.char_indices().nth(self.max).map(|(i, _)| i)
    }
}

impl Serialize for Bounded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.cut_at() {
            None => serializer.serialize_str(self.text),
            Some(_) => serializer.collect_str(self),
        }
    }
}

impl std::fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cut_at() {
            None => f.write_str(self.text),
            Some(i) => write!(
                f,
                "{}…[truncated: {} bytes]",
                &self.text[..i],
                self.text.len()
            ),
        }
    }
}

/// An optional untrusted text, bounded.
pub fn bounded_opt(text: Option<&str>, max: usize) -> Option<Bounded<'_>> {
    text.map(|t| Bounded::new(t, max))
}

/// An audit event under construction, written as JSON as it is built.
///
/// Each top-level field and each field of `additionalEventData` may be set once.
pub struct Event {
    /// The record so far: `{` and the members set, without the closing brace.
    json: Vec<u8>,
    /// The members of `additionalEventData` so far, without braces.
    additional: Vec<u8>,
    #[cfg(debug_assertions)]
    keys: Vec<&'static str>,
}

impl Event {
    /// A new event for `event_name` (bounded to [`MAX_EVENT_NAME`] characters) from
    /// `event_source` (`sts.amazonaws.com`, …).
    pub fn new(event_source: &str, event_name: &str, request_id: &str, account: &str) -> Event {
        let mut event = Event {
            json: Vec::with_capacity(1536),
            additional: Vec::new(),
            #[cfg(debug_assertions)]
            keys: Vec::new(),
        };
        event.json.extend_from_slice(br#"{"eventVersion":"1.08""#);
        event
            .set(
                "eventTime",
                &keyless_sts::time::iso8601(crate::clock::unix_now()),
            )
            .set("eventSource", event_source)
            .set("eventName", &Bounded::new(event_name, MAX_EVENT_NAME))
            .set("eventType", "AwsApiCall")
            .set("requestID", request_id)
            .set(
                "eventID",
                uuid::Uuid::new_v4()
                    .hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            )
            .set("recipientAccountId", account);
        event
    }

    /// Sets a top-level field.
    pub fn set<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> &mut Self {
        self.check_once(key);
        self.json.push(b',');
        write_member(&mut self.json, key, value);
        self
    }

    /// Sets a field of `additionalEventData`.
    pub fn additional<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> &mut Self {
        self.check_once(key);
        if !self.additional.is_empty() {
            self.additional.push(b',');
        }
        write_member(&mut self.additional, key, value);
        self
    }

    /// Records a failure: its code and its message, bounded to [`MAX_MESSAGE`] characters.
    pub fn error(&mut self, code: &str, message: &str) -> &mut Self {
        self.set("errorCode", code)
            .set("errorMessage", &Bounded::new(message, MAX_MESSAGE))
    }

    /// The finished record: one line of JSON.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.additional.is_empty() {
            self.json.extend_from_slice(br#","additionalEventData":{"#);
            self.json.extend_from_slice(&self.additional);
            self.json.push(b'}');
        }
        self.json.push(b'}');
        self.json
    }

    #[cfg(debug_assertions)]
    fn check_once(&mut self, key: &'static str) {
        debug_assert!(!self.keys.contains(&key), "audit field {key} set twice");
        self.keys.push(key);
    }

    #[cfg(not(debug_assertions))]
    fn check_once(&mut self, _key: &'static str) {}
}

/// Appends `"key":value`. Serializing into memory fails only for a map with non-string keys,
/// which no audit field has; such a value is recorded as `null` rather than corrupting the line.
fn write_member<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    let value_start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(value_start);
        out.extend_from_slice(b"null");
    }
}

/// The parts of a decoded web identity token an audit record may carry: its header, `iss`,
/// `sub`, `aud` and `jti`, each bounded (the token is not verified yet when it is recorded).
#[derive(Serialize)]
pub struct TokenSummary<'a> {
    header: HeaderSummary<'a>,
    iss: Bounded<'a>,
    sub: Option<Bounded<'a>>,
    aud: Vec<Bounded<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audiences: Option<usize>,
    jti: Option<Bounded<'a>>,
}

/// A token header as an audit record shows it.
#[derive(Serialize)]
struct HeaderSummary<'a> {
    alg: &'static str,
    kid: Option<Bounded<'a>>,
    typ: Option<Bounded<'a>>,
}

/// How an audit record shows a web identity token.
#[derive(Serialize)]
#[serde(untagged)]
pub enum TokenRecord<'a> {
    /// A token decoded by the exchange, summarized in place.
    Decoded(TokenSummary<'a>),
    /// A token the exchange did not get to decode (a failure path), summarized on its own.
    Summarized(serde_json::Value),
}

/// [`TokenRecord`] of a token not decoded yet (a failure path): its [`TokenSummary`], or why
/// it does not decode. The token itself is never recorded.
pub fn token_record(token: &str) -> TokenRecord<'static> {
    TokenRecord::Summarized(match keyless_oidc::jwt::decode(token) {
        Ok(jwt) => serde_json::to_value(jwt_summary(&jwt)).unwrap_or_default(),
        Err(e) => serde_json::json!({ "undecodable": e.message, "length": token.len() }),
    })
}

/// [`TokenSummary`] of a decoded token.
pub fn jwt_summary<'a>(jwt: &'a keyless_oidc::jwt::UnverifiedJwt<'_>) -> TokenSummary<'a> {
    let claims = &jwt.claims;
    TokenSummary {
        header: HeaderSummary {
            alg: jwt.header.alg.as_str(),
            kid: bounded_opt(jwt.header.kid.as_deref(), MAX_CLAIM),
            typ: bounded_opt(jwt.header.typ.as_deref(), MAX_CLAIM),
        },
        iss: Bounded::new(&claims.iss, MAX_CLAIM),
        sub: bounded_opt(claims.sub.as_deref(), MAX_CLAIM),
        aud: claims
            .aud
            .iter()
            .take(MAX_AUDIENCES)
            .map(|a| Bounded::new(a, MAX_CLAIM))
            .collect(),
        audiences: (claims.aud.len() > MAX_AUDIENCES).then_some(claims.aud.len()),
        jti: bounded_opt(claims.jti.as_deref(), MAX_CLAIM),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_line_of_json_with_additional_data_last() {
        let mut event = Event::new("sts.amazonaws.com", "GetCallerIdentity", "r-1", "123");
        event
            .set("userAgent", &Some("aws-cli/\"2\"\n"))
            .additional("decision", "Deny")
            .additional("statement", &None::<&str>)
            .error("AccessDenied", "no");
        let line = event.finish();
        assert!(!line.contains(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["eventName"], "GetCallerIdentity");
        assert_eq!(value["requestID"], "r-1");
        assert_eq!(value["userAgent"], "aws-cli/\"2\"\n");
        assert_eq!(value["errorCode"], "AccessDenied");
        assert_eq!(value["additionalEventData"]["decision"], "Deny");
        assert!(value["additionalEventData"]["statement"].is_null());
        assert_eq!(value["eventID"].as_str().map(str::len), Some(36));
    }

    #[test]
    fn untrusted_names_and_messages_are_bounded() {
        let huge = "A".repeat(250_000);
        let mut event = Event::new("sts.amazonaws.com", &huge, "r", "1");
        event.error("InvalidAction", &huge);
        let line = event.finish();
        assert!(line.len() < 3 * 1024, "{} bytes", line.len());
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let name = value["eventName"].as_str().unwrap();
        assert!(name.starts_with(&"A".repeat(MAX_EVENT_NAME)));
        assert!(name.ends_with("…[truncated: 250000 bytes]"), "{name}");
        // Cut on a character boundary.
        let cut = serde_json::to_string(&Bounded::new("ééé", 2)).unwrap();
        assert_eq!(cut, r#""éé…[truncated: 6 bytes]""#);
    }

    #[test]
    fn token_records_never_carry_the_signature_or_an_undecodable_token() {
        let record = token_record("eyJhbGciOiJub25lIn0.e30.c2ln");
        let summary = serde_json::to_string(&record).unwrap();
        assert!(!summary.contains("c2ln"));
        let junk = "x".repeat(20_000);
        let summary = serde_json::to_string(&token_record(&junk)).unwrap();
        assert!(!summary.contains("xxxx"), "{summary}");
        assert!(summary.contains("\"length\":20000"));
    }
}
