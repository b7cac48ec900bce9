//! ARNs of the entities keyless serves: roles, managed policies, OIDC providers and sessions.

/// A parsed IAM role ARN, `arn:aws:iam::<account>:role<path><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn<'a> {
    /// The 12-digit account.
    pub account: &'a str,
    /// The path, `/` or `/a/b/`.
    pub path: &'a str,
    /// The role name.
    pub name: &'a str,
}

/// Parses `arn:aws:iam::<account>:role[/path]/<name>`. `None` when the text is not such an ARN.
pub(crate) fn parse_role_arn(arn: &str) -> Option<RoleArn<'_>> {
    let (account, resource) = parse_iam_arn(arn)?;
    let (path, name) = split_path_name(resource.strip_prefix("role")?)?;
    if name.is_empty() || !name.chars().all(crate::validate::is_name_char) {
        return None;
    }
    Some(RoleArn {
        account,
        path,
        name,
    })
}

/// Parses `arn:aws:iam::<account>:policy[/path]/<name>` into (account, path, name).
pub fn parse_policy_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let (account, resource) = parse_iam_arn(arn)?;
    let (path, name) = split_path_name(resource.strip_prefix("policy")?)?;
    if name.is_empty() {
        return None;
    }
    Some((account, path, name))
}

/// Parses `arn:aws:iam::<account>:oidc-provider/<host/path>` into (account, host/path).
pub fn parse_provider_arn(arn: &str) -> Option<(&str, &str)> {
    let (account, resource) = parse_iam_arn(arn)?;
    let host_path = resource.strip_prefix("oidc-provider/")?;
    if host_path.is_empty() {
        return None;
    }
    Some((account, host_path))
}

/// `arn:aws:iam::<account>:<resource>` with a 12-digit account.
fn parse_iam_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((account, resource))
}

/// Splits `/a/b/Name` into (`/a/b/`, `Name`) and `/Name` into (`/`, `Name`).
fn split_path_name(rest: &str) -> Option<(&str, &str)> {
    if !rest.starts_with('/') {
        return None;
    }
    let i = rest.rfind('/')?;
    Some((&rest[..=i], &rest[i + 1..]))
}

/// `arn:aws:sts::<account>:assumed-role/<role name>/<session>`: the role path is dropped.
pub fn assumed_role_arn(account: &str, role_name: &str, session_name: &str) -> String {
    format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_role_arns_with_and_without_paths() {
        let r = parse_role_arn("arn:aws:iam::000000000000:role/gitlab-deployer").unwrap();
        assert_eq!(
            (r.account, r.path, r.name),
            ("000000000000", "/", "gitlab-deployer")
        );
        let r = parse_role_arn("arn:aws:iam::123456789012:role/a/b/MyRole").unwrap();
        assert_eq!(r.path, "/a/b/");
        assert_eq!(r.name, "MyRole");
    }

    #[test]
    fn rejects_other_arns() {
        for bad in [
            "arn:aws:iam::1:role/x",
            "arn:aws:iam::000000000000:user/x",
            "arn:aws:sts::000000000000:role/x",
            "arn:aws:iam::000000000000:role/",
            "arn:aws:iam::000000000000:role/a b",
            "not-an-arn",
        ] {
            assert!(parse_role_arn(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parses_policy_and_provider_arns() {
        assert_eq!(
            parse_policy_arn("arn:aws:iam::000000000000:policy/team/ReadOnly"),
            Some(("000000000000", "/team/", "ReadOnly"))
        );
        assert_eq!(
            parse_provider_arn("arn:aws:iam::000000000000:oidc-provider/gitlab.com"),
            Some(("000000000000", "gitlab.com"))
        );
        assert_eq!(
            assumed_role_arn("1", "r", "s"),
            "arn:aws:sts::1:assumed-role/r/s"
        );
    }
}
