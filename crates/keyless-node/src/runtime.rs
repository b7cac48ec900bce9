//! The runtime file: what the last `keyless serve` on a data directory ran with (the account
//! and the built-in issuers' settings), so that offline commands (`keyless token mint`,
//! `keyless explain`) work from the data directory alone.

use std::path::Path;

use crate::config::DEFAULT_ACCOUNT;
use crate::issuers::IssuerSettings;

/// The file in the data directory.
pub const RUNTIME_FILE: &str = "runtime.json";

/// What the last `keyless serve` on a data directory recorded.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The account ID.
    pub account: String,
    /// The built-in issuers.
    pub issuers: Vec<IssuerSettings>,
    /// The outbound issuer URL (absent in files written before outbound federation).
    pub outbound_issuer: Option<String>,
}

impl Runtime {
    /// Writes the runtime file of `dir` atomically (a temporary file renamed into place).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let list: Vec<serde_json::Value> = self
            .issuers
            .iter()
            .map(|i| {
                serde_json::json!({
                    "name": i.name,
                    "iss": i.iss,
                    "profile": i.profile.as_str(),
                    "default_ttl": i.default_ttl,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "account": self.account,
            "issuers": list,
            "outbound_issuer": self.outbound_issuer,
        });
        let path = dir.join(RUNTIME_FILE);
        let tmp = dir.join(format!("{RUNTIME_FILE}.tmp"));
        crate::data::write_private_file(&tmp, &serde_json::to_vec_pretty(&doc)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Reads the runtime file of `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<Runtime> {
        let path = dir.join(RUNTIME_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {} ({e}); start `keyless serve` on this data directory once first",
                path.display()
            )
        })?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let account = doc["account"]
            .as_str()
            .unwrap_or(DEFAULT_ACCOUNT)
            .to_owned();
        let issuers = doc["issuers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|v| IssuerSettings {
                name: v["name"].as_str().unwrap_or_default().to_owned(),
                iss: v["iss"].as_str().unwrap_or_default().to_owned(),
                profile: match v["profile"].as_str() {
                    Some("github") => keyless_oidc::issuer::Profile::Github,
                    _ => keyless_oidc::issuer::Profile::Gitlab,
                },
                default_ttl: v["default_ttl"]
                    .as_u64()
                    .unwrap_or(keyless_oidc::issuer::DEFAULT_TTL_SECS),
            })
            .collect();
        let outbound_issuer = doc["outbound_issuer"].as_str().map(str::to_owned);
        Ok(Runtime {
            account,
            issuers,
            outbound_issuer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Runtime::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("start `keyless serve` on this data directory once first"),
            "{err}"
        );
        let runtime = Runtime {
            account: "123456789012".into(),
            issuers: vec![IssuerSettings {
                name: "ci".into(),
                iss: "https://ci.example".into(),
                profile: keyless_oidc::issuer::Profile::Github,
                default_ttl: 600,
            }],
            outbound_issuer: Some("https://ci.example/outbound".into()),
        };
        runtime.write(dir.path()).unwrap();
        let read = Runtime::read(dir.path()).unwrap();
        assert_eq!(read.account, "123456789012");
        assert_eq!(read.issuers[0].iss, "https://ci.example");
        assert_eq!(
            read.issuers[0].profile,
            keyless_oidc::issuer::Profile::Github
        );
        assert_eq!(read.issuers[0].default_ttl, 600);
        assert_eq!(
            read.outbound_issuer.as_deref(),
            Some("https://ci.example/outbound")
        );
    }
}
