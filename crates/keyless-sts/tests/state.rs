//! Incremental state updates decide exactly as a full build does, share what did not change,
//! and follow a managed policy into every role that attaches it.

use std::collections::HashMap;
use std::sync::Arc;

use keyless_credentials::session::{
    SealingKeyring, SessionClaims, SessionOrigin, generate_sealing_key,
};
use keyless_sts::auth::Caller;
use keyless_sts::context::RequestEnv;
use keyless_sts::model::{Attachment, ManagedBy, ManagedPolicy, PolicyVersion, Role, RolePolicy};
use keyless_sts::permissions::authorize;
use keyless_sts::state::{RoleInput, StateInputs, StateUpdate, StsOptions, StsState};

const ACCOUNT: &str = "000000000000";
const ALLOW_LIST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#;
const ALLOW_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}"#;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;

fn role(name: &str, id: &str) -> Role {
    Role {
        name: name.to_owned(),
        path: "/".to_owned(),
        role_id: id.to_owned(),
        trust_policy: TRUST.to_owned(),
        description: None,
        max_session_duration: 3600,
        permissions_boundary: None,
        tags: Vec::new(),
        created: 0,
        managed_by: ManagedBy::Api,
    }
}

fn managed(name: &str, document: &str) -> ManagedPolicy {
    ManagedPolicy {
        name: name.to_owned(),
        path: "/".to_owned(),
        policy_id: format!("ANPA{name:0>17}"),
        description: None,
        versions: vec![PolicyVersion {
            version_id: "v1".to_owned(),
            document: document.to_owned(),
            is_default: true,
            created: 0,
        }],
        tags: Vec::new(),
        created: 0,
        updated: 0,
        managed_by: ManagedBy::Api,
    }
}

fn attachment(role: &str, policy: &str) -> Attachment {
    Attachment {
        role_name: role.to_owned(),
        policy_arn: format!("arn:aws:iam::{ACCOUNT}:policy/{policy}"),
    }
}

fn keyring() -> SealingKeyring {
    SealingKeyring::new(generate_sealing_key(1, 0), Vec::new()).expect("keyring")
}

fn empty() -> StsState {
    StsState::build(StateInputs {
        account: ACCOUNT,
        providers: &[],
        roles: &[],
        role_policies: &[],
        managed_policies: &[],
        attachments: &[],
        builtin_jwks: &HashMap::new(),
        keyring: keyring(),
        admin: None,
        options: StsOptions::default(),
    })
}

fn session(role: &Role) -> Caller {
    Caller::Session(std::sync::Arc::new(SessionClaims {
        access_key_id: "ASIAAAAAAAAAAAAAAAAA".to_owned(),
        secret_access_key: "s".repeat(40),
        account: ACCOUNT.to_owned(),
        role_name: role.name.clone(),
        role_path: role.path.clone(),
        role_id: role.role_id.clone(),
        session_name: "s".to_owned(),
        issued_at: 0,
        expires_at: 3600,
        origin: SessionOrigin::AssumeRole {
            source_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
        },
        session_policy: None,
        policy_arns: Vec::new(),
        source_identity: None,
        transitive_tags: Vec::new(),
        chained: false,
        tags: Vec::new(),
        web_identity_keys: Vec::new(),
    }))
}

fn may(state: &StsState, who: &Role, action: &str) -> bool {
    authorize(
        state,
        &session(who),
        action,
        "*",
        Default::default(),
        60,
        &RequestEnv::default(),
    )
    .is_ok()
}

fn role_update<'a>(
    role: &'a Role,
    policies: &'a [RolePolicy],
    attachments: &'a [Attachment],
) -> StateUpdate<'a> {
    StateUpdate {
        roles: vec![(
            role.name.as_str(),
            Some(RoleInput {
                role,
                policies,
                attachments,
            }),
        )],
        ..StateUpdate::default()
    }
}

#[test]
fn a_chain_of_updates_decides_as_a_full_build() {
    let (a, b, c) = (
        role("a", "AROAAAAAAAAAAAAAAAAA1"),
        role("b", "AROAAAAAAAAAAAAAAAAA2"),
        role("c", "AROAAAAAAAAAAAAAAAAA3"),
    );
    let shared = managed("shared", ALLOW_LIST);
    let inline = vec![RolePolicy {
        role_name: "c".to_owned(),
        policy_name: "get".to_owned(),
        document: ALLOW_GET.to_owned(),
    }];
    let attachments = [attachment("a", "shared"), attachment("b", "shared")];
    let full = StsState::build(StateInputs {
        account: ACCOUNT,
        providers: &[],
        roles: &[a.clone(), b.clone(), c.clone()],
        role_policies: &inline,
        managed_policies: std::slice::from_ref(&shared),
        attachments: &attachments,
        builtin_jwks: &HashMap::new(),
        keyring: keyring(),
        admin: None,
        options: StsOptions::default(),
    });

    // The same entities, one update at a time, roles before the policy they attach.
    let mut stepped = empty();
    stepped = stepped.apply(role_update(&a, &[], &attachments[..1]));
    stepped = stepped.apply(role_update(&b, &[], &attachments[1..]));
    stepped = stepped.apply(role_update(&c, &inline, &[]));
    stepped = stepped.apply(StateUpdate {
        managed_policies: vec![("shared", Some(&shared))],
        ..StateUpdate::default()
    });

    for state in [&full, &stepped] {
        assert!(may(state, &a, "iam:ListRoles"));
        assert!(may(state, &b, "iam:ListRoles"));
        assert!(!may(state, &c, "iam:ListRoles"));
        assert!(may(state, &c, "iam:GetRole"));
        assert!(!may(state, &a, "iam:GetRole"));
    }
    let names = |s: &StsState| {
        let mut n: Vec<String> = s.roles.keys().cloned().collect();
        n.sort();
        n
    };
    assert_eq!(names(&full), names(&stepped));
}

#[test]
fn a_managed_policy_change_reaches_every_role_that_attaches_it() {
    let (a, b, c) = (
        role("a", "AROAAAAAAAAAAAAAAAAA1"),
        role("b", "AROAAAAAAAAAAAAAAAAA2"),
        role("c", "AROAAAAAAAAAAAAAAAAA3"),
    );
    let attachments = [attachment("a", "shared"), attachment("b", "shared")];
    let shared = managed("shared", ALLOW_LIST);
    let state = StsState::build(StateInputs {
        account: ACCOUNT,
        providers: &[],
        roles: &[a.clone(), b.clone(), c.clone()],
        role_policies: &[],
        managed_policies: std::slice::from_ref(&shared),
        attachments: &attachments,
        builtin_jwks: &HashMap::new(),
        keyring: keyring(),
        admin: None,
        options: StsOptions::default(),
    });
    assert!(may(&state, &a, "iam:ListRoles") && may(&state, &b, "iam:ListRoles"));

    let narrowed = managed("shared", ALLOW_GET);
    let next = state.apply(StateUpdate {
        managed_policies: vec![("shared", Some(&narrowed))],
        ..StateUpdate::default()
    });
    for r in [&a, &b] {
        assert!(!may(&next, r, "iam:ListRoles"), "{}", r.name);
        assert!(may(&next, r, "iam:GetRole"), "{}", r.name);
    }
    assert!(
        Arc::ptr_eq(&state.roles["c"], &next.roles["c"]),
        "a role the change does not touch is shared, not rebuilt"
    );
    // The old state is untouched: requests holding it decide as before.
    assert!(may(&state, &a, "iam:ListRoles"));

    // Detaching the policy from one role takes its permission away from that role only.
    let detached = next.apply(role_update(&a, &[], &[]));
    assert!(!may(&detached, &a, "iam:GetRole"));
    assert!(may(&detached, &b, "iam:GetRole"));
    // Deleting the policy takes it from the rest.
    let deleted = detached.apply(StateUpdate {
        managed_policies: vec![("shared", None)],
        ..StateUpdate::default()
    });
    assert!(!may(&deleted, &b, "iam:GetRole"));
    assert!(
        !deleted
            .managed_policies
            .contains_key("arn:aws:iam::000000000000:policy/shared")
    );
}

#[test]
fn a_role_deleted_and_created_again_does_not_honour_old_sessions() {
    let first = role("deploy", "AROAAAAAAAAAAAAAAAAA1");
    let inline = [RolePolicy {
        role_name: "deploy".to_owned(),
        policy_name: "list".to_owned(),
        document: ALLOW_LIST.to_owned(),
    }];
    let state = empty().apply(role_update(&first, &inline, &[]));
    assert!(may(&state, &first, "iam:ListRoles"));
    let gone = state.apply(StateUpdate {
        roles: vec![("deploy", None)],
        ..StateUpdate::default()
    });
    assert!(gone.roles.is_empty());
    assert!(!may(&gone, &first, "iam:ListRoles"));
    let second = role("deploy", "AROAAAAAAAAAAAAAAAAA2");
    let again = gone.apply(role_update(&second, &inline, &[]));
    assert!(may(&again, &second, "iam:ListRoles"));
    assert!(
        !may(&again, &first, "iam:ListRoles"),
        "a session of the old role keeps no permission"
    );
}

#[test]
fn a_role_is_compiled_on_first_use_and_a_bad_stored_document_disables_only_itself() {
    let mut broken = role("broken", "AROAAAAAAAAAAAAAAAAA1");
    broken.trust_policy = r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned();
    let fine = role("fine", "AROAAAAAAAAAAAAAAAAA2");
    let inline = [
        RolePolicy {
            role_name: "fine".to_owned(),
            policy_name: "bad".to_owned(),
            document: r#"{"Statement":"nope"}"#.to_owned(),
        },
        RolePolicy {
            role_name: "fine".to_owned(),
            policy_name: "list".to_owned(),
            document: ALLOW_LIST.to_owned(),
        },
    ];
    let state = empty()
        .apply(role_update(&broken, &[], &[]))
        .apply(role_update(&fine, &inline, &[]));
    assert!(state.warnings.is_empty(), "roles are not compiled up front");

    let broken_entry = &state.roles["broken"];
    let problem = broken_entry
        .trust()
        .expect_err("an empty statement list is invalid");
    assert!(
        problem.starts_with("the trust policy of arn:aws:iam::000000000000:role/broken is invalid"),
        "{problem}"
    );
    assert_eq!(broken_entry.trust_keys(), None);

    // The valid inline policy still grants; the invalid one grants nothing, and a denial
    // names it.
    assert!(may(&state, &fine, "iam:ListRoles"));
    let denied = authorize(
        &state,
        &session(&fine),
        "iam:GetRole",
        "*",
        Default::default(),
        60,
        &RequestEnv::default(),
    )
    .expect_err("nothing grants GetRole");
    let reason = denied.reason().into_owned();
    assert!(
        reason.contains("inline policy bad of arn:aws:iam::000000000000:role/fine is invalid"),
        "{reason}"
    );
    let compiled = state.roles["fine"].compiled();
    assert_eq!(compiled.inline.len(), 1);
    assert!(compiled.trust.is_ok());
    assert_eq!(
        compiled.trust_keys.as_deref(),
        Some(&[][..]),
        "the trust policy reads no condition key"
    );
}
