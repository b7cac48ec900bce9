//! Helpers shared by the fuzz targets: a plain-text HTTP request format for the SigV4 targets.

use http::{HeaderMap, HeaderName, HeaderValue};
use keyless_credentials::sigv4::RequestParts;

/// Request time of the botocore vectors in the seed corpora (2026-11-25T19:30:00Z).
pub const NOW: i64 = 1_795_635_000;
/// Secret of the AWS SigV4 test suite, used for the access key `AKIDEXAMPLE`.
pub const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// Secret of every other access key.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// The secret the server would look up for `access_key_id`.
pub fn secret_for(access_key_id: &str) -> &'static str {
    if access_key_id == "AKIDEXAMPLE" {
        SUITE_SECRET
    } else {
        SECRET
    }
}

/// An HTTP request read from fuzz input:
///
/// ```text
/// @1440938160 service          optional: the server time and the expected service
/// POST /path?query HTTP/1.1    method and target; the version is ignored
/// host: sts.amazonaws.com      header lines, `name: value` (any bytes in the value)
///                              an empty line
/// Action=GetCallerIdentity     the body, any bytes
/// ```
///
/// Lines end in `\n` or `\r\n`. Header lines that are not a valid name and value are skipped.
pub struct TextRequest<'a> {
    /// Server time, Unix seconds.
    pub now: i64,
    /// The service the credential scope must name.
    pub service: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Raw path.
    pub path: &'a str,
    /// Raw query, without `?`.
    pub query: &'a str,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: &'a [u8],
}

impl<'a> TextRequest<'a> {
    /// Reads a request; `None` when the request line is missing or not UTF-8.
    pub fn parse(data: &'a [u8]) -> Option<TextRequest<'a>> {
        let mut rest = data;
        let mut now = NOW;
        let mut service = "sts";
        if rest.first() == Some(&b'@') {
            let (line, tail) = next_line(rest);
            rest = tail;
            let line = std::str::from_utf8(&line[1..]).ok()?;
            let mut words = line.split(' ');
            now = words.next()?.parse().ok()?;
            if let Some(s) = words.next() {
                service = s;
            }
        }
        let (line, tail) = next_line(rest);
        rest = tail;
        let line = std::str::from_utf8(line).ok()?;
        let mut words = line.split(' ');
        let method = words.next()?;
        let target = words.next().unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));

        let mut headers = HeaderMap::new();
        loop {
            if rest.is_empty() {
                break;
            }
            let (line, tail) = next_line(rest);
            rest = tail;
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let value = line[colon + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&line[colon + 1..]);
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        Some(TextRequest {
            now,
            service,
            method,
            path,
            query,
            headers,
            body: rest,
        })
    }

    /// The request as SigV4 sees it.
    pub fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: &self.headers,
            body: self.body,
        }
    }
}

/// Splits off one line (without its `\n` or `\r\n`).
fn next_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

/// Parses `YYYYMMDDTHHMMSSZ` (`X-Amz-Date`) into Unix seconds, independently of the crate.
pub fn amz_date_to_unix(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    if hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3_600 + mm * 60 + ss)
}
