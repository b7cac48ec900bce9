// Independent evaluator for the keyless-policy differential test
// (crates/keyless-policy/tests/differential.rs).
//
// Reads one JSON object per line on stdin and prints one JSON object per line on stdout, in
// the same order:
//
//   in:  {"id": 7,
//         "policies": [<identity policy document>, ...],
//         "action": "s3:GetObject",
//         "resource": "arn:aws:s3:::bucket-a/key",
//         "context": {"aws:SourceIp": "203.0.113.7", "aws:TagKeys": ["a", "b"]}}
//   out: {"id": 7, "decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied",
//         "statements": [{"policy": 0, "index": 0, "action": true, "resource": true,
//                         "conditions": [{"operator": "StringEquals", "key": "k", "matches": true}]}]}
//   or:  {"id": 7, "error": "<message>"}
//
// Context values are typed by shape: a string is a single-valued key, an array a multi-valued
// key (IAM's ArrayOf... types). The comparison type comes from the condition operator.
//
// The evaluator is @cloud-copilot/iam-simulate (pinned in package.json, AGPL-3.0-or-later),
// run as a separate process and never linked into keyless. It is called below its
// `runSimulation` entry point, which would drop context keys that its action data does not
// list for the action: `analyzeIdentityPolicies` is the function that decides identity
// policies (explicit Deny > Allow > implicit deny), and its per-statement analyses give the
// action, resource and condition results compared element by element.
import { createInterface } from 'node:readline'
import { loadPolicy } from '@cloud-copilot/iam-policy'
import { analyzeIdentityPolicies } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/core_engine/CoreSimulatorEngine.js'
import { DiscoveryContextKeyConstraints } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/context_keys/discoveryContextKeyConstraints.js'
import { AwsRequestImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/request/request.js'
import { RequestContextImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/requestContext.js'

const PRINCIPAL = 'arn:aws:iam::111122223333:role/differential'
const ACCOUNT = '111122223333'

const simulationParameters = {
  simulationMode: 'Strict',
  discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
}

function statementDetail(analysis) {
  const policy = Number(analysis.policyId.slice(1))
  const conditions = (analysis.explain.conditions ?? []).map((c) => ({
    operator: c.operator,
    key: c.conditionKeyValue,
    matches: c.matches
  }))
  return {
    policy,
    index: analysis.statement.index() - 1,
    action: analysis.actionMatch,
    resource: analysis.resourceMatch,
    conditions
  }
}

function evaluate(input) {
  const policies = input.policies.map((doc, i) => loadPolicy(doc, { name: `p${i}` }))
  const request = new AwsRequestImpl(
    PRINCIPAL,
    { resource: input.resource ?? '*', accountId: ACCOUNT },
    input.action,
    new RequestContextImpl(input.context ?? {})
  )
  const analysis = analyzeIdentityPolicies(policies, request, simulationParameters, 'identity')
  const statements = [
    ...analysis.allowStatements,
    ...analysis.denyStatements,
    ...analysis.unmatchedStatements
  ]
    .map(statementDetail)
    .sort((a, b) => a.policy - b.policy || a.index - b.index)
  return { decision: analysis.result, statements }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
const out = []
for await (const line of lines) {
  if (line.trim() === '') continue
  let id = null
  try {
    const input = JSON.parse(line)
    id = input.id
    out.push(JSON.stringify({ id, ...evaluate(input) }))
  } catch (e) {
    out.push(JSON.stringify({ id, error: String(e?.stack ?? e) }))
  }
  if (out.length >= 512) {
    process.stdout.write(out.join('\n') + '\n')
    out.length = 0
  }
}
if (out.length > 0) process.stdout.write(out.join('\n') + '\n')
