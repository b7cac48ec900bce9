//! Outbound federation in the store: the switch, the sealed keys, and the change log, on
//! SQLite and (when configured) PostgreSQL.

mod support;

use keyless_store::{Changes, KeyState, OutboundKeyRecord, StoreError};
use support::TestDb;

on_both_backends!(
    the_switch_flips_once_each_way_through_the_change_log,
    keys_are_sealed_rotated_and_seen_by_replicas,
);

fn key(kid: &str, algorithm: &str, created: i64) -> OutboundKeyRecord {
    OutboundKeyRecord {
        kid: kid.to_owned(),
        algorithm: algorithm.to_owned(),
        pkcs8_der: format!("private {kid}").into_bytes(),
        created,
        state: KeyState::Next,
        state_changed: created,
    }
}

async fn the_switch_flips_once_each_way_through_the_change_log(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.outbound_federation().await.unwrap(), None);
    assert!(!store.set_outbound_federation(false, 5).await.unwrap());
    let before = store.generation().await.unwrap();
    assert!(store.set_outbound_federation(true, 10).await.unwrap());
    assert!(!store.set_outbound_federation(true, 11).await.unwrap());
    let on = store.outbound_federation().await.unwrap().unwrap();
    assert!(on.enabled);
    assert_eq!(on.changed, 10);
    let Changes::Entities(changed) = store.changes_since(before).await.unwrap() else {
        panic!("expected entities");
    };
    assert!(changed.outbound.unwrap().federation.unwrap().enabled);
    assert!(changed.keys.is_none());
    assert!(store.set_outbound_federation(false, 20).await.unwrap());
    assert!(!store.set_outbound_federation(false, 21).await.unwrap());
    let off = store
        .load_snapshot()
        .await
        .unwrap()
        .outbound
        .federation
        .unwrap();
    assert!(!off.enabled);
    assert_eq!(off.changed, 20);
}

async fn keys_are_sealed_rotated_and_seen_by_replicas(db: &TestDb) {
    assert_eq!(db.sqlite_path.is_some(), db.url.starts_with("sqlite:"));
    let store = db.open().await;
    assert!(
        store
            .ensure_initial_outbound_key(&key("RSA_0", "RS256", 1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .ensure_initial_outbound_key(&key("RSA_9", "RS256", 2))
            .await
            .unwrap()
    );
    assert!(
        store
            .ensure_initial_outbound_key(&key("EC384_0", "ES384", 3))
            .await
            .unwrap()
    );
    let duplicate = store.insert_outbound_key(&key("RSA_0", "RS256", 4)).await;
    assert!(matches!(duplicate, Err(StoreError::EntityAlreadyExists(_))));
    let before = store.generation().await.unwrap();
    store
        .insert_outbound_key(&key("RSA_1", "RS256", 5))
        .await
        .unwrap();
    store
        .set_outbound_key_states(
            &[("RSA_1", KeyState::Current), ("RSA_0", KeyState::Previous)],
            6,
        )
        .await
        .unwrap();
    let missing = store
        .set_outbound_key_states(
            &[("RSA_1", KeyState::Retired), ("RSA_7", KeyState::Retired)],
            7,
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NoSuchEntity(_))));
    let Changes::Entities(changed) = store.changes_since(before).await.unwrap() else {
        panic!("expected entities");
    };
    let keys = changed.outbound.unwrap().keys;
    let summary: Vec<(&str, KeyState, i64)> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.state, k.state_changed))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("EC384_0", KeyState::Current, 3),
            ("RSA_0", KeyState::Previous, 6),
            ("RSA_1", KeyState::Current, 6),
        ]
    );
    assert_eq!(
        keys.iter().find(|k| k.kid == "RSA_1").unwrap().pkcs8_der,
        b"private RSA_1"
    );
    assert_eq!(store.outbound().await.unwrap().keys, keys);
    // The private keys are sealed at rest.
    let row = sqlx::query("SELECT sealed_pkcs8 FROM outbound_keys WHERE kid = 'RSA_1'")
        .fetch_one(&db.raw().await)
        .await
        .unwrap();
    let sealed: Vec<u8> = sqlx::Row::try_get(&row, "sealed_pkcs8").unwrap();
    let needle = b"private RSA_1";
    assert!(!sealed.windows(needle.len()).any(|w| w == needle));
}
