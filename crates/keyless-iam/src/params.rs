//! Request parameters of the IAM operations, checked against the constraints of IAM's service
//! model and reported in AWS's `ValidationError` format; list paging with an opaque marker.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_sts::Error;
use keyless_sts::model::Tag;
use keyless_sts::query::QueryParams;
use keyless_sts::validate::{self, Violations};

/// The most tags an IAM entity carries.
pub(crate) const MAX_TAGS: usize = 50;
/// `MaxItems` when the request does not say.
pub(crate) const DEFAULT_MAX_ITEMS: usize = 100;

/// `pathType` of roles: `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`.
pub(crate) const ROLE_PATH_PATTERN: &str = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)";
/// `pathPrefixType`: `\u002F[\u0021-\u007F]*`.
pub(crate) const PATH_PREFIX_PATTERN: &str = r"\u002F[\u0021-\u007F]*";
/// `policyPathType`: `((/[A-Za-z0-9\.,\+@=_-]+)*)/`.
pub(crate) const POLICY_PATH_PATTERN: &str = r"((/[A-Za-z0-9\.,\+@=_-]+)*)/";
/// `roleNameType` and `policyNameType`: `[\w+=,.@-]+`.
pub(crate) const ENTITY_NAME_PATTERN: &str = r"[\w+=,.@-]+";
/// `roleDescriptionType`.
pub(crate) const ROLE_DESCRIPTION_PATTERN: &str =
    r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*";
/// `tagKeyType`.
pub(crate) const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
/// `tagValueType`.
pub(crate) const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";
/// `markerType`: `[\u0020-\u00FF]+`.
pub(crate) const MARKER_PATTERN: &str = r"[\u0020-\u00FF]+";
/// `policyVersionIdType`: `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`.
pub(crate) const VERSION_ID_PATTERN: &str = r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?";

/// A violation that no single character explains (the value as a whole misses the pattern).
fn never(_: char) -> bool {
    false
}

/// Whether `path` matches [`ROLE_PATH_PATTERN`].
pub(crate) fn is_role_path(path: &str) -> bool {
    path == "/"
        || (path.len() >= 3
            && path.starts_with('/')
            && path.ends_with('/')
            && path[1..path.len() - 1]
                .chars()
                .all(|c| ('\u{21}'..='\u{7E}').contains(&c)))
}

/// Whether `path` matches [`POLICY_PATH_PATTERN`].
pub(crate) fn is_policy_path(path: &str) -> bool {
    let Some(inner) = path.strip_suffix('/') else {
        return false;
    };
    if inner.is_empty() {
        return true;
    }
    let Some(segments) = inner.strip_prefix('/') else {
        return false;
    };
    segments.split('/').all(|segment| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
    })
}

fn is_path_prefix(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix[1..]
            .chars()
            .all(|c| ('\u{21}'..='\u{7F}').contains(&c))
}

fn is_description_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{A1}'..='\u{FF}')
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

fn is_marker_char(c: char) -> bool {
    ('\u{20}'..='\u{FF}').contains(&c)
}

/// Checks the constraints of request parameters, collecting every violation.
pub(crate) struct Checker<'a> {
    params: &'a QueryParams<'a>,
    violations: Violations,
    /// Violations `Violations` has no constraint text for (enumerations, booleans), already
    /// formatted; reported when nothing else is violated.
    other: Vec<String>,
}

impl<'a> Checker<'a> {
    /// A checker over one request's parameters.
    pub(crate) fn new(params: &'a QueryParams) -> Self {
        Checker {
            params,
            violations: Violations::new(),
            other: Vec::new(),
        }
    }

    /// The raw value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }

    /// A required member: present, or a `Member must not be null` violation (returns `""`).
    fn required(&mut self, name: &str, member: &str) -> Option<&'a str> {
        self.violations.required(member, self.params.get(name))
    }

    /// A role or policy name (`roleNameType`, `policyNameType`), 1 to `max` characters.
    pub(crate) fn name(&mut self, name: &str, member: &str, max: usize) -> String {
        match self.required(name, member) {
            Some(value) => {
                self.violations.length(member, value, 1, max);
                self.violations
                    .pattern(member, value, ENTITY_NAME_PATTERN, validate::is_name_char);
                value.to_owned()
            }
            None => String::new(),
        }
    }

    /// A required ARN (`arnType`, 20 to 2048 characters).
    pub(crate) fn arn(&mut self, name: &str, member: &str) -> String {
        match self.required(name, member) {
            Some(value) => {
                self.violations.length(member, value, 20, 2048);
                self.violations.pattern(
                    member,
                    value,
                    validate::ARN_PATTERN,
                    validate::is_arn_char,
                );
                value.to_owned()
            }
            None => String::new(),
        }
    }

    /// An optional ARN (`arnType`, 20 to 2048 characters).
    pub(crate) fn optional_arn(&mut self, name: &str, member: &str) -> Option<String> {
        self.params.get(name)?;
        Some(self.arn(name, member))
    }

    /// A required policy document (`policyDocumentType`).
    pub(crate) fn policy_document(&mut self, name: &str, member: &str) -> String {
        match self.required(name, member) {
            Some(value) => {
                self.violations.length(member, value, 1, 131_072);
                self.violations.pattern(
                    member,
                    value,
                    validate::POLICY_PATTERN,
                    validate::is_policy_char,
                );
                value.to_owned()
            }
            None => String::new(),
        }
    }

    /// A required string of `min` to `max` characters.
    pub(crate) fn required_text(
        &mut self,
        name: &str,
        member: &str,
        min: usize,
        max: usize,
    ) -> String {
        match self.required(name, member) {
            Some(value) => {
                self.violations.length(member, value, min, max);
                value.to_owned()
            }
            None => String::new(),
        }
    }

    /// A role path (`pathType`), `/` when absent.
    pub(crate) fn role_path(&mut self, name: &str, member: &str) -> String {
        let Some(value) = self.params.get(name) else {
            return "/".to_owned();
        };
        self.violations.length(member, value, 1, 512);
        if !value.is_empty() && !is_role_path(value) {
            self.violations
                .pattern(member, value, ROLE_PATH_PATTERN, never);
        }
        value.to_owned()
    }

    /// A managed-policy path (`policyPathType`), `/` when absent.
    pub(crate) fn policy_path(&mut self, name: &str, member: &str) -> String {
        let Some(value) = self.params.get(name) else {
            return "/".to_owned();
        };
        self.violations.length(member, value, 1, 512);
        if !value.is_empty() && !is_policy_path(value) {
            self.violations
                .pattern(member, value, POLICY_PATH_PATTERN, never);
        }
        value.to_owned()
    }

    /// A `PathPrefix` of ListRoles (`pathPrefixType`).
    pub(crate) fn path_prefix(&mut self, name: &str, member: &str) -> Option<String> {
        let value = self.params.get(name)?;
        self.violations.length(member, value, 1, 512);
        if !value.is_empty() && !is_path_prefix(value) {
            self.violations
                .pattern(member, value, PATH_PREFIX_PATTERN, never);
        }
        Some(value.to_owned())
    }

    /// A `PathPrefix` in the managed-policy path syntax (`policyPathType`).
    pub(crate) fn policy_path_prefix(&mut self, name: &str, member: &str) -> Option<String> {
        self.params.get(name)?;
        Some(self.policy_path(name, member))
    }

    /// A role description (`roleDescriptionType`).
    pub(crate) fn role_description(&mut self, name: &str, member: &str) -> Option<String> {
        let value = self.params.get(name)?;
        self.violations.length(member, value, 0, 1000);
        self.violations
            .pattern(member, value, ROLE_DESCRIPTION_PATTERN, is_description_char);
        Some(value.to_owned())
    }

    /// An optional string of at most `max` characters.
    pub(crate) fn optional_text(&mut self, name: &str, member: &str, max: usize) -> Option<String> {
        let value = self.params.get(name)?;
        self.violations.length(member, value, 0, max);
        Some(value.to_owned())
    }

    /// An optional integer within bounds.
    pub(crate) fn integer(&mut self, name: &str, member: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.params.get(name)?;
        self.violations.integer(member, value, min, max)
    }

    /// An optional boolean (`true` / `false`).
    pub(crate) fn boolean(&mut self, name: &str, member: &str) -> Option<bool> {
        let value = self.params.get(name)?;
        match value {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.other.push(format!(
                    "Value '{value}' at '{member}' failed to satisfy constraint: Member must be a boolean"
                ));
                None
            }
        }
    }

    /// An optional member of a fixed set of values.
    pub(crate) fn one_of(&mut self, name: &str, member: &str, allowed: &[&str]) -> Option<String> {
        let value = self.params.get(name)?;
        if !allowed.contains(&value) {
            self.other.push(format!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy \
                 enum value set: [{}]",
                allowed.join(", ")
            ));
        }
        Some(value.to_owned())
    }

    /// A policy version ID (`policyVersionIdType`).
    pub(crate) fn version_id(&mut self, name: &str, member: &str) -> String {
        match self.required(name, member) {
            Some(value) => {
                if !is_version_id(value) {
                    self.violations
                        .pattern(member, value, VERSION_ID_PATTERN, never);
                }
                value.to_owned()
            }
            None => String::new(),
        }
    }

    /// A list of strings, each `min` to `max` characters.
    pub(crate) fn string_list(
        &mut self,
        name: &str,
        member: &str,
        min: usize,
        max: usize,
    ) -> Vec<String> {
        let items = self.params.list(name, None);
        for (index, item) in items.iter().enumerate() {
            self.violations
                .length(&format!("{member}.{}.member", index + 1), item, min, max);
        }
        items.into_iter().map(str::to_owned).collect()
    }

    /// A list of policy documents (`SimulationPolicyListType`), each a `policyDocumentType`;
    /// with `required`, at least one.
    pub(crate) fn policy_list(&mut self, name: &str, member: &str, required: bool) -> Vec<String> {
        let items = self.params.list(name, None);
        if required && items.is_empty() {
            self.violations.required(member, None);
        }
        for (index, item) in items.iter().enumerate() {
            let item_member = format!("{member}.{}.member", index + 1);
            self.violations.length(&item_member, item, 1, 131_072);
            self.violations.pattern(
                &item_member,
                item,
                validate::POLICY_PATTERN,
                validate::is_policy_char,
            );
        }
        items.into_iter().map(str::to_owned).collect()
    }

    /// A required list of strings, each `min` to `max` characters.
    pub(crate) fn required_string_list(
        &mut self,
        name: &str,
        member: &str,
        min: usize,
        max: usize,
    ) -> Vec<String> {
        let items = self.string_list(name, member, min, max);
        if items.is_empty() {
            self.violations.required(member, None);
        }
        items
    }

    /// Whether any parameter's name starts with `prefix`.
    pub(crate) fn has_prefix(&self, prefix: &str) -> bool {
        self.params.has_prefix(prefix)
    }

    /// A list of `len` members where the model allows at most `max`.
    pub(crate) fn list_length(&mut self, member: &str, len: usize, max: usize) {
        self.violations.list_length(member, len, max);
    }

    /// Whether the list parameter `name` is present at all (possibly empty, as `name=`).
    pub(crate) fn has_list(&self, name: &str) -> bool {
        self.params.get(name).is_some() || self.params.has_prefix(&format!("{name}.member."))
    }

    /// `Tags.member.N.Key` / `.Value`: at most [`MAX_TAGS`], keys 1–128 and values 0–256
    /// characters of the tag alphabet.
    pub(crate) fn tags(&mut self, name: &str, member: &str) -> Vec<Tag> {
        let pairs = self.params.pairs_list(name, "Key", "Value");
        self.violations.list_length(member, pairs.len(), MAX_TAGS);
        let mut tags = Vec::with_capacity(pairs.len());
        for (index, (key, value)) in pairs.into_iter().enumerate() {
            let prefix = format!("{member}.{}.member", index + 1);
            self.violations
                .length(&format!("{prefix}.key"), key, 1, 128);
            self.violations
                .pattern(&format!("{prefix}.key"), key, TAG_KEY_PATTERN, is_tag_char);
            self.violations
                .length(&format!("{prefix}.value"), value, 0, 256);
            self.violations.pattern(
                &format!("{prefix}.value"),
                value,
                TAG_VALUE_PATTERN,
                is_tag_char,
            );
            tags.push(Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            });
        }
        tags
    }

    /// `TagKeys.member.N`: at most [`MAX_TAGS`] keys.
    pub(crate) fn tag_keys(&mut self, name: &str, member: &str) -> Vec<String> {
        let keys = self.params.list(name, None);
        self.violations.list_length(member, keys.len(), MAX_TAGS);
        for (index, key) in keys.iter().enumerate() {
            let item = format!("{member}.{}.member", index + 1);
            self.violations.length(&item, key, 1, 128);
            self.violations
                .pattern(&item, key, TAG_KEY_PATTERN, is_tag_char);
        }
        keys.into_iter().map(str::to_owned).collect()
    }

    /// `Marker` and `MaxItems` of a list operation.
    pub(crate) fn paging(&mut self) -> Paging {
        let marker = self.params.get("Marker").map(|value| {
            self.violations.length("marker", value, 1, 320);
            self.violations
                .pattern("marker", value, MARKER_PATTERN, is_marker_char);
            value.to_owned()
        });
        let max_items = self
            .integer("MaxItems", "maxItems", 1, 1000)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_ITEMS)
            .clamp(1, 1000);
        Paging { marker, max_items }
    }

    /// `Ok(())`, or the `ValidationError` listing every violation.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if !self.violations.is_empty() {
            return self.violations.finish();
        }
        match self.other.len() {
            0 => Ok(()),
            1 => Err(Error::Validation(format!(
                "1 validation error detected: {}",
                self.other[0]
            ))),
            n => Err(Error::Validation(format!(
                "{n} validation errors detected: {}",
                self.other.join("; ")
            ))),
        }
    }
}

fn is_version_id(value: &str) -> bool {
    let Some(rest) = value.strip_prefix('v') else {
        return false;
    };
    let (number, suffix) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    !number.is_empty()
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit())
        && suffix.is_none_or(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// The paging parameters of a list operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paging {
    /// The `Marker` of the previous page, as the caller sent it.
    pub(crate) marker: Option<String>,
    /// The most items on this page.
    pub(crate) max_items: usize,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page<T> {
    /// The items on this page.
    pub(crate) items: Vec<T>,
    /// The marker that fetches the next page, when there is one (`IsTruncated`).
    pub(crate) next_marker: Option<String>,
}

/// Encodes the sort key of the last item of a page as a marker: URL-safe base64 of the key.
pub(crate) fn encode_marker(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

pub(crate) fn decode_marker(marker: &str) -> Result<String, Error> {
    URL_SAFE_NO_PAD
        .decode(marker.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            Error::InvalidInput(
                "The marker is not valid: pass the Marker of the previous page unchanged."
                    .to_owned(),
            )
        })
}

impl Paging {
    /// The key the marker carries: the page starts after it.
    pub(crate) fn after(&self) -> Result<Option<String>, Error> {
        self.marker.as_deref().map(decode_marker).transpose()
    }

    /// What to ask the store for: the items after the marker, one more than a page (so that
    /// the page knows whether another follows).
    pub(crate) fn request<'a>(&self, after: &'a Option<String>) -> keyless_store::PageRequest<'a> {
        keyless_store::PageRequest {
            after: after.as_deref(),
            limit: self.max_items + 1,
        }
    }

    /// The page of `items`, the store's answer to [`Paging::request`] (in key order).
    pub(crate) fn cut<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> &str) -> Page<T> {
        if items.len() <= self.max_items {
            return Page {
                items,
                next_marker: None,
            };
        }
        items.truncate(self.max_items);
        let next_marker = items.last().map(|last| encode_marker(key(last)));
        Page { items, next_marker }
    }

    /// Sorts `items` by `key` and cuts the page that follows the marker: every item whose key
    /// sorts after the key the marker carries. A marker stays valid when items are added or
    /// removed between pages.
    pub(crate) fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> &str,
    ) -> Result<Page<T>, Error> {
        items.sort_by(|a, b| key(a).cmp(key(b)));
        if let Some(marker) = &self.marker {
            let after = decode_marker(marker)?;
            items.retain(|item| key(item) > after.as_str());
        }
        if items.len() <= self.max_items {
            return Ok(Page {
                items,
                next_marker: None,
            });
        }
        items.truncate(self.max_items);
        let next_marker = items.last().map(|last| encode_marker(key(last)));
        Ok(Page { items, next_marker })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> QueryParams<'_> {
        QueryParams::parse("", body.as_bytes()).expect("form")
    }

    #[test]
    fn paging_walks_every_item_once() {
        let names: Vec<String> = ["d", "a", "c", "b", "e"].map(str::to_owned).to_vec();
        let mut paging = Paging {
            marker: None,
            max_items: 2,
        };
        let mut seen = Vec::new();
        loop {
            let page = paging.page(names.clone(), |s| s.as_str()).expect("page");
            seen.extend(page.items);
            match page.next_marker {
                Some(marker) => paging.marker = Some(marker),
                None => break,
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn markers_survive_removal_of_the_last_item_seen() {
        let paging = Paging {
            marker: Some(encode_marker("b")),
            max_items: 10,
        };
        let page = paging.page(vec!["a", "c", "d"], |s| s).expect("page");
        assert_eq!(page.items, ["c", "d"]);
        assert_eq!(page.next_marker, None);
    }

    #[test]
    fn garbage_markers_are_invalid_input() {
        let paging = Paging {
            marker: Some("!!!".to_owned()),
            max_items: 10,
        };
        let err = paging.page(vec!["a"], |s| s).unwrap_err();
        assert_eq!(err.code(), "InvalidInput");
    }

    #[test]
    fn role_and_policy_paths() {
        for good in ["/", "/a/", "/a/b/", "/x~y/"] {
            assert!(is_role_path(good), "{good}");
        }
        for bad in ["", "a", "/a", "a/", "//", "/a b/"] {
            assert!(!is_role_path(bad), "{bad}");
        }
        for good in ["/", "/a/", "/a/b.c/"] {
            assert!(is_policy_path(good), "{good}");
        }
        for bad in ["", "//", "/a//b/", "/a", "/a~/"] {
            assert!(!is_policy_path(bad), "{bad}");
        }
    }

    #[test]
    fn version_ids() {
        assert!(is_version_id("v1"));
        assert!(is_version_id("v12.abc-1"));
        assert!(!is_version_id("v0"));
        assert!(!is_version_id("1"));
        assert!(!is_version_id("v1.a_b"));
    }

    #[test]
    fn violations_are_reported_in_aws_format() {
        let p = params("RoleName=bad%20name&Path=nope&MaxItems=0");
        let mut c = Checker::new(&p);
        c.name("RoleName", "roleName", 64);
        c.role_path("Path", "path");
        c.paging();
        let err = c.finish().unwrap_err();
        assert_eq!(err.code(), "ValidationError");
        assert_eq!(
            err.message(),
            "3 validation errors detected: Value 'bad name' at 'roleName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+; \
             Value 'nope' at 'path' failed to satisfy constraint: Member must satisfy regular \
             expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); Value '0' at \
             'maxItems' failed to satisfy constraint: Member must have value greater than or \
             equal to 1"
        );
    }

    #[test]
    fn missing_required_members_are_null() {
        let p = params("");
        let mut c = Checker::new(&p);
        c.name("RoleName", "roleName", 64);
        assert_eq!(
            c.finish().unwrap_err().message(),
            "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: \
             Member must not be null"
        );
    }

    #[test]
    fn tags_are_checked_per_member() {
        let p = params(
            "Tags.member.1.Key=team&Tags.member.1.Value=a%2Fb&Tags.member.2.Key=&Tags.member.2.Value=x",
        );
        let mut c = Checker::new(&p);
        let tags = c.tags("Tags", "tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].value, "a/b");
        let err = c.finish().unwrap_err();
        assert!(
            err.message()
                .starts_with("1 validation error detected: Value '' at 'tags.2.member.key'"),
            "{}",
            err.message()
        );
    }
}
