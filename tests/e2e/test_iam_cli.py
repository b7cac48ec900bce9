"""The IAM API with the stock `aws` CLI against a fresh `keyless serve --dev`."""

import json
import urllib.error
import urllib.request

import pytest

from conftest import ACCOUNT, ROLE_ARN, Server, aws, aws_env, json_out

PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"
THUMB_A = "a" * 40
THUMB_B = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("iam") / "data", ["--dev"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("iam-home")


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


def trust_policy(project):
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                "gitlab.com:aud": "https://gitlab.com",
                "gitlab.com:sub": f"project_path:{project}:ref_type:branch:ref:main",
            }},
        }],
    }


def write_json(path, doc):
    path.write_text(json.dumps(doc, indent=2))
    return f"file://{path}"


READ_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::artifacts/*"}],
}


def exchange(server, home, role_arn, *extra):
    token = server.mint("--project-path", "team/app", "--ref", "main")
    return aws(aws_env(server, home), "sts", "assume-role-with-web-identity",
               "--role-arn", role_arn, "--role-session-name", "cicd",
               "--web-identity-token", token, *extra)


def test_oidc_provider_lifecycle(admin):
    created = ok(admin, "iam", "create-open-id-connect-provider", "--url", "https://gitlab.example.com",
                 "--client-id-list", "gitlab-client", "--thumbprint-list", THUMB_A,
                 "--tags", "Key=team,Value=platform")
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.example.com"
    assert created["OpenIDConnectProviderArn"] == arn
    assert created["Tags"] == [{"Key": "team", "Value": "platform"}]

    fails(admin, "EntityAlreadyExists", "iam", "create-open-id-connect-provider",
          "--url", "https://gitlab.example.com", "--client-id-list", "x")
    fails(admin, "InvalidInput", "iam", "create-open-id-connect-provider",
          "--url", "http://gitlab.example.org", "--client-id-list", "x")
    err = fails(admin, "InvalidInput", "iam", "create-open-id-connect-provider",
                "--url", "https://short.example.com", "--thumbprint-list", "z" * 40)
    assert "40 hexadecimal characters" in err

    got = ok(admin, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["Url"] == "gitlab.example.com"
    assert got["ClientIDList"] == ["gitlab-client"]
    assert got["ThumbprintList"] == [THUMB_A]
    assert got["CreateDate"]

    listed = ok(admin, "iam", "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    assert {p["Arn"] for p in listed} == {arn, PROVIDER_ARN}

    ok(admin, "iam", "update-open-id-connect-provider-thumbprint", "--open-id-connect-provider-arn", arn,
       "--thumbprint-list", THUMB_B)
    ok(admin, "iam", "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
       "--client-id", "sts.amazonaws.com")
    got = ok(admin, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["ThumbprintList"] == [THUMB_B]
    assert got["ClientIDList"] == ["gitlab-client", "sts.amazonaws.com"]
    ok(admin, "iam", "remove-client-id-from-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
       "--client-id", "gitlab-client")

    ok(admin, "iam", "tag-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
       "--tags", "Key=env,Value=prod", "Key=team,Value=security")
    tags = ok(admin, "iam", "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)["Tags"]
    assert tags == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "security"}]
    ok(admin, "iam", "untag-open-id-connect-provider", "--open-id-connect-provider-arn", arn, "--tag-keys", "env")
    got = ok(admin, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["ClientIDList"] == ["sts.amazonaws.com"]
    assert got["Tags"] == [{"Key": "team", "Value": "security"}]

    fails(admin, "UnmodifiableEntity", "iam", "delete-open-id-connect-provider",
          "--open-id-connect-provider-arn", PROVIDER_ARN)
    ok(admin, "iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    err = fails(admin, "NoSuchEntity", "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert f"OpenIDConnect Provider not found for arn {arn}" in err


def test_role_trust_policy_changes_apply_at_once(server, home, admin, tmp_path):
    trust = trust_policy("team/app")
    created = ok(admin, "iam", "create-role", "--role-name", "app-deployer", "--path", "/ci/",
                 "--assume-role-policy-document", write_json(tmp_path / "trust.json", trust),
                 "--description", "deploys team/app", "--max-session-duration", "7200",
                 "--tags", "Key=team,Value=app")["Role"]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/ci/app-deployer"
    assert created["Arn"] == role_arn
    assert created["RoleId"].startswith("AROA") and len(created["RoleId"]) == 21
    assert created["AssumeRolePolicyDocument"] == trust
    fails(admin, "EntityAlreadyExists", "iam", "create-role", "--role-name", "APP-deployer",
          "--assume-role-policy-document", write_json(tmp_path / "trust.json", trust))

    ok(admin, "iam", "put-role-policy", "--role-name", "app-deployer", "--policy-name", "artifacts",
       "--policy-document", write_json(tmp_path / "perm.json", READ_S3))
    role = ok(admin, "iam", "get-role", "--role-name", "app-deployer")["Role"]
    assert role["AssumeRolePolicyDocument"] == trust
    assert role["Description"] == "deploys team/app"
    assert role["MaxSessionDuration"] == 7200
    assert role["Path"] == "/ci/"
    assert role["Tags"] == [{"Key": "team", "Value": "app"}]
    inline = ok(admin, "iam", "get-role-policy", "--role-name", "app-deployer", "--policy-name", "artifacts")
    assert inline["PolicyDocument"] == READ_S3
    assert ok(admin, "iam", "list-role-policies", "--role-name", "app-deployer")["PolicyNames"] == ["artifacts"]

    rc, out, err = exchange(server, home, role_arn, "--duration-seconds", "7200")
    assert rc == 0, err
    assert json_out(out)["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app-deployer/cicd"

    ok(admin, "iam", "update-assume-role-policy", "--role-name", "app-deployer",
       "--policy-document", write_json(tmp_path / "other.json", trust_policy("team/other")))
    rc, _, err = exchange(server, home, role_arn)
    assert rc != 0
    assert "(AccessDenied)" in err, err

    ok(admin, "iam", "update-role", "--role-name", "app-deployer", "--max-session-duration", "3600")
    assert ok(admin, "iam", "get-role", "--role-name", "app-deployer")["Role"]["MaxSessionDuration"] == 3600
    ok(admin, "iam", "tag-role", "--role-name", "app-deployer", "--tags", "Key=env,Value=prod")
    ok(admin, "iam", "untag-role", "--role-name", "app-deployer", "--tag-keys", "team")
    assert ok(admin, "iam", "get-role", "--role-name", "app-deployer")["Role"]["Tags"] == [
        {"Key": "env", "Value": "prod"}]

    err = fails(admin, "DeleteConflict", "iam", "delete-role", "--role-name", "app-deployer")
    assert "must delete policies first" in err
    ok(admin, "iam", "delete-role-policy", "--role-name", "app-deployer", "--policy-name", "artifacts")
    ok(admin, "iam", "delete-role", "--role-name", "app-deployer")
    fails(admin, "NoSuchEntity", "iam", "get-role", "--role-name", "app-deployer")


def test_list_roles_pages(admin, tmp_path):
    doc = write_json(tmp_path / "trust.json", trust_policy("team/app"))
    names = [f"pager-{i}" for i in range(5)]
    for name in names:
        ok(admin, "iam", "create-role", "--role-name", name, "--path", "/paging/",
           "--assume-role-policy-document", doc)
    first = ok(admin, "iam", "list-roles", "--path-prefix", "/paging/", "--max-items", "2")
    assert [r["RoleName"] for r in first["Roles"]] == names[:2]
    assert first["NextToken"]
    rest = ok(admin, "iam", "list-roles", "--path-prefix", "/paging/", "--starting-token", first["NextToken"])
    assert [r["RoleName"] for r in rest["Roles"]] == names[2:]
    assert "NextToken" not in rest
    paged = ok(admin, "iam", "list-roles", "--path-prefix", "/paging/", "--page-size", "2")
    assert [r["RoleName"] for r in paged["Roles"]] == names
    everything = [r["RoleName"] for r in ok(admin, "iam", "list-roles")["Roles"]]
    assert "gitlab-deployer" in everything and set(names) <= set(everything)
    err = fails(admin, "ValidationError", "iam", "list-roles", "--path-prefix", "paging/")
    assert "Value 'paging/' at 'pathPrefix' failed to satisfy constraint" in err
    for name in names:
        ok(admin, "iam", "delete-role", "--role-name", name)


def test_malformed_policies_are_refused(admin, tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{ not json")
    err = fails(admin, "MalformedPolicyDocument", "iam", "create-role", "--role-name", "bad",
                "--assume-role-policy-document", f"file://{bad_json}")
    assert "This policy contains invalid Json" in err
    with_resource = trust_policy("team/app")
    with_resource["Statement"][0]["Resource"] = "*"
    err = fails(admin, "MalformedPolicyDocument", "iam", "create-role", "--role-name", "bad",
                "--assume-role-policy-document", write_json(tmp_path / "res.json", with_resource))
    assert "Has prohibited field Resource" in err
    fails(admin, "NoSuchEntity", "iam", "get-role", "--role-name", "bad")
    err = fails(admin, "ValidationError", "iam", "create-role", "--role-name", "bad/name",
                "--assume-role-policy-document", write_json(tmp_path / "t.json", trust_policy("team/app")))
    assert "at 'roleName' failed to satisfy constraint" in err


def test_trust_policies_must_name_existing_providers(admin, tmp_path):
    unknown = f"arn:aws:iam::{ACCOUNT}:oidc-provider/nowhere.example"
    policy = trust_policy("team/app")
    policy["Statement"][0]["Principal"]["Federated"] = unknown
    err = fails(admin, "MalformedPolicyDocument", "iam", "create-role", "--role-name", "orphan",
                "--assume-role-policy-document", write_json(tmp_path / "orphan.json", policy))
    assert f'Invalid principal in policy: "Federated":"{unknown}"' in err
    fails(admin, "NoSuchEntity", "iam", "get-role", "--role-name", "orphan")
    ok(admin, "iam", "create-role", "--role-name", "orphan",
       "--assume-role-policy-document", write_json(tmp_path / "known.json", trust_policy("team/app")))
    fails(admin, "MalformedPolicyDocument", "iam", "update-assume-role-policy", "--role-name", "orphan",
          "--policy-document", write_json(tmp_path / "orphan.json", policy))
    google = trust_policy("team/app")
    google["Statement"][0]["Principal"]["Federated"] = "accounts.google.com"
    google["Statement"][0]["Condition"] = {"StringEquals": {"accounts.google.com:aud": "x"}}
    ok(admin, "iam", "update-assume-role-policy", "--role-name", "orphan",
       "--policy-document", write_json(tmp_path / "google.json", google))
    ok(admin, "iam", "delete-role", "--role-name", "orphan")


def test_unsigned_and_badly_signed_calls_are_refused(server, admin):
    req = urllib.request.Request(server.url + "/", data=b"Action=ListRoles&Version=2010-05-08",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    assert caught.value.code == 403
    body = caught.value.read().decode()
    assert "<Code>MissingAuthenticationToken</Code>" in body
    assert "https://iam.amazonaws.com/doc/2010-05-08/" in body

    secret = admin["AWS_SECRET_ACCESS_KEY"]
    tampered = dict(admin, AWS_SECRET_ACCESS_KEY=secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    fails(tampered, "SignatureDoesNotMatch", "iam", "list-roles")


def test_session_permissions_limit_iam_calls(server, home, tmp_path):
    token = server.mint("--project-path", "example/project", "--ref", "main")
    rc, out, err = aws(aws_env(server, home), "sts", "assume-role-with-web-identity", "--role-arn", ROLE_ARN,
                       "--role-session-name", "reader", "--web-identity-token", token)
    assert rc == 0, err
    creds = json_out(out)["Credentials"]
    session = aws_env(server, home, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                      AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"], AWS_SESSION_TOKEN=creds["SessionToken"])
    names = [r["RoleName"] for r in ok(session, "iam", "list-roles")["Roles"]]
    assert "gitlab-deployer" in names
    assert ok(session, "iam", "get-role", "--role-name", "gitlab-deployer")["Role"]["Arn"] == ROLE_ARN
    err = fails(session, "AccessDenied", "iam", "create-role", "--role-name", "sneaky",
                "--assume-role-policy-document", write_json(tmp_path / "t.json", trust_policy("team/app")))
    assert (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/gitlab-deployer/reader is not authorized to perform: "
            f"iam:CreateRole on resource: arn:aws:iam::{ACCOUNT}:role/sneaky") in err


def test_iam_conditions_see_the_source_ip(server, home):
    """aws:SourceIp in a session policy is the caller's address, for IAM calls as for STS."""
    def session_limited_to(cidr):
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": cidr}}}]}
        token = server.mint("--project-path", "example/project", "--ref", "main")
        rc, out, err = aws(aws_env(server, home), "sts", "assume-role-with-web-identity",
                           "--role-arn", ROLE_ARN, "--role-session-name", "ip-bound",
                           "--web-identity-token", token, "--policy", json.dumps(policy))
        assert rc == 0, err
        creds = json_out(out)["Credentials"]
        return aws_env(server, home, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                       AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                       AWS_SESSION_TOKEN=creds["SessionToken"])

    assert "Roles" in ok(session_limited_to("127.0.0.0/8"), "iam", "list-roles")
    fails(session_limited_to("10.0.0.0/8"), "AccessDenied", "iam", "list-roles")


def test_config_managed_role_is_read_only(admin, tmp_path):
    err = fails(admin, "UnmodifiableEntity", "iam", "delete-role", "--role-name", "gitlab-deployer")
    assert "Role gitlab-deployer is declared in the config file and cannot be modified through the API." in err
    fails(admin, "UnmodifiableEntity", "iam", "put-role-policy", "--role-name", "gitlab-deployer",
          "--policy-name", "more", "--policy-document", write_json(tmp_path / "p.json", READ_S3))
    assert ok(admin, "iam", "get-role", "--role-name", "gitlab-deployer")["Role"]["Arn"] == ROLE_ARN


def test_managed_policies(server, home, admin, tmp_path):
    old = dict(READ_S3, Version="2008-10-17")
    err = fails(admin, "MalformedPolicyDocument", "iam", "create-policy", "--policy-name", "old",
                "--policy-document", write_json(tmp_path / "old.json", old))
    assert "Policy document must be version 2012-10-17 or greater." in err

    policy = ok(admin, "iam", "create-policy", "--policy-name", "read-artifacts", "--path", "/ci/",
                "--policy-document", write_json(tmp_path / "p.json", READ_S3),
                "--description", "reads build artifacts")["Policy"]
    arn = f"arn:aws:iam::{ACCOUNT}:policy/ci/read-artifacts"
    assert policy["Arn"] == arn
    assert policy["PolicyId"].startswith("ANPA")
    assert policy["DefaultVersionId"] == "v1"
    assert policy["AttachmentCount"] == 0

    got = ok(admin, "iam", "get-policy", "--policy-arn", arn)["Policy"]
    assert got["Description"] == "reads build artifacts"
    version = ok(admin, "iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1")["PolicyVersion"]
    assert version["Document"] == READ_S3 and version["IsDefaultVersion"] is True
    listed = ok(admin, "iam", "list-policies", "--scope", "Local")["Policies"]
    assert [p["Arn"] for p in listed] == [arn]
    assert ok(admin, "iam", "list-policies", "--scope", "AWS")["Policies"] == []

    ok(admin, "iam", "create-role", "--role-name", "packer", "--assume-role-policy-document",
       write_json(tmp_path / "trust.json", trust_policy("team/app")))
    err = fails(admin, "NoSuchEntity", "iam", "attach-role-policy", "--role-name", "packer",
                "--policy-arn", f"arn:aws:iam::{ACCOUNT}:policy/missing")
    assert f"Policy arn:aws:iam::{ACCOUNT}:policy/missing does not exist or is not attachable." in err
    ok(admin, "iam", "attach-role-policy", "--role-name", "packer", "--policy-arn", arn)
    attached = ok(admin, "iam", "list-attached-role-policies", "--role-name", "packer")["AttachedPolicies"]
    assert attached == [{"PolicyName": "read-artifacts", "PolicyArn": arn}]
    assert ok(admin, "iam", "get-policy", "--policy-arn", arn)["Policy"]["AttachmentCount"] == 1
    fails(admin, "DeleteConflict", "iam", "delete-policy", "--policy-arn", arn)

    rc, out, err = exchange(server, home, f"arn:aws:iam::{ACCOUNT}:role/packer", "--policy-arns", f"arn={arn}")
    assert rc == 0, err
    assert "PackedPolicySize" in json_out(out)

    err = fails(admin, "DeleteConflict", "iam", "delete-role", "--role-name", "packer")
    assert "must detach all policies first" in err
    ok(admin, "iam", "detach-role-policy", "--role-name", "packer", "--policy-arn", arn)
    assert ok(admin, "iam", "list-attached-role-policies", "--role-name", "packer")["AttachedPolicies"] == []
    ok(admin, "iam", "delete-policy", "--policy-arn", arn)
    fails(admin, "NoSuchEntity", "iam", "get-policy", "--policy-arn", arn)
    ok(admin, "iam", "delete-role", "--role-name", "packer")


def allow(action):
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


def test_policy_versions_change_what_sessions_may_do(server, home, admin, tmp_path):
    arn = ok(admin, "iam", "create-policy", "--policy-name", "versioned",
             "--policy-document", write_json(tmp_path / "v1.json", allow("iam:GetRole")))["Policy"]["Arn"]
    ok(admin, "iam", "create-role", "--role-name", "versioned", "--assume-role-policy-document",
       write_json(tmp_path / "trust.json", trust_policy("team/app")))
    ok(admin, "iam", "attach-role-policy", "--role-name", "versioned", "--policy-arn", arn)
    rc, out, err = exchange(server, home, f"arn:aws:iam::{ACCOUNT}:role/versioned")
    assert rc == 0, err
    creds = json_out(out)["Credentials"]
    session = aws_env(server, home, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                      AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"], AWS_SESSION_TOKEN=creds["SessionToken"])
    ok(session, "iam", "get-role", "--role-name", "versioned")
    fails(session, "AccessDenied", "iam", "list-roles")

    # A new default version governs the session's next call.
    v2 = ok(admin, "iam", "create-policy-version", "--policy-arn", arn, "--set-as-default",
            "--policy-document", write_json(tmp_path / "v2.json", allow("iam:ListRoles")))["PolicyVersion"]
    assert (v2["VersionId"], v2["IsDefaultVersion"]) == ("v2", True) and "Document" not in v2
    ok(session, "iam", "list-roles")
    fails(session, "AccessDenied", "iam", "get-role", "--role-name", "versioned")
    assert ok(admin, "iam", "get-policy", "--policy-arn", arn)["Policy"]["DefaultVersionId"] == "v2"
    got = ok(admin, "iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v2")["PolicyVersion"]
    assert got["Document"] == allow("iam:ListRoles")

    # A version that is not the default changes nothing until it is made the default.
    v3 = ok(admin, "iam", "create-policy-version", "--policy-arn", arn,
            "--policy-document", write_json(tmp_path / "v3.json", allow("iam:*")))["PolicyVersion"]
    assert (v3["VersionId"], v3["IsDefaultVersion"]) == ("v3", False)
    fails(session, "AccessDenied", "iam", "get-role", "--role-name", "versioned")
    ok(admin, "iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v1")
    ok(session, "iam", "get-role", "--role-name", "versioned")
    fails(session, "AccessDenied", "iam", "list-roles")

    listed = ok(admin, "iam", "list-policy-versions", "--policy-arn", arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in listed] == \
        [("v3", False), ("v2", False), ("v1", True)]
    paged = ok(admin, "iam", "list-policy-versions", "--policy-arn", arn, "--page-size", "1")["Versions"]
    assert [v["VersionId"] for v in paged] == ["v3", "v2", "v1"]

    # IAM's rules: five versions at most, the default cannot be deleted, nor a policy that
    # still has other versions.
    for n in (4, 5):
        ok(admin, "iam", "create-policy-version", "--policy-arn", arn,
           "--policy-document", write_json(tmp_path / f"v{n}.json", allow("iam:GetRole")))
    err = fails(admin, "LimitExceeded", "iam", "create-policy-version", "--policy-arn", arn,
                "--policy-document", write_json(tmp_path / "v6.json", allow("iam:GetRole")))
    assert "A managed policy can have up to 5 versions." in err
    err = fails(admin, "DeleteConflict", "iam", "delete-policy-version", "--policy-arn", arn,
                "--version-id", "v1")
    assert "Cannot delete the default version of a policy." in err
    fails(admin, "NoSuchEntity", "iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v9")
    fails(admin, "NoSuchEntity", "iam", "set-default-policy-version", "--policy-arn", arn,
          "--version-id", "v9")
    fails(admin, "MalformedPolicyDocument", "iam", "create-policy-version", "--policy-arn", arn,
          "--policy-document", '{"Statement": "nope"}')
    fails(admin, "NoSuchEntity", "iam", "create-policy-version", "--policy-arn",
          f"arn:aws:iam::{ACCOUNT}:policy/missing", "--policy-document", json.dumps(allow("iam:GetRole")))
    ok(admin, "iam", "detach-role-policy", "--role-name", "versioned", "--policy-arn", arn)
    err = fails(admin, "DeleteConflict", "iam", "delete-policy", "--policy-arn", arn)
    assert "more than one version" in err
    for version in ("v2", "v3", "v4", "v5"):
        ok(admin, "iam", "delete-policy-version", "--policy-arn", arn, "--version-id", version)
    ok(admin, "iam", "delete-policy", "--policy-arn", arn)
    ok(admin, "iam", "delete-role", "--role-name", "versioned")


def test_a_refused_iam_call_carries_a_message_that_decode_authorization_message_explains(
        server, home, admin, tmp_path):
    token = server.mint("--project-path", "example/project", "--ref", "main")
    rc, out, err = aws(aws_env(server, home), "sts", "assume-role-with-web-identity", "--role-arn", ROLE_ARN,
                       "--role-session-name", "decoder", "--web-identity-token", token)
    assert rc == 0, err
    creds = json_out(out)["Credentials"]
    session = aws_env(server, home, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                      AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"], AWS_SESSION_TOKEN=creds["SessionToken"])
    err = fails(session, "AccessDenied", "iam", "delete-role", "--role-name", "gitlab-deployer")
    # --dev shows the reason too (debug_denials), before the encoded message.
    assert (f"is not authorized to perform: iam:DeleteRole on resource: {ROLE_ARN} because no "
            "identity-based policy allows the iam:DeleteRole action") in err, err
    assert ". Encoded authorization failure message: " in err, err
    encoded = err.split("Encoded authorization failure message: ", 1)[1].split()[0]

    # The session's own role may not decode it (its permissions do not allow
    # sts:DecodeAuthorizationMessage); the account's admin may.
    err = fails(session, "AccessDenied", "sts", "decode-authorization-message", "--encoded-message", encoded)
    assert "sts:DecodeAuthorizationMessage" in err
    decoded = json.loads(ok(admin, "sts", "decode-authorization-message",
                            "--encoded-message", encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["matchedStatements"] == {"items": []}
    assert decoded["failures"] == {"items": []}
    assert decoded["context"]["principal"]["arn"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/gitlab-deployer/decoder"
    assert decoded["context"]["action"] == "iam:DeleteRole"
    assert decoded["context"]["resource"] == ROLE_ARN
    keys = {c["key"]: [v["value"] for v in c["values"]["items"]] for c in decoded["context"]["conditions"]["items"]}
    assert keys["aws:SourceIp"] == ["127.0.0.1"]
    assert keys["gitlab.com:project_path"] == ["example/project"]
    statement = decoded["explanation"]["policies"][0]["statements"][0]
    assert (statement["sid"], statement["applied"], statement["action"]) == ("ReadOnly", False, False)

    # Altered or cut by a line break: AWS's InvalidAuthorizationMessageException.
    fails(admin, "InvalidAuthorizationMessageException", "sts", "decode-authorization-message",
          "--encoded-message", encoded[:-4] + ("AAAA" if not encoded.endswith("AAAA") else "BBBB"))
    fails(admin, "InvalidAuthorizationMessageException", "sts", "decode-authorization-message",
          "--encoded-message", encoded[:50] + "\n" + encoded[50:])
