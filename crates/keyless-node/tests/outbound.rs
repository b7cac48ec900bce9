//! Outbound federation on a node: keys created at start, the switch and rotation reaching the
//! live state through the change log, and previous keys retired once their tokens expired.

use keyless_node::config::Config;
use keyless_node::data::DataOptions;
use keyless_node::outbound::{RETIRE_AFTER_SECS, RotationStep, rotate};
use keyless_node::start::{NodeOptions, start};
use keyless_oidc::outbound::SigningAlgorithm;

fn kids(node: &keyless_node::Node) -> Vec<String> {
    node.live
        .load()
        .outbound
        .keyring
        .published()
        .map(|k| k.kid().to_owned())
        .collect()
}

fn signing(node: &keyless_node::Node, algorithm: SigningAlgorithm) -> String {
    node.live
        .load()
        .outbound
        .keyring
        .current(algorithm)
        .expect("a current key")
        .kid()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_the_switch_and_rotation_reach_the_live_state() {
    let dir = tempfile::tempdir().unwrap();
    let started = start(NodeOptions {
        data: DataOptions {
            data_dir: dir.path().to_owned(),
            database: None,
        },
        config: Config::default(),
        config_file: None,
        dev: false,
        public_url: "https://keyless.test/".to_owned(),
        clock_offset_secs: 0,
    })
    .await
    .unwrap();
    let node = started.node;
    let outbound = node.live.load().outbound.clone();
    assert_eq!(outbound.issuer, "https://keyless.test/outbound");
    assert!(!outbound.enabled);
    assert_eq!(kids(&node), ["RSA_0", "EC384_0"]);

    node.store.set_outbound_federation(true, 1).await.unwrap();
    node.refresh().await.unwrap();
    assert!(node.live.load().outbound.enabled);

    let now = keyless_node::clock::unix_now();
    let steps = rotate(&node.store, now).await.unwrap();
    assert_eq!(
        steps,
        [
            RotationStep::Published {
                kid: "RSA_1".into()
            },
            RotationStep::Published {
                kid: "EC384_1".into()
            },
        ]
    );
    node.refresh().await.unwrap();
    assert_eq!(signing(&node, SigningAlgorithm::Rs256), "RSA_0");
    assert_eq!(kids(&node).len(), 4);

    rotate(&node.store, now).await.unwrap();
    node.refresh().await.unwrap();
    assert_eq!(signing(&node, SigningAlgorithm::Rs256), "RSA_1");
    assert_eq!(signing(&node, SigningAlgorithm::Es384), "EC384_1");
    assert_eq!(kids(&node).len(), 4, "the previous keys stay published");

    // A next key, then promotion before the previous keys' tokens have expired: they stay.
    rotate(&node.store, now + 10).await.unwrap();
    let steps = rotate(&node.store, now + 20).await.unwrap();
    assert!(
        !steps
            .iter()
            .any(|s| matches!(s, RotationStep::Retired { .. }))
    );
    node.refresh().await.unwrap();
    assert_eq!(signing(&node, SigningAlgorithm::Rs256), "RSA_2");
    assert_eq!(kids(&node).len(), 6);

    // Once they have, the next promotion retires them.
    rotate(&node.store, now + 30).await.unwrap();
    let steps = rotate(&node.store, now + RETIRE_AFTER_SECS + 20)
        .await
        .unwrap();
    assert!(steps.contains(&RotationStep::Retired {
        kid: "RSA_0".into()
    }));
    assert!(steps.contains(&RotationStep::Retired {
        kid: "RSA_1".into()
    }));
    assert!(steps.contains(&RotationStep::Promoted {
        kid: "RSA_3".into(),
        replaced: "RSA_2".into()
    }));
    node.refresh().await.unwrap();
    let published = kids(&node);
    assert!(!published.contains(&"RSA_0".to_owned()) && !published.contains(&"RSA_1".to_owned()));
    assert!(published.contains(&"RSA_2".to_owned()) && published.contains(&"RSA_3".to_owned()));
}
