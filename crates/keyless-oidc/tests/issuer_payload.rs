//! Claim-set faithfulness of minted payloads (GitLab and GitHub profiles).

use std::fmt;

use keyless_oidc::issuer::{IssuerError, MintRequest, RefType, build_payload};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};

const NOW: i64 = 1_681_395_193;

/// Object keys in document order (serde_json's `Value` sorts them).
fn key_order(payload: &str) -> Vec<String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(key);
            }
            Ok(keys)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    deserializer
        .deserialize_map(Keys)
        .expect("payload is a JSON object")
}

fn gitlab_request() -> MintRequest {
    MintRequest::gitlab("https://gitlab.example.com", "my-group/my-project", "main")
        .with_audience("https://sts.example.com")
        .with_now(NOW)
}

fn payload_of(req: &MintRequest) -> (String, Value) {
    let text = build_payload(req).expect("payload builds");
    let value = serde_json::from_str(&text).expect("payload is JSON");
    (text, value)
}

fn sub_of(req: &MintRequest) -> String {
    let (_, payload) = payload_of(req);
    payload["sub"].as_str().expect("sub is a string").to_owned()
}

fn invalid_request(req: &MintRequest) -> String {
    match build_payload(req) {
        Err(IssuerError::InvalidRequest(message)) => message,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

const GITLAB_KEYS: [&str; 33] = [
    "namespace_id",
    "namespace_path",
    "project_id",
    "project_path",
    "user_id",
    "user_login",
    "user_email",
    "user_access_level",
    "job_project_id",
    "job_project_path",
    "job_namespace_id",
    "job_namespace_path",
    "pipeline_id",
    "pipeline_source",
    "job_id",
    "ref",
    "ref_type",
    "ref_path",
    "ref_protected",
    "runner_id",
    "runner_environment",
    "sha",
    "project_visibility",
    "ci_config_ref_uri",
    "ci_config_sha",
    "job_source",
    "jti",
    "iss",
    "iat",
    "nbf",
    "exp",
    "sub",
    "aud",
];

const ENVIRONMENT_KEYS: [&str; 4] = [
    "environment",
    "environment_protected",
    "deployment_tier",
    "environment_action",
];

#[test]
fn gitlab_default_claim_set_order_and_types() {
    let (text, payload) = payload_of(&gitlab_request());
    assert_eq!(key_order(&text), GITLAB_KEYS.to_vec());

    for key in [
        "namespace_id",
        "project_id",
        "user_id",
        "job_project_id",
        "job_namespace_id",
        "pipeline_id",
        "job_id",
    ] {
        let id = payload[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string"));
        assert!(
            id.parse::<u64>().is_ok_and(|n| n > 0),
            "{key} = {id:?} is a positive decimal string"
        );
    }
    assert_eq!(payload["namespace_path"], "my-group");
    assert_eq!(payload["project_path"], "my-group/my-project");
    assert_eq!(payload["job_project_id"], payload["project_id"]);
    assert_eq!(payload["job_namespace_id"], payload["namespace_id"]);
    assert_eq!(payload["job_project_path"], "my-group/my-project");
    assert_eq!(payload["job_namespace_path"], "my-group");
    assert_eq!(payload["user_login"], "ci-user");
    assert_eq!(payload["user_email"], "ci-user@example.com");
    assert_eq!(payload["user_access_level"], "maintainer");
    assert_eq!(payload["pipeline_source"], "push");
    assert_eq!(payload["job_source"], "push");
    assert_eq!(payload["ref"], "main");
    assert_eq!(payload["ref_type"], "branch");
    assert_eq!(payload["ref_path"], "refs/heads/main");
    assert_eq!(payload["ref_protected"], "true");
    assert!(payload["runner_id"].is_u64(), "runner_id is an integer");
    assert_eq!(payload["runner_environment"], "self-hosted");
    let sha = payload["sha"].as_str().expect("sha is a string");
    assert_eq!(sha.len(), 40);
    assert!(
        sha.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(payload["ci_config_sha"], sha);
    assert_eq!(payload["project_visibility"], "private");
    assert_eq!(
        payload["ci_config_ref_uri"],
        "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
    );
    let jti = uuid::Uuid::parse_str(payload["jti"].as_str().expect("jti is a string"))
        .expect("jti is a UUID");
    assert_eq!(jti.get_version_num(), 4);
    assert_eq!(payload["iss"], "https://gitlab.example.com");
    assert_eq!(payload["iat"], json!(NOW));
    assert_eq!(payload["nbf"], json!(NOW - 5));
    assert_eq!(payload["exp"], json!(NOW + 3600));
    assert_eq!(
        payload["sub"],
        "project_path:my-group/my-project:ref_type:branch:ref:main"
    );
    assert_eq!(payload["aud"], "https://sts.example.com");
}

#[test]
fn gitlab_ttl_sets_exp_and_runner_environment_follows_gitlab_com() {
    let req = MintRequest::gitlab("https://gitlab.com", "g/p", "main")
        .with_audience("a")
        .with_now(NOW)
        .with_ttl_secs(7_200);
    let (_, payload) = payload_of(&req);
    assert_eq!(payload["exp"], json!(NOW + 7_200));
    assert_eq!(payload["nbf"], json!(NOW - 5));
    assert_eq!(payload["runner_environment"], "gitlab-hosted");
}

#[test]
fn gitlab_stable_ids_repeat_and_per_run_ids_change() {
    let (_, first) = payload_of(&gitlab_request());
    let (_, second) = payload_of(&gitlab_request());
    for stable in ["namespace_id", "project_id", "user_id", "runner_id", "sha"] {
        assert_eq!(
            first[stable], second[stable],
            "{stable} is stable across mints"
        );
    }
    for per_run in ["jti", "pipeline_id", "job_id"] {
        assert_ne!(
            first[per_run], second[per_run],
            "{per_run} changes per mint"
        );
    }
    let (_, other_project) = payload_of(&MintRequest {
        project_path: "my-group/other".to_owned(),
        ..gitlab_request()
    });
    assert_ne!(first["project_id"], other_project["project_id"]);
    assert_eq!(first["namespace_id"], other_project["namespace_id"]);
}

#[test]
fn gitlab_audience_string_or_array() {
    let (_, one) = payload_of(&gitlab_request());
    assert_eq!(one["aud"], json!("https://sts.example.com"));
    let (_, two) = payload_of(&gitlab_request().with_audience("https://vault.example.com"));
    assert_eq!(
        two["aud"],
        json!(["https://sts.example.com", "https://vault.example.com"])
    );
    let none = MintRequest::gitlab("https://gitlab.example.com", "g/p", "main");
    assert!(invalid_request(&none).contains("audience"));
    assert!(invalid_request(&gitlab_request().with_audience("")).contains("audience"));
}

#[test]
fn gitlab_ref_protected_defaults_and_tags() {
    let (_, feature) = payload_of(&MintRequest {
        git_ref: "feature/login".to_owned(),
        ..gitlab_request()
    });
    assert_eq!(feature["ref_protected"], "false");
    assert_eq!(feature["ref_path"], "refs/heads/feature/login");

    let (_, master) = payload_of(&MintRequest {
        git_ref: "master".to_owned(),
        ..gitlab_request()
    });
    assert_eq!(master["ref_protected"], "true");

    let (_, explicit) = payload_of(&MintRequest {
        git_ref: "release".to_owned(),
        ref_protected: Some(true),
        ..gitlab_request()
    });
    assert_eq!(explicit["ref_protected"], "true");

    let tag = MintRequest {
        git_ref: "v1.2.0".to_owned(),
        ..gitlab_request()
    }
    .with_ref_type(RefType::Tag);
    let (_, payload) = payload_of(&tag);
    assert_eq!(payload["ref_type"], "tag");
    assert_eq!(payload["ref_path"], "refs/tags/v1.2.0");
    assert_eq!(payload["ref_protected"], "false");
    assert_eq!(
        payload["sub"],
        "project_path:my-group/my-project:ref_type:tag:ref:v1.2.0"
    );
}

#[test]
fn gitlab_environment_claims() {
    let (text, payload) = payload_of(&gitlab_request().with_environment("production"));
    let keys = key_order(&text);
    let position = |key: &str| keys.iter().position(|k| k == key).expect("key present");
    for (offset, key) in ENVIRONMENT_KEYS.iter().enumerate() {
        assert_eq!(position(key), position("ref_protected") + 1 + offset);
    }
    assert_eq!(payload["environment"], "production");
    assert_eq!(payload["environment_protected"], "true");
    assert_eq!(payload["deployment_tier"], "production");
    assert_eq!(payload["environment_action"], "start");

    let tiers = [
        ("review/feature-1", "development"),
        ("qa", "testing"),
        ("staging", "staging"),
        ("prod-eu", "production"),
        ("sandbox", "other"),
    ];
    for (environment, tier) in tiers {
        let (_, payload) = payload_of(&gitlab_request().with_environment(environment));
        assert_eq!(payload["deployment_tier"], tier, "tier of {environment}");
        let protected = if tier == "production" {
            "true"
        } else {
            "false"
        };
        assert_eq!(payload["environment_protected"], protected);
    }

    let (_, unprotected) = payload_of(&MintRequest {
        environment_protected: Some(false),
        ..gitlab_request().with_environment("production")
    });
    assert_eq!(unprotected["environment_protected"], "false");

    let (_, without) = payload_of(&gitlab_request());
    for key in ENVIRONMENT_KEYS {
        assert!(
            without.get(key).is_none(),
            "{key} absent without environment"
        );
    }
}

#[test]
fn gitlab_without_user_emits_gitlab_nulls() {
    let (_, payload) = payload_of(&MintRequest {
        user_login: None,
        ..gitlab_request()
    });
    assert_eq!(payload["user_id"], "");
    for key in ["user_login", "user_email", "user_access_level"] {
        assert_eq!(
            payload.get(key),
            Some(&Value::Null),
            "{key} is present and null"
        );
    }
}

fn with_components(components: &[&str]) -> MintRequest {
    MintRequest {
        sub_components: components.iter().map(|c| (*c).to_owned()).collect(),
        ..gitlab_request()
    }
}

#[test]
fn gitlab_custom_sub_components() {
    assert_eq!(
        sub_of(&with_components(&["project_path", "ref"])),
        "project_path:my-group/my-project:ref:main"
    );
    assert_eq!(
        sub_of(&with_components(&["project_path", "ref", "ref_type"])),
        "project_path:my-group/my-project:ref:main:ref_type:branch"
    );

    let (_, payload) = payload_of(&gitlab_request());
    let project_id = payload["project_id"]
        .as_str()
        .expect("project_id")
        .to_owned();
    assert_eq!(
        sub_of(&with_components(&["project_id", "ref_type", "ref"])),
        format!("project_id:{project_id}:ref_type:branch:ref:main")
    );
    assert_eq!(
        sub_of(&with_components(&["source_project_id", "ref"])),
        format!("source_project_id:{project_id}:ref:main")
    );
    assert_eq!(
        sub_of(&with_components(&["job_project_id", "ref"])),
        format!("job_project_id:{project_id}:ref:main")
    );

    let feature = MintRequest {
        git_ref: "feature".to_owned(),
        ..with_components(&["project_path", "ref", "ref_protected"])
    };
    assert_eq!(
        sub_of(&feature),
        "project_path:my-group/my-project:ref:feature:ref_protected:false"
    );
}

#[test]
fn gitlab_sub_skips_components_without_value() {
    let components = [
        "project_path",
        "ref_type",
        "ref",
        "environment_protected",
        "deployment_tier",
    ];
    assert_eq!(
        sub_of(&with_components(&components)),
        "project_path:my-group/my-project:ref_type:branch:ref:main"
    );
    assert_eq!(
        sub_of(&with_components(&components).with_environment("production")),
        "project_path:my-group/my-project:ref_type:branch:ref:main:environment_protected:true:deployment_tier:production"
    );
    let emptied = with_components(&["project_path", "ref_type", "ref"]).with_claim("ref_type", "");
    assert_eq!(
        sub_of(&emptied),
        "project_path:my-group/my-project:ref:main"
    );
    let nulled =
        with_components(&["project_path", "ref_type", "ref"]).with_claim("ref", Value::Null);
    assert_eq!(
        sub_of(&nulled),
        "project_path:my-group/my-project:ref_type:branch"
    );
}

#[test]
fn gitlab_sub_component_validation() {
    assert!(invalid_request(&with_components(&[])).contains("must not be empty"));
    assert!(
        invalid_request(&with_components(&["project_path", "pipeline_id"]))
            .contains("unknown sub component")
    );
    assert!(
        invalid_request(&with_components(&["ref", "project_path"])).contains("must start with")
    );
    assert!(invalid_request(&with_components(&["project_path", "ref", "ref"])).contains("twice"));
    let array_claim = gitlab_request().with_claim("ref", json!(["a"]));
    assert!(invalid_request(&array_claim).contains("used in sub"));
}

#[test]
fn gitlab_overrides_apply_last_and_feed_sub() {
    let req = with_components(&["project_id", "ref"])
        .with_claim("project_id", "42")
        .with_claim("runner_id", Value::Null)
        .with_claim("deploy_target", "eu-west-1")
        .with_claim("iss", "https://override.example.com");
    let (text, payload) = payload_of(&req);
    assert_eq!(payload["project_id"], "42");
    assert_eq!(payload["sub"], "project_id:42:ref:main");
    assert_eq!(payload["runner_id"], Value::Null);
    assert_eq!(payload["iss"], "https://override.example.com");
    let keys = key_order(&text);
    assert_eq!(
        keys.iter().position(|k| k == "project_id"),
        Some(2),
        "overridden claim keeps its place"
    );
    let extra = keys
        .iter()
        .position(|k| k == "deploy_target")
        .expect("extra claim present");
    assert_eq!(keys[extra + 1], "jti", "new claims come right before jti");
    assert_eq!(keys.len(), 34);

    let later_wins = gitlab_request()
        .with_claim("ref", "one")
        .with_claim("ref", "two");
    assert_eq!(payload_of(&later_wins).1["ref"], "two");

    let sub_override = gitlab_request().with_claim("sub", "custom-subject");
    assert_eq!(sub_of(&sub_override), "custom-subject");
}

#[test]
fn gitlab_request_validation() {
    let bad_issuer = MintRequest {
        issuer: "gitlab.example.com".to_owned(),
        ..gitlab_request()
    };
    assert!(invalid_request(&bad_issuer).contains("issuer"));
    assert!(invalid_request(&gitlab_request().with_ttl_secs(0)).contains("ttl_secs"));
    assert!(invalid_request(&gitlab_request().with_ttl_secs(u64::MAX)).contains("ttl_secs"));
    assert!(invalid_request(&gitlab_request().with_now(i64::MAX - 10)).contains("overflows"));
    for path in [
        "project",
        "group//project",
        "group/pro ject",
        "/group/project",
    ] {
        let req = MintRequest {
            project_path: path.to_owned(),
            ..gitlab_request()
        };
        assert!(
            invalid_request(&req).contains("project_path"),
            "{path} rejected"
        );
    }
    for git_ref in [
        "",
        "refs/heads/main",
        "a..b",
        "has space",
        "x:y",
        "-lead",
        "end/",
        "x.lock",
    ] {
        let req = MintRequest {
            git_ref: git_ref.to_owned(),
            ..gitlab_request()
        };
        assert!(
            invalid_request(&req).contains("git_ref"),
            "{git_ref:?} rejected"
        );
    }
    let bad_sha = MintRequest {
        sha: Some("ABC".to_owned()),
        ..gitlab_request()
    };
    assert!(invalid_request(&bad_sha).contains("sha"));
    let good_sha = "714a629c0b401fdce83e847fc9589983fc6f46bc";
    let (_, payload) = payload_of(&MintRequest {
        sha: Some(good_sha.to_owned()),
        ..gitlab_request()
    });
    assert_eq!(payload["sha"], good_sha);
    assert_eq!(payload["ci_config_sha"], good_sha);
    assert!(invalid_request(&gitlab_request().with_environment("")).contains("environment"));
}

fn github_request() -> MintRequest {
    MintRequest::github(
        "https://token.actions.githubusercontent.com",
        "octo-org/octo-repo",
        "main",
    )
    .with_now(NOW)
}

#[test]
fn github_claim_set_and_times() {
    let (text, payload) = payload_of(&github_request());
    let keys = key_order(&text);
    let expected = [
        "jti",
        "sub",
        "aud",
        "ref",
        "sha",
        "repository",
        "repository_owner",
        "repository_owner_id",
        "repository_visibility",
        "repository_id",
        "actor_id",
        "actor",
        "run_id",
        "run_number",
        "run_attempt",
        "runner_environment",
        "workflow",
        "head_ref",
        "base_ref",
        "event_name",
        "ref_protected",
        "ref_type",
        "workflow_ref",
        "workflow_sha",
        "job_workflow_ref",
        "job_workflow_sha",
        "check_run_id",
        "iss",
        "nbf",
        "exp",
        "iat",
    ];
    assert_eq!(keys, expected.to_vec());
    for key in keys
        .iter()
        .filter(|k| !matches!(k.as_str(), "iat" | "nbf" | "exp"))
    {
        assert!(payload[key.as_str()].is_string(), "{key} is a string");
    }
    assert_eq!(payload["iat"], json!(NOW));
    assert_eq!(payload["nbf"], json!(NOW - 300));
    assert_eq!(payload["exp"], json!(NOW + 300));
    assert_eq!(payload["aud"], "https://github.com/octo-org");
    assert_eq!(payload["ref"], "refs/heads/main");
    assert_eq!(payload["repository_owner"], "octo-org");
    assert_eq!(payload["ref_protected"], "true");
    assert_eq!(
        payload["sub"],
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    assert_eq!(
        payload["job_workflow_ref"],
        "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main"
    );
    let (_, longer) = payload_of(&github_request().with_ttl_secs(900));
    assert_eq!(longer["exp"], json!(NOW + 900));
}

#[test]
fn github_sub_forms() {
    let tag = MintRequest {
        git_ref: "v2.0.0".to_owned(),
        ..github_request()
    }
    .with_ref_type(RefType::Tag);
    assert_eq!(sub_of(&tag), "repo:octo-org/octo-repo:ref:refs/tags/v2.0.0");

    let (text, payload) = payload_of(&github_request().with_environment("prod"));
    assert_eq!(payload["sub"], "repo:octo-org/octo-repo:environment:prod");
    assert_eq!(payload["environment"], "prod");
    assert_eq!(key_order(&text)[2], "environment");

    assert_eq!(
        sub_of(&github_request().with_environment("prod:eu")),
        "repo:octo-org/octo-repo:environment:prod%3Aeu"
    );
    assert_eq!(
        sub_of(&github_request().with_claim("event_name", "pull_request")),
        "repo:octo-org/octo-repo:pull_request"
    );
    assert_eq!(
        sub_of(
            &github_request()
                .with_environment("prod")
                .with_claim("event_name", "pull_request")
        ),
        "repo:octo-org/octo-repo:environment:prod"
    );
}

#[test]
fn github_validation() {
    let two_audiences = github_request().with_audience("sts.amazonaws.com");
    assert!(invalid_request(&two_audiences).contains("exactly one audience"));
    let nested = MintRequest {
        project_path: "octo-org/team/repo".to_owned(),
        ..github_request()
    };
    assert!(invalid_request(&nested).contains("repository"));
    let custom_components = MintRequest {
        sub_components: vec!["project_path".to_owned()],
        ..github_request()
    };
    assert!(invalid_request(&custom_components).contains("GitLab profile only"));
    let bot = MintRequest {
        user_login: None,
        ..github_request()
    };
    assert_eq!(payload_of(&bot).1["actor"], "github-actions[bot]");
}
