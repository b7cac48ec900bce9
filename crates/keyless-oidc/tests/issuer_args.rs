//! Parsing of `--ttl` and `--claim` style arguments.

use keyless_oidc::issuer::{IssuerError, parse_claim_arg, parse_ttl};
use serde_json::{Value, json};

#[test]
fn ttl_accepts_seconds_and_unit_forms() {
    let cases = [
        ("3600", 3_600),
        ("1", 1),
        ("90s", 90),
        ("15m", 900),
        ("1h", 3_600),
        ("2h30m", 9_000),
        ("1h0m5s", 3_605),
        ("1d", 86_400),
        ("1d12h", 129_600),
        ("0h10m", 600),
    ];
    for (input, seconds) in cases {
        assert_eq!(parse_ttl(input).expect(input), seconds, "{input}");
    }
}

#[test]
fn ttl_rejects_malformed_input() {
    let cases = [
        ("", "empty"),
        ("0", "greater than zero"),
        ("0s", "greater than zero"),
        ("1x", "unknown unit"),
        ("h", "number before"),
        ("1h30", "missing unit"),
        ("30m2h", "order"),
        ("1h1h", "order"),
        ("-5", "number before"),
        (" 5", "number before"),
        ("1.5h", "unknown unit"),
        ("99999999999999999999", "too large"),
        ("18446744073709551615d", "too large"),
    ];
    for (input, reason_part) in cases {
        match parse_ttl(input) {
            Err(IssuerError::InvalidTtl {
                input: echoed,
                reason,
            }) => {
                assert_eq!(echoed, input);
                assert!(reason.contains(reason_part), "{input:?}: {reason}");
            }
            other => panic!("{input:?} gave {other:?}"),
        }
    }
}

#[test]
fn claim_arg_string_and_json_forms() {
    assert_eq!(
        parse_claim_arg("environment=production").expect("string"),
        ("environment".to_owned(), json!("production"))
    );
    assert_eq!(
        parse_claim_arg("user_email=").expect("empty string"),
        ("user_email".to_owned(), json!(""))
    );
    assert_eq!(
        parse_claim_arg("note=a=b").expect("later = kept"),
        ("note".to_owned(), json!("a=b"))
    );
    assert_eq!(
        parse_claim_arg("runner_id:=42").expect("number"),
        ("runner_id".to_owned(), json!(42))
    );
    assert_eq!(
        parse_claim_arg("flag:=false").expect("bool"),
        ("flag".to_owned(), json!(false))
    );
    assert_eq!(
        parse_claim_arg("user_login:=null").expect("null"),
        ("user_login".to_owned(), Value::Null)
    );
    assert_eq!(
        parse_claim_arg(r#"groups_direct:=["a","b"]"#).expect("array"),
        ("groups_direct".to_owned(), json!(["a", "b"]))
    );
    assert_eq!(
        parse_claim_arg("https://example.com/claims/team=platform").expect("URL-named claim"),
        (
            "https://example.com/claims/team".to_owned(),
            json!("platform")
        )
    );
    assert_eq!(
        parse_claim_arg("count:=\"7\"").expect("JSON string"),
        ("count".to_owned(), json!("7"))
    );
}

#[test]
fn claim_arg_rejects_malformed_input() {
    let cases = [
        ("no-equals", "expected key=value"),
        ("=value", "claim name is empty"),
        (":=1", "claim name is empty"),
        ("bad key=1", "whitespace"),
        ("runner_id:=forty", "not valid JSON"),
        ("x:=", "not valid JSON"),
    ];
    for (arg, reason_part) in cases {
        match parse_claim_arg(arg) {
            Err(IssuerError::InvalidClaimArg {
                arg: echoed,
                reason,
            }) => {
                assert_eq!(echoed, arg);
                assert!(reason.contains(reason_part), "{arg:?}: {reason}");
            }
            other => panic!("{arg:?} gave {other:?}"),
        }
    }
}
