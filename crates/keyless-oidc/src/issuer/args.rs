//! Parsing of command-line style arguments: claim overrides and token lifetimes.

use serde_json::Value;

use super::IssuerError;

/// Parses a claim override argument.
///
/// - `key=value` gives the string `value` (everything after the first `=`, may be empty).
/// - `key:=json` gives the JSON value `json`, for non-strings: `runner_id:=42`,
///   `ref_protected:=false`, `groups_direct:=["a","b"]`, `user_email:=null`.
///
/// The key is everything before the first `=` (without the `:` of `:=`) and must not be empty
/// or contain whitespace.
pub fn parse_claim_arg(arg: &str) -> Result<(String, Value), IssuerError> {
    let invalid = |reason: &str| IssuerError::InvalidClaimArg {
        arg: arg.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((raw_key, raw_value)) = arg.split_once('=') else {
        return Err(invalid("expected key=value or key:=<json>"));
    };
    let (key, value) = match raw_key.strip_suffix(':') {
        Some(key) => {
            let value = serde_json::from_str::<Value>(raw_value).map_err(|error| {
                IssuerError::InvalidClaimArg {
                    arg: arg.to_owned(),
                    reason: format!("value after := is not valid JSON: {error}"),
                }
            })?;
            (key, value)
        }
        None => (raw_key, Value::String(raw_value.to_owned())),
    };
    if key.is_empty() {
        return Err(invalid("claim name is empty"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "claim name contains whitespace or control characters",
        ));
    }
    Ok((key.to_owned(), value))
}

/// Parses a token lifetime into seconds.
///
/// Accepts a plain number of seconds (`3600`) or one or more `<number><unit>` parts with units
/// `d`, `h`, `m`, `s` in that order, each at most once (`90s`, `15m`, `1h`, `2h30m`, `1d12h`).
/// Zero and values that overflow are rejected.
pub fn parse_ttl(s: &str) -> Result<u64, IssuerError> {
    let invalid = |reason: &'static str| IssuerError::InvalidTtl {
        input: s.to_owned(),
        reason,
    };
    if s.is_empty() {
        return Err(invalid("empty"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = s.parse().map_err(|_| invalid("number too large"))?;
        return if seconds == 0 {
            Err(invalid("must be greater than zero"))
        } else {
            Ok(seconds)
        };
    }
    const UNITS: [(u8, u64); 4] = [(b'd', 86_400), (b'h', 3_600), (b'm', 60), (b's', 1)];
    let bytes = s.as_bytes();
    let mut position = 0;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while position < bytes.len() {
        let digits_start = position;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        if position == digits_start {
            return Err(invalid("expected a number before each unit (d, h, m, s)"));
        }
        let number: u64 = s[digits_start..position]
            .parse()
            .map_err(|_| invalid("number too large"))?;
        let Some(&unit) = bytes.get(position) else {
            return Err(invalid("missing unit after the last number (d, h, m, s)"));
        };
        position += 1;
        let Some(offset) = UNITS[next_unit..]
            .iter()
            .position(|(symbol, _)| *symbol == unit)
        else {
            return Err(if UNITS.iter().any(|(symbol, _)| *symbol == unit) {
                invalid("units must appear at most once, in the order d, h, m, s")
            } else {
                invalid("unknown unit (use d, h, m or s)")
            });
        };
        let (_, unit_seconds) = UNITS[next_unit + offset];
        next_unit += offset + 1;
        total = number
            .checked_mul(unit_seconds)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| invalid("duration too large"))?;
    }
    if total == 0 {
        return Err(invalid("must be greater than zero"));
    }
    Ok(total)
}
