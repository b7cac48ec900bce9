//! Times as AWS writes them.

/// `YYYY-MM-DDTHH:MM:SSZ`, the form of every AWS `Expiration` and of `aws:CurrentTime`.
///
/// ```
/// assert_eq!(keyless_sts::time::iso8601(1_795_634_057), "2026-11-25T19:14:17Z");
/// ```
pub fn iso8601(unix: i64) -> String {
    let Ok(t) = ::time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "1970-01-01T00:00:00Z".to_owned();
    };
    let mut out = String::with_capacity(20);
    // Years before 0 or after 9999 cannot come from a valid Unix time within `time`'s range
    // that AWS would show; they are written with as many digits as they need.
    match u32::try_from(t.year()) {
        Ok(year) if year <= 9999 => push_digits(&mut out, year, 4),
        _ => out.push_str(&format!("{:04}", t.year())),
    }
    for (separator, value) in [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        out.push(separator);
        push_digits(&mut out, u32::from(value), 2);
    }
    out.push('Z');
    out
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_has_no_fraction_and_ends_in_z() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_634_057), "2026-11-25T19:14:17Z");
        assert_eq!(iso8601(i64::MAX), "1970-01-01T00:00:00Z");
    }
}
