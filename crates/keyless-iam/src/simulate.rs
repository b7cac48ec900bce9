//! IAM's policy simulator: `SimulatePrincipalPolicy`, `SimulateCustomPolicy`,
//! `GetContextKeysForPrincipalPolicy` and `GetContextKeysForCustomPolicy`.
//!
//! A simulation decides each action on each resource with the one permission decision,
//! [`authz::decide_set`], on a [`PolicySet`]: for a role, the policies its sessions are
//! decided on (inline, attached, its permissions boundary, from the live state) plus the
//! `PolicyInputList`; for a custom simulation, exactly the inputs. The statements that decided
//! and the condition keys the request lacked come from the decision's trace; statement
//! positions come from the parser. Semantics and the choices made where IAM's documentation
//! is silent: `docs/policy-semantics.md`.

use keyless_policy::{
    Context, ContextValue, Decision, Effect, ParseOptions, Policy, PolicyLayer, PolicyTrace,
    Principal, Request, SessionTrace, SourcePosition, ValueKind,
};
use keyless_sts::Error;
use keyless_sts::permissions::{self as authz, PolicySet, PolicySource, SourcedPolicy};
use keyless_sts::state::{RoleEntry, StsState};
use keyless_sts::xml::XmlWriter;

use super::params::{Checker, decode_marker, encode_marker};
use super::{Call, invalid_input, no_such_entity};

/// The most actions one simulation decides.
const MAX_ACTIONS: usize = 1000;
/// The most resources one simulation decides each action on.
const MAX_RESOURCES: usize = 1000;
/// The most characters of a caller-supplied value an error message repeats.
const MAX_ECHOED: usize = 128;
/// The `SourcePolicyType` IAM's simulator reports for identity and boundary policies.
const IAM_POLICY: &str = "IAM Policy";
/// The `ResourceHandlingOption` values IAM accepts (EC2 scenarios; no keyless resource
/// depends on them).
const RESOURCE_HANDLING_OPTIONS: &[&str] = &[
    "EC2-VPC-InstanceStore",
    "EC2-VPC-InstanceStore-Subnet",
    "EC2-VPC-EBS",
    "EC2-VPC-EBS-Subnet",
];
/// The `ContextKeyType` values, with the kind of their values and whether they are lists.
const CONTEXT_KEY_TYPES: &[(&str, ValueKind, bool)] = &[
    ("string", ValueKind::String, false),
    ("stringList", ValueKind::String, true),
    ("numeric", ValueKind::Numeric, false),
    ("numericList", ValueKind::Numeric, true),
    ("boolean", ValueKind::Boolean, false),
    ("booleanList", ValueKind::Boolean, true),
    ("ip", ValueKind::Ip, false),
    ("ipList", ValueKind::Ip, true),
    ("binary", ValueKind::Binary, false),
    ("binaryList", ValueKind::Binary, true),
    ("date", ValueKind::Date, false),
    ("dateList", ValueKind::Date, true),
];

/// A caller-supplied value as an error message repeats it: at most [`MAX_ECHOED`] characters.
fn echoed(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHOED) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    }
}

/// The parameters both simulations share, as read (checked once the call is authorized).
struct Simulation {
    actions: Vec<String>,
    resources: Vec<String>,
    resource_policy: Option<String>,
    resource_owner: Option<String>,
    caller_arn: Option<String>,
    handling: Option<String>,
    marker: Option<String>,
    max_items: usize,
    entries: Vec<RawEntry>,
}

/// One `ContextEntries` member as sent.
struct RawEntry {
    name: String,
    values: Vec<String>,
    kind: Option<String>,
}

impl Simulation {
    fn read(c: &mut Checker<'_>) -> Simulation {
        let actions = c.required_string_list("ActionNames", "actionNames", 3, 128);
        let resources = c.string_list("ResourceArns", "resourceArns", 1, 2048);
        let resource_policy = c
            .get("ResourcePolicy")
            .map(|_| c.policy_document("ResourcePolicy", "resourcePolicy"));
        let resource_owner = c
            .get("ResourceOwner")
            .map(|_| c.required_text("ResourceOwner", "resourceOwner", 1, 2048));
        let caller_arn = c
            .get("CallerArn")
            .map(|_| c.required_text("CallerArn", "callerArn", 1, 2048));
        let handling = c
            .get("ResourceHandlingOption")
            .map(|_| c.required_text("ResourceHandlingOption", "resourceHandlingOption", 1, 64));
        let paging = c.paging();
        let mut entries = Vec::new();
        for n in 1.. {
            let prefix = format!("ContextEntries.member.{n}");
            let values_name = format!("{prefix}.ContextKeyValues");
            let name_param = format!("{prefix}.ContextKeyName");
            let kind_param = format!("{prefix}.ContextKeyType");
            if c.get(&name_param).is_none()
                && c.get(&kind_param).is_none()
                && !c.has_list(&values_name)
            {
                break;
            }
            let member = format!("contextEntries.{n}.member");
            let name = c.required_text(&name_param, &format!("{member}.contextKeyName"), 5, 256);
            let values = c.string_list(
                &values_name,
                &format!("{member}.contextKeyValues"),
                0,
                usize::MAX,
            );
            let kind = c.get(&kind_param).map(str::to_owned);
            entries.push(RawEntry { name, values, kind });
        }
        Simulation {
            actions,
            resources,
            resource_policy,
            resource_owner,
            caller_arn,
            handling,
            marker: paging.marker,
            max_items: paging.max_items,
            entries,
        }
    }

    /// The checks IAM makes on the values themselves, and the request context.
    fn check(&self, account: &str) -> Result<Context, Error> {
        if self.actions.len() > MAX_ACTIONS {
            return Err(invalid_input(format!(
                "A simulation can evaluate at most {MAX_ACTIONS} actions."
            )));
        }
        if self.resources.len() > MAX_RESOURCES {
            return Err(invalid_input(format!(
                "A simulation can evaluate at most {MAX_RESOURCES} resources."
            )));
        }
        for action in &self.actions {
            if !is_action_name(action) {
                return Err(invalid_input(format!(
                    "Invalid action name: {}. An action name is <service>:<action>.",
                    echoed(action)
                )));
            }
        }
        if let Some(option) = &self.handling
            && !RESOURCE_HANDLING_OPTIONS.contains(&option.as_str())
        {
            return Err(invalid_input(format!(
                "Invalid ResourceHandlingOption: {}. Valid options are: {}.",
                echoed(option),
                RESOURCE_HANDLING_OPTIONS.join(", ")
            )));
        }
        if let Some(owner) = &self.resource_owner {
            let root = format!("arn:aws:iam::{account}:root");
            let is_account = owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit());
            if !is_account && !owner.starts_with("arn:aws:iam::") {
                return Err(invalid_input(format!(
                    "'{}' is not a valid as a Resource Owner.",
                    echoed(owner)
                )));
            }
            if owner != account && *owner != root {
                return Err(invalid_input(format!(
                    "Resource Owner {} is not this account: keyless simulates one account.",
                    echoed(owner)
                )));
            }
        }
        if self.resource_policy.is_some() {
            return Err(invalid_input(
                "Simulation of resource-based policies isn't supported for IAM roles.",
            ));
        }
        context_of(&self.entries)
    }

    /// The resources each action is decided on: `*` when none are named.
    fn resources(&self) -> Vec<&str> {
        if self.resources.is_empty() {
            vec!["*"]
        } else {
            self.resources.iter().map(String::as_str).collect()
        }
    }

    /// Whether the caller named resources (and so gets per-resource results).
    fn per_resource(&self) -> bool {
        !(self.resources.is_empty() || self.resources.iter().all(|r| r == "*"))
    }
}

/// `<service>:<action>`: a vendor prefix, one colon, an action name.
fn is_action_name(action: &str) -> bool {
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && !name.is_empty()
        && !name.contains(':')
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The request context the context entries make, each value checked against its type.
fn context_of(entries: &[RawEntry]) -> Result<Context, Error> {
    let mut ctx = Context::with_capacity(entries.len());
    for entry in entries {
        let name = echoed(&entry.name);
        let Some(kind) = &entry.kind else {
            return Err(invalid_input(format!(
                "The context entry {name} has no ContextKeyType."
            )));
        };
        let Some(&(_, value_kind, list)) = CONTEXT_KEY_TYPES.iter().find(|(t, _, _)| t == kind)
        else {
            return Err(invalid_input(format!(
                "Invalid ContextKeyType {} for the context entry {name}. Valid types are: {}.",
                echoed(kind),
                CONTEXT_KEY_TYPES
                    .iter()
                    .map(|(t, _, _)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if entry.values.is_empty() {
            return Err(invalid_input(format!(
                "The context entry {name} has no ContextKeyValues."
            )));
        }
        if !list && entry.values.len() > 1 {
            return Err(invalid_input(format!(
                "The context entry {name} is of type {kind} and takes one value; use {kind}List for several."
            )));
        }
        if let Some(bad) = entry.values.iter().find(|v| !value_kind.accepts(v)) {
            return Err(invalid_input(format!(
                "Invalid value {} for the context entry {name} of type {kind}.",
                echoed(bad)
            )));
        }
        let value = if list {
            ContextValue::Multi(entry.values.clone())
        } else {
            ContextValue::Single(entry.values[0].clone())
        };
        ctx.insert(&entry.name, value);
    }
    Ok(ctx)
}

/// Parses simulation inputs as identity policies, each under its `<list>.<n>` id.
fn parse_inputs(docs: &[String], list: &str) -> Result<Vec<(PolicySource, Policy)>, Error> {
    docs.iter()
        .enumerate()
        .map(|(i, doc)| {
            let policy = Policy::parse(
                doc,
                &ParseOptions::new(keyless_policy::PolicyKind::Identity),
            )
            .map_err(|e| Error::MalformedPolicyDocument(e.message))?;
            let source = PolicySource::Input {
                id: format!("{list}.{}", i + 1),
            };
            Ok((source, policy))
        })
        .collect()
}

/// The policies given for the boundary: at most one, as IAM allows.
fn parse_boundary(docs: &[String]) -> Result<Vec<(PolicySource, Policy)>, Error> {
    if docs.len() > 1 {
        return Err(invalid_input(
            "Only one permissions boundary can be provided in PermissionsBoundaryPolicyInputList.",
        ));
    }
    parse_inputs(docs, "PermissionsBoundaryPolicyInputList")
}

fn sourced(policies: &[(PolicySource, Policy)]) -> impl Iterator<Item = SourcedPolicy<'_>> {
    policies.iter().map(|(source, policy)| SourcedPolicy {
        source: source.clone(),
        policy,
    })
}

/// The role an entity ARN names. IAM's simulator takes users, groups and roles; keyless has
/// only roles, so a user or group ARN names nothing; an ARN of a session or of anything else
/// is not an entity ARN.
fn entity_role<'s>(state: &'s StsState, account: &str, arn: &str) -> Result<&'s RoleEntry, Error> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let invalid = || invalid_input(format!("Invalid Entity Arn: {}", echoed(arn)));
    let [
        prefix,
        _partition,
        service,
        region,
        entity_account,
        resource,
    ] = parts[..]
    else {
        return Err(invalid());
    };
    if prefix != "arn" || service != "iam" || !region.is_empty() {
        return Err(invalid());
    }
    let (kind, path_and_name) = resource.split_once('/').ok_or_else(invalid)?;
    let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
    let missing = |kind: &str| {
        no_such_entity(format!(
            "The {kind} with name {} cannot be found.",
            echoed(name)
        ))
    };
    match kind {
        "role" => state
            .roles
            .get(name)
            .filter(|role| entity_account == account && role.arn == arn)
            .map(|role| role.as_ref())
            .ok_or_else(|| missing("role")),
        "user" => Err(missing("user")),
        "group" => Err(missing("group")),
        _ => Err(invalid()),
    }
}

/// A statement that took part in a decision, as the simulator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Matched {
    source_id: String,
    start: SourcePosition,
    end: SourcePosition,
}

/// The decision on one action and resource.
#[derive(Debug, Clone)]
struct ResourceResult {
    resource: String,
    decision: Decision,
    matched: Vec<Matched>,
    missing: Vec<String>,
    /// Whether the permissions boundary allows (`None`: no boundary).
    boundary_allows: Option<bool>,
}

/// The result of one action: the most restrictive decision over its resources.
#[derive(Debug, Clone)]
struct ActionResult {
    action: String,
    resources: Vec<ResourceResult>,
}

/// Explicit deny is more restrictive than implicit deny, which is more restrictive than allow.
fn restrictiveness(decision: Decision) -> u8 {
    match decision {
        Decision::Allow => 0,
        Decision::ImplicitDeny => 1,
        Decision::ExplicitDeny => 2,
    }
}

fn add_unique<T: PartialEq>(into: &mut Vec<T>, item: T) {
    if !into.contains(&item) {
        into.push(item);
    }
}

fn add_key(into: &mut Vec<String>, key: &str) {
    if !into.iter().any(|k| k.eq_ignore_ascii_case(key)) {
        into.push(key.to_owned());
    }
}

/// The policies of `layer` in `set`.
fn layer_of<'s, 'p>(set: &'s PolicySet<'p>, layer: PolicyLayer) -> &'s [SourcedPolicy<'p>] {
    match layer {
        PolicyLayer::Identity => &set.identity,
        PolicyLayer::PermissionsBoundary => &set.boundary,
        PolicyLayer::Session => &set.session,
    }
}

/// Each policy of the trace with the policy it evaluated.
fn traced_policies<'t, 's, 'p>(
    set: &'s PolicySet<'p>,
    trace: &'t SessionTrace,
) -> impl Iterator<Item = (&'s SourcedPolicy<'p>, &'t PolicyTrace)> {
    trace
        .layers
        .iter()
        .flat_map(move |layer| layer_of(set, layer.layer).iter().zip(layer.policies.iter()))
}

/// Decides `action` on `resource`.
fn decide_one(
    set: &PolicySet<'_>,
    caller: &str,
    action: &str,
    resource: &str,
    ctx: &Context,
) -> ResourceResult {
    let request = Request {
        principal: Some(Principal::Aws(caller)),
        action,
        resource: Some(resource),
        context: ctx,
    };
    let decision = authz::decide_set(set, &request, true);
    let no_trace = SessionTrace {
        decision: decision.decision,
        layers: Vec::new(),
    };
    let trace = decision.trace.as_ref().unwrap_or(&no_trace);
    let wanted = match decision.decision {
        Decision::ExplicitDeny => Some(Effect::Deny),
        Decision::Allow => Some(Effect::Allow),
        Decision::ImplicitDeny => None,
    };
    let mut matched = Vec::new();
    let mut missing = Vec::new();
    for (sourced, policy_trace) in traced_policies(set, trace) {
        for statement in &policy_trace.statements {
            let in_scope =
                statement.action.matched && statement.resource.as_ref().is_none_or(|r| r.matched);
            if in_scope {
                for condition in &statement.conditions {
                    if condition.context_values.is_none() {
                        add_key(&mut missing, &condition.key);
                    }
                }
            }
            if statement.applied && Some(statement.effect) == wanted {
                let parsed = &sourced.policy.statements()[statement.index];
                add_unique(
                    &mut matched,
                    Matched {
                        source_id: sourced.source.id(),
                        start: parsed.start(),
                        end: parsed.end(),
                    },
                );
            }
        }
    }
    let boundary_allows = trace
        .layers
        .iter()
        .find(|l| l.layer == PolicyLayer::PermissionsBoundary)
        .map(|l| l.decision == Decision::Allow);
    ResourceResult {
        resource: resource.to_owned(),
        decision: decision.decision,
        matched,
        missing,
        boundary_allows,
    }
}

impl ActionResult {
    fn decision(&self) -> Decision {
        self.resources
            .iter()
            .map(|r| r.decision)
            .max_by_key(|d| restrictiveness(*d))
            .unwrap_or(Decision::ImplicitDeny)
    }
}

/// Runs the simulation on `set` and renders the page the marker asks for.
fn simulate(
    call: &Call<'_>,
    set: &PolicySet<'_>,
    simulation: &Simulation,
    ctx: &Context,
    caller: &str,
) -> Result<String, Error> {
    let start = match &simulation.marker {
        Some(marker) => decode_marker(marker)?
            .parse::<usize>()
            .ok()
            .filter(|n| *n < simulation.actions.len())
            .ok_or_else(|| {
                invalid_input(
                    "The marker is not valid: pass the Marker of the previous page unchanged.",
                )
            })?,
        None => 0,
    };
    let end = (start + simulation.max_items).min(simulation.actions.len());
    let resources = simulation.resources();
    let results: Vec<ActionResult> = simulation.actions[start..end]
        .iter()
        .map(|action| ActionResult {
            action: action.clone(),
            resources: resources
                .iter()
                .map(|resource| decide_one(set, caller, action, resource, ctx))
                .collect(),
        })
        .collect();
    let next_marker = (end < simulation.actions.len()).then(|| encode_marker(&end.to_string()));
    let per_resource = simulation.per_resource();
    Ok(call.respond(&|w| {
        w.open("EvaluationResults");
        for result in &results {
            render_result(w, result, per_resource);
        }
        w.close("EvaluationResults");
        super::render::truncation(w, next_marker.as_deref());
    }))
}

fn decision_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Allow => "allowed",
        Decision::ExplicitDeny => "explicitDeny",
        Decision::ImplicitDeny => "implicitDeny",
    }
}

fn render_matched(w: &mut XmlWriter, matched: &[Matched]) {
    w.open("MatchedStatements");
    for m in matched {
        w.open("member")
            .element("SourcePolicyId", &m.source_id)
            .element("SourcePolicyType", IAM_POLICY);
        for (tag, position) in [("StartPosition", m.start), ("EndPosition", m.end)] {
            w.open(tag)
                .element("Line", &position.line.to_string())
                .element("Column", &position.column.to_string())
                .close(tag);
        }
        w.close("member");
    }
    w.close("MatchedStatements");
}

fn render_boundary(w: &mut XmlWriter, allows: Option<bool>) {
    if let Some(allows) = allows {
        w.open("PermissionsBoundaryDecisionDetail")
            .element(
                "AllowedByPermissionsBoundary",
                if allows { "true" } else { "false" },
            )
            .close("PermissionsBoundaryDecisionDetail");
    }
}

/// One `EvaluationResult`, members in the model's order.
fn render_result(w: &mut XmlWriter, result: &ActionResult, per_resource: bool) {
    let decision = result.decision();
    let mut matched = Vec::new();
    let mut missing = Vec::new();
    for r in result.resources.iter().filter(|r| r.decision == decision) {
        for m in &r.matched {
            add_unique(&mut matched, m.clone());
        }
    }
    if !per_resource {
        for r in &result.resources {
            for key in &r.missing {
                add_key(&mut missing, key);
            }
        }
    }
    let boundary = result
        .resources
        .iter()
        .map(|r| r.boundary_allows)
        .reduce(|a, b| a.zip(b).map(|(a, b)| a && b))
        .flatten();
    w.open("member")
        .element("EvalActionName", &result.action)
        .element("EvalResourceName", "*")
        .element("EvalDecision", decision_name(decision));
    render_matched(w, &matched);
    w.members("MissingContextValues", missing.iter().map(String::as_str));
    render_boundary(w, boundary);
    if per_resource {
        w.open("EvalDecisionDetails").close("EvalDecisionDetails");
        w.open("ResourceSpecificResults");
        for r in &result.resources {
            w.open("member")
                .element("EvalResourceName", &r.resource)
                .element("EvalResourceDecision", decision_name(r.decision));
            render_matched(w, &r.matched);
            w.members("MissingContextValues", r.missing.iter().map(String::as_str));
            w.open("EvalDecisionDetails").close("EvalDecisionDetails");
            render_boundary(w, r.boundary_allows);
            w.close("member");
        }
        w.close("ResourceSpecificResults");
    }
    w.close("member");
}

/// The simulated caller: `CallerArn` (a role of the account) or `default`.
fn caller_of(
    state: &StsState,
    account: &str,
    simulation: &Simulation,
    default: &str,
) -> Result<String, Error> {
    match &simulation.caller_arn {
        Some(arn) => Ok(entity_role(state, account, arn)?.arn.clone()),
        None => Ok(default.to_owned()),
    }
}

/// SimulatePrincipalPolicy: the role's policies (its boundary replaced by
/// `PermissionsBoundaryPolicyInputList` when given) plus `PolicyInputList`.
pub(crate) async fn simulate_principal(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let source = c.arn("PolicySourceArn", "policySourceArn");
    let inputs = c.policy_list("PolicyInputList", "policyInputList", false);
    let boundaries = c.policy_list(
        "PermissionsBoundaryPolicyInputList",
        "permissionsBoundaryPolicyInputList",
        false,
    );
    let simulation = Simulation::read(&mut c);
    c.finish()?;
    call.authorize(&source, Context::new())?;
    let account = call.account();
    let ctx = simulation.check(account)?;
    let live = call.node.live.load();
    let role = entity_role(&live.sts, account, &source)?;
    let inputs = parse_inputs(&inputs, "PolicyInputList")?;
    let boundary = parse_boundary(&boundaries)?;
    let caller = caller_of(&live.sts, account, &simulation, &role.arn)?;
    let mut set = role.policy_set(&live.sts);
    set.identity.extend(sourced(&inputs));
    if !boundary.is_empty() {
        set.boundary = sourced(&boundary).collect();
    }
    simulate(call, &set, &simulation, &ctx, &caller)
}

/// SimulateCustomPolicy: exactly the policies given.
pub(crate) async fn simulate_custom(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let inputs = c.policy_list("PolicyInputList", "policyInputList", true);
    let boundaries = c.policy_list(
        "PermissionsBoundaryPolicyInputList",
        "permissionsBoundaryPolicyInputList",
        false,
    );
    let simulation = Simulation::read(&mut c);
    c.finish()?;
    call.authorize("*", Context::new())?;
    let account = call.account();
    let ctx = simulation.check(account)?;
    for action in &simulation.actions {
        if action.contains('*') || action.contains('?') {
            return Err(invalid_input(format!(
                "SimulateCustomPolicy does not support using wildcards in an action name: {}",
                echoed(action)
            )));
        }
    }
    let inputs = parse_inputs(&inputs, "PolicyInputList")?;
    let boundary = parse_boundary(&boundaries)?;
    let live = call.node.live.load();
    let caller = caller_of(
        &live.sts,
        account,
        &simulation,
        &format!("arn:aws:iam::{account}:root"),
    )?;
    let set = PolicySet {
        identity: sourced(&inputs).collect(),
        boundary: sourced(&boundary).collect(),
        session: Vec::new(),
    };
    simulate(call, &set, &simulation, &ctx, &caller)
}

/// The context keys of `policies`, in order, each once.
fn context_keys<'p>(policies: impl Iterator<Item = &'p Policy>) -> Vec<String> {
    let mut keys = Vec::new();
    for policy in policies {
        for key in policy.context_keys() {
            add_key(&mut keys, &key);
        }
    }
    keys
}

fn respond_keys(call: &Call<'_>, keys: &[String]) -> String {
    call.respond(&|w| {
        w.members("ContextKeyNames", keys.iter().map(String::as_str));
    })
}

/// GetContextKeysForPrincipalPolicy: the keys of the role's policies (its permissions boundary
/// included) and of `PolicyInputList`.
pub(crate) async fn context_keys_principal(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let source = c.arn("PolicySourceArn", "policySourceArn");
    let inputs = c.policy_list("PolicyInputList", "policyInputList", false);
    c.finish()?;
    call.authorize(&source, Context::new())?;
    let live = call.node.live.load();
    let role = entity_role(&live.sts, call.account(), &source)?;
    let inputs = parse_inputs(&inputs, "PolicyInputList")?;
    let set = role.policy_set(&live.sts);
    let keys = context_keys(
        set.identity
            .iter()
            .chain(&set.boundary)
            .map(|s| s.policy)
            .chain(inputs.iter().map(|(_, p)| p)),
    );
    Ok(respond_keys(call, &keys))
}

/// GetContextKeysForCustomPolicy: the keys of the policies given.
pub(crate) async fn context_keys_custom(call: &Call<'_>) -> Result<String, Error> {
    let mut c = Checker::new(call.params);
    let inputs = c.policy_list("PolicyInputList", "policyInputList", true);
    c.finish()?;
    call.authorize("*", Context::new())?;
    let inputs = parse_inputs(&inputs, "PolicyInputList")?;
    let keys = context_keys(inputs.iter().map(|(_, p)| p));
    Ok(respond_keys(call, &keys))
}
