//! AWS Query protocol requests: `Action=…&Version=…&…`, form-encoded in a POST body or in the
//! query string of a GET.

use std::borrow::Cow;

use crate::error::Error;

/// The most parameters one request may carry.
pub const MAX_PARAMETERS: usize = 512;

/// The decoded parameters of one Query request. Names and values borrow from the request
/// unless they had to be unescaped (`%XX`, `+`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> QueryParams<'a> {
    /// Decodes the query string and the form body of one request. A parameter may appear once:
    /// a repeated name, or one present in both the query string and the body, is rejected.
    /// Query-string parameters that belong to a presigned SigV4 signature (`X-Amz-*`) are kept,
    /// so that the caller can ignore them by name.
    pub fn parse(query: &'a str, body: &'a [u8]) -> Result<QueryParams<'a>, Error> {
        let body = std::str::from_utf8(body).map_err(|_| {
            Error::MalformedQueryString("The request body is not valid UTF-8.".to_owned())
        })?;
        let mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(8);
        for source in [query, body] {
            for item in source.split('&') {
                let (name, value) = item.split_once('=').unwrap_or((item, ""));
                if name.is_empty() {
                    continue;
                }
                let (name, value) = (unescape(name), unescape(value));
                if pairs.iter().any(|(n, _)| *n == name) {
                    return Err(Error::MalformedQueryString(format!(
                        "The parameter {name} appears more than once in the request."
                    )));
                }
                if pairs.len() == MAX_PARAMETERS {
                    return Err(Error::MalformedQueryString(format!(
                        "The request has more than {MAX_PARAMETERS} parameters."
                    )));
                }
                pairs.push((name, value));
            }
        }
        Ok(QueryParams { pairs })
    }

    /// The value of one parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// `Action`.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// `Version`.
    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    /// A list in the Query `member` convention: `{name}.member.1`, `{name}.member.2`, … with an
    /// optional `.{field}` suffix (e.g. `PolicyArns.member.1.arn`). Numbering starts at 1 and
    /// stops at the first gap, as AWS does.
    pub fn list(&self, name: &str, field: Option<&str>) -> Vec<&str> {
        let mut out = Vec::new();
        for index in 1.. {
            let key = match field {
                Some(field) => format!("{name}.member.{index}.{field}"),
                None => format!("{name}.member.{index}"),
            };
            match self.get(&key) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }

    /// A list of key/value structures, e.g. `Tags.member.N.Key` / `Tags.member.N.Value`.
    pub fn pairs_list(&self, name: &str, key_field: &str, value_field: &str) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for index in 1.. {
            let key = self.get(&format!("{name}.member.{index}.{key_field}"));
            let value = self.get(&format!("{name}.member.{index}.{value_field}"));
            match (key, value) {
                (None, None) => break,
                (k, v) => out.push((k.unwrap_or(""), v.unwrap_or(""))),
            }
        }
        out
    }

    /// Every parameter, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Whether any parameter starts with `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n.starts_with(prefix))
    }
}

/// Unescapes one name or value of `application/x-www-form-urlencoded` text (`+` is a space,
/// `%XX` a byte; a `%` not followed by two hex digits stays as it is), as the WHATWG URL
/// standard parses it. Borrows when there is nothing to unescape, which is the case for tokens,
/// ARNs and most values. Bytes that do not form UTF-8 after unescaping become U+FFFD.
fn unescape(raw: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'%', b'+', raw.as_bytes()).is_none() {
        return Cow::Borrowed(raw);
    }
    let spaced: Vec<u8> = raw
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode(&spaced).into();
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_body_and_query_borrowing_what_needs_no_unescaping() {
        let p = QueryParams::parse(
            "Action=GetCallerIdentity",
            b"Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&T=a+b",
        )
        .unwrap();
        assert_eq!(p.action(), Some("GetCallerIdentity"));
        assert_eq!(p.version(), Some("2011-06-15"));
        assert_eq!(p.get("RoleArn"), Some("arn:aws:iam::1:role/x"));
        assert_eq!(p.get("T"), Some("a b"));
        assert!(matches!(p.pairs[0].1, Cow::Borrowed(_)));
        assert!(matches!(p.pairs[2].1, Cow::Owned(_)));
    }

    #[test]
    fn unescapes_as_form_urlencoded_does() {
        let cases = [
            "a=b&c=d",
            "a+b=c+d&&=x&e&f=&%41%zz%4=%E2%82%AC%ff+",
            "Token=eyJ.eyJ.sig-_&RoleArn=arn%3aaws%3Aiam%3A%3A1%3Arole%2Fx",
            "=&&a%3Db=1=2",
        ];
        for case in cases {
            let ours: Vec<(String, String)> = QueryParams::parse("", case.as_bytes())
                .unwrap()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            let reference: Vec<(String, String)> = form_urlencoded::parse(case.as_bytes())
                .filter(|(n, _)| !n.is_empty())
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(ours, reference, "{case}");
        }
    }

    #[test]
    fn rejects_repeats_across_query_and_body() {
        let err = QueryParams::parse("Action=A", b"Action=B").unwrap_err();
        assert!(matches!(err, Error::MalformedQueryString(_)));
        assert!(QueryParams::parse("", b"A=1&A=2").is_err());
    }

    #[test]
    fn rejects_non_utf8_bodies() {
        assert!(QueryParams::parse("", &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn reads_member_lists_until_the_first_gap() {
        let p = QueryParams::parse(
            "",
            b"PolicyArns.member.1.arn=a&PolicyArns.member.2.arn=b&PolicyArns.member.4.arn=d",
        )
        .unwrap();
        assert_eq!(p.list("PolicyArns", Some("arn")), vec!["a", "b"]);
        let p = QueryParams::parse("", b"Tags.member.1.Key=k&Tags.member.1.Value=v").unwrap();
        assert_eq!(p.pairs_list("Tags", "Key", "Value"), vec![("k", "v")]);
    }

    #[test]
    fn bounds_the_parameter_count() {
        let body: String = (0..=MAX_PARAMETERS).map(|i| format!("P{i}=x&")).collect();
        assert!(QueryParams::parse("", body.as_bytes()).is_err());
    }
}
