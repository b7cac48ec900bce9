//! Typed condition values: decimals, dates, CIDR blocks, booleans and base64 binaries.

use std::cmp::Ordering;
use std::net::IpAddr;

/// An exact decimal number, borrowed from its text (`[+-]?digits[.digits]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal<'a> {
    negative: bool,
    /// Integer digits without leading zeros.
    int: &'a str,
    /// Fraction digits without trailing zeros.
    frac: &'a str,
}

impl<'a> Decimal<'a> {
    /// Parses an integer or decimal; exponents are not accepted.
    pub(crate) fn parse(text: &'a str) -> Option<Decimal<'a>> {
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (unsigned.contains('.') && frac.is_empty())
        {
            return None;
        }
        Some(Decimal {
            negative,
            int: int.trim_start_matches('0'),
            frac: frac.trim_end_matches('0'),
        })
    }

    fn is_zero(&self) -> bool {
        self.int.is_empty() && self.frac.is_empty()
    }

    fn cmp_magnitude(&self, other: &Decimal<'_>) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(other.int))
            .then_with(|| self.frac.cmp(other.frac))
    }

    /// Exact numeric comparison.
    pub(crate) fn compare(&self, other: &Decimal<'_>) -> Ordering {
        let self_negative = self.negative && !self.is_zero();
        let other_negative = other.negative && !other.is_zero();
        match (self_negative, other_negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

/// A point in time as nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub(crate) i128);

fn parse_fixed(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Timestamp {
    /// Parses epoch seconds (`0..=i64::MAX`: a value made only of digits, as IAM reads it)
    /// or a W3C ISO 8601 profile: `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.f]]TZD`,
    /// where TZD is `Z`, `+hh:mm`, `-hh:mm`, `+hh` or absent (UTC).
    pub(crate) fn parse(text: &str) -> Option<Timestamp> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let seconds: i64 = text.parse().ok()?;
            return Some(Timestamp(i128::from(seconds) * 1_000_000_000));
        }
        let (date, time) = match text.split_once(['T', 't']) {
            Some((date, time)) => (date, Some(time)),
            None => (text, None),
        };
        let mut parts = date.split('-');
        let year = parse_fixed(parts.next()?, 4)?;
        let month = match parts.next() {
            Some(m) => parse_fixed(m, 2)?,
            None => 1,
        };
        let day = match parts.next() {
            Some(d) => parse_fixed(d, 2)?,
            None => 1,
        };
        if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let mut nanos: i128 =
            i128::from(days_from_civil(year, month, day)) * 86_400 * 1_000_000_000;
        if let Some(time) = time {
            let (clock, offset_seconds) = split_zone(time)?;
            let mut fields = clock.split(':');
            let hour = parse_fixed(fields.next()?, 2)?;
            let minute = parse_fixed(fields.next()?, 2)?;
            let (second, fraction) = match fields.next() {
                Some(sec) => {
                    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
                    let second = parse_fixed(whole, 2)?;
                    if sec.contains('.')
                        && (frac.is_empty()
                            || frac.len() > 9
                            || !frac.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return None;
                    }
                    let nanos = frac
                        .bytes()
                        .chain(std::iter::repeat(b'0'))
                        .take(9)
                        .fold(0i128, |acc, digit| {
                            acc * 10 + i128::from(digit.saturating_sub(b'0'))
                        });
                    (second, nanos)
                }
                None => (0, 0),
            };
            if fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            let seconds = hour * 3600 + minute * 60 + second - offset_seconds;
            nanos += i128::from(seconds) * 1_000_000_000 + fraction;
        }
        Some(Timestamp(nanos))
    }
}

/// Splits `hh:mm[:ss[.f]]TZD` into the clock part and the zone offset in seconds.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    if let Some(idx) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(idx);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = &zone[1..];
        let (hours, minutes) = match zone.split_once(':') {
            Some((h, m)) => (parse_fixed(h, 2)?, parse_fixed(m, 2)?),
            None => (parse_fixed(zone, 2)?, 0),
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        return Some((clock, sign * (hours * 3600 + minutes * 60)));
    }
    Some((time, 0))
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address (`/32` for IPv4, `/128` for IPv6).
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                if prefix.is_empty()
                    || prefix.len() > 3
                    || !prefix.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                (addr, Some(prefix.parse::<u8>().ok()?))
            }
            None => (text, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    /// True when `ip` lies inside the network. Addresses of the other IP family never
    /// match.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses a boolean condition value (`true`/`false`, ASCII case-insensitive).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Decodes standard base64 (RFC 4648 alphabet, padding optional).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    if trimmed.len() != text.len() && !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for byte in trimmed.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xFF) as u8);
        }
    }
    Some(out)
}

/// The type of a request value, as IAM's policy simulator types its context entries
/// (`ContextKeyType`, less the `List` of the multi-valued forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Any text.
    String,
    /// A decimal number.
    Numeric,
    /// `true` or `false`.
    Boolean,
    /// A W3C date-time or Unix seconds.
    Date,
    /// An IPv4 or IPv6 address.
    Ip,
    /// Base64.
    Binary,
}

impl ValueKind {
    /// Whether `text` is a value of this kind, read as the evaluator reads request values.
    pub fn accepts(self, text: &str) -> bool {
        match self {
            ValueKind::String => true,
            ValueKind::Numeric => Decimal::parse(text).is_some(),
            ValueKind::Boolean => parse_bool(text).is_some(),
            ValueKind::Date => Timestamp::parse(text).is_some(),
            ValueKind::Ip => text.parse::<std::net::IpAddr>().is_ok(),
            ValueKind::Binary => decode_base64(text).is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Decimal::parse(a)
            .expect("a")
            .compare(&Decimal::parse(b).expect("b"))
    }

    #[test]
    fn decimals_compare_exactly() {
        assert_eq!(cmp("10", "9"), Ordering::Greater);
        assert_eq!(cmp("0.50", ".5"), Ordering::Equal);
        assert_eq!(cmp("-0", "0"), Ordering::Equal);
        assert_eq!(cmp("-2", "-10"), Ordering::Greater);
        assert_eq!(cmp("1.05", "1.5"), Ordering::Less);
        assert_eq!(
            cmp(
                "123456789012345678901234567890",
                "123456789012345678901234567891"
            ),
            Ordering::Less
        );
        for bad in ["", "-", ".", "1e3", "1.2.3", "abc", "1."] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dates_parse_w3c_profiles_and_epoch() {
        let t = |s: &str| Timestamp::parse(s).map(|t| t.0 / 1_000_000_000);
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2020-01-01T00:00:00Z"), Some(1_577_836_800));
        assert_eq!(t("2020-01-01"), Some(1_577_836_800));
        assert_eq!(t("2020"), Some(2020));
        assert_eq!(t("2020-01"), Some(1_577_836_800));
        assert_eq!(t("2020-01-01T01:00+01:00"), Some(1_577_836_800));
        assert_eq!(t("2019-12-31T19:00:00-05:00"), Some(1_577_836_800));
        assert_eq!(t("1577836800"), Some(1_577_836_800));
        assert_eq!(
            Timestamp::parse("2020-01-01T00:00:00.5Z").map(|t| t.0 % 1_000_000_000),
            Some(500_000_000)
        );
        for bad in [
            "2020-13-01",
            "2020-01-32",
            "2020-01-01T24:00Z",
            "x",
            "2020-1-1",
            "1.5",
            "2020-01-01T00:00:00.Z",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn cidr_matching() {
        let contains = |cidr: &Cidr, addr: &str| addr.parse().ok().map(|ip| cidr.contains(ip));
        let net = Cidr::parse("203.0.113.0/24").expect("v4");
        assert_eq!(contains(&net, "203.0.113.77"), Some(true));
        assert_eq!(contains(&net, "203.0.114.1"), Some(false));
        assert_eq!(contains(&net, "2001:db8::1"), Some(false));
        assert_eq!(contains(&net, "junk"), None);
        let host = Cidr::parse("203.0.113.5").expect("bare");
        assert_eq!(contains(&host, "203.0.113.5"), Some(true));
        assert_eq!(contains(&host, "203.0.113.6"), Some(false));
        let v6 = Cidr::parse("2001:db8::/32").expect("v6");
        assert_eq!(contains(&v6, "2001:db8:ffff::1"), Some(true));
        assert_eq!(
            Cidr::parse("0.0.0.0/0").and_then(|c| contains(&c, "1.2.3.4")),
            Some(true)
        );
        for bad in ["1.2.3.4/33", "1.2.3/8", "::/129", "1.2.3.4/", "x/1"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn value_kinds_accept_what_the_evaluator_reads() {
        assert!(ValueKind::Numeric.accepts("-1.5") && !ValueKind::Numeric.accepts("one"));
        assert!(ValueKind::Boolean.accepts("true") && !ValueKind::Boolean.accepts("yes"));
        assert!(
            ValueKind::Date.accepts("2019-04-25T11:00:00Z")
                && ValueKind::Date.accepts("1556190000")
        );
        assert!(!ValueKind::Date.accepts("yesterday"));
        assert!(ValueKind::Ip.accepts("203.0.113.7") && ValueKind::Ip.accepts("2001:db8::1"));
        assert!(!ValueKind::Ip.accepts("203.0.113.0/24"));
        assert!(ValueKind::Binary.accepts("aGVsbG8=") && !ValueKind::Binary.accepts("%%"));
        assert!(ValueKind::String.accepts(""));
    }

    #[test]
    fn base64_decoding() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("").as_deref(), Some(&b""[..]));
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("aGV$").is_none());
    }
}
