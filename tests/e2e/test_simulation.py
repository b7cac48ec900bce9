"""IAM's policy simulator and permissions boundaries, with the stock `aws` CLI against a real
`keyless serve --dev`; results checked against the examples of IAM's documentation."""

import json
import time

import pytest

from conftest import ACCOUNT, Server, aws, aws_env, json_out

PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("simulation") / "data", ["--dev"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("simulation-home")


@pytest.fixture(scope="module")
def admin(server, home):
    return aws_env(server, home, **server.admin_env())


def ok(env, *args):
    rc, out, err = aws(env, *args)
    assert rc == 0, err
    return json_out(out) if out.strip() else {}


def fails(env, code, *args):
    rc, _, err = aws(env, *args)
    assert rc != 0, f"{args} unexpectedly succeeded"
    assert f"({code})" in err, err
    return err


def trust_policy():
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                "gitlab.com:aud": "https://gitlab.com",
                "gitlab.com:sub": "project_path:team/app:ref_type:branch:ref:main",
            }},
        }],
    }


def write_json(path, doc, indent=2):
    path.write_text(json.dumps(doc, indent=indent))
    return f"file://{path}"


def session_of(server, home, role_name):
    token = server.mint("--project-path", "team/app", "--ref", "main")
    creds = ok(aws_env(server, home), "sts", "assume-role-with-web-identity",
               "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
               "--role-session-name", "sim", "--web-identity-token", token)["Credentials"]
    return aws_env(server, home, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                   AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                   AWS_SESSION_TOKEN=creds["SessionToken"])


def statement_positions(doc: str):
    """IAM's statement positions (1-based, Jackson-shaped), computed independently of keyless."""
    dec = json.JSONDecoder()

    def lc(idx):
        pre = doc[:idx]
        return {"Line": pre.count("\n") + 1, "Column": idx - (pre.rfind("\n") + 1) + 1}

    k = doc.index(":", doc.index('"Statement"')) + 1
    while doc[k] in " \t\r\n":
        k += 1
    if doc[k] == "{":
        return [(lc(k + 1), lc(dec.raw_decode(doc, k)[1]))]
    out, prev_end, p = [], k + 1, k + 1
    while True:
        while doc[p] in " \t\r\n,":
            p += 1
        if doc[p] == "]":
            return out
        end = dec.raw_decode(doc, p)[1]
        out.append((lc(prev_end), lc(end)))
        prev_end = p = end


def positions(matched):
    return [(m["StartPosition"], m["EndPosition"]) for m in matched]


MANAGED = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ReadData", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"},
        {"Sid": "Tables", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
    ],
}
INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::data/secret/*"},
        {"Sid": "WriteWithMfa", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
    ],
}
BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "OnlyS3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def simulated(admin, tmp_path_factory):
    """A role with an inline policy, an attached managed policy and a permissions boundary."""
    tmp = tmp_path_factory.mktemp("simulated")
    managed = ok(admin, "iam", "create-policy", "--policy-name", "sim-managed",
                 "--policy-document", write_json(tmp / "m.json", MANAGED))["Policy"]["Arn"]
    boundary = ok(admin, "iam", "create-policy", "--policy-name", "sim-boundary",
                  "--policy-document", write_json(tmp / "b.json", BOUNDARY, indent=4))["Policy"]["Arn"]
    role = ok(admin, "iam", "create-role", "--role-name", "simulated",
              "--assume-role-policy-document", write_json(tmp / "t.json", trust_policy()),
              "--permissions-boundary", boundary)["Role"]
    assert role["PermissionsBoundary"] == {"PermissionsBoundaryType": "Policy",
                                           "PermissionsBoundaryArn": boundary}
    ok(admin, "iam", "put-role-policy", "--role-name", "simulated", "--policy-name", "guard",
       "--policy-document", write_json(tmp / "i.json", INLINE))
    ok(admin, "iam", "attach-role-policy", "--role-name", "simulated", "--policy-arn", managed)
    return {"arn": role["Arn"], "managed": managed, "boundary": boundary}


def simulate_principal(admin, arn, *args):
    return ok(admin, "iam", "simulate-principal-policy", "--policy-source-arn", arn, *args)["EvaluationResults"]


def test_principal_simulation_on_inline_managed_and_boundary_policies(admin, simulated):
    arn = simulated["arn"]
    managed_positions = statement_positions(json.dumps(MANAGED, indent=2))
    inline_positions = statement_positions(json.dumps(INLINE, indent=2))
    boundary_positions = statement_positions(json.dumps(BOUNDARY, indent=4))

    # Allowed: the managed policy allows, the boundary allows.
    [result] = simulate_principal(admin, arn, "--action-names", "s3:GetObject",
                                  "--resource-arns", "arn:aws:s3:::data/report.csv")
    assert result["EvalActionName"] == "s3:GetObject"
    assert result["EvalDecision"] == "allowed"
    assert result["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    by_id = {m["SourcePolicyId"]: m for m in result["MatchedStatements"]}
    assert set(by_id) == {"sim-managed", "sim-boundary"}
    assert all(m["SourcePolicyType"] == "IAM Policy" for m in by_id.values())
    assert positions([by_id["sim-managed"]]) == [managed_positions[0]]
    assert positions([by_id["sim-boundary"]]) == [boundary_positions[0]]
    # The top level names the action's resource type, each resource its own result.
    assert result["EvalResourceName"] == "arn:aws:s3:::${BucketName}/${KeyName}"
    [specific] = result["ResourceSpecificResults"]
    assert specific["EvalResourceName"] == "arn:aws:s3:::data/report.csv"
    assert specific["EvalResourceDecision"] == "allowed"
    assert result["MissingContextValues"] == [] and specific["MissingContextValues"] == []

    # Explicit deny: only the inline Deny statement, and per resource the truth of each.
    [result] = simulate_principal(admin, arn, "--action-names", "s3:GetObject", "--resource-arns",
                                  "arn:aws:s3:::data/secret/key", "arn:aws:s3:::data/report.csv")
    assert result["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyId"] for m in result["MatchedStatements"]] == ["role_simulated_guard"]
    assert positions(result["MatchedStatements"]) == [inline_positions[0]]
    assert [(r["EvalResourceName"], r["EvalResourceDecision"]) for r in result["ResourceSpecificResults"]] == [
        ("arn:aws:s3:::data/secret/key", "explicitDeny"), ("arn:aws:s3:::data/report.csv", "allowed")]

    # Implicit deny with a missing context value; supplying it allows.
    [result] = simulate_principal(admin, arn, "--action-names", "s3:PutObject")
    assert result["EvalResourceName"] == "arn:aws:s3:::${BucketName}/${KeyName}"
    assert result["EvalDecision"] == "implicitDeny"
    assert result["MatchedStatements"] == []
    assert result["MissingContextValues"] == ["aws:MultiFactorAuthPresent"]
    assert "ResourceSpecificResults" not in result and "EvalDecisionDetails" not in result
    [result] = simulate_principal(
        admin, arn, "--action-names", "s3:PutObject", "--context-entries",
        "ContextKeyName=aws:MultiFactorAuthPresent,ContextKeyValues=true,ContextKeyType=boolean")
    assert result["EvalDecision"] == "allowed" and result["MissingContextValues"] == []
    assert positions([m for m in result["MatchedStatements"] if m["SourcePolicyId"] == "role_simulated_guard"]) \
        == [inline_positions[1]]

    # The identity policies allow dynamodb:GetItem; the boundary does not.
    [result] = simulate_principal(admin, arn, "--action-names", "dynamodb:GetItem")
    assert result["EvalDecision"] == "implicitDeny" and result["MatchedStatements"] == []
    assert result["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}

    # PermissionsBoundaryPolicyInputList replaces the role's boundary; PolicyInputList adds.
    wide = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    [result] = simulate_principal(admin, arn, "--action-names", "dynamodb:GetItem",
                                  "--permissions-boundary-policy-input-list", wide)
    assert result["EvalDecision"] == "allowed"
    assert {m["SourcePolicyId"] for m in result["MatchedStatements"]} == \
        {"sim-managed", "PermissionsBoundaryPolicyInputList.1"}
    extra = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}]})
    [result] = simulate_principal(admin, arn, "--action-names", "s3:DeleteObject", "--policy-input-list", extra)
    assert result["EvalDecision"] == "allowed"
    assert "PolicyInputList.1" in {m["SourcePolicyId"] for m in result["MatchedStatements"]}
    [result] = simulate_principal(admin, arn, "--action-names", "iam:CreateRole")
    assert (result["EvalDecision"], result["MatchedStatements"], result["MissingContextValues"]) == \
        ("implicitDeny", [], [])


def test_eval_resource_name_is_the_resource_type_of_the_action(admin, simulated):
    results = simulate_principal(admin, simulated["arn"], "--action-names", "s3:GetObject", "s3:ListBucket",
                                 "iam:GetRole", "iam:CreatePolicy", "sts:AssumeRole", "sts:GetCallerIdentity",
                                 "iam:ListRoles", "keyless:Authorize", "dynamodb:GetItem", "s3:Get*",
                                 "--resource-arns", "arn:aws:s3:::data/report.csv")
    assert {r["EvalActionName"]: r["EvalResourceName"] for r in results} == {
        "s3:GetObject": "arn:aws:s3:::${BucketName}/${KeyName}",
        "s3:ListBucket": "arn:aws:s3:::${BucketName}",
        "iam:GetRole": "arn:aws:iam::${Account}:role/${RoleNameWithPath}",
        "iam:CreatePolicy": "arn:aws:iam::${Account}:policy/${PolicyNameWithPath}",
        "sts:AssumeRole": "arn:aws:iam::${Account}:role/${RoleNameWithPath}",
        # No resource type, an action keyless does not know, a wildcard: `*`.
        "sts:GetCallerIdentity": "*",
        "iam:ListRoles": "*",
        "keyless:Authorize": "*",
        "dynamodb:GetItem": "*",
        "s3:Get*": "*",
    }
    assert all(r["ResourceSpecificResults"][0]["EvalResourceName"] == "arn:aws:s3:::data/report.csv"
               for r in results)


def test_policy_exclusion_list_takes_out_the_principals_policies(admin, simulated):
    """`--policy-exclusion-list` (the pinned aws CLI knows it): by type, by ARN with wildcards,
    by inline policy name and role."""
    arn = simulated["arn"]

    def decide(action, resource, *exclusions):
        args = ["--action-names", action, "--resource-arns", resource]
        if exclusions:
            args += ["--policy-exclusion-list", json.dumps(list(exclusions))]
        [result] = simulate_principal(admin, arn, *args)
        return result

    report, secret = "arn:aws:s3:::data/report.csv", "arn:aws:s3:::data/secret/key"
    assert decide("s3:GetObject", report)["EvalDecision"] == "allowed"
    for exclusion in ({"PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/sim-man*ge?"},
                      {"PolicyType": "user-managed"}):
        result = decide("s3:GetObject", report, exclusion)
        assert (result["EvalDecision"], result["MatchedStatements"]) == ("implicitDeny", []), exclusion
    # Identifiers that match nothing are ignored.
    result = decide("s3:GetObject", secret, {"PolicyType": "aws-managed"}, {"PolicyType": "scp"},
                    {"PolicyType": "rcp"}, {"PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/other"},
                    {"InlinePolicyIdentifier": {"PolicyName": "guard", "AttachmentType": "user",
                                                "AttachmentName": "simulated"}},
                    {"InlinePolicyIdentifier": {"PolicyName": "guard", "AttachmentType": "role",
                                                "AttachmentName": "other*"}})
    assert result["EvalDecision"] == "explicitDeny"
    # Without the inline Deny, the managed policy's Allow of data/* holds.
    for exclusion in ({"PolicyType": "inline"},
                      {"InlinePolicyIdentifier": {"PolicyName": "guard", "AttachmentType": "role",
                                                  "AttachmentName": "sim*"}}):
        result = decide("s3:GetObject", secret, exclusion)
        assert result["EvalDecision"] == "allowed", exclusion
        assert {m["SourcePolicyId"] for m in result["MatchedStatements"]} == {"sim-managed", "sim-boundary"}
    # Without the boundary, dynamodb:GetItem is the identity policies' to allow.
    result = decide("dynamodb:GetItem", "*", {"PolicyType": "permission-boundary"})
    assert result["EvalDecision"] == "allowed"
    assert "PermissionsBoundaryDecisionDetail" not in result
    # Several identifiers at once.
    result = decide("s3:GetObject", secret, {"PolicyType": "inline"}, {"PolicyType": "user-managed"})
    assert result["EvalDecision"] == "implicitDeny"

    def refused(code, *exclusions):
        return fails(admin, code, "iam", "simulate-principal-policy", "--policy-source-arn", arn,
                     "--action-names", "s3:GetObject", "--policy-exclusion-list", json.dumps(list(exclusions)))

    for bad in ("arn:aws:iam::*:policy/sim-managed", f"arn:aws:iam::{ACCOUNT}:policy/*sim*"):
        err = refused("InvalidInput", {"PolicyArn": bad})
        assert "Invalid PolicyArn in PolicyExclusionList.member.1" in err, err
    err = refused("InvalidInput", {"InlinePolicyIdentifier": {
        "PolicyName": "guard", "AttachmentType": "role", "AttachmentName": "s*m*"}})
    assert "Invalid AttachmentName" in err, err
    err = refused("ValidationError", {"PolicyType": "managed"})
    assert "policyExclusionList.1.member.policyType" in err, err
    err = refused("ValidationError", *[{"PolicyType": "inline"}] * 257)
    assert "less than or equal to 256" in err, err


FULL_ACCESS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
S3_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
     "Condition": {"StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}}}]})
NO_DELETES = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]})


def test_organization_policies_are_one_layer_per_level(admin):
    """`--ordered-organization-policy-input-list` (the pinned aws CLI knows it): root, OU,
    account; each level must allow, a Deny at any level denies, and the result says so in
    OrganizationsDecisionDetail without naming the SCPs' statements or keys."""
    levels = [{"ServiceControlPolicyInputList": [FULL_ACCESS]},
              {"ServiceControlPolicyInputList": [S3_ONLY]},
              {"ServiceControlPolicyInputList": [FULL_ACCESS, NO_DELETES]}]

    def run(*args, organization=levels):
        return ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", FULL_ACCESS,
                  "--ordered-organization-policy-input-list", json.dumps(organization),
                  "--action-names", "s3:GetObject", "iam:CreateRole", "s3:DeleteObject",
                  *args)["EvaluationResults"]

    get, create, delete = run()
    assert get["EvalDecision"] == "allowed"
    assert get["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert [m["SourcePolicyId"] for m in get["MatchedStatements"]] == ["PolicyInputList.1"]
    assert get["MissingContextValues"] == []
    assert create["EvalDecision"] == "implicitDeny"
    assert create["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert create["EvalResourceName"] == "arn:aws:iam::${Account}:role/${RoleNameWithPath}"
    assert delete["EvalDecision"] == "explicitDeny"
    assert delete["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert delete["MatchedStatements"] == []
    assert "PermissionsBoundaryDecisionDetail" not in get

    # Per resource: EvalDecisionDetails only where the organization did not deny.
    get, create, delete = run("--resource-arns", "arn:aws:s3:::b/k")
    assert get["EvalDecisionDetails"] == {} and get["ResourceSpecificResults"][0]["EvalDecisionDetails"] == {}
    assert "EvalDecisionDetails" not in delete
    assert "EvalDecisionDetails" not in delete["ResourceSpecificResults"][0]
    assert delete["ResourceSpecificResults"][0]["EvalResourceDecision"] == "explicitDeny"

    # Without the OU's level, iam:CreateRole is allowed; the root alone allows everything.
    _, create, _ = run(organization=[levels[0], levels[2]])
    assert create["EvalDecision"] == "allowed"

    def refused(code, organization):
        return fails(admin, code, "iam", "simulate-custom-policy", "--policy-input-list", FULL_ACCESS,
                     "--action-names", "s3:GetObject",
                     "--ordered-organization-policy-input-list", json.dumps(organization))

    err = refused("ValidationError", [levels[0]] * 8)
    assert "less than or equal to 7" in err, err
    err = refused("InvalidInput", [levels[0], {"ServiceControlPolicyInputList": []}])
    assert "OrderedOrganizationPolicyInputList.2 has no ServiceControlPolicyInputList" in err, err
    err = refused("MalformedPolicyDocument", [{"ServiceControlPolicyInputList": ["{"]}])


ONE_LINE = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
            '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}')


def test_custom_simulation_reproduces_the_documented_example(admin):
    """`aws iam simulate-custom-policy`, examples 1 and 2 of the AWS CLI reference."""
    def run(when):
        return ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", ONE_LINE,
                  "--action-names", "dynamodb:CreateBackup", "--context-entries",
                  f"ContextKeyName='aws:CurrentTime',ContextKeyValues='{when}',ContextKeyType=date")

    allowed = run("2019-04-25T11:00:00Z")
    assert allowed == {"EvaluationResults": [{
        "EvalActionName": "dynamodb:CreateBackup",
        "EvalResourceName": "*",
        "EvalDecision": "allowed",
        "MatchedStatements": [{
            "SourcePolicyId": "PolicyInputList.1",
            "SourcePolicyType": "IAM Policy",
            "StartPosition": {"Line": 1, "Column": 38},
            "EndPosition": {"Line": 1, "Column": 167},
        }],
        "MissingContextValues": [],
    }]}
    denied = run("2014-04-25T11:00:00Z")
    assert denied == {"EvaluationResults": [{
        "EvalActionName": "dynamodb:CreateBackup",
        "EvalResourceName": "*",
        "EvalDecision": "implicitDeny",
        "MatchedStatements": [],
        "MissingContextValues": [],
    }]}


def test_principal_simulation_reproduces_the_documented_positions(admin, tmp_path):
    """The `simulate-principal-policy` example: a 4-space pretty policy, Start 3:19, End 9:10."""
    doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ListRepos", "Effect": "Allow", "Action": "codecommit:ListRepositories", "Resource": "*"}]}
    ok(admin, "iam", "create-role", "--role-name", "alejandro",
       "--assume-role-policy-document", write_json(tmp_path / "t.json", trust_policy()))
    ok(admin, "iam", "put-role-policy", "--role-name", "alejandro",
       "--policy-name", "Grant-Access-To-CodeCommit-ListRepo",
       "--policy-document", write_json(tmp_path / "p.json", doc, indent=4))
    [result] = simulate_principal(admin, f"arn:aws:iam::{ACCOUNT}:role/alejandro",
                                  "--action-names", "codecommit:ListRepositories")
    assert result["EvalDecision"] == "allowed"
    assert result["MatchedStatements"] == [{
        "SourcePolicyId": "role_alejandro_Grant-Access-To-CodeCommit-ListRepo",
        "SourcePolicyType": "IAM Policy",
        "StartPosition": {"Line": 3, "Column": 19},
        "EndPosition": {"Line": 9, "Column": 10},
    }]


# (type, condition, values that satisfy it, values that do not)
TYPED = [
    ("string", {"StringEquals": {"test:str": "a"}}, ["a"], ["b"]),
    ("stringList", {"ForAnyValue:StringEquals": {"test:strs": "b"}}, ["a", "b"], ["a", "c"]),
    ("numeric", {"NumericLessThan": {"test:num": "10"}}, ["9.5"], ["10"]),
    ("numericList", {"ForAllValues:NumericLessThan": {"test:nums": "10"}}, ["1", "2"], ["1", "20"]),
    ("boolean", {"Bool": {"test:bool": "true"}}, ["true"], ["false"]),
    ("booleanList", {"ForAnyValue:Bool": {"test:bools": "true"}}, ["false", "true"], ["false"]),
    ("ip", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, ["203.0.113.7"], ["198.51.100.1"]),
    ("ipList", {"ForAnyValue:IpAddress": {"test:ips": "10.0.0.0/8"}}, ["192.0.2.1", "10.1.2.3"], ["192.0.2.1"]),
    ("binary", {"BinaryEquals": {"test:bin": "aGVsbG8="}}, ["aGVsbG8="], ["d29ybGQ="]),
    ("binaryList", {"ForAnyValue:BinaryEquals": {"test:bins": "aGVsbG8="}}, ["d29ybGQ=", "aGVsbG8="], ["d29ybGQ="]),
    ("date", {"DateGreaterThan": {"aws:CurrentTime": "2018-08-16T12:00:00Z"}}, ["2019-04-25T11:00:00Z"],
     ["2014-04-25T11:00:00Z"]),
    ("dateList", {"ForAllValues:DateLessThan": {"test:dates": "2020-01-01T00:00:00Z"}},
     ["2019-01-01T00:00:00Z", "1546300800"], ["2019-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]),
]


@pytest.mark.parametrize("kind,condition,good,bad", TYPED, ids=[t[0] for t in TYPED])
def test_context_entries_of_each_type(admin, kind, condition, good, bad):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*", "Condition": condition}]})
    [key] = next(iter(condition.values())).keys()

    def run(values):
        entries = json.dumps([{"ContextKeyName": key, "ContextKeyValues": values, "ContextKeyType": kind}])
        [result] = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", policy,
                      "--action-names", "s3:ListBucket", "--context-entries", entries)["EvaluationResults"]
        return result

    allowed = run(good)
    assert allowed["EvalDecision"] == "allowed" and allowed["MissingContextValues"] == []
    denied = run(bad)
    assert denied["EvalDecision"] == "implicitDeny" and denied["MatchedStatements"] == []
    [missing] = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", policy,
                   "--action-names", "s3:ListBucket")["EvaluationResults"]
    assert missing["MissingContextValues"] == [key]


def test_context_entries_are_checked(admin):
    policy = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})

    def refused(entry):
        return fails(admin, "InvalidInput", "iam", "simulate-custom-policy", "--policy-input-list", policy,
                     "--action-names", "s3:ListBucket", "--context-entries", json.dumps([entry]))

    assert "Invalid ContextKeyType" in refused(
        {"ContextKeyName": "test:num", "ContextKeyValues": ["1"], "ContextKeyType": "integer"})
    assert "Invalid value" in refused(
        {"ContextKeyName": "test:num", "ContextKeyValues": ["one"], "ContextKeyType": "numeric"})
    assert "Invalid value" in refused(
        {"ContextKeyName": "test:ip", "ContextKeyValues": ["not-an-ip"], "ContextKeyType": "ip"})
    assert "takes one value" in refused(
        {"ContextKeyName": "test:str", "ContextKeyValues": ["a", "b"], "ContextKeyType": "string"})


def test_get_context_keys(admin, simulated):
    """`get-context-keys-for-custom-policy`: the AWS CLI reference's example."""
    doc = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
           '"Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}",'
           '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}')
    assert ok(admin, "iam", "get-context-keys-for-custom-policy", "--policy-input-list", doc) == \
        {"ContextKeyNames": ["aws:username", "aws:CurrentTime"]}
    extra = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "x"}}}]})
    keys = ok(admin, "iam", "get-context-keys-for-principal-policy", "--policy-source-arn", simulated["arn"],
              "--policy-input-list", extra)["ContextKeyNames"]
    assert keys == ["aws:MultiFactorAuthPresent", "aws:PrincipalTag/team"]


def test_a_resource_policy_grants_within_the_boundary(admin, simulated):
    deployer = f"arn:aws:iam::{ACCOUNT}:role/gitlab-deployer"
    nothing = json.dumps({"Version": "2012-10-17",
                          "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]})
    bucket = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [deployer, simulated["arn"]]},
         "Action": ["s3:GetObject", "s3:PutObject", "dynamodb:DeleteItem"], "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/secret/*"}]}
    doc = json.dumps(bucket, indent=2)
    [result] = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", nothing, "--resource-policy", doc,
                  "--caller-arn", deployer, "--action-names", "s3:GetObject",
                  "--resource-arns", "arn:aws:s3:::data/report.csv")["EvaluationResults"]
    assert result["EvalDecision"] == "allowed"
    assert result["MatchedStatements"] == [{
        "SourcePolicyId": "ResourcePolicy", "SourcePolicyType": "Resource Policy",
        "StartPosition": statement_positions(doc)[0][0], "EndPosition": statement_positions(doc)[0][1]}]
    [result] = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", nothing, "--resource-policy", doc,
                  "--caller-arn", deployer, "--action-names", "s3:GetObject",
                  "--resource-arns", "arn:aws:s3:::data/secret/k")["EvaluationResults"]
    assert result["EvalDecision"] == "explicitDeny"
    err = fails(admin, "InvalidInput", "iam", "simulate-custom-policy", "--policy-input-list", nothing,
                "--resource-policy", doc, "--action-names", "s3:GetObject")
    assert "CallerArn" in err
    fails(admin, "MalformedPolicyDocument", "iam", "simulate-custom-policy", "--policy-input-list", nothing,
          "--resource-policy", nothing, "--caller-arn", deployer, "--action-names", "s3:GetObject")

    # For the bounded role: the bucket policy grants s3:PutObject (the boundary allows s3:*), not
    # dynamodb:DeleteItem (the boundary does not).
    [put, delete] = simulate_principal(admin, simulated["arn"], "--resource-policy", doc,
                                       "--action-names", "s3:PutObject", "dynamodb:DeleteItem")
    assert put["EvalDecision"] == "allowed"
    assert delete["EvalDecision"] == "implicitDeny"
    assert delete["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_simulation_errors(admin):
    fails(admin, "MalformedPolicyDocument", "iam", "simulate-custom-policy",
          "--policy-input-list", "{not json", "--action-names", "s3:GetObject")
    fails(admin, "NoSuchEntity", "iam", "simulate-principal-policy",
          "--policy-source-arn", f"arn:aws:iam::{ACCOUNT}:role/nobody", "--action-names", "s3:GetObject")
    fails(admin, "NoSuchEntity", "iam", "simulate-principal-policy",
          "--policy-source-arn", f"arn:aws:iam::{ACCOUNT}:user/alice", "--action-names", "s3:GetObject")
    err = fails(admin, "InvalidInput", "iam", "simulate-principal-policy", "--policy-source-arn",
                f"arn:aws:sts::{ACCOUNT}:assumed-role/gitlab-deployer/x", "--action-names", "s3:GetObject")
    assert "Invalid Entity Arn" in err
    fails(admin, "NoSuchEntity", "iam", "simulate-principal-policy",
          "--policy-source-arn", f"arn:aws:iam::{ACCOUNT}:role/gitlab-deployer",
          "--caller-arn", f"arn:aws:iam::{ACCOUNT}:role/nobody", "--action-names", "s3:GetObject")
    fails(admin, "NoSuchEntity", "iam", "get-context-keys-for-principal-policy",
          "--policy-source-arn", f"arn:aws:iam::{ACCOUNT}:role/nobody")
    allow = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    fails(admin, "InvalidInput", "iam", "simulate-custom-policy", "--policy-input-list", allow,
          "--action-names", "s3:GetObject", "--permissions-boundary-policy-input-list", allow, allow)
    fails(admin, "InvalidInput", "iam", "simulate-custom-policy", "--policy-input-list", allow,
          "--action-names", "s3:*")


def test_simulation_results_page(admin):
    allow = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})
    actions = ["s3:GetObject", "s3:PutObject", "s3:GetBucketTagging", "s3:DeleteObject", "s3:GetObjectAcl"]
    # The CLI follows the markers page by page and merges the results.
    merged = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", allow,
                "--action-names", *actions, "--page-size", "2")["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in merged] == [
        ("s3:GetObject", "allowed"), ("s3:PutObject", "implicitDeny"), ("s3:GetBucketTagging", "allowed"),
        ("s3:DeleteObject", "implicitDeny"), ("s3:GetObjectAcl", "allowed")]
    first = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", allow,
               "--action-names", *actions, "--max-items", "2", "--no-paginate")
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 2
    rest = ok(admin, "iam", "simulate-custom-policy", "--policy-input-list", allow,
              "--action-names", *actions, "--marker", first["Marker"], "--max-items", "10", "--no-paginate")
    assert rest["IsTruncated"] is False and "Marker" not in rest
    assert [r["EvalActionName"] for r in rest["EvaluationResults"]] == actions[2:]
    fails(admin, "InvalidInput", "iam", "simulate-custom-policy", "--policy-input-list", allow,
          "--action-names", *actions, "--marker", "bm90LWEtbnVtYmVy", "--no-paginate")


def test_simulation_is_authorized_and_audited(server, home, admin, tmp_path):
    ok(admin, "iam", "create-role", "--role-name", "simulator",
       "--assume-role-policy-document", write_json(tmp_path / "t.json", trust_policy()))
    ok(admin, "iam", "put-role-policy", "--role-name", "simulator", "--policy-name", "own", "--policy-document",
       write_json(tmp_path / "p.json", {"Version": "2012-10-17", "Statement": [{
           "Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy",
           "Resource": f"arn:aws:iam::{ACCOUNT}:role/simulator"}]}))
    session = session_of(server, home, "simulator")
    [own] = ok(session, "iam", "simulate-principal-policy", "--policy-source-arn",
               f"arn:aws:iam::{ACCOUNT}:role/simulator",
               "--action-names", "iam:SimulatePrincipalPolicy",
               "--resource-arns", f"arn:aws:iam::{ACCOUNT}:role/simulator")["EvaluationResults"]
    assert own["EvalDecision"] == "allowed"
    err = fails(session, "AccessDenied", "iam", "simulate-principal-policy", "--policy-source-arn",
                f"arn:aws:iam::{ACCOUNT}:role/gitlab-deployer", "--action-names", "s3:GetObject")
    assert "iam:SimulatePrincipalPolicy" in err
    err = fails(session, "AccessDenied", "iam", "simulate-custom-policy", "--policy-input-list",
                json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                "--action-names", "s3:GetObject")
    assert "iam:SimulateCustomPolicy" in err

    deadline = time.time() + 10
    while True:
        events = [json.loads(line) for line in (server.data_dir / "audit.jsonl").read_text().splitlines()]
        simulations = [e for e in events if e["eventName"] in ("SimulatePrincipalPolicy", "SimulateCustomPolicy")
                       and e.get("userIdentity", {}).get("type") == "AssumedRole"]
        if len(simulations) >= 3 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert [(e["eventName"], e.get("errorCode")) for e in simulations[-3:]] == [
        ("SimulatePrincipalPolicy", None), ("SimulatePrincipalPolicy", "AccessDenied"),
        ("SimulateCustomPolicy", "AccessDenied")]


def test_a_boundary_limits_every_session_call(server, home, admin, tmp_path):
    both = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["iam:GetRole", "iam:ListRoles"], "Resource": "*"}]}
    get_only = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}
    boundary = ok(admin, "iam", "create-policy", "--policy-name", "get-only",
                  "--policy-document", write_json(tmp_path / "b.json", get_only))["Policy"]["Arn"]
    missing = f"arn:aws:iam::{ACCOUNT}:policy/no-such-policy"
    err = fails(admin, "NoSuchEntity", "iam", "create-role", "--role-name", "bounded",
                "--assume-role-policy-document", write_json(tmp_path / "t.json", trust_policy()),
                "--permissions-boundary", missing)
    assert f"Scope ARN: {missing} does not exist or is not attachable." in err
    ok(admin, "iam", "create-role", "--role-name", "bounded",
       "--assume-role-policy-document", write_json(tmp_path / "t.json", trust_policy()))
    ok(admin, "iam", "put-role-policy", "--role-name", "bounded", "--policy-name", "both",
       "--policy-document", write_json(tmp_path / "p.json", both))
    session = session_of(server, home, "bounded")
    ok(session, "iam", "list-roles")

    fails(admin, "NoSuchEntity", "iam", "put-role-permissions-boundary", "--role-name", "bounded",
          "--permissions-boundary", missing)
    ok(admin, "iam", "put-role-permissions-boundary", "--role-name", "bounded", "--permissions-boundary", boundary)
    role = ok(admin, "iam", "get-role", "--role-name", "bounded")["Role"]
    assert role["PermissionsBoundary"] == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    listed = [r for r in ok(admin, "iam", "list-roles")["Roles"] if r["RoleName"] == "bounded"]
    assert "PermissionsBoundary" not in listed[0]
    assert ok(admin, "iam", "get-policy", "--policy-arn", boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 1

    # The same session is now refused what the boundary does not allow.
    ok(session, "iam", "get-role", "--role-name", "bounded")
    err = fails(session, "AccessDenied", "iam", "list-roles")
    assert "because no permissions boundary allows the iam:ListRoles action" in err
    [sim] = simulate_principal(admin, f"arn:aws:iam::{ACCOUNT}:role/bounded", "--action-names", "iam:ListRoles")
    assert sim["EvalDecision"] == "implicitDeny"
    assert sim["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}

    # A new default version of the boundary policy reaches the role.
    ok(admin, "iam", "create-policy-version", "--policy-arn", boundary, "--set-as-default",
       "--policy-document", write_json(tmp_path / "b2.json", both))
    ok(session, "iam", "list-roles")
    ok(admin, "iam", "set-default-policy-version", "--policy-arn", boundary, "--version-id", "v1")
    fails(session, "AccessDenied", "iam", "list-roles")
    ok(admin, "iam", "delete-policy-version", "--policy-arn", boundary, "--version-id", "v2")

    # A policy in use as a boundary cannot be deleted.
    err = fails(admin, "DeleteConflict", "iam", "delete-policy", "--policy-arn", boundary)
    assert "Cannot delete a policy attached to entities." in err
    ok(admin, "iam", "delete-role-permissions-boundary", "--role-name", "bounded")
    assert "PermissionsBoundary" not in ok(admin, "iam", "get-role", "--role-name", "bounded")["Role"]
    ok(session, "iam", "list-roles")
    ok(admin, "iam", "delete-policy", "--policy-arn", boundary)
