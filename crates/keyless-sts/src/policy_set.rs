//! The policies a permission decision is made on, by layer, each with where it comes from.

use keyless_policy::{Policy, PolicyLayer};
use serde::Serialize;

/// Where a permission policy comes from, named as IAM's policy simulator names it
/// ([`PolicySource::id`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PolicySource {
    /// An inline policy of a role.
    RoleInline {
        /// The role's name.
        role: String,
        /// The policy's name.
        name: String,
    },
    /// A customer-managed policy (attached to the role, as its permissions boundary, or passed
    /// as a session policy).
    Managed {
        /// The policy's name.
        name: String,
        /// The policy's ARN.
        arn: String,
    },
    /// The inline session policy a session was minted with (`Policy`).
    SessionInline,
    /// A policy given with the request itself (simulation inputs), under its id.
    Input {
        /// `PolicyInputList.1`, `PermissionsBoundaryPolicyInputList.1`, …
        id: String,
    },
}

impl PolicySource {
    /// The `SourcePolicyId` IAM's simulator reports: `role_<role>_<policy>` for an inline
    /// policy, the name of a managed policy, the input's id.
    pub fn id(&self) -> String {
        match self {
            PolicySource::RoleInline { role, name } => format!("role_{role}_{name}"),
            PolicySource::Managed { name, .. } => name.clone(),
            PolicySource::SessionInline => "session policy".to_owned(),
            PolicySource::Input { id } => id.clone(),
        }
    }
}

/// A policy of one layer, with where it comes from.
#[derive(Debug, Clone)]
pub struct SourcedPolicy<'p> {
    /// Where it comes from.
    pub source: PolicySource,
    /// The policy.
    pub policy: &'p Policy,
}

/// The policies a decision is made on, by layer: an explicit Deny in any of them denies; the
/// identity layer must allow (or, standing in for it, the resource layer), and so must each
/// level of the organization's service control policies and the boundary and session layers
/// when present.
#[derive(Debug, Clone, Default)]
pub struct PolicySet<'p> {
    /// Service control policies, one list per level of the organization, from the root to the
    /// account (empty: no organization). Each level must allow.
    pub organization: Vec<Vec<SourcedPolicy<'p>>>,
    /// Identity-based policies: the role's inline and attached managed policies.
    pub identity: Vec<SourcedPolicy<'p>>,
    /// The permissions boundary (empty: none).
    pub boundary: Vec<SourcedPolicy<'p>>,
    /// Session policies (empty: none).
    pub session: Vec<SourcedPolicy<'p>>,
    /// A resource-based policy of the account's resource (empty: none): its Allow grants what
    /// the identity policies do not, within the boundary and session policies.
    pub resource: Vec<SourcedPolicy<'p>>,
}

impl<'p> PolicySet<'p> {
    /// The layers a decision evaluates, in order: each organization level, the identity
    /// policies (always, even with none), then the boundary, session and resource layers that
    /// have policies.
    pub fn layers(&self) -> impl Iterator<Item = (PolicyLayer, &[SourcedPolicy<'p>])> {
        let levels = self
            .organization
            .iter()
            .map(|level| (PolicyLayer::ServiceControl, level.as_slice()));
        let rest = [
            (PolicyLayer::Identity, self.identity.as_slice()),
            (PolicyLayer::PermissionsBoundary, self.boundary.as_slice()),
            (PolicyLayer::Session, self.session.as_slice()),
            (PolicyLayer::Resource, self.resource.as_slice()),
        ];
        levels
            .chain(rest)
            .filter(|(layer, policies)| !policies.is_empty() || *layer == PolicyLayer::Identity)
    }
}
