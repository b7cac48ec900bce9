//! Session permissions: whether a caller may perform an action on a resource (IAM calls, and
//! the caller side of a chained `AssumeRole`).
//!
//! [`decide`] is the one permission decision: the admin key (the account's root identity) may
//! do everything; a role session may perform an action on a resource when its permissions
//! allow it: the identity policies of its role (inline and attached, from the live state),
//! within its permissions boundary, intersected with the session policies it was minted with
//! (`Policy` and `PolicyArns`), an explicit Deny anywhere winning. It answers with the
//! statements that decided and, when asked, the trace of every layer ([`decide_set`] on a
//! [`PolicySet`], which the policy simulator calls on the policies it is given).
//!
//! Resources follow IAM's service authorization reference: the ARN of the role, managed
//! policy or OIDC provider the call acts on (for `Create*`, the ARN the new entity will have),
//! and `*` for the account-wide listings `ListRoles`, `ListPolicies` and
//! `ListOpenIDConnectProviders`.

use std::sync::Arc;

use keyless_credentials::session::SessionClaims;
use keyless_policy::{
    Context, Decision, Effect, ParseOptions, Policy, PolicyKind, PolicyLayer, PolicyTrace,
    Principal, Request, SessionTrace, Verdict,
};
use serde::Serialize;

use crate::auth::Caller;
use crate::context::{self, RequestEnv};
use crate::error::{Because, Denial, Error, Refused, layer_name};
use crate::state::StsState;

pub use crate::policy_set::{PolicySet, PolicySource, SourcedPolicy};

/// A statement that decided, in the policy it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedStatement {
    /// The policy.
    pub source: PolicySource,
    /// The layer of the policy.
    pub layer: PolicyLayer,
    /// The policy's position in its layer (and in the layer's trace).
    pub position: usize,
    /// The statement's position in the policy.
    pub index: usize,
    /// The statement's `Sid`.
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: Effect,
}

/// A permission decision with its reasons, as cedar's authorizer answers: the decision, the
/// statements that made it, the policy type that refused, a one-line reason, and the full
/// trace when it was asked for.
#[derive(Debug, Clone)]
pub struct PermissionDecision {
    /// The decision.
    pub decision: Decision,
    /// The Deny statements of an explicit deny; the Allow statements of an allow (one per
    /// allowing policy, every layer); none for an implicit deny.
    pub matched: Vec<MatchedStatement>,
    /// For a refusal, whether it was explicit and which layer refused.
    pub because: Option<Because>,
    /// Why, for the audit log and `explain`: the deciding statement, or the Allow statement
    /// that came closest and the condition it failed on.
    pub reason: String,
    /// Every layer's evaluation, when asked for.
    pub trace: Option<SessionTrace>,
}

impl PermissionDecision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allow
    }
}

/// Decides `req` on `set`: every policy is evaluated once (traced only when `trace` is set).
pub fn decide_set(set: &PolicySet<'_>, req: &Request<'_>, trace: bool) -> PermissionDecision {
    let mut denies = Vec::new();
    let mut allows = Vec::new();
    let mut shortfalls: Vec<(PolicyLayer, String)> = Vec::new();
    let mut resource_allows = false;
    let mut traces = Vec::new();
    for (layer, policies) in set.layers() {
        let denies_before = denies.len();
        let mut layer_allows = false;
        let mut closest: Option<String> = None;
        let mut policy_traces = Vec::new();
        for (position, sourced) in policies.iter().enumerate() {
            let (verdict, policy_trace): (Verdict<'_>, Option<PolicyTrace>) = if trace {
                let (_, t) = sourced.policy.evaluate_traced(req);
                (sourced.policy.verdict_of(&t), Some(t))
            } else {
                (sourced.policy.decide(req), None)
            };
            let matched = |statement: &keyless_policy::Statement| MatchedStatement {
                source: sourced.source.clone(),
                layer,
                position,
                index: statement.index(),
                sid: statement.sid().map(str::to_owned),
                effect: statement.effect(),
            };
            match verdict.decision {
                Decision::ExplicitDeny => {
                    if let Some(statement) = verdict.statement {
                        denies.push((matched(statement), crate::denial::statement_name(statement)));
                    }
                }
                Decision::Allow => {
                    layer_allows = true;
                    if let Some(statement) = verdict.statement {
                        allows.push(matched(statement));
                    }
                }
                Decision::ImplicitDeny => {
                    if closest.is_none()
                        && !matches!(
                            verdict.shortfall,
                            None | Some(keyless_policy::Shortfall::NoAllow)
                                | Some(keyless_policy::Shortfall::NotCovered)
                        )
                    {
                        let (why, _) = crate::denial::reason(&verdict, "policy", req);
                        closest = Some(format!("{} {why}", sourced.source.id()));
                    }
                }
            }
            policy_traces.extend(policy_trace);
        }
        if trace {
            let decision = if denies.len() > denies_before {
                Decision::ExplicitDeny
            } else if layer_allows {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            traces.push(keyless_policy::LayerTrace {
                layer,
                decision,
                policies: policy_traces,
            });
        }
        if layer == PolicyLayer::Resource {
            resource_allows = layer_allows;
        } else if !layer_allows {
            shortfalls.push((layer, closest.unwrap_or_default()));
        }
    }
    // A resource policy's Allow stands in for the identity policies'.
    let refusing = shortfalls
        .into_iter()
        .find(|(layer, _)| !(resource_allows && *layer == PolicyLayer::Identity));
    let (decision, matched, because, reason) = if let Some((first, name)) = denies.first() {
        let reason = format!(
            "{} is explicitly denied by {name} of {}",
            req.action,
            first.source.id()
        );
        let because = Because {
            explicit: true,
            layer: first.layer,
        };
        let matched = denies.into_iter().map(|(m, _)| m).collect();
        (Decision::ExplicitDeny, matched, Some(because), reason)
    } else if let Some((layer, closest)) = refusing {
        let mut reason = format!("no {} allows {}", layer_name(layer), req.action);
        if !closest.is_empty() {
            reason.push_str(&format!(" (closest: {closest})"));
        }
        let because = Because {
            explicit: false,
            layer,
        };
        (Decision::ImplicitDeny, Vec::new(), Some(because), reason)
    } else {
        (Decision::Allow, allows, None, "allowed".to_owned())
    };
    PermissionDecision {
        trace: trace.then_some(SessionTrace {
            decision,
            layers: traces,
        }),
        decision,
        matched,
        because,
        reason,
    }
}

/// What a caller asks to do.
#[derive(Debug, Clone)]
pub struct PermissionQuery<'a> {
    /// The action, e.g. `iam:CreateRole`.
    pub action: &'a str,
    /// The resource's ARN, or `*`.
    pub resource: &'a str,
    /// The request's own condition keys; the principal keys and the global keys of the
    /// request are added by [`decide`].
    pub context: Context,
    /// The request's environment (`aws:SourceIp`, `aws:UserAgent`, …).
    pub env: &'a RequestEnv,
    /// The current time, Unix seconds.
    pub now: i64,
    /// Whether to build the full trace.
    pub trace: bool,
}

/// A permission decision and the context it was made on.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The decision.
    pub decision: PermissionDecision,
    /// Every condition key the decision saw.
    pub context: Context,
}

/// Decides whether `caller` may perform `query.action` on `query.resource`: the one
/// permission decision of every signed call (IAM, a chained `AssumeRole`'s caller side). The
/// admin key may do everything; a role session needs its role's identity policies, its
/// permissions boundary when it has one, and its session policies to allow, with no explicit
/// Deny in any of them.
pub fn decide(state: &StsState, caller: &Caller, query: PermissionQuery<'_>) -> Authorization {
    let decider = Decider::new(state, caller, query.context, query.now, query.env);
    let decision = decider.decide(query.action, query.resource, query.trace);
    Authorization {
        decision,
        context: decider.ctx,
    }
}

/// A caller's permissions made ready for one or more decisions on the same request context:
/// the context with its global and principal keys, the role and the session policies, each
/// looked up once.
struct Decider<'s> {
    state: &'s StsState,
    ctx: Context,
    subject: Subject<'s>,
}

/// Who decides: the admin key, a role session, or a session that can no longer be decided for.
enum Subject<'s> {
    Admin,
    Session {
        role: &'s Arc<crate::state::RoleEntry>,
        session: Vec<(PolicySource, Arc<Policy>)>,
        principal: String,
    },
    Refused(String),
}

impl<'s> Decider<'s> {
    fn new(
        state: &'s StsState,
        caller: &'s Caller,
        mut ctx: Context,
        now: i64,
        env: &RequestEnv,
    ) -> Decider<'s> {
        context::add_global_keys(&mut ctx, now, env);
        context::add_principal_keys(&mut ctx, caller);
        let subject = match caller {
            Caller::Admin { .. } => Subject::Admin,
            Caller::Session(claims) => Self::session(state, claims),
        };
        Decider {
            state,
            ctx,
            subject,
        }
    }

    fn session(state: &'s StsState, claims: &SessionClaims) -> Subject<'s> {
        let Some(role) = state.roles.get(&claims.role_name) else {
            return Subject::Refused("the session's role no longer exists".to_owned());
        };
        if role.model.role_id != claims.role_id {
            return Subject::Refused("the session's role was deleted and created again".to_owned());
        }
        match session_policies(state, claims) {
            Ok(session) => Subject::Session {
                role,
                session,
                principal: claims.assumed_role_arn(),
            },
            Err(reason) => Subject::Refused(reason),
        }
    }

    /// Decides `action` on `resource` with this caller's permissions.
    fn decide(&self, action: &str, resource: &str, trace: bool) -> PermissionDecision {
        let (role, session, principal) = match &self.subject {
            Subject::Admin => {
                return PermissionDecision {
                    decision: Decision::Allow,
                    matched: Vec::new(),
                    because: None,
                    reason: "the admin key may do everything".to_owned(),
                    trace: None,
                };
            }
            Subject::Refused(reason) => {
                return PermissionDecision {
                    decision: Decision::ImplicitDeny,
                    matched: Vec::new(),
                    because: Some(Because {
                        explicit: false,
                        layer: PolicyLayer::Identity,
                    }),
                    reason: reason.clone(),
                    trace: None,
                };
            }
            Subject::Session {
                role,
                session,
                principal,
            } => (role, session, principal),
        };
        let state = self.state;
        let mut set = role.policy_set(state);
        set.session = session
            .iter()
            .map(|(source, policy)| SourcedPolicy {
                source: source.clone(),
                policy,
            })
            .collect();
        let request = Request {
            principal: Some(Principal::Aws(principal)),
            action,
            resource: Some(resource),
            context: &self.ctx,
        };
        let mut decision = decide_set(&set, &request, trace);
        if decision.decision == Decision::ImplicitDeny {
            let problems = &role.compiled().problems;
            if !problems.is_empty() {
                decision.reason = format!("{}; {}", decision.reason, problems.join("; "));
            }
            if let Some(boundary) = &role.model.permissions_boundary
                && !state.managed_policies.contains_key(boundary)
            {
                decision.reason = format!(
                    "{}; the permissions boundary {boundary} no longer exists or does not compile, \
                     so it allows nothing",
                    decision.reason
                );
            }
        }
        decision
    }
}

/// Allows or refuses `action` (e.g. `iam:CreateRole`) on `resource` for `caller`: [`decide`],
/// as an error for a refusal. `context` carries the request's own condition keys.
pub fn authorize(
    state: &StsState,
    caller: &Caller,
    action: &str,
    resource: &str,
    context: Context,
    now: i64,
    env: &RequestEnv,
) -> Result<(), Error> {
    authorize_all(state, caller, &[action], resource, context, now, env)
}

/// Allows `caller` every one of `actions` on `resource`, or refuses with the first action
/// refused: [`authorize`] for a request that needs several actions, on one context built once.
pub fn authorize_all(
    state: &StsState,
    caller: &Caller,
    actions: &[&str],
    resource: &str,
    context: Context,
    now: i64,
    env: &RequestEnv,
) -> Result<(), Error> {
    let decider = Decider::new(state, caller, context, now, env);
    for action in actions {
        let decision = decider.decide(action, resource, false);
        if !decision.allowed() {
            return Err(denial(state, caller, action, resource, decision).into());
        }
    }
    Ok(())
}

/// The refusal of `action` on `resource` that `decision` makes.
fn denial(
    state: &StsState,
    caller: &Caller,
    action: &str,
    resource: &str,
    decision: PermissionDecision,
) -> Denial {
    Denial {
        refused: Refused::Caller {
            caller: caller.arn(),
            action: action.to_owned(),
            resource: resource.to_owned(),
        },
        reason: decision.reason,
        statement: decision.matched.first().map(|m| {
            format!(
                "{} of {}",
                m.sid.as_deref().map_or_else(
                    || format!("statement {}", m.index),
                    |s| format!("statement {s}")
                ),
                m.source.id()
            )
        }),
        because: decision.because,
        encoded: None,
        show_reason: state.options.debug_denials,
    }
}

/// The session policies a session was minted with. A session whose policies can no longer be
/// resolved (a managed policy named in `PolicyArns` was deleted) is refused rather than
/// silently given its role's full permissions.
fn session_policies(
    state: &StsState,
    claims: &SessionClaims,
) -> Result<Vec<(PolicySource, Arc<Policy>)>, String> {
    let mut policies = Vec::with_capacity(claims.policy_arns.len() + 1);
    if let Some(doc) = &claims.session_policy {
        let options = ParseOptions {
            kind: PolicyKind::Session,
            max_chars: None,
        };
        let policy = Policy::parse(doc, &options)
            .map_err(|e| format!("the session policy no longer parses ({e})"))?;
        policies.push((PolicySource::SessionInline, Arc::new(policy)));
    }
    for arn in &claims.policy_arns {
        let policy = state
            .managed_policies
            .get(arn)
            .ok_or_else(|| format!("the session policy {arn} no longer exists"))?;
        let name = arn.rsplit('/').next().unwrap_or(arn).to_owned();
        let source = PolicySource::Managed {
            name,
            arn: arn.clone(),
        };
        policies.push((source, policy.clone()));
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
        state_with_boundary(None)
    }

    fn state_with_boundary(boundary: Option<&str>) -> StsState {
        let role = Role {
            name: "reader".to_owned(),
            path: "/".to_owned(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".to_owned(),
            trust_policy: "{}".to_owned(),
            description: None,
            max_session_duration: 3600,
            permissions_boundary: boundary.map(str::to_owned),
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
        Caller::Session(std::sync::Arc::new(SessionClaims {
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
            tags: Vec::new(),
            web_identity_keys: Vec::new(),
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
             iam:CreateRole on resource: arn:aws:iam::000000000000:role/x because no \
             identity-based policy allows the iam:CreateRole action"
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
        let err = check(&state, &caller, "iam:ListRoles", "*").unwrap_err();
        assert!(
            err.message()
                .ends_with(" because no session policy allows the iam:ListRoles action"),
            "{}",
            err.message()
        );
        let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Nothing","Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let caller = session(&[], Some(deny_all));
        let err = check(&state, &caller, "iam:ListRoles", "*").unwrap_err();
        assert!(
            err.message()
                .ends_with(" with an explicit deny in a session policy"),
            "{}",
            err.message()
        );
        assert!(
            err.reason()
                .starts_with("iam:ListRoles is explicitly denied by statement Nothing"),
            "{}",
            err.reason()
        );
    }

    #[test]
    fn a_decision_names_the_statements_that_made_it() {
        let state = state();
        let arn = "arn:aws:iam::000000000000:policy/roles-only";
        let caller = session(&[arn], None);
        let env = RequestEnv::default();
        let query = |action, resource, trace| PermissionQuery {
            action,
            resource,
            context: Context::new(),
            env: &env,
            now: 60,
            trace,
        };
        let allowed = decide(
            &state,
            &caller,
            query("iam:GetRole", "arn:aws:iam::000000000000:role/x", true),
        );
        assert!(allowed.decision.allowed());
        let sources: Vec<(String, PolicyLayer)> = allowed
            .decision
            .matched
            .iter()
            .map(|m| (m.source.id(), m.layer))
            .collect();
        assert_eq!(
            sources,
            [
                ("role_reader_read-only".to_owned(), PolicyLayer::Identity),
                ("roles-only".to_owned(), PolicyLayer::Session)
            ]
        );
        let trace = allowed.decision.trace.expect("asked for");
        assert_eq!(trace.layers.len(), 2);
        assert_eq!(trace.layers[1].decision, Decision::Allow);
        assert_eq!(
            allowed.context.get("aws:PrincipalType"),
            Some(&keyless_policy::ContextValue::Single(
                "AssumedRole".to_owned()
            ))
        );

        let refused = decide(&state, &caller, query("iam:ListRoles", "*", false)).decision;
        assert_eq!(refused.decision, Decision::ImplicitDeny);
        assert!(refused.matched.is_empty() && refused.trace.is_none());
        assert_eq!(
            refused.because,
            Some(Because {
                explicit: false,
                layer: PolicyLayer::Session
            })
        );
    }

    #[test]
    fn a_boundary_limits_what_the_identity_policies_allow() {
        let parse =
            |doc: &str| Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).unwrap();
        let identity = parse(READ_ONLY);
        let boundary = parse(ROLES_ONLY);
        let set = PolicySet {
            identity: vec![SourcedPolicy {
                source: PolicySource::Input {
                    id: "PolicyInputList.1".to_owned(),
                },
                policy: &identity,
            }],
            boundary: vec![SourcedPolicy {
                source: PolicySource::Input {
                    id: "PermissionsBoundaryPolicyInputList.1".to_owned(),
                },
                policy: &boundary,
            }],
            ..PolicySet::default()
        };
        let ctx = Context::new();
        let request = |action, resource| Request {
            principal: None,
            action,
            resource: Some(resource),
            context: &ctx,
        };
        let inside = decide_set(
            &set,
            &request("iam:GetRole", "arn:aws:iam::000000000000:role/x"),
            false,
        );
        assert!(inside.allowed());
        assert_eq!(inside.matched.len(), 2);
        let outside = decide_set(&set, &request("iam:ListRoles", "*"), false);
        assert_eq!(outside.decision, Decision::ImplicitDeny);
        assert_eq!(
            outside.because.map(|b| b.layer),
            Some(PolicyLayer::PermissionsBoundary)
        );
        assert_eq!(
            outside.because.unwrap().words("iam:ListRoles"),
            "because no permissions boundary allows the iam:ListRoles action"
        );
    }

    #[test]
    fn every_organization_level_must_allow_and_any_deny_denies() {
        let parse =
            |doc: &str| Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).unwrap();
        let everything = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        );
        let iam_only = parse(ROLES_ONLY);
        let no_delete = parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"iam:DeleteRole","Resource":"*"}]}"#,
        );
        let scp = |id: &str, policy| SourcedPolicy {
            source: PolicySource::Input { id: id.to_owned() },
            policy,
        };
        let set = PolicySet {
            organization: vec![
                vec![scp("root", &everything)],
                vec![scp("ou", &iam_only)],
                vec![scp("account", &no_delete)],
            ],
            identity: vec![scp("PolicyInputList.1", &everything)],
            ..PolicySet::default()
        };
        let layers: Vec<PolicyLayer> = set.layers().map(|(layer, _)| layer).collect();
        assert_eq!(
            layers,
            [
                PolicyLayer::ServiceControl,
                PolicyLayer::ServiceControl,
                PolicyLayer::ServiceControl,
                PolicyLayer::Identity
            ]
        );
        let ctx = Context::new();
        let request = |action| Request {
            principal: None,
            action,
            resource: Some("arn:aws:iam::000000000000:role/x"),
            context: &ctx,
        };
        assert!(decide_set(&set, &request("iam:GetRole"), false).allowed());
        // The OU level allows only IAM on roles: the root's Allow is not enough.
        let outside = decide_set(&set, &request("s3:GetObject"), true);
        assert_eq!(outside.decision, Decision::ImplicitDeny);
        assert_eq!(
            outside.because.unwrap().words("s3:GetObject"),
            "because no service control policy allows the s3:GetObject action"
        );
        let levels: Vec<Decision> = outside.trace.unwrap().layers[..3]
            .iter()
            .map(|l| l.decision)
            .collect();
        assert_eq!(
            levels,
            [Decision::Allow, Decision::ImplicitDeny, Decision::Allow]
        );
        // The account level's Deny denies, though the identity policy allows; only that
        // level's trace says so.
        let denied = decide_set(&set, &request("iam:DeleteRole"), true);
        assert_eq!(denied.decision, Decision::ExplicitDeny);
        assert_eq!(
            denied.because.unwrap().words("iam:DeleteRole"),
            "with an explicit deny in a service control policy"
        );
        let levels: Vec<Decision> = denied.trace.unwrap().layers[..3]
            .iter()
            .map(|l| l.decision)
            .collect();
        assert_eq!(
            levels,
            [Decision::Allow, Decision::Allow, Decision::ExplicitDeny]
        );
    }

    #[test]
    fn a_session_is_bounded_by_its_roles_boundary() {
        let bounded = state_with_boundary(Some("arn:aws:iam::000000000000:policy/roles-only"));
        let caller = session(&[], None);
        assert!(
            check(
                &bounded,
                &caller,
                "iam:GetRole",
                "arn:aws:iam::000000000000:role/x"
            )
            .is_ok()
        );
        let err = check(&bounded, &caller, "iam:ListRoles", "*").unwrap_err();
        assert_eq!(
            err.message(),
            "User: arn:aws:sts::000000000000:assumed-role/reader/cicd is not authorized to perform: \
             iam:ListRoles on resource: * because no permissions boundary allows the \
             iam:ListRoles action"
        );
        let env = RequestEnv::default();
        let allowed = decide(
            &bounded,
            &caller,
            PermissionQuery {
                action: "iam:GetRole",
                resource: "arn:aws:iam::000000000000:role/x",
                context: Context::new(),
                env: &env,
                now: 60,
                trace: false,
            },
        );
        let layers: Vec<PolicyLayer> = allowed.decision.matched.iter().map(|m| m.layer).collect();
        assert_eq!(
            layers,
            [PolicyLayer::Identity, PolicyLayer::PermissionsBoundary]
        );

        // A boundary the state does not hold allows nothing.
        let gone = state_with_boundary(Some("arn:aws:iam::000000000000:policy/deleted"));
        let err = check(
            &gone,
            &caller,
            "iam:GetRole",
            "arn:aws:iam::000000000000:role/x",
        )
        .unwrap_err();
        assert!(
            err.reason().contains(
                "the permissions boundary arn:aws:iam::000000000000:policy/deleted no longer exists"
            ),
            "{}",
            err.reason()
        );
    }

    #[test]
    fn a_resource_policy_grants_within_the_boundary() {
        let parse = |doc: &str, kind| Policy::parse(doc, &ParseOptions::new(kind)).unwrap();
        let identity = parse(READ_ONLY, PolicyKind::Identity);
        let boundary = parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","iam:*"],"Resource":"*"}]}"#,
            PolicyKind::Identity,
        );
        let resource = parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/reader"},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/*"},
            {"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"iam:GetRole","Resource":"*"}]}"#,
            PolicyKind::Resource,
        );
        let input = |id: &str| PolicySource::Input { id: id.to_owned() };
        let mut set = PolicySet {
            identity: vec![SourcedPolicy {
                source: input("PolicyInputList.1"),
                policy: &identity,
            }],
            resource: vec![SourcedPolicy {
                source: input("ResourcePolicy"),
                policy: &resource,
            }],
            ..PolicySet::default()
        };
        let ctx = Context::new();
        let request = |principal, action| Request {
            principal: Some(Principal::Aws(principal)),
            action,
            resource: Some("arn:aws:s3:::b/k"),
            context: &ctx,
        };
        let reader = "arn:aws:iam::000000000000:role/reader";
        let granted = decide_set(&set, &request(reader, "s3:GetObject"), true);
        assert!(granted.allowed(), "{}", granted.reason);
        assert_eq!(granted.matched[0].layer, PolicyLayer::Resource);
        let other = decide_set(
            &set,
            &request("arn:aws:iam::000000000000:role/other", "s3:GetObject"),
            false,
        );
        assert_eq!(other.because.map(|b| b.layer), Some(PolicyLayer::Identity));
        let denied = decide_set(&set, &request(reader, "iam:GetRole"), false);
        assert_eq!(
            denied.because,
            Some(Because {
                explicit: true,
                layer: PolicyLayer::Resource
            })
        );
        set.boundary = vec![SourcedPolicy {
            source: input("PermissionsBoundaryPolicyInputList.1"),
            policy: &boundary,
        }];
        assert!(decide_set(&set, &request(reader, "s3:GetObject"), false).allowed());
        let outside = decide_set(&set, &request(reader, "s3:PutObject"), false);
        assert_eq!(
            outside.because.map(|b| b.layer),
            Some(PolicyLayer::PermissionsBoundary)
        );
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
        std::sync::Arc::make_mut(&mut claims).role_id = "AROABBBBBBBBBBBBBBBBB".to_owned();
        assert!(check(&state(), &Caller::Session(claims), "iam:ListRoles", "*").is_err());
    }
}
