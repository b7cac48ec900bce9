//! The store's behaviour, run against SQLite and (when configured) PostgreSQL.

mod support;

use keyless_store::{
    AdminCredentials, Changes, IssuerKeyRecord, KeyState, MasterKey, PageRequest, SealingKeyRecord,
    Store, StoreError,
};
use keyless_sts::model::{
    Attachment, ConditionKeyMode, KeySource, ManagedBy, ManagedPolicy, OidcProvider, PolicyVersion,
    Role, RolePolicy, Tag,
};
use sqlx::Row;
use support::TestDb;

const ACCOUNT: &str = "123456789012";

fn provider(url: &str) -> OidcProvider {
    OidcProvider {
        url: url.to_owned(),
        client_ids: vec!["sts.amazonaws.com".to_owned()],
        thumbprints: vec!["0123456789abcdef0123456789abcdef01234567".to_owned()],
        key_source: KeySource::Discovery,
        condition_keys: ConditionKeyMode::All,
        allow_insecure_http: false,
        ca_bundle: None,
        tags: vec![Tag {
            key: "team".to_owned(),
            value: "platform".to_owned(),
        }],
        created: 1_700_000_000,
        managed_by: ManagedBy::Api,
    }
}

fn role(name: &str, role_id: &str) -> Role {
    Role {
        name: name.to_owned(),
        path: "/ci/".to_owned(),
        role_id: role_id.to_owned(),
        trust_policy: r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
        description: Some("deploys things".to_owned()),
        max_session_duration: 3600,
        permissions_boundary: None,
        tags: vec![],
        created: 1_700_000_100,
        managed_by: ManagedBy::Api,
    }
}

fn inline(role_name: &str, policy_name: &str, document: &str) -> RolePolicy {
    RolePolicy {
        role_name: role_name.to_owned(),
        policy_name: policy_name.to_owned(),
        document: document.to_owned(),
    }
}

fn managed(name: &str) -> ManagedPolicy {
    ManagedPolicy {
        name: name.to_owned(),
        path: "/team/".to_owned(),
        policy_id: format!("ANPA{name:0>17}"),
        description: None,
        versions: vec![PolicyVersion {
            version_id: "v1".to_owned(),
            document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#.to_owned(),
            is_default: true,
            created: 1_700_000_200,
        }],
        tags: vec![],
        created: 1_700_000_200,
        updated: 1_700_000_200,
        managed_by: ManagedBy::Api,
    }
}

fn sealing(id: u32, fill: u8, created: i64) -> SealingKeyRecord {
    SealingKeyRecord {
        id,
        key: [fill; 32],
        created,
        state: KeyState::Current,
    }
}

fn issuer_key(issuer: &str, kid: &str, der: &[u8], state: KeyState) -> IssuerKeyRecord {
    IssuerKeyRecord {
        issuer: issuer.to_owned(),
        kid: kid.to_owned(),
        pkcs8_der: der.to_vec(),
        created: 1_700_000_300,
        state,
        state_changed: 1_700_000_300,
    }
}

fn admin(id: &str, secret: &str) -> AdminCredentials {
    AdminCredentials {
        access_key_id: id.to_owned(),
        secret_access_key: secret.to_owned(),
    }
}

fn policy_arn(path: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy{path}{name}")
}

/// Asserts that `result` is the given error variant.
macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            other => panic!("expected {}, got {other:?}", stringify!($pattern)),
        }
    };
}

on_both_backends!(
    providers_crud,
    roles_and_inline_policies,
    managed_policies_and_attachments,
    sealing_key_rotation,
    issuer_keys_and_initial_keys,
    admin_credentials_initialised_once,
    apply_config_semantics,
    snapshot_holds_everything_and_survives_reopen,
    wrong_master_key_is_detected,
    secrets_are_not_stored_in_plaintext,
    moved_ciphertexts_do_not_open,
    audit_events_are_appended,
    two_handles_share_state_and_agree_on_winners,
    the_change_log_names_what_each_write_changed,
    permissions_boundaries,
);

async fn permissions_boundaries(db: &TestDb) {
    let store = db.open().await;
    store
        .create_policy(&managed("Bound"))
        .await
        .expect("policy");
    let arn = policy_arn("/team/", "Bound");
    let missing = policy_arn("/team/", "Missing");

    // CreateRole with a boundary: it must name an existing policy.
    let mut bounded = role("Bounded", "AROA00000000000000001");
    bounded.permissions_boundary = Some(missing.clone());
    match store.create_role(&bounded).await {
        Err(StoreError::NoSuchEntity(m)) => assert_eq!(
            m,
            format!("Scope ARN: {missing} does not exist or is not attachable.")
        ),
        other => panic!("expected NoSuchEntity, got {other:?}"),
    }
    bounded.permissions_boundary = Some(arn.clone());
    store.create_role(&bounded).await.expect("role");
    assert_eq!(
        store
            .get_role("Bounded")
            .await
            .expect("get")
            .permissions_boundary,
        Some(arn.clone())
    );

    // Other updates keep the boundary.
    let mut updated = store.get_role("Bounded").await.expect("get");
    updated.permissions_boundary = None;
    updated.description = Some("changed".to_owned());
    store.update_role(&updated).await.expect("update");
    assert_eq!(
        store
            .get_role("Bounded")
            .await
            .expect("get")
            .permissions_boundary,
        Some(arn.clone())
    );

    // Put and delete go through the change log.
    store
        .create_role(&role("Plain", "AROA00000000000000002"))
        .await
        .expect("role");
    let before = store.generation().await.expect("generation");
    store
        .set_role_permissions_boundary("Plain", Some(&arn))
        .await
        .expect("put");
    let Changes::Entities(changed) = store.changes_since(before).await.expect("changes") else {
        panic!("the role changed");
    };
    let (name, record) = &changed.roles[0];
    assert_eq!(name, "Plain");
    assert_eq!(
        record.as_ref().expect("exists").role.permissions_boundary,
        Some(arn.clone())
    );
    assert_err!(
        store
            .set_role_permissions_boundary("Plain", Some(&missing))
            .await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(
        store
            .set_role_permissions_boundary("Nobody", Some(&arn))
            .await,
        StoreError::NoSuchEntity(_)
    );
    let usage = store.policy_usage("Bound").await.expect("usage");
    assert_eq!((usage.attachments, usage.permissions_boundaries), (0, 2));
    let listed = store
        .list_policies_page(
            None,
            false,
            PageRequest {
                after: None,
                limit: 10,
            },
        )
        .await
        .expect("list");
    assert_eq!(listed[0].usage.permissions_boundaries, 2);

    // A policy in use as a boundary cannot be deleted, as IAM refuses it.
    match store.delete_policy(&arn).await {
        Err(StoreError::DeleteConflict(m)) => {
            assert_eq!(m, "Cannot delete a policy attached to entities.")
        }
        other => panic!("expected DeleteConflict, got {other:?}"),
    }
    store
        .set_role_permissions_boundary("Plain", None)
        .await
        .expect("delete");
    assert_eq!(
        store
            .get_role("Plain")
            .await
            .expect("get")
            .permissions_boundary,
        None
    );
    store
        .delete_role("Bounded")
        .await
        .expect("a bounded role can be deleted");
    store.delete_policy(&arn).await.expect("no longer in use");
}

async fn the_change_log_names_what_each_write_changed(db: &TestDb) {
    let store = db.open().await;
    let start = store.generation().await.expect("generation");
    assert_eq!(
        store.changes_since(start).await.expect("changes"),
        Changes::Current
    );

    store
        .create_provider(&provider("https://gitlab.com"))
        .await
        .expect("provider");
    store
        .create_role(&role("Deploy", "AROA00000000000000001"))
        .await
        .expect("role");
    store
        .put_role_policy(&inline("Deploy", "s3", "{}"))
        .await
        .expect("inline");
    store
        .create_policy(&managed("Shared"))
        .await
        .expect("managed");
    let arn = policy_arn("/team/", "Shared");
    store
        .attach_role_policy("Deploy", &arn)
        .await
        .expect("attach");
    store
        .attach_role_policy("Deploy", &arn)
        .await
        .expect("attaching again changes nothing");
    store
        .ensure_initial_sealing_key(&sealing(1, 0x01, 1))
        .await
        .expect("key");
    assert_eq!(store.generation().await.expect("generation"), start + 6);

    let Changes::Entities(changed) = store.changes_since(start).await.expect("changes") else {
        panic!("entities changed");
    };
    assert_eq!(changed.generation, start + 6);
    assert_eq!(changed.providers.len(), 1);
    assert_eq!(changed.providers[0].0, "https://gitlab.com");
    let (name, record) = &changed.roles[0];
    assert_eq!(
        (name.as_str(), changed.roles.len()),
        ("Deploy", 1),
        "one entry per entity"
    );
    let record = record.as_ref().expect("the role exists");
    assert_eq!(record.policies.len(), 1);
    assert_eq!(record.attachments[0].policy_arn, arn);
    assert_eq!(changed.policies[0].0, "Shared");
    assert!(
        changed
            .keys
            .as_ref()
            .is_some_and(|k| k.sealing_keys.len() == 1)
    );

    // Since a later generation, only what changed after it.
    let Changes::Entities(later) = store.changes_since(start + 5).await.expect("changes") else {
        panic!("the key changed");
    };
    assert!(later.providers.is_empty() && later.roles.is_empty() && later.policies.is_empty());
    assert!(later.keys.is_some());

    // A deleted entity comes back as None.
    let before_delete = store.generation().await.expect("generation");
    store
        .detach_role_policy("Deploy", &arn)
        .await
        .expect("detach");
    store
        .delete_role_policy("Deploy", "s3")
        .await
        .expect("delete inline");
    store.delete_role("Deploy").await.expect("delete role");
    let Changes::Entities(deleted) = store.changes_since(before_delete).await.expect("changes")
    else {
        panic!("the role changed");
    };
    assert_eq!(deleted.roles, vec![("Deploy".to_owned(), None)]);

    // A trimmed log sends the caller to a full reload.
    store.set_change_retention(10);
    for i in 0..30 {
        store
            .create_role(&role(&format!("r{i}"), &format!("AROA{i:017}")))
            .await
            .expect("role");
    }
    assert!(matches!(
        store.changes_since(start).await.expect("changes"),
        Changes::Trimmed { .. }
    ));
    let now = store.generation().await.expect("generation");
    assert!(matches!(
        store.changes_since(now - 1).await.expect("changes"),
        Changes::Entities(_)
    ));
}

async fn providers_crud(db: &TestDb) {
    let store = db.open().await;
    let g0 = store.generation().await.expect("generation");
    let gitlab = provider("https://gitlab.example.com");
    store.create_provider(&gitlab).await.expect("create");
    assert_eq!(store.generation().await.expect("generation"), g0 + 1);

    assert_err!(
        store.create_provider(&gitlab).await,
        StoreError::EntityAlreadyExists(_)
    );
    assert_eq!(
        store.generation().await.expect("generation"),
        g0 + 1,
        "a refused write does not move the generation"
    );
    assert_eq!(store.get_provider(&gitlab.url).await.expect("get"), gitlab);

    let mut other = provider("https://token.actions.example.net");
    other.key_source = KeySource::Pinned {
        jwks: r#"{"keys":[]}"#.to_owned(),
    };
    other.condition_keys = ConditionKeyMode::Aws;
    other.allow_insecure_http = true;
    other.ca_bundle = Some("-----BEGIN CERTIFICATE-----".to_owned());
    store.create_provider(&other).await.expect("create other");
    let listed = store.list_providers().await.expect("list");
    assert_eq!(listed, vec![gitlab.clone(), other.clone()]);

    let mut updated = gitlab.clone();
    updated.client_ids.push("keyless".to_owned());
    updated.thumbprints.clear();
    updated.key_source = KeySource::JwksUrl {
        url: "https://gitlab.example.com/oauth/discovery/keys".to_owned(),
    };
    updated.created = 42;
    store.update_provider(&updated).await.expect("update");
    let stored = store.get_provider(&gitlab.url).await.expect("get");
    assert_eq!(stored.client_ids, updated.client_ids);
    assert_eq!(stored.thumbprints, Vec::<String>::new());
    assert_eq!(stored.key_source, updated.key_source);
    assert_eq!(stored.created, gitlab.created, "creation time is kept");

    store.delete_provider(&gitlab.url).await.expect("delete");
    let err = store.get_provider(&gitlab.url).await;
    assert_err!(err, StoreError::NoSuchEntity(_));
    assert_err!(
        store.delete_provider(&gitlab.url).await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(
        store.update_provider(&gitlab).await,
        StoreError::NoSuchEntity(_)
    );
    assert_eq!(store.generation().await.expect("generation"), g0 + 4);
}

async fn roles_and_inline_policies(db: &TestDb) {
    let store = db.open().await;
    let deploy = role("Deploy", "AROA00000000000000001");
    store.create_role(&deploy).await.expect("create");
    match store
        .create_role(&role("deploy", "AROA00000000000000002"))
        .await
    {
        Err(StoreError::EntityAlreadyExists(message)) => {
            assert_eq!(message, "Role with name deploy already exists.")
        }
        other => panic!("expected EntityAlreadyExists, got {other:?}"),
    }
    assert_eq!(store.get_role("Deploy").await.expect("get"), deploy);
    match store.get_role("Missing").await {
        Err(StoreError::NoSuchEntity(message)) => {
            assert_eq!(message, "The role with name Missing cannot be found.")
        }
        other => panic!("expected NoSuchEntity, got {other:?}"),
    }

    let mut build = role("Build", "AROA00000000000000003");
    build.path = "/other/".to_owned();
    store.create_role(&build).await.expect("create build");
    let names = |roles: Vec<Role>| roles.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let all = PageRequest {
        after: None,
        limit: 100,
    };
    assert_eq!(
        names(store.list_roles_page(None, all).await.expect("list")),
        ["Build", "Deploy"]
    );
    assert_eq!(
        names(
            store
                .list_roles_page(Some("/ci/"), all)
                .await
                .expect("list")
        ),
        ["Deploy"]
    );
    let after_build = PageRequest {
        after: Some("Build"),
        limit: 1,
    };
    assert_eq!(
        names(
            store
                .list_roles_page(None, after_build)
                .await
                .expect("list")
        ),
        ["Deploy"],
        "a page starts after its marker's key"
    );

    let mut changed = deploy.clone();
    changed.role_id = "AROA99999999999999999".to_owned();
    changed.description = None;
    changed.max_session_duration = 43200;
    changed.trust_policy = r#"{"Version":"2012-10-17"}"#.to_owned();
    store.update_role(&changed).await.expect("update");
    let stored = store.get_role("Deploy").await.expect("get");
    assert_eq!(stored.role_id, deploy.role_id, "role ID is immutable");
    assert_eq!(stored.description, None);
    assert_eq!(stored.max_session_duration, 43200);
    assert_eq!(stored.trust_policy, changed.trust_policy);
    assert_err!(
        store.update_role(&role("Ghost", "AROA0")).await,
        StoreError::NoSuchEntity(_)
    );

    assert_err!(
        store.put_role_policy(&inline("Ghost", "p", "{}")).await,
        StoreError::NoSuchEntity(_)
    );
    store
        .put_role_policy(&inline("Deploy", "s3", r#"{"a":1}"#))
        .await
        .expect("put");
    store
        .put_role_policy(&inline("Deploy", "ecr", "{}"))
        .await
        .expect("put");
    store
        .put_role_policy(&inline("Deploy", "s3", r#"{"a":2}"#))
        .await
        .expect("replace");
    assert_eq!(
        store.get_role_policy("Deploy", "s3").await.expect("get"),
        inline("Deploy", "s3", r#"{"a":2}"#)
    );
    assert_eq!(
        store.list_role_policies("Deploy").await.expect("list"),
        ["ecr", "s3"]
    );
    assert_err!(
        store.list_role_policies("Ghost").await,
        StoreError::NoSuchEntity(_)
    );
    match store.get_role_policy("Deploy", "nope").await {
        Err(StoreError::NoSuchEntity(message)) => {
            assert_eq!(message, "The role policy with name nope cannot be found.")
        }
        other => panic!("expected NoSuchEntity, got {other:?}"),
    }

    match store.delete_role("Deploy").await {
        Err(StoreError::DeleteConflict(message)) => {
            assert_eq!(message, "Cannot delete entity, must delete policies first.")
        }
        other => panic!("expected DeleteConflict, got {other:?}"),
    }
    store
        .delete_role_policy("Deploy", "s3")
        .await
        .expect("delete");
    store
        .delete_role_policy("Deploy", "ecr")
        .await
        .expect("delete");
    assert_err!(
        store.delete_role_policy("Deploy", "ecr").await,
        StoreError::NoSuchEntity(_)
    );
    store.delete_role("Deploy").await.expect("delete role");
    assert_err!(
        store.delete_role("Deploy").await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(store.get_role("Deploy").await, StoreError::NoSuchEntity(_));
}

async fn managed_policies_and_attachments(db: &TestDb) {
    let store = db.open().await;
    let push = managed("Push");
    let arn = policy_arn("/team/", "Push");
    store.create_policy(&push).await.expect("create");
    assert_err!(
        store.create_policy(&managed("PUSH")).await,
        StoreError::EntityAlreadyExists(_)
    );
    let mut no_default = managed("Other");
    no_default.versions[0].is_default = false;
    assert_err!(
        store.create_policy(&no_default).await,
        StoreError::InvalidInput(_)
    );
    assert_eq!(store.get_policy(&arn).await.expect("get"), push);
    assert_err!(
        store.get_policy(&policy_arn("/", "Push")).await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(
        store.get_policy("not an arn").await,
        StoreError::NoSuchEntity(_)
    );

    for expected in 2..=5 {
        let version = store
            .create_policy_version(&arn, r#"{"v":1}"#, false, 1_700_000_500)
            .await
            .expect("create version");
        assert_eq!(version.version_id, format!("v{expected}"));
        assert!(!version.is_default);
    }
    assert_err!(
        store
            .create_policy_version(&arn, "{}", true, 1_700_000_600)
            .await,
        StoreError::LimitExceeded(_)
    );
    assert_err!(
        store.delete_policy_version(&arn, "v1").await,
        StoreError::DeleteConflict(_)
    );
    store
        .delete_policy_version(&arn, "v5")
        .await
        .expect("delete version");
    let v6 = store
        .create_policy_version(&arn, r#"{"v":6}"#, true, 1_700_000_700)
        .await
        .expect("version after deletion");
    assert_eq!(v6.version_id, "v6", "version numbers are never reused");
    let stored = store.get_policy(&arn).await.expect("get");
    assert_eq!(
        stored.default_version().map(|v| v.version_id.as_str()),
        Some("v6")
    );
    assert_eq!(stored.updated, 1_700_000_700);
    store
        .set_default_policy_version(&arn, "v2", 1_700_000_800)
        .await
        .expect("set default");
    let stored = store.get_policy(&arn).await.expect("get");
    assert_eq!(
        stored
            .versions
            .iter()
            .filter(|v| v.is_default)
            .map(|v| v.version_id.as_str())
            .collect::<Vec<_>>(),
        ["v2"]
    );
    assert_err!(
        store.set_default_policy_version(&arn, "v9", 0).await,
        StoreError::NoSuchEntity(_)
    );

    store
        .create_role(&role("Deploy", "AROA00000000000000001"))
        .await
        .expect("role");
    assert_err!(
        store.attach_role_policy("Ghost", &arn).await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(
        store
            .attach_role_policy("Deploy", &policy_arn("/team/", "Ghost"))
            .await,
        StoreError::NoSuchEntity(_)
    );
    store
        .attach_role_policy("Deploy", &arn)
        .await
        .expect("attach");
    let generation = store.generation().await.expect("generation");
    store
        .attach_role_policy("Deploy", &arn)
        .await
        .expect("attach again");
    assert_eq!(
        store.generation().await.expect("generation"),
        generation,
        "attaching twice changes nothing"
    );
    assert_eq!(
        store
            .list_attached_role_policies_page(
                "Deploy",
                None,
                PageRequest {
                    after: None,
                    limit: 100
                }
            )
            .await
            .expect("list")
            .into_iter()
            .map(|(_, attachment)| attachment)
            .collect::<Vec<_>>(),
        [Attachment {
            role_name: "Deploy".to_owned(),
            policy_arn: arn.clone(),
        }]
    );
    match store.delete_role("Deploy").await {
        Err(StoreError::DeleteConflict(message)) => {
            assert_eq!(
                message,
                "Cannot delete entity, must detach all policies first."
            )
        }
        other => panic!("expected DeleteConflict, got {other:?}"),
    }
    assert_err!(
        store.delete_policy(&arn).await,
        StoreError::DeleteConflict(_)
    );
    store
        .detach_role_policy("Deploy", &arn)
        .await
        .expect("detach");
    assert_err!(
        store.detach_role_policy("Deploy", &arn).await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(
        store.delete_policy(&arn).await,
        StoreError::DeleteConflict(_)
    );
    for version in ["v1", "v3", "v4", "v6"] {
        store
            .delete_policy_version(&arn, version)
            .await
            .expect("delete version");
    }
    store.delete_policy(&arn).await.expect("delete policy");
    assert_err!(store.get_policy(&arn).await, StoreError::NoSuchEntity(_));
    assert!(
        store
            .list_policies_page(
                None,
                false,
                PageRequest {
                    after: None,
                    limit: 100
                }
            )
            .await
            .expect("list")
            .is_empty()
    );
    store.delete_role("Deploy").await.expect("delete role");
}

async fn sealing_key_rotation(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_sealing_key(&sealing(1, 0x11, 100))
        .await
        .expect("insert");
    assert_err!(
        store.insert_sealing_key(&sealing(1, 0x99, 100)).await,
        StoreError::EntityAlreadyExists(_)
    );
    let states = |snapshot: keyless_store::Snapshot| {
        snapshot
            .sealing_keys
            .iter()
            .map(|k| (k.id, k.state))
            .collect::<Vec<_>>()
    };
    store
        .rotate_sealing_key(&sealing(2, 0x22, 200), 1)
        .await
        .expect("rotate");
    assert_eq!(
        states(store.load_snapshot().await.expect("snapshot")),
        [(1, KeyState::Previous), (2, KeyState::Current)]
    );
    store
        .rotate_sealing_key(&sealing(3, 0x33, 300), 1)
        .await
        .expect("rotate");
    assert_eq!(
        states(store.load_snapshot().await.expect("snapshot")),
        [(2, KeyState::Previous), (3, KeyState::Current)],
        "previous keys beyond keep_previous are deleted"
    );

    let mut next = sealing(4, 0x44, 400);
    next.state = KeyState::Next;
    store.insert_sealing_key(&next).await.expect("insert next");
    store
        .rotate_sealing_key(&next, 2)
        .await
        .expect("promote next");
    let snapshot = store.load_snapshot().await.expect("snapshot");
    assert_eq!(
        states(snapshot.clone()),
        [
            (2, KeyState::Previous),
            (3, KeyState::Previous),
            (4, KeyState::Current)
        ]
    );
    assert_eq!(snapshot.sealing_keys[2].key, [0x44; 32]);
    assert_eq!(snapshot.sealing_keys[0].key, [0x22; 32]);
}

async fn issuer_keys_and_initial_keys(db: &TestDb) {
    let store = db.open().await;
    let (winner, inserted) = store
        .ensure_initial_sealing_key(&sealing(7, 0x77, 700))
        .await
        .expect("initial sealing key");
    assert!(inserted);
    assert_eq!(winner.id, 7);
    let generation = store.generation().await.expect("generation");
    let (again, inserted) = store
        .ensure_initial_sealing_key(&sealing(8, 0x88, 800))
        .await
        .expect("initial sealing key again");
    assert!(!inserted);
    assert_eq!(again, winner);
    assert_eq!(store.generation().await.expect("generation"), generation);

    let first = issuer_key("gitlab", "k1", b"first private key", KeyState::Current);
    let (winner, inserted) = store
        .ensure_initial_issuer_key(&first)
        .await
        .expect("initial issuer key");
    assert!(inserted);
    assert_eq!(winner, first);
    let (again, inserted) = store
        .ensure_initial_issuer_key(&issuer_key("gitlab", "k9", b"other", KeyState::Current))
        .await
        .expect("initial issuer key again");
    assert!(!inserted);
    assert_eq!(again, first);
    let (other_issuer, inserted) = store
        .ensure_initial_issuer_key(&issuer_key("github", "g1", b"gh", KeyState::Current))
        .await
        .expect("initial key of a second issuer");
    assert!(inserted, "each issuer gets its own initial key");
    assert_eq!(other_issuer.issuer, "github");

    let next = issuer_key("gitlab", "k2", b"second private key", KeyState::Next);
    store.insert_issuer_key(&next).await.expect("insert");
    assert_err!(
        store.insert_issuer_key(&next).await,
        StoreError::EntityAlreadyExists(_)
    );
    store
        .set_issuer_key_state("gitlab", "k1", KeyState::Previous, 1_700_001_000)
        .await
        .expect("demote");
    store
        .set_issuer_key_state("gitlab", "k2", KeyState::Current, 1_700_001_000)
        .await
        .expect("promote");
    assert_err!(
        store
            .set_issuer_key_state("gitlab", "missing", KeyState::Retired, 0)
            .await,
        StoreError::NoSuchEntity(_)
    );
    let snapshot = store.load_snapshot().await.expect("snapshot");
    let gitlab: Vec<_> = snapshot
        .issuer_keys
        .iter()
        .filter(|k| k.issuer == "gitlab")
        .map(|k| {
            (
                k.kid.as_str(),
                k.state,
                k.state_changed,
                k.pkcs8_der.clone(),
            )
        })
        .collect();
    assert_eq!(
        gitlab,
        [
            (
                "k1",
                KeyState::Previous,
                1_700_001_000,
                b"first private key".to_vec()
            ),
            (
                "k2",
                KeyState::Current,
                1_700_001_000,
                b"second private key".to_vec()
            ),
        ]
    );
}

async fn admin_credentials_initialised_once(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.admin_credentials().await.expect("read"), None);
    let first = admin("AKIAFIRST", "first-secret");
    let (stored, inserted) = store.init_admin_credentials(&first).await.expect("init");
    assert!(inserted);
    assert_eq!(stored, first);
    let (stored, inserted) = store
        .init_admin_credentials(&admin("AKIASECOND", "second-secret"))
        .await
        .expect("init again");
    assert!(!inserted);
    assert_eq!(stored, first);
    assert_eq!(store.admin_credentials().await.expect("read"), Some(first));

    let rotated = admin("AKIAROTATED", "rotated-secret");
    store
        .replace_admin_credentials(&rotated)
        .await
        .expect("replace");
    assert_eq!(
        store.admin_credentials().await.expect("read"),
        Some(rotated)
    );
    let shown = format!("{:?}", store.admin_credentials().await.expect("read"));
    assert!(
        !shown.contains("rotated-secret"),
        "Debug redacts the secret"
    );
}

async fn apply_config_semantics(db: &TestDb) {
    let store = db.open().await;
    store
        .create_provider(&provider("https://api-managed.example.com"))
        .await
        .expect("api provider");
    store
        .create_role(&role("ApiRole", "AROA00000000000000001"))
        .await
        .expect("api role");
    store
        .create_role(&role("TakenOver", "AROA00000000000000002"))
        .await
        .expect("role to take over");
    store
        .put_role_policy(&inline("TakenOver", "from-api", "{}"))
        .await
        .expect("api inline policy");
    store.create_policy(&managed("Push")).await.expect("policy");
    let push_arn = policy_arn("/team/", "Push");

    let config_provider = provider("https://gitlab.example.com");
    let config_roles = vec![
        role("Deploy", "AROA00000000000000010"),
        role("TakenOver", "AROA00000000000000011"),
    ];
    let config_policies = vec![
        inline("Deploy", "s3", r#"{"s3":1}"#),
        inline("TakenOver", "ecr", r#"{"ecr":1}"#),
    ];
    let before = store.generation().await.expect("generation");
    store
        .apply_config(
            std::slice::from_ref(&config_provider),
            &config_roles,
            &config_policies,
        )
        .await
        .expect("apply");
    let after_first = store.generation().await.expect("generation");
    assert_eq!(after_first, before + 1, "one transaction, one bump");

    let stored = store
        .get_provider(&config_provider.url)
        .await
        .expect("config provider");
    assert_eq!(stored.managed_by, ManagedBy::Config);
    let taken = store.get_role("TakenOver").await.expect("taken over");
    assert_eq!(taken.managed_by, ManagedBy::Config);
    assert_eq!(
        taken.role_id, "AROA00000000000000002",
        "a taken-over role keeps its ID"
    );
    assert_eq!(
        store.list_role_policies("TakenOver").await.expect("list"),
        ["ecr"],
        "the config owns the inline policies of its roles"
    );
    assert_eq!(
        store
            .get_role("ApiRole")
            .await
            .expect("api role")
            .managed_by,
        ManagedBy::Api
    );

    // Re-applying the same declarations, even with fresh IDs and times, changes nothing.
    let mut fresh_roles = config_roles.clone();
    for r in &mut fresh_roles {
        r.role_id = "AROAFRESHFRESHFRESH1".to_owned();
        r.created = 1;
    }
    let mut fresh_provider = config_provider.clone();
    fresh_provider.created = 1;
    store
        .apply_config(
            std::slice::from_ref(&fresh_provider),
            &fresh_roles,
            &config_policies,
        )
        .await
        .expect("re-apply");
    assert_eq!(store.generation().await.expect("generation"), after_first);
    assert_eq!(
        store.get_role("Deploy").await.expect("deploy").role_id,
        "AROA00000000000000010"
    );

    // A changed document is rewritten.
    let changed_policies = vec![
        inline("Deploy", "s3", r#"{"s3":2}"#),
        inline("TakenOver", "ecr", r#"{"ecr":1}"#),
    ];
    store
        .apply_config(
            std::slice::from_ref(&config_provider),
            &config_roles,
            &changed_policies,
        )
        .await
        .expect("apply changed");
    assert_eq!(
        store.generation().await.expect("generation"),
        after_first + 1
    );
    assert_eq!(
        store
            .get_role_policy("Deploy", "s3")
            .await
            .expect("get")
            .document,
        r#"{"s3":2}"#
    );

    // Undeclared config entities go away, with their policies and attachments.
    store
        .attach_role_policy("Deploy", &push_arn)
        .await
        .expect("attach");
    store
        .apply_config(&[], &config_roles[1..], &changed_policies[1..])
        .await
        .expect("apply smaller");
    assert_err!(
        store.get_provider(&config_provider.url).await,
        StoreError::NoSuchEntity(_)
    );
    assert_err!(store.get_role("Deploy").await, StoreError::NoSuchEntity(_));
    let snapshot = store.load_snapshot().await.expect("snapshot");
    assert!(snapshot.attachments.is_empty());
    assert!(
        snapshot
            .role_policies
            .iter()
            .all(|p| p.role_name != "Deploy")
    );
    store
        .get_provider("https://api-managed.example.com")
        .await
        .expect("API-managed providers are untouched");
    store.get_policy(&push_arn).await.expect("policy untouched");

    // Declarations are validated before anything is written.
    let generation = store.generation().await.expect("generation");
    assert_err!(
        store
            .apply_config(&[], &[], &[inline("Nobody", "p", "{}")])
            .await,
        StoreError::InvalidInput(_)
    );
    assert_err!(
        store
            .apply_config(&[], &[role("Twice", "AROA1"), role("twice", "AROA2")], &[])
            .await,
        StoreError::InvalidInput(_)
    );
    assert_err!(
        store
            .apply_config(&[], &[role("apirole", "AROA3")], &[])
            .await,
        StoreError::EntityAlreadyExists(_)
    );
    assert_eq!(store.generation().await.expect("generation"), generation);
    store
        .get_role("TakenOver")
        .await
        .expect("a refused apply leaves everything in place");
}

async fn populate(store: &Store) {
    store
        .create_provider(&provider("https://gitlab.example.com"))
        .await
        .expect("provider");
    store
        .create_role(&role("Deploy", "AROA00000000000000001"))
        .await
        .expect("role");
    store
        .put_role_policy(&inline("Deploy", "s3", "{}"))
        .await
        .expect("inline");
    store.create_policy(&managed("Push")).await.expect("policy");
    store
        .attach_role_policy("Deploy", &policy_arn("/team/", "Push"))
        .await
        .expect("attach");
    store
        .insert_sealing_key(&sealing(1, 0x5a, 100))
        .await
        .expect("sealing key");
    store
        .insert_issuer_key(&issuer_key(
            "gitlab",
            "k1",
            b"PKCS8-PRIVATE-KEY-BYTES-FOR-TEST",
            KeyState::Current,
        ))
        .await
        .expect("issuer key");
    store
        .insert_issuer_key(&issuer_key(
            "gitlab",
            "k2",
            b"ANOTHER-PRIVATE-KEY-BYTES",
            KeyState::Next,
        ))
        .await
        .expect("issuer key");
    store
        .init_admin_credentials(&admin("AKIAADMIN", "ADMIN-SECRET-ACCESS-KEY-VALUE"))
        .await
        .expect("admin");
}

async fn snapshot_holds_everything_and_survives_reopen(db: &TestDb) {
    let store = db.open().await;
    let empty = store.load_snapshot().await.expect("empty snapshot");
    assert!(empty.providers.is_empty() && empty.roles.is_empty() && empty.admin.is_none());
    populate(&store).await;
    let snapshot = store.load_snapshot().await.expect("snapshot");
    assert_eq!(snapshot.generation, store.generation().await.expect("gen"));
    assert_eq!(snapshot.generation, empty.generation + 9);
    assert_eq!(snapshot.providers, [provider("https://gitlab.example.com")]);
    assert_eq!(snapshot.roles, [role("Deploy", "AROA00000000000000001")]);
    assert_eq!(snapshot.role_policies, [inline("Deploy", "s3", "{}")]);
    assert_eq!(snapshot.managed_policies, [managed("Push")]);
    assert_eq!(
        snapshot.attachments,
        [Attachment {
            role_name: "Deploy".to_owned(),
            policy_arn: policy_arn("/team/", "Push"),
        }]
    );
    assert_eq!(snapshot.sealing_keys, [sealing(1, 0x5a, 100)]);
    assert_eq!(snapshot.issuer_keys.len(), 2);
    assert_eq!(
        snapshot.issuer_keys[0].pkcs8_der,
        b"PKCS8-PRIVATE-KEY-BYTES-FOR-TEST"
    );
    assert_eq!(
        snapshot.admin,
        Some(admin("AKIAADMIN", "ADMIN-SECRET-ACCESS-KEY-VALUE"))
    );

    store.close().await;
    let reopened = db.open().await;
    assert_eq!(reopened.load_snapshot().await.expect("reopened"), snapshot);
    reopened.ping().await.expect("ping");
}

async fn wrong_master_key_is_detected(db: &TestDb) {
    let store = db.open().await;
    populate(&store).await;
    store.close().await;
    match Store::open(&db.url, MasterKey::generate()).await {
        Err(StoreError::MasterKeyMismatch) => {}
        other => panic!("expected MasterKeyMismatch, got {other:?}"),
    }
    assert_eq!(
        StoreError::MasterKeyMismatch.to_string(),
        "master key does not match this database"
    );
    db.open()
        .await
        .ping()
        .await
        .expect("the right key still opens");
}

async fn secrets_are_not_stored_in_plaintext(db: &TestDb) {
    let store = db.open().await;
    populate(&store).await;
    let secrets: [&[u8]; 4] = [
        &[0x5a; 32],
        b"PKCS8-PRIVATE-KEY-BYTES-FOR-TEST",
        b"ANOTHER-PRIVATE-KEY-BYTES",
        b"ADMIN-SECRET-ACCESS-KEY-VALUE",
    ];
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);

    let raw = db.raw().await;
    let mut stored: Vec<Vec<u8>> = Vec::new();
    for (sql, column) in [
        ("SELECT sealed_key FROM sealing_keys", "sealed_key"),
        ("SELECT sealed_pkcs8 FROM issuer_keys", "sealed_pkcs8"),
        (
            "SELECT sealed_secret FROM admin_credentials",
            "sealed_secret",
        ),
    ] {
        for row in sqlx::query(sql).fetch_all(&raw).await.expect("raw read") {
            stored.push(row.try_get(column).expect("bytes"));
        }
    }
    let row = sqlx::query("SELECT access_key_id FROM admin_credentials")
        .fetch_one(&raw)
        .await
        .expect("raw admin");
    assert_eq!(
        row.try_get::<String, _>("access_key_id").expect("id"),
        "AKIAADMIN"
    );
    raw.close().await;
    assert_eq!(stored.len(), 4);
    for value in &stored {
        for secret in secrets {
            assert!(!contains(value, secret), "a secret is stored in plaintext");
        }
    }

    if let Some(path) = &db.sqlite_path {
        store.close().await;
        let mut bytes = std::fs::read(path).expect("database file");
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        if let Ok(more) = std::fs::read(&wal) {
            bytes.extend(more);
        }
        assert!(
            contains(&bytes, b"AKIAADMIN"),
            "the scan reads the stored data"
        );
        for secret in secrets {
            assert!(
                !contains(&bytes, secret),
                "a secret appears in the database files"
            );
        }
    }
}

async fn moved_ciphertexts_do_not_open(db: &TestDb) {
    let store = db.open().await;
    populate(&store).await;
    let raw = db.raw().await;
    let k1: Vec<u8> = sqlx::query("SELECT sealed_pkcs8 FROM issuer_keys WHERE kid = 'k1'")
        .fetch_one(&raw)
        .await
        .expect("k1")
        .try_get("sealed_pkcs8")
        .expect("bytes");
    sqlx::query("UPDATE issuer_keys SET sealed_pkcs8 = $1 WHERE kid = 'k2'")
        .bind(k1)
        .execute(&raw)
        .await
        .expect("swap");
    raw.close().await;
    match store.load_snapshot().await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("k2"), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

async fn audit_events_are_appended(db: &TestDb) {
    let store = db.open().await;
    let generation = store.generation().await.expect("generation");
    store
        .insert_audit_events(&[
            r#"{"event":"AssumeRoleWithWebIdentity","decision":"allow"}"#,
            r#"{"event":"AssumeRoleWithWebIdentity","decision":"deny"}"#,
        ])
        .await
        .expect("insert");
    assert_err!(
        store
            .insert_audit_events(&[r#"{"ok":1}"#, "not json"])
            .await,
        StoreError::InvalidInput(_)
    );
    assert_eq!(store.generation().await.expect("generation"), generation);
    let raw = db.raw().await;
    let events: Vec<String> = sqlx::query("SELECT event FROM audit_events ORDER BY id")
        .fetch_all(&raw)
        .await
        .expect("read")
        .iter()
        .map(|r| r.try_get("event").expect("event"))
        .collect();
    raw.close().await;
    assert_eq!(events.len(), 2);
    assert!(events[1].contains("deny"));
    assert_eq!(store.prune_audit_events(0).await.expect("prune nothing"), 0);
    assert_eq!(
        store
            .prune_audit_events(i64::MAX)
            .await
            .expect("prune everything"),
        2
    );
}

async fn two_handles_share_state_and_agree_on_winners(db: &TestDb) {
    // Both replicas start against an empty database at once: migrations and the key check race.
    let open = || {
        let (url, key) = (db.url.clone(), db.master_key());
        tokio::spawn(async move { Store::open(&url, key).await })
    };
    let (first, second) = tokio::join!(open(), open());
    let first = first.expect("task").expect("first open");
    let second = second.expect("task").expect("second open");
    let generation = second.generation().await.expect("generation");
    // Store futures are `Send`, so a multi-threaded server can run them on any worker.
    let writer = first.clone();
    tokio::spawn(async move {
        writer
            .create_role(&role("Deploy", "AROA00000000000000001"))
            .await
    })
    .await
    .expect("task")
    .expect("write through the first handle");
    let reader = second.clone();
    tokio::spawn(async move { reader.apply_config(&[], &[], &[]).await })
        .await
        .expect("task")
        .expect("an empty config changes nothing");
    assert_eq!(
        second.generation().await.expect("generation"),
        generation + 1
    );
    assert_eq!(
        {
            let reader = second.clone();
            tokio::spawn(async move { reader.load_snapshot().await })
                .await
                .expect("task")
                .expect("snapshot")
                .roles
        },
        [role("Deploy", "AROA00000000000000001")]
    );

    let known = second.generation().await.expect("generation");
    assert_eq!(
        second.changes_since(known).await.expect("poll"),
        Changes::Current
    );
    first
        .put_role_policy(&inline("Deploy", "s3", "{}"))
        .await
        .expect("write");
    let Changes::Entities(polled) = second.changes_since(known).await.expect("poll") else {
        panic!("the other handle sees the change");
    };
    assert_eq!(polled.generation, known + 1);
    assert_eq!(polled.roles.len(), 1);
    let (name, record) = &polled.roles[0];
    assert_eq!(name, "Deploy");
    assert_eq!(
        record.as_ref().expect("the role exists").policies,
        [inline("Deploy", "s3", "{}")]
    );

    let (one, two) = (first.clone(), second.clone());
    let (a, b) = tokio::join!(
        tokio::spawn(async move {
            one.init_admin_credentials(&admin("AKIAONE", "secret-one"))
                .await
        }),
        tokio::spawn(async move {
            two.init_admin_credentials(&admin("AKIATWO", "secret-two"))
                .await
        }),
    );
    let (a, a_inserted) = a.expect("task").expect("first init");
    let (b, b_inserted) = b.expect("task").expect("second init");
    assert_eq!(a, b, "both handles see the same winner");
    assert!(a_inserted ^ b_inserted, "exactly one insert wins");

    let (one, two) = (first.clone(), second.clone());
    let (a, b) = tokio::join!(
        tokio::spawn(async move { one.ensure_initial_sealing_key(&sealing(1, 0x01, 1)).await }),
        tokio::spawn(async move { two.ensure_initial_sealing_key(&sealing(2, 0x02, 2)).await }),
    );
    let (a, a_inserted) = a.expect("task").expect("first sealing key");
    let (b, b_inserted) = b.expect("task").expect("second sealing key");
    assert_eq!(a, b);
    assert!(a_inserted ^ b_inserted);

    let (one, two) = (first.clone(), second.clone());
    let (a, b) = tokio::join!(
        tokio::spawn(async move {
            one.ensure_initial_issuer_key(&issuer_key("gitlab", "a", b"a", KeyState::Current))
                .await
        }),
        tokio::spawn(async move {
            two.ensure_initial_issuer_key(&issuer_key("gitlab", "b", b"b", KeyState::Current))
                .await
        }),
    );
    let (a, a_inserted) = a.expect("task").expect("first issuer key");
    let (b, b_inserted) = b.expect("task").expect("second issuer key");
    assert_eq!(a, b);
    assert!(a_inserted ^ b_inserted);
    let snapshot = first.load_snapshot().await.expect("snapshot");
    assert_eq!(snapshot.sealing_keys.len(), 1);
    assert_eq!(snapshot.issuer_keys.len(), 1);
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_them() {
    match Store::open("mysql://user:hunter2@db/keyless", MasterKey::generate()).await {
        Err(StoreError::InvalidUrl(message)) => assert!(!message.contains("hunter2")),
        other => panic!("expected InvalidUrl, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_url_forms_are_accepted_and_the_file_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested name.db");
    for url in [
        format!("sqlite:{}", path.display()),
        format!("sqlite://{}", path.display()),
    ] {
        let store = Store::open(&url, MasterKey::from_base64(&"A".repeat(43)).expect("key"))
            .await
            .expect("open");
        assert_eq!(store.dialect(), "sqlite");
        store.close().await;
        assert!(path.exists());
    }
}
