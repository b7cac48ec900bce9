//! The trust decision: whether a role's trust policy lets a principal assume the role.
//!
//! One call, [`decide`], answers for every action an assume-role request needs: the
//! assume-role action itself, and `sts:TagSession` / `sts:SetSourceIdentity` when the request
//! sets session tags or a source identity. Each action is evaluated once, untraced unless a
//! trace is asked for, and the answer carries its reasons: the statement that decided, and for
//! a refusal the statement and condition responsible. `AssumeRoleWithWebIdentity`,
//! `AssumeRole` and `keyless explain` all decide through it.

use keyless_policy::{Context, Decision, PolicyTrace, Principal, Request, Statement, Verdict};

use crate::denial;
use crate::state::RoleEntry;

/// What a trust policy is asked.
#[derive(Debug, Clone, Copy)]
pub struct TrustQuery<'a> {
    /// Who asks to assume the role.
    pub principal: Principal<'a>,
    /// The actions the request needs, the assume-role action first.
    pub actions: &'a [&'static str],
    /// The request context.
    pub context: &'a Context,
    /// Whether to build the full trace of every action evaluated.
    pub trace: bool,
}

/// The trust policy's answer, with its reasons.
#[derive(Debug, Clone)]
pub struct TrustDecision<'r> {
    /// The decision of the action that decided.
    pub decision: Decision,
    /// The action that decided: the first one refused, or the assume-role action when every
    /// action is allowed.
    pub action: &'static str,
    /// The statement responsible: the one that allowed the assume-role action, the Deny that
    /// refused, or the Allow statement that came closest to applying.
    pub statement: Option<&'r Statement>,
    /// Why it refused, in one line: the statement and condition responsible. `None` when every
    /// action is allowed ([`TrustDecision::reason`] then names the allowing statement).
    pub refusal: Option<String>,
    /// The traces of the actions evaluated, in order, when asked for.
    pub traces: Vec<ActionTrace>,
}

/// The trace of one action's evaluation.
#[derive(Debug, Clone)]
pub struct ActionTrace {
    /// The action.
    pub action: &'static str,
    /// Its decision.
    pub decision: Decision,
    /// Why.
    pub trace: PolicyTrace,
}

impl TrustDecision<'_> {
    /// Whether every action is allowed.
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// The responsible statement's name (`statement <Sid> (<pointer>)`).
    pub fn statement_name(&self) -> Option<String> {
        self.statement.map(denial::statement_name)
    }

    /// Why, in one line: the statement and condition that refused, or the allowing statement.
    pub fn reason(&self) -> String {
        match (&self.refusal, self.statement) {
            (Some(refusal), _) => refusal.clone(),
            (None, Some(s)) => format!("allowed by {}", denial::statement_name(s)),
            (None, None) => "allowed".to_owned(),
        }
    }
}

/// Decides whether `query.principal` may assume `role`. A role whose stored trust policy no
/// longer parses cannot be assumed.
pub fn decide<'r>(role: &'r RoleEntry, query: &TrustQuery<'_>) -> TrustDecision<'r> {
    let main = query.actions.first().copied().unwrap_or("sts:AssumeRole");
    let trust = match role.trust() {
        Ok(trust) => trust,
        Err(problem) => {
            return TrustDecision {
                decision: Decision::ImplicitDeny,
                action: main,
                statement: None,
                refusal: Some(problem.to_owned()),
                traces: Vec::new(),
            };
        }
    };
    let mut traces = Vec::new();
    let mut allowed_by = None;
    for &action in query.actions {
        let req = Request {
            principal: Some(query.principal),
            action,
            resource: Some(&role.arn),
            context: query.context,
        };
        let verdict = if query.trace {
            let (decision, trace) = trust.evaluate_traced(&req);
            let verdict = trust.verdict_of(&trace);
            traces.push(ActionTrace {
                action,
                decision,
                trace,
            });
            verdict
        } else {
            trust.decide(&req)
        };
        if verdict.decision != Decision::Allow {
            return refused(&verdict, action, &req, traces);
        }
        if action == main {
            allowed_by = verdict.statement;
        }
    }
    TrustDecision {
        decision: Decision::Allow,
        action: main,
        statement: allowed_by,
        refusal: None,
        traces,
    }
}

fn refused<'r>(
    verdict: &Verdict<'r>,
    action: &'static str,
    req: &Request<'_>,
    traces: Vec<ActionTrace>,
) -> TrustDecision<'r> {
    let (reason, statement) = denial::reason(verdict, "trust policy", req);
    TrustDecision {
        decision: verdict.decision,
        action,
        statement,
        refusal: Some(reason),
        traces,
    }
}
