//! IAM's XML shapes: roles, managed policies, tags, and the response envelope.

use keyless_store::PolicyUsage;
use keyless_sts::model::{ManagedPolicy, Role, Tag};
use keyless_sts::time::iso8601;
use keyless_sts::xml::{self, XmlWriter};

/// A response with result members written by `result`.
pub(crate) fn with_result(
    action: &str,
    request_id: &str,
    result: &dyn Fn(&mut XmlWriter),
) -> String {
    xml::success(action, xml::IAM_NAMESPACE, request_id, 1024, Some(result))
}

/// A response of an operation without output: only `ResponseMetadata`.
pub(crate) fn empty(action: &str, request_id: &str) -> String {
    xml::success(action, xml::IAM_NAMESPACE, request_id, 0, None)
}

/// Percent-encodes a policy document as IAM returns it: every byte but the unreserved
/// characters of RFC 3986 (`A-Z a-z 0-9 - _ . ~`) becomes `%XX`.
pub(crate) fn url_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 2);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `<Tags><member><Key/><Value/></member>…</Tags>`.
pub(crate) fn tags(w: &mut XmlWriter, tags: &[Tag]) {
    w.open("Tags");
    for tag in tags {
        w.open("member")
            .element("Key", &tag.key)
            .element("Value", &tag.value)
            .close("member");
    }
    w.close("Tags");
}

/// `<IsTruncated>` and, when truncated, `<Marker>`.
pub(crate) fn truncation(w: &mut XmlWriter, next_marker: Option<&str>) {
    w.element(
        "IsTruncated",
        if next_marker.is_some() {
            "true"
        } else {
            "false"
        },
    );
    w.optional("Marker", next_marker);
}

/// Which members of a role a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleDetail {
    /// CreateRole, GetRole: everything, the permissions boundary and tags included.
    Full,
    /// ListRoles: no permissions boundary, no tags (as IAM).
    Listed,
}

/// The members of an IAM `Role` structure, inside an element named `tag`.
pub(crate) fn role(w: &mut XmlWriter, tag: &str, role: &Role, account: &str, detail: RoleDetail) {
    w.open(tag)
        .element("Path", &role.path)
        .element("RoleName", &role.name)
        .element("RoleId", &role.role_id)
        .element("Arn", &role.arn(account))
        .element("CreateDate", &iso8601(role.created))
        .element("AssumeRolePolicyDocument", &url_encode(&role.trust_policy));
    w.optional("Description", role.description.as_deref());
    w.element("MaxSessionDuration", &role.max_session_duration.to_string());
    if detail == RoleDetail::Full
        && let Some(boundary) = &role.permissions_boundary
    {
        w.open("PermissionsBoundary")
            .element("PermissionsBoundaryType", "Policy")
            .element("PermissionsBoundaryArn", boundary)
            .close("PermissionsBoundary");
    }
    if detail == RoleDetail::Full && !role.tags.is_empty() {
        tags(w, &role.tags);
    }
    w.close(tag);
}

/// Which members of a managed policy a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyDetail {
    /// GetPolicy: the description and tags too.
    Full,
    /// CreatePolicy: tags, no description.
    Created,
    /// ListPolicies: neither.
    Listed,
}

/// The members of an IAM `Policy` structure, inside an element named `tag`.
pub(crate) fn policy(
    w: &mut XmlWriter,
    tag: &str,
    policy: &ManagedPolicy,
    account: &str,
    usage: PolicyUsage,
    detail: PolicyDetail,
) {
    let default_version = policy.default_version().map(|v| v.version_id.as_str());
    w.open(tag)
        .element("PolicyName", &policy.name)
        .element("PolicyId", &policy.policy_id)
        .element("Arn", &policy.arn(account))
        .element("Path", &policy.path)
        .optional("DefaultVersionId", default_version)
        .element("AttachmentCount", &usage.attachments.to_string())
        .element(
            "PermissionsBoundaryUsageCount",
            &usage.permissions_boundaries.to_string(),
        )
        .element("IsAttachable", "true");
    if detail == PolicyDetail::Full {
        w.optional("Description", policy.description.as_deref());
    }
    w.element("CreateDate", &iso8601(policy.created))
        .element("UpdateDate", &iso8601(policy.updated));
    if detail != PolicyDetail::Listed && !policy.tags.is_empty() {
        tags(w, &policy.tags);
    }
    w.close(tag);
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyless_sts::model::{ManagedBy, PolicyVersion};

    fn sample_role() -> Role {
        Role {
            name: "deployer".to_owned(),
            path: "/ci/".to_owned(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".to_owned(),
            trust_policy: r#"{"Version": "2012-10-17"}"#.to_owned(),
            description: Some("a & b".to_owned()),
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: vec![Tag {
                key: "team".to_owned(),
                value: "platform".to_owned(),
            }],
            created: 1_795_634_057,
            managed_by: ManagedBy::Api,
        }
    }

    #[test]
    fn documents_are_percent_encoded_like_iam() {
        assert_eq!(
            url_encode(r#"{"Version": "2012-10-17", "a/b": "é"}"#),
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22a%2Fb%22%3A%20%22%C3%A9%22%7D"
        );
        assert_eq!(url_encode("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn roles_render_every_member() {
        let mut w = XmlWriter::with_capacity(256);
        role(
            &mut w,
            "Role",
            &sample_role(),
            "000000000000",
            RoleDetail::Full,
        );
        assert_eq!(
            w.finish(),
            "<Role><Path>/ci/</Path><RoleName>deployer</RoleName>\
             <RoleId>AROAAAAAAAAAAAAAAAAAA</RoleId>\
             <Arn>arn:aws:iam::000000000000:role/ci/deployer</Arn>\
             <CreateDate>2026-11-25T19:14:17Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%22Version%22%3A%20%222012-10-17%22%7D</AssumeRolePolicyDocument>\
             <Description>a &amp; b</Description><MaxSessionDuration>3600</MaxSessionDuration>\
             <Tags><member><Key>team</Key><Value>platform</Value></member></Tags></Role>"
        );
        let mut w = XmlWriter::with_capacity(256);
        role(
            &mut w,
            "member",
            &sample_role(),
            "000000000000",
            RoleDetail::Listed,
        );
        let listed = w.finish();
        assert!(listed.starts_with("<member><Path>/ci/</Path>"));
        assert!(!listed.contains("<Tags>"));
    }

    #[test]
    fn policies_render_counts_and_default_version() {
        let p = ManagedPolicy {
            name: "push".to_owned(),
            path: "/".to_owned(),
            policy_id: "ANPAAAAAAAAAAAAAAAAAA".to_owned(),
            description: Some("pushes".to_owned()),
            versions: vec![PolicyVersion {
                version_id: "v1".to_owned(),
                document: "{}".to_owned(),
                is_default: true,
                created: 0,
            }],
            tags: Vec::new(),
            created: 0,
            updated: 60,
            managed_by: ManagedBy::Api,
        };
        let mut w = XmlWriter::with_capacity(256);
        let usage = PolicyUsage {
            attachments: 2,
            permissions_boundaries: 1,
        };
        policy(
            &mut w,
            "Policy",
            &p,
            "000000000000",
            usage,
            PolicyDetail::Full,
        );
        let out = w.finish();
        assert!(out.contains("<Arn>arn:aws:iam::000000000000:policy/push</Arn>"));
        assert!(out.contains("<DefaultVersionId>v1</DefaultVersionId>"));
        assert!(out.contains("<AttachmentCount>2</AttachmentCount>"));
        assert!(out.contains("<PermissionsBoundaryUsageCount>1</PermissionsBoundaryUsageCount>"));
        assert!(out.contains("<IsAttachable>true</IsAttachable>"));
        assert!(out.contains("<Description>pushes</Description>"));
        assert!(out.contains("<UpdateDate>1970-01-01T00:01:00Z</UpdateDate>"));
        let mut w = XmlWriter::with_capacity(256);
        policy(
            &mut w,
            "member",
            &p,
            "000000000000",
            PolicyUsage::default(),
            PolicyDetail::Listed,
        );
        assert!(!w.finish().contains("Description"));
    }

    #[test]
    fn envelopes() {
        let out = empty("DeleteRole", "req-1");
        assert!(out.starts_with(
            "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
        ));
        assert!(!out.contains("DeleteRoleResult"));
        assert!(out.contains("<RequestId>req-1</RequestId>"));
        let out = with_result("ListRoles", "r", &|w| {
            w.open("Roles").close("Roles");
            truncation(w, Some("bWFyaw"));
        });
        assert!(out.contains(
            "<ListRolesResult>\n<Roles></Roles><IsTruncated>true</IsTruncated><Marker>bWFyaw</Marker>"
        ));
    }
}
