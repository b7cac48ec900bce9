//! Encoded authorization failure messages and `DecodeAuthorizationMessage`.
//!
//! A refusal outside the STS exchange (an IAM call, and every service keyless authorizes)
//! carries `Encoded authorization failure message: <blob>` in its message, as AWS services do.
//! The blob is the full reason, sealed with the account's sealing keys: opaque to whoever
//! holds it, bounded in size, valid for [`MESSAGE_LIFETIME_SECS`]. A principal of the same
//! account allowed `sts:DecodeAuthorizationMessage` decodes it into AWS's `DecodedMessage`
//! JSON (`allowed`, `explicitDeny`, `matchedStatements`, `failures`, `context`), extended with
//! keyless's `explanation`: the reason, the refusing layer, and every condition evaluated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_policy::{ContextValue, Decision, Effect, SessionTrace};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::context::RequestEnv;
use crate::denial;
use crate::error::Error;
use crate::permissions::{self, Authorization, PermissionQuery};
use crate::query::QueryParams;
use crate::state::StsState;
use crate::validate::Violations;
use crate::xml::{self, XmlWriter};

/// The most characters of an encoded message (`EncodedMessage` of the STS model).
pub const MAX_ENCODED_LEN: usize = 10_240;
/// How long an encoded message can be decoded: the longest a session lives.
pub const MESSAGE_LIFETIME_SECS: i64 = 12 * 3600;
/// The action that decodes.
pub const ACTION: &str = "sts:DecodeAuthorizationMessage";
/// The purpose the messages are sealed for.
const PURPOSE: &[u8] = b"keyless:authorization-message";

/// What a sealed message holds: whose it is, until when, and the decoded message.
#[derive(Serialize, Deserialize)]
struct Envelope {
    account: String,
    expires: i64,
    message: Value,
}

/// The encoded authorization failure message of a refusal that `authorization` (decided with
/// its trace) describes, or `None` when it cannot be sealed within [`MAX_ENCODED_LEN`] even
/// with its details left out.
pub fn encode(
    state: &StsState,
    caller: &Caller,
    action: &str,
    resource: &str,
    authorization: &Authorization,
    now: i64,
) -> Option<String> {
    let mut message = decoded_message(caller, action, resource, authorization);
    // From the most to the least expendable, until the message fits.
    let shrink: [fn(&mut Value); 3] = [
        |m| {
            m["explanation"]["policies"] = json!([]);
        },
        |m| {
            m["context"]["conditions"] = items(Vec::new());
        },
        |m| {
            m["matchedStatements"] = items(Vec::new());
        },
    ];
    let mut steps = shrink.iter();
    loop {
        let envelope = Envelope {
            account: state.account.clone(),
            expires: now + MESSAGE_LIFETIME_SECS,
            message: message.clone(),
        };
        let plaintext = serde_json::to_vec(&envelope).ok()?;
        let raw = state.keyring.seal_message(PURPOSE, &plaintext).ok()?;
        let encoded = URL_SAFE_NO_PAD.encode(raw);
        if encoded.len() <= MAX_ENCODED_LEN {
            return Some(encoded);
        }
        steps.next()?(&mut message);
    }
}

/// AWS's `DecodedMessage` for a refusal, with keyless's `explanation`.
fn decoded_message(
    caller: &Caller,
    action: &str,
    resource: &str,
    authorization: &Authorization,
) -> Value {
    let decision = &authorization.decision;
    let trace = decision.trace.as_ref();
    let statements: Vec<Value> = decision
        .matched
        .iter()
        .map(|m| {
            let statement = trace.and_then(|t| {
                t.layers
                    .iter()
                    .find(|l| l.layer == m.layer)?
                    .policies
                    .get(m.position)?
                    .statements
                    .get(m.index)
            });
            let values = |v: Option<&String>| items(v.map(|v| json!({ "value": v })).into_iter().collect());
            json!({
                "statementId": m.sid.clone().unwrap_or_default(),
                "effect": match m.effect { Effect::Allow => "ALLOW", Effect::Deny => "DENY" },
                "principals": items(vec![json!({ "value": principal_id(caller) })]),
                "principalGroups": items(Vec::new()),
                "actions": values(statement.and_then(|s| s.action.matching_value.as_ref())),
                "resources": values(statement.and_then(|s| s.resource.as_ref()?.matching_value.as_ref())),
                "conditions": items(statement.map(|s| s.conditions.iter().map(|c| json!({
                    "key": c.key,
                    "values": items(c.policy_values.iter().map(|v| json!({ "value": v })).collect()),
                })).collect()).unwrap_or_default()),
                "sourcePolicyId": m.source.id(),
            })
        })
        .collect();
    let conditions: Vec<Value> = authorization
        .context
        .iter()
        .map(|(key, value)| {
            let values = match value {
                ContextValue::Single(v) => vec![json!({ "value": v })],
                ContextValue::Multi(vs) => vs.iter().map(|v| json!({ "value": v })).collect(),
            };
            json!({ "key": key, "values": items(values) })
        })
        .collect();
    json!({
        "allowed": decision.decision == Decision::Allow,
        "explicitDeny": decision.decision == Decision::ExplicitDeny,
        "matchedStatements": items(statements),
        "failures": items(Vec::new()),
        "context": {
            "principal": { "id": caller.user_id(), "arn": caller.arn() },
            "action": action,
            "resource": resource,
            "conditions": items(conditions),
        },
        "explanation": {
            "reason": decision.reason,
            "refusedBy": decision.because.map(|b| b.words(action)),
            "policies": trace.map(explain_layers).unwrap_or_default(),
        },
    })
}

/// The principal ID AWS puts in a matched statement: the role's ID, or the account.
fn principal_id(caller: &Caller) -> String {
    match caller {
        Caller::Admin { account, .. } => account.clone(),
        Caller::Session(claims) => claims.role_id.clone(),
    }
}

/// Every policy evaluated, with each statement and condition.
fn explain_layers(trace: &SessionTrace) -> Vec<Value> {
    let mut policies = Vec::new();
    for layer in &trace.layers {
        for policy in &layer.policies {
            let statements: Vec<Value> = policy
                .statements
                .iter()
                .map(|s| {
                    json!({
                        "index": s.index,
                        "sid": s.sid,
                        "effect": s.effect,
                        "applied": s.applied,
                        "action": s.action.matched,
                        "resource": s.resource.as_ref().is_none_or(|r| r.matched),
                        "conditions": s.conditions.iter().map(|c| json!({
                            "key": c.key,
                            "operator": c.operator,
                            "result": c.result,
                            "explain": denial::condition_reason(c),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            policies.push(json!({
                "layer": layer.layer,
                "decision": policy.decision,
                "statements": statements,
            }));
        }
    }
    policies
}

/// AWS's list shape in decoded messages: `{"items": [...]}`.
fn items(list: Vec<Value>) -> Value {
    json!({ "items": list })
}

/// Refuses `caller` `action` on `resource` with the encoded message attached, when
/// [`permissions::decide`] refuses it; the refusals outside the STS exchange use this.
pub fn authorize(
    state: &StsState,
    caller: &Caller,
    query: PermissionQuery<'_>,
) -> Result<(), Error> {
    let (action, resource) = (query.action, query.resource);
    let traced = PermissionQuery {
        trace: true,
        ..query.clone()
    };
    let refused = match permissions::authorize(
        state,
        caller,
        action,
        resource,
        query.context,
        query.now,
        query.env,
    ) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let Error::AccessDenied(mut denial) = refused else {
        return Err(refused);
    };
    // Refusals are rare: the second, traced evaluation gives the message its explanation.
    let authorization = permissions::decide(state, caller, traced);
    denial.encoded = encode(state, caller, action, resource, &authorization, query.now);
    Err(Error::AccessDenied(denial))
}

/// The parameters of `DecodeAuthorizationMessage`.
#[derive(Debug, Clone)]
pub struct DecodeParams {
    /// `EncodedMessage`.
    pub encoded_message: String,
}

impl DecodeParams {
    /// Validates the parameters as the STS model constrains them.
    pub fn from_query(params: &QueryParams<'_>) -> Result<DecodeParams, Error> {
        let mut violations = Violations::new();
        let encoded = violations.required("encodedMessage", params.get("EncodedMessage"));
        if let Some(v) = encoded {
            violations.length("encodedMessage", v, 1, MAX_ENCODED_LEN);
        }
        violations.finish()?;
        Ok(DecodeParams {
            encoded_message: encoded.unwrap_or_default().to_owned(),
        })
    }
}

/// `DecodeAuthorizationMessage`: the caller needs `sts:DecodeAuthorizationMessage` and must be
/// of the message's account; an altered, expired or foreign message (or one with line breaks
/// or other characters outside the encoding) is `InvalidAuthorizationMessageException`.
pub fn decode(
    state: &StsState,
    caller: &Caller,
    params: &DecodeParams,
    now: i64,
    env: &RequestEnv,
    request_id: &str,
) -> Result<String, Error> {
    permissions::authorize(
        state,
        caller,
        ACTION,
        "*",
        keyless_policy::Context::new(),
        now,
        env,
    )?;
    let decoded = open(state, &params.encoded_message, now)?;
    if decoded.account != caller.account() {
        return Err(Error::InvalidAuthorizationMessage);
    }
    let message = decoded.message.to_string();
    Ok(xml::success(
        "DecodeAuthorizationMessage",
        xml::STS_NAMESPACE,
        request_id,
        message.len() + 256,
        Some(&|w: &mut XmlWriter| {
            w.element("DecodedMessage", &message);
        }),
    ))
}

fn open(state: &StsState, encoded: &str, now: i64) -> Result<Envelope, Error> {
    let raw = URL_SAFE_NO_PAD
        .decode(encoded.as_bytes())
        .map_err(|_| Error::InvalidAuthorizationMessage)?;
    let plaintext = state
        .keyring
        .open_message(PURPOSE, &raw)
        .map_err(|_| Error::InvalidAuthorizationMessage)?;
    let envelope: Envelope =
        serde_json::from_slice(&plaintext).map_err(|_| Error::InvalidAuthorizationMessage)?;
    if now >= envelope.expires {
        return Err(Error::InvalidAuthorizationMessage);
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use keyless_credentials::session::{SealingKeyring, generate_sealing_key};
    use keyless_policy::{Context, PolicyLayer};

    use super::*;
    use crate::error::Because;
    use crate::permissions::PermissionDecision;
    use crate::state::{StateInputs, StsOptions};

    #[test]
    fn a_message_too_large_for_its_bound_keeps_the_decision_and_drops_detail() {
        let state = StsState::build(StateInputs {
            account: "000000000000",
            providers: &[],
            roles: &[],
            role_policies: &[],
            managed_policies: &[],
            attachments: &[],
            builtin_jwks: &HashMap::new(),
            keyring: SealingKeyring::new(generate_sealing_key(1, 0), Vec::new()).unwrap(),
            admin: None,
            options: StsOptions::default(),
        });
        let caller = Caller::Admin {
            access_key_id: "AKIAEXAMPLE".to_owned(),
            account: "000000000000".to_owned(),
        };
        let mut context = Context::new();
        for i in 0..2000 {
            context.insert(
                &format!("keyless:key{i}"),
                ContextValue::Single("v".repeat(8)),
            );
        }
        let authorization = Authorization {
            decision: PermissionDecision {
                decision: Decision::ImplicitDeny,
                matched: Vec::new(),
                because: Some(Because {
                    explicit: false,
                    layer: PolicyLayer::Identity,
                }),
                reason: "no identity-based policy allows s3:GetObject".to_owned(),
                trace: None,
            },
            context,
        };
        let encoded = encode(&state, &caller, "s3:GetObject", "*", &authorization, 0)
            .expect("fits once the context is left out");
        assert!(encoded.len() <= MAX_ENCODED_LEN);
        let envelope = open(&state, &encoded, 1).unwrap();
        assert_eq!(
            envelope.message["context"]["conditions"]["items"],
            json!([])
        );
        assert_eq!(envelope.message["context"]["action"], "s3:GetObject");
        assert_eq!(envelope.message["allowed"], false);
        assert_eq!(envelope.account, "000000000000");
    }
}
