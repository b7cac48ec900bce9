//! Outbound identity federation on a node: the `[outbound]` settings (the issuer URL, the
//! session-tag mapping), the signing keys created at first start, loading them into the live
//! state, and their two-step rotation.

use std::collections::BTreeMap;

use keyless_oidc::outbound::{OutboundKey, OutboundKeyring, SigningAlgorithm};
use keyless_store::{KeyState, OutboundKeyRecord, OutboundRecords, Store};
use keyless_sts::web_identity_token::Outbound;
use serde::Deserialize;

/// How long a previous key stays published after it stopped signing: the longest token
/// lifetime (`DurationSeconds` 3600) plus the relying parties' clock leeway.
pub const RETIRE_AFTER_SECS: i64 = 3600 + 300;

/// `[outbound]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The account's issuer URL (`iss`; discovery and JWKS below it). By default
    /// `{public_url}/outbound`.
    pub issuer_url: Option<String>,
    /// Session tags for relying AWS accounts: tag key → the claim of the session's original web
    /// identity token whose value it takes (`gitlab_project = "project_path"`).
    #[serde(default)]
    pub session_tags: BTreeMap<String, String>,
}

/// The resolved `[outbound]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    /// `(tag key, origin claim)`.
    pub session_tags: Vec<(String, String)>,
}

/// The longest issuer URL (IAM's limit on an OIDC provider URL).
const MAX_ISSUER_LEN: usize = 255;

impl OutboundSettings {
    /// Resolves `[outbound]` against the server's public URL.
    pub fn resolve(c: &OutboundConfig, public_url: &str) -> anyhow::Result<OutboundSettings> {
        let issuer = match &c.issuer_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => default_issuer(public_url),
        };
        let Some(rest) = issuer
            .strip_prefix("https://")
            .or_else(|| issuer.strip_prefix("http://"))
        else {
            anyhow::bail!("[outbound] issuer_url must start with https:// (got {issuer:?})");
        };
        if rest.is_empty() || rest.contains(['?', '#']) || issuer.len() > MAX_ISSUER_LEN {
            anyhow::bail!(
                "[outbound] issuer_url must be a URL with a host, no query or fragment, and at most {MAX_ISSUER_LEN} characters (got {issuer:?})"
            );
        }
        if c.session_tags.len() > 50 {
            anyhow::bail!("[outbound] session_tags maps at most 50 tags");
        }
        for (tag, claim) in &c.session_tags {
            if tag.is_empty() || tag.chars().count() > 128 || claim.is_empty() {
                anyhow::bail!(
                    "[outbound] session_tags: {tag:?} = {claim:?} needs a tag key of 1 to 128 characters and a claim name"
                );
            }
        }
        Ok(OutboundSettings {
            issuer,
            session_tags: c
                .session_tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

/// `{public_url}/outbound`.
pub fn default_issuer(public_url: &str) -> String {
    format!("{}/outbound", public_url.trim_end_matches('/'))
}

/// The path of the issuer URL (`/outbound`, or `` when it has none), where this server serves
/// the discovery document and the JWKS.
pub fn issuer_path(issuer: &str) -> &str {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer);
    rest.find('/').map_or("", |i| &rest[i..])
}

fn algorithm_of(rec: &OutboundKeyRecord) -> anyhow::Result<SigningAlgorithm> {
    SigningAlgorithm::parse(&rec.algorithm)
        .ok_or_else(|| anyhow::anyhow!("outbound key {} has an unknown algorithm", rec.kid))
}

fn parse_key(rec: &OutboundKeyRecord) -> anyhow::Result<OutboundKey> {
    Ok(OutboundKey::from_pkcs8_der(
        algorithm_of(rec)?,
        &rec.kid,
        &rec.pkcs8_der,
    )?)
}

/// The account's outbound federation as requests read it: the switch, and the keys (current
/// ones sign; next and previous ones are published; the newer of two current keys signs).
pub fn load(settings: &OutboundSettings, records: &OutboundRecords) -> anyhow::Result<Outbound> {
    let mut keys: Vec<&OutboundKeyRecord> = records.keys.iter().collect();
    keys.sort_by_key(|k| (k.state_changed, k.created));
    let mut current = Vec::new();
    let mut others = Vec::new();
    for rec in keys {
        match rec.state {
            KeyState::Current => current.push(parse_key(rec)?),
            KeyState::Next | KeyState::Previous => others.push(parse_key(rec)?),
            KeyState::Retired => {}
        }
    }
    Ok(Outbound {
        issuer: settings.issuer.clone(),
        enabled: records.federation.is_some_and(|f| f.enabled),
        keyring: OutboundKeyring::new(current, others),
        session_tags: settings.session_tags.clone(),
    })
}

/// The `kid` of the next key of `algorithm`: one past the highest index stored.
fn next_kid(records: &OutboundRecords, algorithm: SigningAlgorithm) -> String {
    let next = records
        .keys
        .iter()
        .filter_map(|k| algorithm.kid_index(&k.kid))
        .max()
        .map_or(0, |i| i + 1);
    algorithm.kid(next)
}

fn record(key: &OutboundKey, state: KeyState, now: i64) -> OutboundKeyRecord {
    OutboundKeyRecord {
        kid: key.kid().to_owned(),
        algorithm: key.algorithm().as_str().to_owned(),
        pkcs8_der: key.to_pkcs8_der(),
        created: now,
        state,
        state_changed: now,
    }
}

/// Makes sure each algorithm has a current key (`RSA_0`, `EC384_0` at first start). Race-safe
/// across replicas starting together.
pub(crate) async fn ensure_keys(store: &Store, now: i64) -> anyhow::Result<()> {
    let records = store.outbound().await?;
    for algorithm in SigningAlgorithm::ALL {
        let has_current = records
            .keys
            .iter()
            .any(|k| k.state == KeyState::Current && k.algorithm == algorithm.as_str());
        if !has_current {
            let key = OutboundKey::generate(algorithm, &next_kid(&records, algorithm))?;
            store
                .ensure_initial_outbound_key(&record(&key, KeyState::Current, now))
                .await?;
        }
    }
    Ok(())
}

/// What one rotation step did, per algorithm, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationStep {
    /// A next key was published; it signs after the next step.
    Published {
        /// Its `kid`.
        kid: String,
    },
    /// The next key now signs; the old current key stays published until its tokens expire.
    Promoted {
        /// The new current key.
        kid: String,
        /// The key it replaced.
        replaced: String,
    },
    /// A previous key whose last token has expired was retired.
    Retired {
        /// Its `kid`.
        kid: String,
    },
}

/// One rotation step for every algorithm: without a next key, publish one; with one, retire
/// the previous keys whose tokens have all expired, then make the next key current and the
/// current one previous.
pub async fn rotate(store: &Store, now: i64) -> anyhow::Result<Vec<RotationStep>> {
    let records = store.outbound().await?;
    let mut steps = Vec::new();
    for algorithm in SigningAlgorithm::ALL {
        let mine: Vec<&OutboundKeyRecord> = records
            .keys
            .iter()
            .filter(|k| k.algorithm == algorithm.as_str())
            .collect();
        let Some(current) = mine.iter().find(|k| k.state == KeyState::Current) else {
            anyhow::bail!(
                "there is no current {} outbound key: has `keyless serve` run on this data directory?",
                algorithm.as_str()
            );
        };
        match mine.iter().find(|k| k.state == KeyState::Next) {
            None => {
                let key = OutboundKey::generate(algorithm, &next_kid(&records, algorithm))?;
                store
                    .insert_outbound_key(&record(&key, KeyState::Next, now))
                    .await?;
                steps.push(RotationStep::Published {
                    kid: key.kid().to_owned(),
                });
            }
            Some(next) => {
                let mut changes: Vec<(&str, KeyState)> = Vec::new();
                for old in mine.iter().filter(|k| {
                    k.state == KeyState::Previous && now - k.state_changed >= RETIRE_AFTER_SECS
                }) {
                    changes.push((&old.kid, KeyState::Retired));
                    steps.push(RotationStep::Retired {
                        kid: old.kid.clone(),
                    });
                }
                changes.push((&next.kid, KeyState::Current));
                changes.push((&current.kid, KeyState::Previous));
                store.set_outbound_key_states(&changes, now).await?;
                steps.push(RotationStep::Promoted {
                    kid: next.kid.clone(),
                    replaced: current.kid.clone(),
                });
            }
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_defaults_to_the_public_url_and_is_checked() {
        let c = OutboundConfig::default();
        let s = OutboundSettings::resolve(&c, "https://sts.example.com/").unwrap();
        assert_eq!(s.issuer, "https://sts.example.com/outbound");
        assert_eq!(issuer_path(&s.issuer), "/outbound");
        assert_eq!(issuer_path("https://id.example.com"), "");
        for bad in ["ftp://x", "https://", "https://x/?a=b", "https://x/#f"] {
            let c = OutboundConfig {
                issuer_url: Some(bad.to_owned()),
                ..OutboundConfig::default()
            };
            assert!(OutboundSettings::resolve(&c, "https://x").is_err(), "{bad}");
        }
        let mut c = OutboundConfig::default();
        c.session_tags.insert(String::new(), "sub".to_owned());
        assert!(OutboundSettings::resolve(&c, "https://x").is_err());
    }

    #[test]
    fn kids_count_up_per_algorithm() {
        let mut records = OutboundRecords::default();
        assert_eq!(next_kid(&records, SigningAlgorithm::Rs256), "RSA_0");
        for kid in ["RSA_0", "RSA_4", "EC384_1"] {
            records.keys.push(OutboundKeyRecord {
                kid: kid.to_owned(),
                algorithm: String::new(),
                pkcs8_der: Vec::new(),
                created: 0,
                state: KeyState::Retired,
                state_changed: 0,
            });
        }
        assert_eq!(next_kid(&records, SigningAlgorithm::Rs256), "RSA_5");
        assert_eq!(next_kid(&records, SigningAlgorithm::Es384), "EC384_2");
    }
}
