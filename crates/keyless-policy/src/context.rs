//! Request context: condition keys and their values.

use serde::Serialize;

/// The value of one condition key in the request context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ContextValue {
    /// A single-valued key.
    Single(String),
    /// A multi-valued key (for example `aws:TagKeys` or Cognito `amr`).
    Multi(Vec<String>),
}

impl ContextValue {
    /// The values as a slice (one element for [`ContextValue::Single`]).
    pub fn values(&self) -> &[String] {
        match self {
            ContextValue::Single(value) => std::slice::from_ref(value),
            ContextValue::Multi(values) => values,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key_lower: String,
    /// [`fingerprint`] of `key_lower`: most keys that differ differ in it.
    fingerprint: u32,
    /// The key as inserted, when it differs from `key_lower`.
    key: Option<String>,
    value: ContextValue,
}

impl Entry {
    fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(&self.key_lower)
    }
}

/// A lower-cased key's length, middle byte and last byte, compared before the key itself.
/// `lower` gives a byte of the key lower-cased (the key may be lower-cased on the fly).
fn fingerprint(bytes: &[u8], lower: impl Fn(u8) -> u8) -> u32 {
    let len = bytes.len();
    let last = bytes.last().map_or(0, |b| lower(*b));
    let middle = bytes.get(len / 2).map_or(0, |b| lower(*b));
    ((len as u32) << 16) | (u32::from(middle) << 8) | u32::from(last)
}

/// Condition keys of a request. Key lookup is case-insensitive, as in IAM; values keep
/// their case.
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: Vec<Entry>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Context::default()
    }

    /// An empty context with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Context {
            entries: Vec::with_capacity(n),
        }
    }

    /// Sets `key` (replacing any value stored under a case-variant of it).
    pub fn insert(&mut self, key: &str, value: ContextValue) {
        let ascii = key.is_ascii();
        let lowered = (!ascii).then(|| key.to_lowercase());
        let fingerprint = match &lowered {
            None => fingerprint(key.as_bytes(), |b| b.to_ascii_lowercase()),
            Some(lower) => fingerprint(lower.as_bytes(), |b| b),
        };
        // A stored `key_lower` equals an ASCII `key` lower-cased exactly when the two match
        // ignoring ASCII case: no lower-cased copy is needed to look.
        let existing = self.entries.iter_mut().find(|e| {
            e.fingerprint == fingerprint
                && match &lowered {
                    None => e.key_lower.eq_ignore_ascii_case(key),
                    Some(lower) => e.key_lower == *lower,
                }
        });
        match existing {
            Some(entry) => {
                entry.key = (entry.key_lower != key).then(|| key.to_owned());
                entry.value = value;
            }
            None => {
                let key_lower = lowered.unwrap_or_else(|| key.to_ascii_lowercase());
                let key = (key_lower != key).then(|| key.to_owned());
                self.entries.push(Entry {
                    key_lower,
                    fingerprint,
                    key,
                    value,
                });
            }
        }
    }

    /// Looks `key` up case-insensitively.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        self.get_lower(&key.to_lowercase())
    }

    /// Looks up a key that is already lower-cased (the evaluator's hot path).
    pub(crate) fn get_lower(&self, key_lower: &str) -> Option<&ContextValue> {
        let fingerprint = fingerprint(key_lower.as_bytes(), |b| b);
        self.entries
            .iter()
            .find(|e| e.fingerprint == fingerprint && e.key_lower == key_lower)
            .map(|e| &e.value)
    }

    /// Iterates over keys (as inserted) and values, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|e| (e.key(), &e.value))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Builds a context from a JSON object: key -> string | number | bool | array of those.
    /// Arrays are multi-valued keys; numbers and booleans become their JSON text. Keys that
    /// differ only by case are rejected.
    pub fn from_json(v: &serde_json::Value) -> Result<Context, String> {
        let object = v
            .as_object()
            .ok_or_else(|| "context must be a JSON object".to_string())?;
        let mut ctx = Context::new();
        for (key, value) in object {
            if ctx.get(key).is_some() {
                return Err(format!(
                    "context key {key:?} appears twice with different case"
                ));
            }
            let scalar = |v: &serde_json::Value| -> Result<String, String> {
                match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    serde_json::Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(format!(
                        "context key {key:?}: values must be strings, numbers or booleans"
                    )),
                }
            };
            let value = match value {
                serde_json::Value::Array(items) => {
                    ContextValue::Multi(items.iter().map(scalar).collect::<Result<_, _>>()?)
                }
                other => ContextValue::Single(scalar(other)?),
            };
            ctx.insert(key, value);
        }
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_replaced() {
        let mut ctx = Context::new();
        ctx.insert("gitlab.com:sub", ContextValue::Single("a".into()));
        ctx.insert("GITLAB.COM:SUB", ContextValue::Single("b".into()));
        assert_eq!(ctx.len(), 1);
        assert_eq!(
            ctx.get("GitLab.com:Sub"),
            Some(&ContextValue::Single("b".into()))
        );
        assert_eq!(ctx.iter().next().map(|(k, _)| k), Some("GITLAB.COM:SUB"));
    }

    #[test]
    fn from_json_normalises_scalars() {
        let ctx = Context::from_json(&serde_json::json!({
            "a": "x", "n": 12.5, "b": true, "m": ["p", 1, false]
        }))
        .expect("valid context");
        assert_eq!(ctx.get("n"), Some(&ContextValue::Single("12.5".into())));
        assert_eq!(ctx.get("b"), Some(&ContextValue::Single("true".into())));
        assert_eq!(
            ctx.get("m"),
            Some(&ContextValue::Multi(vec![
                "p".into(),
                "1".into(),
                "false".into()
            ]))
        );
    }

    #[test]
    fn from_json_rejects_bad_shapes() {
        assert!(Context::from_json(&serde_json::json!([1])).is_err());
        assert!(Context::from_json(&serde_json::json!({"a": null})).is_err());
        assert!(Context::from_json(&serde_json::json!({"a": [{"x": 1}]})).is_err());
        assert!(Context::from_json(&serde_json::json!({"a": "x", "A": "y"})).is_err());
    }
}
