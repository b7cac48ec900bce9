//! Authorization requests and decisions.

use serde::Serialize;

use crate::context::Context;

/// Outcome of evaluating policies for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decision {
    /// An applicable `Allow` statement and no applicable `Deny`.
    Allow,
    /// An applicable `Deny` statement (overrides every `Allow`).
    ExplicitDeny,
    /// No applicable statement allowed the request.
    ImplicitDeny,
}

impl Decision {
    /// The decision's name (`Allow`, `ExplicitDeny`, `ImplicitDeny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "Allow",
            Decision::ExplicitDeny => "ExplicitDeny",
            Decision::ImplicitDeny => "ImplicitDeny",
        }
    }
}

/// The caller of a request, as matched against a trust policy's `Principal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An AWS principal: account ID or IAM/STS ARN.
    Aws(&'a str),
    /// A federated identity provider, e.g. `arn:aws:iam::111122223333:oidc-provider/gitlab.com`.
    Federated(&'a str),
    /// An AWS service principal, e.g. `ec2.amazonaws.com`.
    Service(&'a str),
    /// An S3 canonical user ID.
    CanonicalUser(&'a str),
}

impl Principal<'_> {
    /// Parses the command-line form `<Type>:<value>`: `AWS:arn:...`, `Federated:arn:...`,
    /// `Service:...`, `CanonicalUser:...` (type names are ASCII case-insensitive).
    pub fn parse_cli(s: &str) -> Result<Principal<'_>, String> {
        let (kind, value) = s.split_once(':').ok_or_else(|| {
            format!("principal {s:?} must look like <AWS|Federated|Service|CanonicalUser>:<value>")
        })?;
        if value.is_empty() {
            return Err(format!("principal {s:?} has an empty value"));
        }
        if kind.eq_ignore_ascii_case("AWS") {
            Ok(Principal::Aws(value))
        } else if kind.eq_ignore_ascii_case("Federated") {
            Ok(Principal::Federated(value))
        } else if kind.eq_ignore_ascii_case("Service") {
            Ok(Principal::Service(value))
        } else if kind.eq_ignore_ascii_case("CanonicalUser") {
            Ok(Principal::CanonicalUser(value))
        } else {
            Err(format!(
                "unknown principal type {kind:?}: expected AWS, Federated, Service or CanonicalUser"
            ))
        }
    }

    /// The principal type name as used in policies.
    pub fn type_name(&self) -> &'static str {
        match self {
            Principal::Aws(_) => "AWS",
            Principal::Federated(_) => "Federated",
            Principal::Service(_) => "Service",
            Principal::CanonicalUser(_) => "CanonicalUser",
        }
    }

    /// The principal identifier.
    pub fn value(&self) -> &str {
        match self {
            Principal::Aws(v)
            | Principal::Federated(v)
            | Principal::Service(v)
            | Principal::CanonicalUser(v) => v,
        }
    }
}

/// One authorization request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller; only consulted by policies with a `Principal` element.
    pub principal: Option<Principal<'a>>,
    /// The action, e.g. `sts:AssumeRoleWithWebIdentity`.
    pub action: &'a str,
    /// The resource ARN; `None` for trust policies (the resource is the role itself).
    pub resource: Option<&'a str>,
    /// Condition keys.
    pub context: &'a Context,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cli_forms() {
        assert_eq!(
            Principal::parse_cli("Federated:arn:aws:iam::1:oidc-provider/gitlab.com"),
            Ok(Principal::Federated(
                "arn:aws:iam::1:oidc-provider/gitlab.com"
            ))
        );
        assert_eq!(
            Principal::parse_cli("aws:123456789012"),
            Ok(Principal::Aws("123456789012"))
        );
        assert_eq!(
            Principal::parse_cli("Service:ec2.amazonaws.com"),
            Ok(Principal::Service("ec2.amazonaws.com"))
        );
        assert_eq!(
            Principal::parse_cli("CanonicalUser:abc"),
            Ok(Principal::CanonicalUser("abc"))
        );
        assert!(Principal::parse_cli("gitlab.com").is_err());
        assert!(Principal::parse_cli("Federated:").is_err());
        assert!(Principal::parse_cli("User:x").is_err());
    }
}
