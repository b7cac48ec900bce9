//! An ordered claim set that serializes as a JSON object with keys in insertion order.

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::IssuerError;

/// Claims in the order they are serialized. Keys are unique.
#[derive(Debug, Default)]
pub(super) struct ClaimList {
    entries: Vec<(String, Value)>,
}

impl ClaimList {
    /// Appends a claim; the caller guarantees `key` is not present yet.
    pub(super) fn push(&mut self, key: &str, value: impl Into<Value>) {
        self.entries.push((key.to_owned(), value.into()));
    }

    /// The value of `key`, if present.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// Replaces the value of `key` in place, or inserts it right before `anchor` (or at the end
    /// when `anchor` is absent).
    pub(super) fn set(&mut self, key: &str, value: Value, anchor: &str) {
        if let Some(entry) = self.entries.iter_mut().find(|(name, _)| name == key) {
            entry.1 = value;
            return;
        }
        let index = self
            .entries
            .iter()
            .position(|(name, _)| name == anchor)
            .unwrap_or(self.entries.len());
        self.entries.insert(index, (key.to_owned(), value));
    }

    /// The claims as JSON object text, keys in order.
    pub(super) fn to_json(&self) -> Result<String, IssuerError> {
        serde_json::to_string(self).map_err(|error| IssuerError::InvalidPayload(error.to_string()))
    }
}

impl Serialize for ClaimList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(key, value)| (key, value)))
    }
}
