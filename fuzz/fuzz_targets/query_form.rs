//! `keyless_sts::query::QueryParams::parse` on a query string and a form body, its accessors
//! (`get`, `list`, `pairs_list`, `iter`), and the parameter validation of `AssumeRole` and
//! `AssumeRoleWithWebIdentity` on what it decoded. What it decodes must be what the WHATWG
//! `application/x-www-form-urlencoded` parser (the `form_urlencoded` crate) reads.
//!
//! Input: the query string up to the first newline, then the body (any bytes).

#![no_main]

use keyless_sts::assume_role::AssumeRoleParams;
use keyless_sts::query::{MAX_PARAMETERS, QueryParams};
use keyless_sts::web_identity::WebIdentityParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let Ok(params) = QueryParams::parse(query, body) else {
        return;
    };

    let pairs: Vec<(&str, &str)> = params.iter().collect();
    let body = std::str::from_utf8(body).expect("a parsed body is UTF-8");
    let reference: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .chain(form_urlencoded::parse(body.as_bytes()))
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    assert_eq!(pairs.len(), reference.len());
    for ((name, value), (ref_name, ref_value)) in pairs.iter().zip(&reference) {
        assert_eq!((*name, *value), (ref_name.as_str(), ref_value.as_str()));
    }
    assert!(pairs.len() <= MAX_PARAMETERS);
    for (index, (name, value)) in pairs.iter().enumerate() {
        assert!(!name.is_empty());
        // Names are unique, so every name finds its own value.
        assert_eq!(params.get(name), Some(*value));
        assert!(pairs[..index].iter().all(|(other, _)| other != name));
        assert!(params.has_prefix(name));
    }
    let _ = (params.action(), params.version());

    // Every list the request could be naming, with and without a field.
    for (name, _) in &pairs {
        if let Some((list, rest)) = name.split_once(".member.") {
            let field = rest.split_once('.').map(|(_, field)| field);
            let items = params.list(list, field);
            assert!(items.len() <= pairs.len());
            if let Some(field) = field {
                let _ = params.pairs_list(list, field, "Value");
                let _ = params.pairs_list(list, "Key", field);
            }
        }
    }
    let _ = params.list("PolicyArns", Some("arn"));
    let _ = params.list("TransitiveTagKeys", None);
    let tags = params.pairs_list("Tags", "Key", "Value");
    assert!(tags.len() <= pairs.len());

    if let Ok(p) = WebIdentityParams::from_query(&params) {
        assert_eq!(params.get("RoleArn"), Some(p.role_arn.as_str()));
    }
    if let Ok(p) = AssumeRoleParams::from_query(&params) {
        assert_eq!(
            params.get("RoleSessionName"),
            Some(p.role_session_name.as_str())
        );
    }
});
