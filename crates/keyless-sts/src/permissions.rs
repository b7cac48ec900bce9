//! Session permissions: whether a caller may perform an action on a resource (IAM calls, and
//! the caller side of a chained `AssumeRole`).
//!
//! The admin key (the account's root identity) may do everything. A role session may perform
//! `iam:<Action>` on a resource when its permissions allow it: the identity policies of its
//! role (inline and attached, from the live state) intersected with the session policies it
//! was minted with (`Policy` and `PolicyArns`), an explicit Deny anywhere winning.
//!
//! Resources follow IAM's service authorization reference: the ARN of the role, managed
//! policy or OIDC provider the call acts on (for `Create*`, the ARN the new entity will have),
//! and `*` for the account-wide listings `ListRoles`, `ListPolicies` and
//! `ListOpenIDConnectProviders`.

use std::sync::Arc;

use keyless_credentials::session::SessionClaims;
use keyless_policy::{
    Context, Decision, ParseOptions, Policy, PolicyKind, Principal, Request, evaluate_session,
};

use crate::auth::Caller;
use crate::context::{self, RequestEnv};
use crate::error::{Denial, Error, Refused};
use crate::state::StsState;

/// Allows or refuses `action` (e.g. `iam:CreateRole`) on `resource` for `caller`. `context`
/// carries the request's own condition keys; the principal keys and the global keys of the
/// request (`env`: `aws:SourceIp`, `aws:UserAgent`, …) are added here.
pub fn authorize(
    state: &StsState,
    caller: &Caller,
    action: &str,
    resource: &str,
    context: Context,
    now: i64,
    env: &RequestEnv,
) -> Result<(), Error> {
    let claims = match caller {
        Caller::Admin { .. } => return Ok(()),
        Caller::Session(claims) => claims,
    };
    let denied = |reason: &str| {
        Error::from(Denial {
            refused: Refused::Caller {
                caller: claims.assumed_role_arn(),
                action: action.to_owned(),
                resource: resource.to_owned(),
            },
            reason: reason.to_owned(),
            statement: None,
            show_reason: state.options.debug_denials,
        })
    };
    let Some(role) = state.roles.get(&claims.role_name) else {
        return Err(denied("the session's role no longer exists"));
    };
    if role.model.role_id != claims.role_id {
        return Err(denied("the session's role was deleted and created again"));
    }
    let session = session_policies(state, claims).map_err(|reason| denied(&reason))?;
    let identity = role.permission_policies(state);
    let session: Vec<&Policy> = session.iter().map(Arc::as_ref).collect();
    let mut ctx = context;
    context::add_global_keys(&mut ctx, now, env);
    context::add_principal_keys(&mut ctx, caller);
    let principal = claims.assumed_role_arn();
    let request = Request {
        principal: Some(Principal::Aws(&principal)),
        action,
        resource: Some(resource),
        context: &ctx,
    };
    match evaluate_session(&identity, &session, &request) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(denied("explicitly denied by a policy")),
        Decision::ImplicitDeny => match role.compiled().problems.as_slice() {
            [] => Err(denied("no policy allows it")),
            problems => Err(denied(&format!(
                "no policy allows it; {}",
                problems.join("; ")
            ))),
        },
    }
}

/// The session policies a session was minted with. A session whose policies can no longer be
/// resolved (a managed policy named in `PolicyArns` was deleted) is refused rather than
/// silently given its role's full permissions.
fn session_policies(state: &StsState, claims: &SessionClaims) -> Result<Vec<Arc<Policy>>, String> {
    let mut policies = Vec::with_capacity(claims.policy_arns.len() + 1);
    if let Some(doc) = &claims.session_policy {
        let options = ParseOptions {
            kind: PolicyKind::Session,
            max_chars: None,
        };
        let policy = Policy::parse(doc, &options)
            .map_err(|e| format!("the session policy no longer parses ({e})"))?;
        policies.push(Arc::new(policy));
    }
    for arn in &claims.policy_arns {
        let policy = state
            .managed_policies
            .get(arn)
            .ok_or_else(|| format!("the session policy {arn} no longer exists"))?;
        policies.push(policy.clone());
    }
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::model::{Attachment, ManagedBy, ManagedPolicy, PolicyVersion, Role, RolePolicy};
    use crate::state::{StateInputs, StsOptions};
    use keyless_credentials::session::{SealingKeyring, SessionOrigin, generate_sealing_key};

    use super::*;

    const ACCOUNT: &str = "000000000000";
    const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}]}"#;
    const ROLES_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::000000000000:role/*"}]}"#;

    fn state() -> StsState {
        let role = Role {
            name: "reader".to_owned(),
            path: "/".to_owned(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".to_owned(),
            trust_policy: "{}".to_owned(),
            description: None,
            max_session_duration: 3600,
            tags: Vec::new(),
            created: 0,
            managed_by: ManagedBy::Api,
        };
        let managed = ManagedPolicy {
            name: "roles-only".to_owned(),
            path: "/".to_owned(),
            policy_id: "ANPAAAAAAAAAAAAAAAAAA".to_owned(),
            description: None,
            versions: vec![PolicyVersion {
                version_id: "v1".to_owned(),
                document: ROLES_ONLY.to_owned(),
                is_default: true,
                created: 0,
            }],
            tags: Vec::new(),
            created: 0,
            updated: 0,
            managed_by: ManagedBy::Api,
        };
        let keyring = SealingKeyring::new(generate_sealing_key(1, 0), Vec::new()).expect("keyring");
        StsState::build(StateInputs {
            account: ACCOUNT,
            providers: &[],
            roles: &[role],
            role_policies: &[RolePolicy {
                role_name: "reader".to_owned(),
                policy_name: "read-only".to_owned(),
                document: READ_ONLY.to_owned(),
            }],
            managed_policies: &[managed],
            attachments: &[] as &[Attachment],
            builtin_jwks: &HashMap::new(),
            keyring,
            admin: None,
            options: StsOptions::default(),
        })
    }

    fn session(policy_arns: &[&str], session_policy: Option<&str>) -> Caller {
        Caller::Session(Box::new(SessionClaims {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".to_owned(),
            secret_access_key: "s".repeat(40),
            account: ACCOUNT.to_owned(),
            role_name: "reader".to_owned(),
            role_path: "/".to_owned(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".to_owned(),
            session_name: "cicd".to_owned(),
            issued_at: 0,
            expires_at: 3600,
            origin: SessionOrigin::AssumeRole {
                source_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            },
            session_policy: session_policy.map(str::to_owned),
            policy_arns: policy_arns.iter().map(|s| (*s).to_owned()).collect(),
            source_identity: None,
            transitive_tags: Vec::new(),
            chained: false,
        }))
    }

    fn check(state: &StsState, caller: &Caller, action: &str, resource: &str) -> Result<(), Error> {
        authorize(
            state,
            caller,
            action,
            resource,
            Context::new(),
            60,
            &RequestEnv::default(),
        )
    }

    #[test]
    fn the_admin_may_do_everything() {
        let admin = Caller::Admin {
            access_key_id: "AKIAAAAAAAAAAAAAAAAA".to_owned(),
            account: ACCOUNT.to_owned(),
        };
        assert!(
            check(
                &state(),
                &admin,
                "iam:DeleteRole",
                "arn:aws:iam::000000000000:role/x"
            )
            .is_ok()
        );
    }

    #[test]
    fn sessions_get_their_role_permissions() {
        let state = state();
        let caller = session(&[], None);
        assert!(check(&state, &caller, "iam:ListRoles", "*").is_ok());
        let err = check(
            &state,
            &caller,
            "iam:CreateRole",
            "arn:aws:iam::000000000000:role/x",
        )
        .unwrap_err();
        assert_eq!((err.code(), err.status()), ("AccessDenied", 403));
        assert_eq!(
            err.message(),
            "User: arn:aws:sts::000000000000:assumed-role/reader/cicd is not authorized to perform: \
             iam:CreateRole on resource: arn:aws:iam::000000000000:role/x"
        );
    }

    #[test]
    fn session_policies_narrow_the_role_permissions() {
        let state = state();
        let arn = "arn:aws:iam::000000000000:policy/roles-only";
        let caller = session(&[arn], None);
        assert!(
            check(
                &state,
                &caller,
                "iam:GetRole",
                "arn:aws:iam::000000000000:role/x"
            )
            .is_ok()
        );
        assert!(check(&state, &caller, "iam:ListRoles", "*").is_err());
        let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let caller = session(&[], Some(deny_all));
        assert!(check(&state, &caller, "iam:ListRoles", "*").is_err());
    }

    #[test]
    fn conditions_see_the_request_environment() {
        let state = state();
        let from_office = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:List*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"StringLike":{"aws:UserAgent":"aws-cli/*"}}}]}"#;
        let caller = session(&[], Some(from_office));
        let list = |source_ip: Option<&str>, user_agent: &str| {
            let env = RequestEnv {
                source_ip: source_ip.map(str::to_owned),
                user_agent: Some(user_agent.to_owned()),
                secure_transport: false,
            };
            authorize(
                &state,
                &caller,
                "iam:ListRoles",
                "*",
                Context::new(),
                60,
                &env,
            )
        };
        assert!(list(Some("10.1.2.3"), "aws-cli/2.17").is_ok());
        assert!(list(Some("192.0.2.1"), "aws-cli/2.17").is_err());
        assert!(list(Some("10.1.2.3"), "Boto3/1.44").is_err());
        assert!(
            list(None, "aws-cli/2.17").is_err(),
            "no source IP never matches"
        );
    }

    #[test]
    fn unresolvable_session_policies_fail_closed() {
        let caller = session(&["arn:aws:iam::000000000000:policy/deleted"], None);
        assert!(check(&state(), &caller, "iam:ListRoles", "*").is_err());
    }

    #[test]
    fn a_recreated_role_does_not_honour_old_sessions() {
        let Caller::Session(mut claims) = session(&[], None) else {
            unreachable!("session() builds a session");
        };
        claims.role_id = "AROABBBBBBBBBBBBBBBBB".to_owned();
        assert!(check(&state(), &Caller::Session(claims), "iam:ListRoles", "*").is_err());
    }
}
