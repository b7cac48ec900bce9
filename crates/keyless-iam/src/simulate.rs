//! IAM's policy simulator: `SimulatePrincipalPolicy`, `SimulateCustomPolicy`,
//! `GetContextKeysForPrincipalPolicy` and `GetContextKeysForCustomPolicy`.
//!
//! A simulation decides each action on each resource with the one permission decision,
//! [`authz::decide_set`], on a [`PolicySet`]: for a role, the policies its sessions are
//! decided on (inline, attached, its permissions boundary, from the live state) less the
//! `PolicyExclusionList`, plus the `PolicyInputList`; for a custom simulation, exactly the
//! inputs, with the `OrderedOrganizationPolicyInputList` as one service control policy layer
//! per level of the organization. The statements that decided and the condition keys the
//! request lacked come from the decision's trace (never from service control policies);
//! statement positions come from the parser; a result's `EvalResourceName` is the ARN template
//! of the action's resource type ([`resource_arn_template`]). Semantics and the choices made
//! where IAM's documentation is silent: `docs/policy-semantics.md`.

use keyless_policy::{
    Case, Context, ContextValue, Decision, Effect, ParseOptions, Pattern, Policy, PolicyLayer,
    PolicyTrace, Principal, Request, SessionTrace, SourcePosition, ValueKind,
    resource_arn_template,
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
/// The most members of `PolicyExclusionList`.
const MAX_EXCLUSIONS: usize = 256;
/// The most levels of `OrderedOrganizationPolicyInputList` (the root, five OUs, the account).
const MAX_ORGANIZATION_LEVELS: usize = 7;
/// The `PolicyType` values of a `PolicyIdentifier`.
const POLICY_TYPES: &[&str] = &[
    "inline",
    "aws-managed",
    "user-managed",
    "permission-boundary",
    "scp",
    "rcp",
];
/// The `AttachmentType` values of an `InlinePolicyIdentifier`.
const ATTACHMENT_TYPES: &[&str] = &["user", "group", "role"];
/// The `SourcePolicyType` IAM's simulator reports for identity and boundary policies.
const IAM_POLICY: &str = "IAM Policy";
/// The `SourcePolicyType` reported for the `ResourcePolicy`.
const RESOURCE_POLICY: &str = "Resource Policy";
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

/// The `ResourcePolicy`, parsed as a resource-based policy (`Principal` required).
fn parse_resource_policy(doc: Option<&str>) -> Result<Vec<(PolicySource, Policy)>, Error> {
    let Some(doc) = doc else {
        return Ok(Vec::new());
    };
    let options = ParseOptions {
        kind: keyless_policy::PolicyKind::Resource,
        max_chars: None,
    };
    let policy =
        Policy::parse(doc, &options).map_err(|e| Error::MalformedPolicyDocument(e.message))?;
    let source = PolicySource::Input {
        id: "ResourcePolicy".to_owned(),
    };
    Ok(vec![(source, policy)])
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
    source_type: &'static str,
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
    /// Whether every level of the organization's service control policies allows (`None`:
    /// no organization).
    organizations_allow: Option<bool>,
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

/// Each policy of the trace with its layer and the policy it evaluated: the trace has one
/// layer for each of [`PolicySet::layers`], in order.
fn traced_policies<'t, 's, 'p>(
    set: &'s PolicySet<'p>,
    trace: &'t SessionTrace,
) -> impl Iterator<Item = (PolicyLayer, &'s SourcedPolicy<'p>, &'t PolicyTrace)> {
    set.layers()
        .zip(trace.layers.iter())
        .flat_map(|((layer, policies), layer_trace)| {
            policies
                .iter()
                .zip(layer_trace.policies.iter())
                .map(move |(sourced, policy)| (layer, sourced, policy))
        })
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
    for (layer, sourced, policy_trace) in traced_policies(set, trace) {
        // Service control policies decide, but IAM's simulator names neither their
        // statements nor the keys they lack.
        if layer == PolicyLayer::ServiceControl {
            continue;
        }
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
                        source_type: if layer == PolicyLayer::Resource {
                            RESOURCE_POLICY
                        } else {
                            IAM_POLICY
                        },
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
    let organizations_allow = (!set.organization.is_empty()).then(|| {
        trace
            .layers
            .iter()
            .filter(|l| l.layer == PolicyLayer::ServiceControl)
            .all(|l| l.decision == Decision::Allow)
    });
    ResourceResult {
        resource: resource.to_owned(),
        decision: decision.decision,
        matched,
        missing,
        boundary_allows,
        organizations_allow,
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

/// The page of `total` results that `marker` asks for, at most `max_items` long: its start,
/// its end, and the marker of the next page when there is one (the index of its first
/// result).
fn page_of(
    marker: Option<&str>,
    max_items: usize,
    total: usize,
) -> Result<(usize, usize, Option<String>), Error> {
    let start = match marker {
        Some(marker) => decode_marker(marker)?
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0 && *n < total)
            .ok_or_else(|| {
                invalid_input(
                    "The marker is not valid: pass the Marker of the previous page unchanged.",
                )
            })?,
        None => 0,
    };
    let end = start.saturating_add(max_items).min(total);
    let next = (end < total).then(|| encode_marker(&end.to_string()));
    Ok((start, end, next))
}

/// Runs the simulation on `set` and renders the page the marker asks for.
fn simulate(
    call: &Call<'_>,
    set: &PolicySet<'_>,
    simulation: &Simulation,
    ctx: &Context,
    caller: &str,
) -> Result<String, Error> {
    let (start, end, next_marker) = page_of(
        simulation.marker.as_deref(),
        simulation.max_items,
        simulation.actions.len(),
    )?;
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
            .element("SourcePolicyType", m.source_type);
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

fn render_organizations(w: &mut XmlWriter, allows: Option<bool>) {
    if let Some(allows) = allows {
        w.open("OrganizationsDecisionDetail")
            .element(
                "AllowedByOrganizations",
                if allows { "true" } else { "false" },
            )
            .close("OrganizationsDecisionDetail");
    }
}

/// Both `allows` of every resource, or `None` when none has the layer.
fn all_allow(
    resources: &[ResourceResult],
    allows: impl Fn(&ResourceResult) -> Option<bool>,
) -> Option<bool> {
    resources
        .iter()
        .map(allows)
        .reduce(|a, b| a.zip(b).map(|(a, b)| a && b))
        .flatten()
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
    let boundary = all_allow(&result.resources, |r| r.boundary_allows);
    let organizations = all_allow(&result.resources, |r| r.organizations_allow);
    w.open("member")
        .element("EvalActionName", &result.action)
        .element(
            "EvalResourceName",
            resource_arn_template(&result.action).unwrap_or("*"),
        )
        .element("EvalDecision", decision_name(decision));
    render_matched(w, &matched);
    w.members("MissingContextValues", missing.iter().map(String::as_str));
    render_organizations(w, organizations);
    render_boundary(w, boundary);
    if per_resource {
        // IAM stops before the other policy types once the organization denies.
        if organizations != Some(false) {
            w.open("EvalDecisionDetails").close("EvalDecisionDetails");
        }
        w.open("ResourceSpecificResults");
        for r in &result.resources {
            w.open("member")
                .element("EvalResourceName", &r.resource)
                .element("EvalResourceDecision", decision_name(r.decision));
            render_matched(w, &r.matched);
            w.members("MissingContextValues", r.missing.iter().map(String::as_str));
            if r.organizations_allow != Some(false) {
                w.open("EvalDecisionDetails").close("EvalDecisionDetails");
            }
            render_boundary(w, r.boundary_allows);
            w.close("member");
        }
        w.close("ResourceSpecificResults");
    }
    w.close("member");
}

/// One `PolicyExclusionList` member as sent (its model constraints checked by the reader).
#[derive(Debug, Default)]
struct RawExclusion {
    policy_type: Option<String>,
    policy_arn: Option<String>,
    /// `InlinePolicyIdentifier`: the policy's name, the attachment type, the entity's name.
    inline: Option<(String, String, String)>,
}

/// What a `PolicyExclusionList` member takes out of the principal's policies.
#[derive(Debug)]
enum Exclusion {
    /// Every policy of a `PolicyType`.
    Type(&'static str),
    /// The attached managed policies whose ARN the pattern matches.
    Arn(Pattern),
    /// The inline policies of this name on the entities of this type whose name the pattern
    /// matches.
    Inline {
        policy: String,
        attachment: &'static str,
        entity: Pattern,
    },
}

/// `PolicyExclusionList.member.N`: each a `PolicyIdentifier` union, at most
/// [`MAX_EXCLUSIONS`].
fn read_exclusions(c: &mut Checker<'_>) -> Vec<RawExclusion> {
    let mut exclusions = Vec::new();
    for n in 1.. {
        let prefix = format!("PolicyExclusionList.member.{n}");
        if !c.has_prefix(&format!("{prefix}.")) {
            break;
        }
        if n > MAX_EXCLUSIONS {
            c.list_length("policyExclusionList", n, MAX_EXCLUSIONS);
            break;
        }
        let member = format!("policyExclusionList.{n}.member");
        let mut raw = RawExclusion {
            policy_type: c.one_of(
                &format!("{prefix}.PolicyType"),
                &format!("{member}.policyType"),
                POLICY_TYPES,
            ),
            policy_arn: c.optional_arn(
                &format!("{prefix}.PolicyArn"),
                &format!("{member}.policyArn"),
            ),
            inline: None,
        };
        let inline = format!("{prefix}.InlinePolicyIdentifier");
        if c.has_prefix(&format!("{inline}.")) {
            let inline_member = format!("{member}.inlinePolicyIdentifier");
            let policy = c.name(
                &format!("{inline}.PolicyName"),
                &format!("{inline_member}.policyName"),
                128,
            );
            let attachment = c.required_text(
                &format!("{inline}.AttachmentType"),
                &format!("{inline_member}.attachmentType"),
                1,
                5,
            );
            c.one_of(
                &format!("{inline}.AttachmentType"),
                &format!("{inline_member}.attachmentType"),
                ATTACHMENT_TYPES,
            );
            let entity = c.required_text(
                &format!("{inline}.AttachmentName"),
                &format!("{inline_member}.attachmentName"),
                1,
                128,
            );
            raw.inline = Some((policy, attachment, entity));
        }
        exclusions.push(raw);
    }
    exclusions
}

/// The checks IAM makes on the identifiers themselves: exactly one member of each union, a
/// policy ARN with wildcards only in its name (at most one `*`), an entity name of IAM's
/// name characters and wildcards (at most one `*`).
fn check_exclusions(raw: &[RawExclusion]) -> Result<Vec<Exclusion>, Error> {
    raw.iter()
        .enumerate()
        .map(|(i, raw)| {
            let n = i + 1;
            match (&raw.policy_type, &raw.policy_arn, &raw.inline) {
                (Some(kind), None, None) => POLICY_TYPES
                    .iter()
                    .find(|t| *t == kind)
                    .map(|kind| Exclusion::Type(kind))
                    .ok_or_else(|| invalid_input(format!("Invalid PolicyType: {}", echoed(kind)))),
                (None, Some(arn), None) => policy_arn_pattern(arn).map(Exclusion::Arn).ok_or_else(|| {
                    invalid_input(format!(
                        "Invalid PolicyArn in PolicyExclusionList.member.{n}: {}. A policy ARN is \
                         arn:aws:iam::<account or aws>:policy/<path><name>, with wildcards (at most \
                         one *, any ?) only in its path and name.",
                        echoed(arn)
                    ))
                }),
                (None, None, Some((policy, attachment, entity))) => {
                    let attachment = ATTACHMENT_TYPES
                        .iter()
                        .find(|t| *t == attachment)
                        .ok_or_else(|| {
                            invalid_input(format!("Invalid AttachmentType: {}", echoed(attachment)))
                        })?;
                    let valid_entity = entity.matches('*').count() <= 1
                        && entity.chars().all(|ch| {
                            keyless_sts::validate::is_name_char(ch) || ch == '*' || ch == '?'
                        });
                    if !valid_entity {
                        return Err(invalid_input(format!(
                            "Invalid AttachmentName in PolicyExclusionList.member.{n}: {}. An \
                             entity name has IAM's name characters and wildcards: at most one *, \
                             any ?.",
                            echoed(entity)
                        )));
                    }
                    Ok(Exclusion::Inline {
                        policy: policy.clone(),
                        attachment,
                        entity: Pattern::new(entity, false, true),
                    })
                }
                _ => Err(invalid_input(format!(
                    "PolicyExclusionList.member.{n} must give exactly one of PolicyType, PolicyArn \
                     and InlinePolicyIdentifier."
                ))),
            }
        })
        .collect()
}

/// The pattern of a `PolicyArn` identifier: `arn:<partition>:iam::<account or aws>:policy/`
/// and a path and name in which `*` (at most once) and `?` are wildcards.
fn policy_arn_pattern(arn: &str) -> Option<Pattern> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("policy/")?;
    let literal = |text: &str| !text.contains(['*', '?']);
    let valid = prefix == "arn"
        && !partition.is_empty()
        && literal(partition)
        && service == "iam"
        && region.is_empty()
        && (account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        && !name.is_empty()
        && !name.ends_with('/')
        && name.matches('*').count() <= 1
        && name.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|ch| keyless_sts::validate::is_name_char(ch) || ch == '*' || ch == '?')
        });
    valid.then(|| Pattern::new(arn, false, true))
}

impl Exclusion {
    /// Whether this identifier takes out `source`, a policy of the principal's `layer`.
    fn excludes(&self, layer: PolicyLayer, source: &PolicySource) -> bool {
        let none = Context::new();
        let boundary = layer == PolicyLayer::PermissionsBoundary;
        match (self, source) {
            (Exclusion::Type("permission-boundary"), _) => boundary,
            (Exclusion::Type("inline"), PolicySource::RoleInline { .. }) => !boundary,
            (
                Exclusion::Type(kind @ ("aws-managed" | "user-managed")),
                PolicySource::Managed { arn, .. },
            ) => {
                let aws_managed = arn.split(':').nth(4) == Some("aws");
                !boundary && aws_managed == (*kind == "aws-managed")
            }
            (Exclusion::Arn(pattern), PolicySource::Managed { arn, .. }) => {
                !boundary && pattern.matches(arn, &none, Case::Sensitive) == Some(true)
            }
            (
                Exclusion::Inline {
                    policy,
                    attachment: "role",
                    entity,
                },
                PolicySource::RoleInline { role, name },
            ) => {
                !boundary
                    && policy.eq_ignore_ascii_case(name)
                    && entity.matches(role, &none, Case::AsciiInsensitive) == Some(true)
            }
            _ => false,
        }
    }
}

/// Takes the excluded policies out of the principal's set.
fn exclude(set: &mut PolicySet<'_>, exclusions: &[Exclusion]) {
    let kept = |layer: PolicyLayer| {
        move |sourced: &SourcedPolicy<'_>| {
            !exclusions
                .iter()
                .any(|e| e.excludes(layer, &sourced.source))
        }
    };
    set.identity.retain(kept(PolicyLayer::Identity));
    set.boundary.retain(kept(PolicyLayer::PermissionsBoundary));
}

/// `OrderedOrganizationPolicyInputList.member.N.ServiceControlPolicyInputList.member.M`: the
/// service control policies of each level, root first, at most [`MAX_ORGANIZATION_LEVELS`].
fn read_organization(c: &mut Checker<'_>) -> Vec<Vec<String>> {
    let mut levels = Vec::new();
    for n in 1.. {
        let prefix = format!("OrderedOrganizationPolicyInputList.member.{n}");
        if !c.has_prefix(&format!("{prefix}.")) {
            break;
        }
        if n > MAX_ORGANIZATION_LEVELS {
            c.list_length(
                "orderedOrganizationPolicyInputList",
                n,
                MAX_ORGANIZATION_LEVELS,
            );
            break;
        }
        levels.push(c.policy_list(
            &format!("{prefix}.ServiceControlPolicyInputList"),
            &format!("orderedOrganizationPolicyInputList.{n}.member.serviceControlPolicyInputList"),
            false,
        ));
    }
    levels
}

/// Parses each level's service control policies (as identity policies: no `Principal`). A
/// level without one is refused: in an organization every root, OU and account has at least
/// one SCP attached.
fn parse_organization(levels: &[Vec<String>]) -> Result<Vec<Vec<(PolicySource, Policy)>>, Error> {
    levels
        .iter()
        .enumerate()
        .map(|(i, docs)| {
            let list = format!("OrderedOrganizationPolicyInputList.{}", i + 1);
            if docs.is_empty() {
                return Err(invalid_input(format!(
                    "{list} has no ServiceControlPolicyInputList: every level of an organization \
                     has at least one service control policy."
                )));
            }
            parse_inputs(docs, &list)
        })
        .collect()
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
    let exclusions = read_exclusions(&mut c);
    let simulation = Simulation::read(&mut c);
    c.finish()?;
    call.authorize(&source, Context::new())?;
    let account = call.account();
    let ctx = simulation.check(account)?;
    let exclusions = check_exclusions(&exclusions)?;
    let live = call.node.live.load();
    let role = entity_role(&live.sts, account, &source)?;
    let inputs = parse_inputs(&inputs, "PolicyInputList")?;
    let boundary = parse_boundary(&boundaries)?;
    let resource = parse_resource_policy(simulation.resource_policy.as_deref())?;
    let caller = caller_of(&live.sts, account, &simulation, &role.arn)?;
    let mut set = role.policy_set(&live.sts);
    exclude(&mut set, &exclusions);
    set.identity.extend(sourced(&inputs));
    if !boundary.is_empty() {
        set.boundary = sourced(&boundary).collect();
    }
    set.resource = sourced(&resource).collect();
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
    let organization = read_organization(&mut c);
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
    if simulation.resource_policy.is_some() && simulation.caller_arn.is_none() {
        return Err(invalid_input(
            "CallerArn is required when ResourcePolicy is given.",
        ));
    }
    let organization = parse_organization(&organization)?;
    let inputs = parse_inputs(&inputs, "PolicyInputList")?;
    let boundary = parse_boundary(&boundaries)?;
    let resource = parse_resource_policy(simulation.resource_policy.as_deref())?;
    let live = call.node.live.load();
    let caller = caller_of(
        &live.sts,
        account,
        &simulation,
        &format!("arn:aws:iam::{account}:root"),
    )?;
    let set = PolicySet {
        organization: organization
            .iter()
            .map(|level| sourced(level).collect())
            .collect(),
        identity: sourced(&inputs).collect(),
        boundary: sourced(&boundary).collect(),
        session: Vec::new(),
        resource: sourced(&resource).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, values: &[&str], kind: Option<&str>) -> RawEntry {
        RawEntry {
            name: name.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            kind: kind.map(str::to_owned),
        }
    }

    fn invalid_input_message(result: Result<impl std::fmt::Debug, Error>) -> String {
        let err = result.expect_err("refused");
        assert_eq!((err.code(), err.status()), ("InvalidInput", 400), "{err:?}");
        err.message().into_owned()
    }

    #[test]
    fn context_entries_become_typed_context_values() {
        let ctx = context_of(&[
            entry("aws:CurrentTime", &["2019-04-25T11:00:00Z"], Some("date")),
            entry("test:ips", &["10.0.0.1", "2001:db8::1"], Some("ipList")),
            entry("test:bin", &["aGVsbG8="], Some("binary")),
            entry("test:n", &["1", "-2.5"], Some("numericList")),
            entry("test:b", &["true", "false"], Some("booleanList")),
            entry("test:s", &["x"], Some("stringList")),
        ])
        .expect("valid entries");
        assert_eq!(
            ctx.get("aws:currenttime"),
            Some(&ContextValue::Single("2019-04-25T11:00:00Z".to_owned()))
        );
        assert_eq!(
            ctx.get("test:ips"),
            Some(&ContextValue::Multi(vec![
                "10.0.0.1".to_owned(),
                "2001:db8::1".to_owned()
            ]))
        );
        assert_eq!(
            ctx.get("test:s"),
            Some(&ContextValue::Multi(vec!["x".to_owned()]))
        );
        for (kind, value) in [
            ("numeric", "ten"),
            ("boolean", "yes"),
            ("date", "tomorrow"),
            ("ip", "10.0.0.0/8"),
            ("binary", "not base64!"),
            ("numericList", "x"),
            ("dateList", "x"),
            ("ipList", "x"),
            ("binaryList", "%"),
            ("booleanList", "maybe"),
        ] {
            let message =
                invalid_input_message(context_of(&[entry("test:k", &[value], Some(kind))]));
            assert_eq!(
                message,
                format!("Invalid value {value} for the context entry test:k of type {kind}.")
            );
        }
        let message = invalid_input_message(context_of(&[entry("test:k", &["1"], Some("int"))]));
        assert!(message.starts_with("Invalid ContextKeyType int for the context entry test:k. Valid types are: string, stringList, numeric"), "{message}");
        let message = invalid_input_message(context_of(&[entry("test:k", &["1"], None)]));
        assert_eq!(message, "The context entry test:k has no ContextKeyType.");
        let message = invalid_input_message(context_of(&[entry("test:k", &[], Some("string"))]));
        assert_eq!(message, "The context entry test:k has no ContextKeyValues.");
        let message =
            invalid_input_message(context_of(&[entry("test:k", &["a", "b"], Some("string"))]));
        assert!(message.contains("takes one value"), "{message}");
        // An echoed value is bounded.
        let long = "9".repeat(500) + "x";
        let message =
            invalid_input_message(context_of(&[entry("test:k", &[&long], Some("numeric"))]));
        assert!(message.len() < 250, "{message}");
    }

    #[test]
    fn inputs_are_identity_policies_with_iam_messages() {
        let good = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        let parsed =
            parse_inputs(&[good.to_owned(), good.to_owned()], "PolicyInputList").expect("valid");
        let ids: Vec<String> = parsed.iter().map(|(s, _)| s.id()).collect();
        assert_eq!(ids, ["PolicyInputList.1", "PolicyInputList.2"]);
        let err = parse_inputs(&["{not json".to_owned()], "PolicyInputList").unwrap_err();
        assert_eq!(
            (err.code(), err.status(), err.message().as_ref()),
            ("MalformedPolicyDocument", 400, "Syntax errors in policy.")
        );
        let principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
        let err = parse_inputs(&[principal.to_owned()], "PolicyInputList").unwrap_err();
        assert_eq!(err.message(), "Has prohibited field Principal");
        let resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:*","Resource":"*"}}"#;
        let parsed = parse_resource_policy(Some(resource)).expect("a resource policy");
        assert_eq!(parsed[0].0.id(), "ResourcePolicy");
        assert!(parse_resource_policy(None).expect("none").is_empty());
        let err = parse_resource_policy(Some(good)).unwrap_err();
        assert_eq!(
            (err.code(), err.message().as_ref()),
            (
                "MalformedPolicyDocument",
                "Missing required field Principal"
            )
        );
        let boundary = parse_boundary(&[good.to_owned()]).expect("one boundary");
        assert_eq!(boundary[0].0.id(), "PermissionsBoundaryPolicyInputList.1");
        invalid_input_message(parse_boundary(&[good.to_owned(), good.to_owned()]));
    }

    fn simulation(actions: &[&str]) -> Simulation {
        Simulation {
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            resources: Vec::new(),
            resource_policy: None,
            resource_owner: None,
            caller_arn: None,
            handling: None,
            marker: None,
            max_items: 100,
            entries: Vec::new(),
        }
    }

    #[test]
    fn simulation_parameters_are_checked() {
        const ACCOUNT: &str = "000000000000";
        assert!(
            simulation(&["s3:GetObject", "iam:Get*"])
                .check(ACCOUNT)
                .is_ok()
        );
        let message = invalid_input_message(simulation(&["GetObject"]).check(ACCOUNT));
        assert!(
            message.starts_with("Invalid action name: GetObject."),
            "{message}"
        );
        invalid_input_message(simulation(&["s3:a:b"]).check(ACCOUNT));
        let many: Vec<String> = (0..=MAX_ACTIONS).map(|i| format!("s3:A{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        invalid_input_message(simulation(&many).check(ACCOUNT));
        let mut s = simulation(&["s3:GetObject"]);
        s.resources = vec!["*".to_owned(); MAX_RESOURCES + 1];
        invalid_input_message(s.check(ACCOUNT));

        let mut s = simulation(&["s3:GetObject"]);
        s.handling = Some("EC2-VPC-EBS".to_owned());
        assert!(s.check(ACCOUNT).is_ok());
        s.handling = Some("EC2-Classic".to_owned());
        invalid_input_message(s.check(ACCOUNT));

        let mut s = simulation(&["s3:GetObject"]);
        for owner in [ACCOUNT.to_owned(), format!("arn:aws:iam::{ACCOUNT}:root")] {
            s.resource_owner = Some(owner);
            assert!(s.check(ACCOUNT).is_ok());
        }
        s.resource_owner = Some("someone".to_owned());
        assert_eq!(
            invalid_input_message(s.check(ACCOUNT)),
            "'someone' is not a valid as a Resource Owner."
        );
        s.resource_owner = Some("111122223333".to_owned());
        invalid_input_message(s.check(ACCOUNT));

        let mut s = simulation(&["s3:GetObject"]);
        assert_eq!(s.resources(), ["*"]);
        assert!(!s.per_resource());
        s.resources = vec!["arn:aws:s3:::b/k".to_owned()];
        assert!(s.per_resource());
    }

    fn matched(id: &str) -> Matched {
        Matched {
            source_id: id.to_owned(),
            source_type: IAM_POLICY,
            start: SourcePosition {
                line: 1,
                column: 38,
            },
            end: SourcePosition {
                line: 1,
                column: 167,
            },
        }
    }

    #[test]
    fn results_render_in_the_model_order() {
        let result = ActionResult {
            action: "s3:GetObject".to_owned(),
            resources: vec![
                ResourceResult {
                    resource: "arn:aws:s3:::b/secret".to_owned(),
                    decision: Decision::ExplicitDeny,
                    matched: vec![matched("role_r_deny")],
                    missing: vec!["aws:SourceIp".to_owned()],
                    boundary_allows: Some(true),
                    organizations_allow: None,
                },
                ResourceResult {
                    resource: "arn:aws:s3:::b/open".to_owned(),
                    decision: Decision::Allow,
                    matched: vec![matched("PolicyInputList.1")],
                    missing: Vec::new(),
                    boundary_allows: Some(false),
                    organizations_allow: None,
                },
            ],
        };
        let mut w = XmlWriter::with_capacity(1024);
        render_result(&mut w, &result, true);
        let position = "<StartPosition><Line>1</Line><Column>38</Column></StartPosition>\
                        <EndPosition><Line>1</Line><Column>167</Column></EndPosition>";
        assert_eq!(
            w.finish(),
            format!(
                "<member><EvalActionName>s3:GetObject</EvalActionName><EvalResourceName>arn:aws:s3:::${{BucketName}}/${{KeyName}}</EvalResourceName>\
                 <EvalDecision>explicitDeny</EvalDecision>\
                 <MatchedStatements><member><SourcePolicyId>role_r_deny</SourcePolicyId>\
                 <SourcePolicyType>IAM Policy</SourcePolicyType>{position}</member></MatchedStatements>\
                 <MissingContextValues></MissingContextValues>\
                 <PermissionsBoundaryDecisionDetail><AllowedByPermissionsBoundary>false</AllowedByPermissionsBoundary></PermissionsBoundaryDecisionDetail>\
                 <EvalDecisionDetails></EvalDecisionDetails>\
                 <ResourceSpecificResults>\
                 <member><EvalResourceName>arn:aws:s3:::b/secret</EvalResourceName>\
                 <EvalResourceDecision>explicitDeny</EvalResourceDecision>\
                 <MatchedStatements><member><SourcePolicyId>role_r_deny</SourcePolicyId>\
                 <SourcePolicyType>IAM Policy</SourcePolicyType>{position}</member></MatchedStatements>\
                 <MissingContextValues><member>aws:SourceIp</member></MissingContextValues>\
                 <EvalDecisionDetails></EvalDecisionDetails>\
                 <PermissionsBoundaryDecisionDetail><AllowedByPermissionsBoundary>true</AllowedByPermissionsBoundary></PermissionsBoundaryDecisionDetail></member>\
                 <member><EvalResourceName>arn:aws:s3:::b/open</EvalResourceName>\
                 <EvalResourceDecision>allowed</EvalResourceDecision>\
                 <MatchedStatements><member><SourcePolicyId>PolicyInputList.1</SourcePolicyId>\
                 <SourcePolicyType>IAM Policy</SourcePolicyType>{position}</member></MatchedStatements>\
                 <MissingContextValues></MissingContextValues>\
                 <EvalDecisionDetails></EvalDecisionDetails>\
                 <PermissionsBoundaryDecisionDetail><AllowedByPermissionsBoundary>false</AllowedByPermissionsBoundary></PermissionsBoundaryDecisionDetail></member>\
                 </ResourceSpecificResults></member>"
            )
        );

        // Without resources: missing keys at the top, no per-resource results, no details.
        let star = ActionResult {
            action: "s3:PutObject".to_owned(),
            resources: vec![ResourceResult {
                resource: "*".to_owned(),
                decision: Decision::ImplicitDeny,
                matched: Vec::new(),
                missing: vec!["aws:MultiFactorAuthPresent".to_owned()],
                boundary_allows: None,
                organizations_allow: None,
            }],
        };
        let mut w = XmlWriter::with_capacity(256);
        render_result(&mut w, &star, false);
        assert_eq!(
            w.finish(),
            "<member><EvalActionName>s3:PutObject</EvalActionName><EvalResourceName>arn:aws:s3:::${BucketName}/${KeyName}</EvalResourceName>\
             <EvalDecision>implicitDeny</EvalDecision><MatchedStatements></MatchedStatements>\
             <MissingContextValues><member>aws:MultiFactorAuthPresent</member></MissingContextValues></member>"
        );
    }

    #[test]
    fn decisions_name_the_statements_and_missing_keys_from_the_trace() {
        let parse = |doc: &str| {
            Policy::parse(
                doc,
                &ParseOptions::new(keyless_policy::PolicyKind::Identity),
            )
            .expect("valid")
        };
        let identity = parse(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}},
            {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret"}]}"#,
        );
        let boundary = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        );
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
        let caller = "arn:aws:iam::000000000000:role/r";
        let open = decide_one(&set, caller, "s3:GetObject", "arn:aws:s3:::b/open", &ctx);
        assert_eq!(open.decision, Decision::Allow);
        let ids: Vec<&str> = open.matched.iter().map(|m| m.source_id.as_str()).collect();
        assert_eq!(
            ids,
            ["PolicyInputList.1", "PermissionsBoundaryPolicyInputList.1"]
        );
        assert_eq!(open.matched[0].start, identity.statements()[0].start());
        assert_eq!(open.missing, ["aws:SecureTransport"]);
        assert_eq!(open.boundary_allows, Some(true));
        let secret = decide_one(&set, caller, "s3:GetObject", "arn:aws:s3:::b/secret", &ctx);
        assert_eq!(secret.decision, Decision::ExplicitDeny);
        assert_eq!(secret.matched.len(), 1);
        assert_eq!(secret.matched[0].end, identity.statements()[2].end());
        let other = decide_one(&set, caller, "s3:PutObject", "*", &ctx);
        assert_eq!(other.decision, Decision::ImplicitDeny);
        assert!(other.matched.is_empty() && other.missing.is_empty());
    }

    fn state() -> StsState {
        use keyless_credentials::session::{SealingKeyring, generate_sealing_key};
        use keyless_sts::model::{ManagedBy, Role};
        use keyless_sts::state::{StateInputs, StsOptions};
        let role = Role {
            name: "deployer".to_owned(),
            path: "/ci/".to_owned(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".to_owned(),
            trust_policy: "{}".to_owned(),
            description: None,
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: Vec::new(),
            created: 0,
            managed_by: ManagedBy::Api,
        };
        StsState::build(StateInputs {
            account: "000000000000",
            providers: &[],
            roles: &[role],
            role_policies: &[],
            managed_policies: &[],
            attachments: &[],
            builtin_jwks: &std::collections::HashMap::new(),
            keyring: SealingKeyring::new(generate_sealing_key(1, 0), Vec::new()).expect("keyring"),
            admin: None,
            options: StsOptions::default(),
        })
    }

    #[test]
    fn entity_arns_name_roles_of_the_account() {
        let state = state();
        let found = |arn: &str| entity_role(&state, "000000000000", arn).map(|r| r.arn.clone());
        assert_eq!(
            found("arn:aws:iam::000000000000:role/ci/deployer").expect("the role"),
            "arn:aws:iam::000000000000:role/ci/deployer"
        );
        for (arn, message) in [
            (
                "arn:aws:iam::000000000000:role/deployer",
                "The role with name deployer cannot be found.",
            ),
            (
                "arn:aws:iam::111122223333:role/ci/deployer",
                "The role with name deployer cannot be found.",
            ),
            (
                "arn:aws:iam::000000000000:role/nobody",
                "The role with name nobody cannot be found.",
            ),
            (
                "arn:aws:iam::000000000000:user/alice",
                "The user with name alice cannot be found.",
            ),
            (
                "arn:aws:iam::000000000000:group/devs",
                "The group with name devs cannot be found.",
            ),
        ] {
            let err = found(arn).unwrap_err();
            assert_eq!(
                (err.code(), err.status(), err.message().as_ref()),
                ("NoSuchEntity", 404, message)
            );
        }
        for arn in [
            "arn:aws:sts::000000000000:assumed-role/deployer/s",
            "arn:aws:iam::000000000000:policy/p",
            "arn:aws:iam::000000000000:root",
            "not an arn",
        ] {
            assert_eq!(
                invalid_input_message(found(arn)),
                format!("Invalid Entity Arn: {arn}")
            );
        }
    }

    #[test]
    fn results_page_by_max_items_and_marker() {
        let (start, end, next) = page_of(None, 2, 5).expect("first page");
        assert_eq!((start, end), (0, 2));
        let (start, end, next) = page_of(next.as_deref(), 2, 5).expect("second page");
        assert_eq!((start, end), (2, 4));
        let (start, end, last) = page_of(next.as_deref(), 2, 5).expect("last page");
        assert_eq!((start, end, last), (4, 5, None));
        assert_eq!(page_of(None, 100, 3).expect("one page"), (0, 3, None));
        for bad in [
            "%%%",
            &encode_marker("x"),
            &encode_marker("0"),
            &encode_marker("5"),
        ] {
            invalid_input_message(page_of(Some(bad), 2, 5));
        }
    }

    #[test]
    fn organizations_decide_before_the_details() {
        let denied = |resource: &str| ResourceResult {
            resource: resource.to_owned(),
            decision: Decision::ExplicitDeny,
            matched: Vec::new(),
            missing: Vec::new(),
            boundary_allows: None,
            organizations_allow: Some(false),
        };
        let result = ActionResult {
            action: "sts:GetCallerIdentity".to_owned(),
            resources: vec![denied("arn:aws:s3:::b/k")],
        };
        let mut w = XmlWriter::with_capacity(512);
        render_result(&mut w, &result, true);
        assert_eq!(
            w.finish(),
            "<member><EvalActionName>sts:GetCallerIdentity</EvalActionName><EvalResourceName>*</EvalResourceName>\
             <EvalDecision>explicitDeny</EvalDecision><MatchedStatements></MatchedStatements>\
             <MissingContextValues></MissingContextValues>\
             <OrganizationsDecisionDetail><AllowedByOrganizations>false</AllowedByOrganizations></OrganizationsDecisionDetail>\
             <ResourceSpecificResults><member><EvalResourceName>arn:aws:s3:::b/k</EvalResourceName>\
             <EvalResourceDecision>explicitDeny</EvalResourceDecision><MatchedStatements></MatchedStatements>\
             <MissingContextValues></MissingContextValues></member></ResourceSpecificResults></member>"
        );
    }

    fn raw_type(kind: &str) -> RawExclusion {
        RawExclusion {
            policy_type: Some(kind.to_owned()),
            ..RawExclusion::default()
        }
    }

    fn raw_arn(arn: &str) -> RawExclusion {
        RawExclusion {
            policy_arn: Some(arn.to_owned()),
            ..RawExclusion::default()
        }
    }

    fn raw_inline(policy: &str, attachment: &str, entity: &str) -> RawExclusion {
        RawExclusion {
            inline: Some((policy.to_owned(), attachment.to_owned(), entity.to_owned())),
            ..RawExclusion::default()
        }
    }

    #[test]
    fn exclusions_are_checked_and_match_the_principals_policies() {
        let inline = PolicySource::RoleInline {
            role: "deployer".to_owned(),
            name: "Guard".to_owned(),
        };
        let managed = |arn: &str| PolicySource::Managed {
            name: arn.rsplit('/').next().unwrap().to_owned(),
            arn: arn.to_owned(),
        };
        let customer = managed("arn:aws:iam::000000000000:policy/team/s3-read");
        let aws = managed("arn:aws:iam::aws:policy/ReadOnlyAccess");
        let excludes = |raw: RawExclusion, layer: PolicyLayer, source: &PolicySource| {
            check_exclusions(&[raw]).expect("valid")[0].excludes(layer, source)
        };
        use PolicyLayer::{Identity, PermissionsBoundary};
        assert!(excludes(raw_type("inline"), Identity, &inline));
        assert!(!excludes(raw_type("inline"), Identity, &customer));
        assert!(excludes(raw_type("user-managed"), Identity, &customer));
        assert!(!excludes(raw_type("user-managed"), Identity, &aws));
        assert!(!excludes(
            raw_type("user-managed"),
            PermissionsBoundary,
            &customer
        ));
        assert!(excludes(raw_type("aws-managed"), Identity, &aws));
        assert!(excludes(
            raw_type("permission-boundary"),
            PermissionsBoundary,
            &customer
        ));
        assert!(!excludes(
            raw_type("permission-boundary"),
            Identity,
            &customer
        ));
        for kind in ["scp", "rcp"] {
            assert!(!excludes(raw_type(kind), Identity, &inline));
            assert!(!excludes(raw_type(kind), Identity, &customer));
        }
        for arn in [
            "arn:aws:iam::000000000000:policy/team/s3-read",
            "arn:aws:iam::000000000000:policy/team/*",
            "arn:aws:iam::000000000000:policy/*read",
            "arn:aws:iam::000000000000:policy/team/s3-rea?",
        ] {
            assert!(excludes(raw_arn(arn), Identity, &customer), "{arn}");
            assert!(
                !excludes(raw_arn(arn), PermissionsBoundary, &customer),
                "{arn}"
            );
        }
        assert!(!excludes(
            raw_arn("arn:aws:iam::000000000000:policy/team/S3-read"),
            Identity,
            &customer
        ));
        assert!(excludes(
            raw_arn("arn:aws:iam::aws:policy/ReadOnly*"),
            Identity,
            &aws
        ));
        assert!(excludes(
            raw_inline("guard", "role", "deploy*"),
            Identity,
            &inline
        ));
        assert!(excludes(
            raw_inline("Guard", "role", "DEPLOYER"),
            Identity,
            &inline
        ));
        assert!(!excludes(
            raw_inline("Guard", "role", "deployers"),
            Identity,
            &inline
        ));
        assert!(!excludes(
            raw_inline("Guard", "user", "deployer"),
            Identity,
            &inline
        ));
        assert!(!excludes(
            raw_inline("Other", "role", "*"),
            Identity,
            &inline
        ));

        for arn in [
            "arn:aws:iam::*:policy/x",
            "arn:aws:iam::000000000000:policy/*a*",
            "arn:aws:iam::000000000000:policy/",
            "arn:aws:iam::000000000000:role/x",
            "arn:aws:iam:us-east-1:000000000000:policy/x",
            "arn:aws:s3:::000000000000/policy/x",
            "arn:aws:iam::12345:policy/x",
            "arn:aws:iam::000000000000:policy/a//b",
            "arn:a?s:iam::000000000000:policy/x",
            "arn:aws:iam::000000000000:policy/x y",
        ] {
            let message = invalid_input_message(check_exclusions(&[raw_arn(arn)]));
            assert!(
                message.starts_with("Invalid PolicyArn in PolicyExclusionList.member.1"),
                "{message}"
            );
        }
        let message = invalid_input_message(check_exclusions(&[raw_inline("p", "role", "a*b*")]));
        assert!(message.starts_with("Invalid AttachmentName"), "{message}");
        invalid_input_message(check_exclusions(&[raw_inline("p", "role", "a b")]));
        for raw in [
            RawExclusion::default(),
            RawExclusion {
                policy_type: Some("inline".to_owned()),
                policy_arn: Some("arn:aws:iam::aws:policy/x".to_owned()),
                inline: None,
            },
        ] {
            assert_eq!(
                invalid_input_message(check_exclusions(&[raw_type("inline"), raw])),
                "PolicyExclusionList.member.2 must give exactly one of PolicyType, PolicyArn and \
                 InlinePolicyIdentifier."
            );
        }
    }

    #[test]
    fn exclusions_and_organization_levels_are_read_with_their_bounds() {
        let read = |body: &str| {
            let params = keyless_sts::query::QueryParams::parse("", body.as_bytes()).expect("form");
            let mut c = Checker::new(&params);
            let exclusions = read_exclusions(&mut c);
            let levels = read_organization(&mut c);
            c.finish().map(|()| (exclusions.len(), levels))
        };
        let (exclusions, levels) = read(
            "PolicyExclusionList.member.1.PolicyType=inline\
             &PolicyExclusionList.member.2.InlinePolicyIdentifier.PolicyName=p\
             &PolicyExclusionList.member.2.InlinePolicyIdentifier.AttachmentType=role\
             &PolicyExclusionList.member.2.InlinePolicyIdentifier.AttachmentName=r*\
             &OrderedOrganizationPolicyInputList.member.1.ServiceControlPolicyInputList.member.1=a\
             &OrderedOrganizationPolicyInputList.member.2.ServiceControlPolicyInputList.member.1=b\
             &OrderedOrganizationPolicyInputList.member.2.ServiceControlPolicyInputList.member.2=c",
        )
        .expect("valid");
        assert_eq!(exclusions, 2);
        assert_eq!(
            levels,
            [vec!["a".to_owned()], vec!["b".to_owned(), "c".to_owned()]]
        );
        let error = |body: &str| {
            let err = read(body).expect_err("refused");
            assert_eq!(err.code(), "ValidationError", "{err:?}");
            err.message().into_owned()
        };
        let message = error("PolicyExclusionList.member.1.PolicyType=managed");
        assert!(
            message.contains("policyExclusionList.1.member.policyType"),
            "{message}"
        );
        let message = error(
            "PolicyExclusionList.member.1.InlinePolicyIdentifier.PolicyName=p\
             &PolicyExclusionList.member.1.InlinePolicyIdentifier.AttachmentType=session",
        );
        assert!(
            message.contains("attachmentName") && message.contains("attachmentType"),
            "{message}"
        );
        let many: String = (1..=MAX_EXCLUSIONS + 1)
            .map(|n| format!("PolicyExclusionList.member.{n}.PolicyType=inline&"))
            .collect();
        assert!(error(&many).contains("less than or equal to 256"));
        let deep: String = (1..=MAX_ORGANIZATION_LEVELS + 1)
            .map(|n| format!("OrderedOrganizationPolicyInputList.member.{n}.ServiceControlPolicyInputList.member.1=x&"))
            .collect();
        assert!(error(&deep).contains("less than or equal to 7"));
        let message = invalid_input_message(parse_organization(&[vec![
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#.to_owned(),
        ], Vec::new()]));
        assert!(
            message.starts_with(
                "OrderedOrganizationPolicyInputList.2 has no ServiceControlPolicyInputList"
            ),
            "{message}"
        );
    }

    #[test]
    fn action_names_and_echoes() {
        assert!(is_action_name("s3:GetObject") && is_action_name("iam:Get*"));
        assert!(!is_action_name("s3:") && !is_action_name(":x") && !is_action_name("s 3:x"));
        assert_eq!(echoed("short"), "short");
        assert_eq!(echoed(&"é".repeat(200)).chars().count(), MAX_ECHOED + 3);
    }
}
