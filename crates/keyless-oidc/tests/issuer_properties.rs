//! Property tests: arbitrary input never panics, and valid input always yields a well-formed payload.

use keyless_oidc::issuer::{MintRequest, Profile, build_payload, parse_claim_arg, parse_ttl};
use proptest::prelude::*;
use serde_json::Value;

proptest! {
    #[test]
    fn arbitrary_requests_never_panic(
        github in any::<bool>(),
        issuer in ".{0,40}",
        project_path in ".{0,40}",
        git_ref in ".{0,30}",
        audiences in proptest::collection::vec(".{0,20}", 0..3),
        environment in proptest::option::of(".{0,20}"),
        ttl_secs in any::<u64>(),
        now in any::<i64>(),
        claim_args in proptest::collection::vec(".{0,30}", 0..4),
    ) {
        let mut req = MintRequest::gitlab(issuer, project_path, git_ref);
        req.profile = if github { Profile::Github } else { Profile::Gitlab };
        req.audiences = audiences;
        req.environment = environment;
        req.ttl_secs = ttl_secs;
        req.now = now;
        req.claims = claim_args.iter().filter_map(|arg| parse_claim_arg(arg).ok()).collect();
        if let Ok(text) = build_payload(&req) {
            let payload: Value = serde_json::from_str(&text).expect("payload is JSON");
            prop_assert!(payload.is_object());
        }
    }

    #[test]
    fn valid_gitlab_requests_build_the_default_sub(
        namespace in "[a-z][a-z0-9_-]{0,15}(/[a-z0-9][a-z0-9_.-]{0,10}){0,2}",
        project in "[a-z][a-z0-9_-]{0,15}",
        git_ref in "[a-zA-Z0-9_][a-zA-Z0-9_-]{0,15}(/[a-zA-Z0-9_-]{1,10}){0,2}",
        ttl_secs in 1u64..=2_678_400,
        now in 0i64..=4_102_444_800,
    ) {
        let project_path = format!("{namespace}/{project}");
        let req = MintRequest::gitlab("https://gitlab.example.com", project_path.as_str(), git_ref.as_str())
            .with_audience("https://sts.example.com")
            .with_ttl_secs(ttl_secs)
            .with_now(now);
        let payload: Value = serde_json::from_str(&build_payload(&req).expect("valid request")).expect("JSON");
        let expected_sub = format!("project_path:{project_path}:ref_type:branch:ref:{git_ref}");
        prop_assert_eq!(payload["sub"].as_str(), Some(expected_sub.as_str()));
        prop_assert_eq!(payload["namespace_path"].as_str(), Some(namespace.as_str()));
        prop_assert_eq!(payload["exp"].as_i64(), Some(now + i64::try_from(ttl_secs).expect("small ttl")));
        prop_assert_eq!(payload["nbf"].as_i64(), Some(now - 5));
    }

    #[test]
    fn arguments_never_panic(input in ".{0,40}") {
        if let Ok(seconds) = parse_ttl(&input) {
            prop_assert!(seconds > 0);
        }
        if let Ok((key, _)) = parse_claim_arg(&input) {
            prop_assert!(!key.is_empty());
        }
    }
}
