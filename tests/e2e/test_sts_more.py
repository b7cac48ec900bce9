"""Config files, role chaining, presigned GetCallerIdentity, session policies and request limits."""

import os
import subprocess
import textwrap
import time
import urllib.error
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import ROLE_ARN, Server, keyless_binary

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})

CONFIG = textwrap.dedent('''
    [server]
    account_id = "000000000000"

    [[role]]
    name = "reader"
    path = "/chained/"
    description = "assumed from the deployer's sessions"
    trust_policy = """
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::000000000000:role/gitlab-deployer"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    """

    [[role]]
    name = "account-wide"
    trust_policy = """
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                    "Action": "sts:AssumeRole"}]}
    """

    [[role]]
    name = "hopper"
    trust_policy = """
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow",
                    "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringLike": {"gitlab.com:sub": "project_path:example/project:*"}}}]}
    """
      [[role.policy]]
      name = "hop"
      document = """
      {"Version": "2012-10-17",
       "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::000000000000:role/account-wide"}]}
      """

    [[role]]
    name = "closed"
    trust_policy = """
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": "sts:AssumeRole"}]}
    """
''')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("more")
    cfg = root / "keyless.toml"
    cfg.write_text(CONFIG)
    s = Server(root / "data", ["--dev", "--config", str(cfg)]).start()
    yield s
    s.stop()


def client(server, **kw):
    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY, **kw)


def web_identity_creds(server, **kw):
    token = server.mint("--project-path", "example/project", "--ref", "main")
    return client(server, aws_access_key_id="x", aws_secret_access_key="x").assume_role_with_web_identity(
        RoleArn=ROLE_ARN, RoleSessionName="job-1", WebIdentityToken=token, **kw)


def signed(server, creds):
    return client(server, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds["SessionToken"])


def code(e):
    return e.value.response["Error"]["Code"]


def test_role_chaining_from_a_web_identity_session(server):
    creds = web_identity_creds(server)["Credentials"]
    chained = signed(server, creds).assume_role(RoleArn="arn:aws:iam::000000000000:role/chained/reader",
                                                RoleSessionName="chained-1")
    assert chained["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/reader/chained-1"
    ident = signed(server, chained["Credentials"]).get_caller_identity()
    assert ident["Arn"] == "arn:aws:sts::000000000000:assumed-role/reader/chained-1"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        signed(server, creds).assume_role(RoleArn="arn:aws:iam::000000000000:role/chained/reader",
                                          RoleSessionName="too-long", DurationSeconds=7200)
    assert code(e) == "ValidationError"
    assert "1 hour session limit for roles assumed by role chaining" in e.value.response["Error"]["Message"]

    with pytest.raises(botocore.exceptions.ClientError) as e:
        signed(server, creds).assume_role(RoleArn="arn:aws:iam::000000000000:role/closed", RoleSessionName="nope")
    assert code(e) == "AccessDenied"
    assert e.value.response["Error"]["Message"].startswith(
        "User: arn:aws:sts::000000000000:assumed-role/gitlab-deployer/job-1 is not authorized to perform: "
        "sts:AssumeRole on resource: arn:aws:iam::000000000000:role/closed")

    # A role that does not exist is refused the same way as a trust failure.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        signed(server, creds).assume_role(RoleArn="arn:aws:iam::000000000000:role/missing", RoleSessionName="nope")
    assert code(e) == "AccessDenied"


def test_a_trust_in_the_account_needs_the_callers_own_permission(server):
    deployer = web_identity_creds(server)["Credentials"]  # its read-only policy lacks sts:AssumeRole
    with pytest.raises(botocore.exceptions.ClientError) as e:
        signed(server, deployer).assume_role(RoleArn="arn:aws:iam::000000000000:role/account-wide",
                                             RoleSessionName="no-permission")
    assert code(e) == "AccessDenied"
    assert "caller's own permissions" in e.value.response["Error"]["Message"]

    token = server.mint("--project-path", "example/project", "--ref", "main")
    hopper = client(server, aws_access_key_id="x", aws_secret_access_key="x").assume_role_with_web_identity(
        RoleArn="arn:aws:iam::000000000000:role/hopper", RoleSessionName="hop", WebIdentityToken=token)
    chained = signed(server, hopper["Credentials"]).assume_role(
        RoleArn="arn:aws:iam::000000000000:role/account-wide", RoleSessionName="hopped")
    assert chained["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/account-wide/hopped"


def test_presigned_get_caller_identity(server):
    creds = web_identity_creds(server)["Credentials"]
    # As `aws eks get-token` does: presigned for GET.
    url = signed(server, creds).generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
    assert "<Arn>arn:aws:sts::000000000000:assumed-role/gitlab-deployer/job-1</Arn>" in body

    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=10)
    assert e.value.code in (400, 403)


def test_session_policies(server):
    good = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    resp = web_identity_creds(server, Policy=good)
    assert resp["PackedPolicySize"] > 0

    with pytest.raises(botocore.exceptions.ClientError) as e:
        web_identity_creds(server, Policy='{"Version":"2012-10-17","Statement":[]}')
    assert code(e) == "MalformedPolicyDocument"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        web_identity_creds(server, PolicyArns=[{"arn": "arn:aws:iam::000000000000:policy/does-not-exist"}])
    assert code(e) == "MalformedPolicyDocument"

    big = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":['
           + ",".join(f'"arn:aws:s3:::bucket-{i:04d}/*"' for i in range(80)) + ']}]}')
    with pytest.raises(botocore.exceptions.ClientError) as e:
        web_identity_creds(server, Policy=big)
    assert code(e) in ("ValidationError", "PackedPolicyTooLarge")


def test_oversized_and_malformed_requests_get_aws_errors(server):
    body = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=" + b"a" * (300 * 1024)
    req = urllib.request.Request(server.url + "/", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 413
    assert b"<Code>RequestEntityTooLarge</Code>" in e.value.read()

    req = urllib.request.Request(server.url + "/", data=b"Action=A&Action=B", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    assert b"<Code>MalformedQueryString</Code>" in e.value.read()

    req = urllib.request.Request(server.url + "/", data=b"Action=Frobnicate&Version=2011-06-15", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert b"<Message>Could not find operation Frobnicate for version 2011-06-15</Message>" in e.value.read()

    req = urllib.request.Request(server.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in e.value.read()


def test_endpoint_with_a_path_prefix(server):
    # botocore posts to exactly /prefix/sts; aws-sdk-rust adds a trailing slash.
    token = server.mint("--project-path", "example/project", "--ref", "main")
    for path in ("/prefix/sts", "/prefix/sts/"):
        c = boto3.client("sts", endpoint_url=server.url + path, region_name="us-east-1", config=NO_RETRY,
                         aws_access_key_id="x", aws_secret_access_key="x")
        creds = c.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="prefix", WebIdentityToken=token)
        s = boto3.client("sts", endpoint_url=server.url + path, region_name="ap-southeast-2", config=NO_RETRY,
                         aws_access_key_id=creds["Credentials"]["AccessKeyId"],
                         aws_secret_access_key=creds["Credentials"]["SecretAccessKey"],
                         aws_session_token=creds["Credentials"]["SessionToken"])
        assert s.get_caller_identity()["Account"] == "000000000000"


def test_admin_keys_from_the_environment_and_admin_identity(tmp_path):
    env = {"KEYLESS_ADMIN_ACCESS_KEY_ID": "AKIAEXAMPLEADMIN0001",
           "KEYLESS_ADMIN_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    s = Server(tmp_path / "data", ["--dev"], env=env).start()
    try:
        assert s.admin_env()["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLEADMIN0001"
        mode = os.stat(tmp_path / "data" / "admin-credentials").st_mode & 0o777
        assert mode == 0o600
        ident = client(s, aws_access_key_id=env["KEYLESS_ADMIN_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["KEYLESS_ADMIN_SECRET_ACCESS_KEY"]).get_caller_identity()
        assert ident["Arn"] == "arn:aws:iam::000000000000:root"
    finally:
        s.stop()


def test_bad_config_is_rejected_with_file_location_and_reason(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[role]]\nname = "r"\ntrust_policy = \'{"Version":"2012-10-17","Statement":'
                   '{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}\'\n')
    p = subprocess.run([keyless_binary(), "serve", "--data-dir", str(tmp_path / "d"), "--config", str(cfg),
                        "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert str(cfg) in p.stderr
    assert "role[0].trust_policy" in p.stderr
    assert "MalformedPolicyDocument" in p.stderr

    cfg.write_text('[server]\nlisten = 8080\n')
    p = subprocess.run([keyless_binary(), "serve", "--data-dir", str(tmp_path / "d"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert f"{cfg}: line 2, column 10:" in p.stderr


def test_issuer_endpoints_and_a_provider_that_fetches_them(tmp_path):
    """A provider that fetches the built-in issuer's JWKS over HTTP, like any external issuer."""
    import json as _json
    # First start: learn the server's URL, then restart it with a config pointing at itself.
    s = Server(tmp_path / "data", ["--dev"]).start()
    try:
        with urllib.request.urlopen(s.url + "/issuers/gitlab/.well-known/openid-configuration", timeout=5) as r:
            disc = _json.loads(r.read())
        assert disc["issuer"] == "https://gitlab.com"
        assert disc["jwks_uri"] == s.url + "/issuers/gitlab/oauth/discovery/keys"
        assert disc["id_token_signing_alg_values_supported"] == ["RS256"]
        with urllib.request.urlopen(disc["jwks_uri"], timeout=5) as r:
            assert "max-age=86400" in r.headers["Cache-Control"]
            keys = _json.loads(r.read())["keys"]
        assert keys and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and len(keys[0]["kid"]) == 43
        port = s.port
    finally:
        s.stop()

    cfg = tmp_path / "fetching.toml"
    cfg.write_text(textwrap.dedent(f'''
        [[issuer]]
        name = "ci"
        [[provider]]
        url = "http://127.0.0.1:{port}/issuers/ci"
        client_ids = ["sts.example"]
        [[role]]
        name = "fetched"
        trust_policy = """
        {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Federated": "arn:aws:iam::000000000000:oidc-provider/127.0.0.1:{port}/issuers/ci"}},
          "Action": "sts:AssumeRoleWithWebIdentity",
          "Condition": {{"StringEquals": {{"127.0.0.1:{port}/issuers/ci:project_path": "team/app"}}}}}}]}}
        """
    '''))
    s = Server(tmp_path / "data", ["--dev", "--config", str(cfg)])
    s.start_on(port)
    try:
        token = s.mint("--issuer", "ci", "--project-path", "team/app", "--ref", "main", "--aud", "sts.example")
        c = client(s, aws_access_key_id="x", aws_secret_access_key="x")
        resp = c.assume_role_with_web_identity(RoleArn="arn:aws:iam::000000000000:role/fetched",
                                               RoleSessionName="fetched", WebIdentityToken=token)
        assert resp["Provider"] == f"arn:aws:iam::000000000000:oidc-provider/127.0.0.1:{port}/issuers/ci"
        other = s.mint("--issuer", "ci", "--project-path", "team/other", "--ref", "main", "--aud", "sts.example")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            c.assume_role_with_web_identity(RoleArn="arn:aws:iam::000000000000:role/fetched",
                                            RoleSessionName="fetched", WebIdentityToken=other)
        assert code(e) == "AccessDenied"
    finally:
        s.stop()


def test_policy_commands(tmp_path):
    trust = tmp_path / "trust.json"
    trust.write_text('{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                     '"Principal":{"Federated":"arn:aws:iam::000000000000:oidc-provider/gitlab.com"},'
                     '"Action":"sts:AssumeRoleWithWebIdentity",'
                     '"Condition":{"StringLike":{"gitlab.com:sub":"project_path:mygroup/*"}}}]}')
    ctx = tmp_path / "ctx.json"
    ctx.write_text('{"gitlab.com:sub": "project_path:mygroup-evil/x:ref_type:branch:ref:main"}')
    base = [keyless_binary(), "policy", "simulate", "--policy", str(trust), "--action",
            "sts:AssumeRoleWithWebIdentity", "--principal",
            "Federated:arn:aws:iam::000000000000:oidc-provider/gitlab.com", "--context", str(ctx)]
    p = subprocess.run(base, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    import json as _json
    out = _json.loads(p.stdout)
    assert out["decision"] == "ImplicitDeny"
    cond = out["trace"]["statements"][0]["conditions"][0]
    assert cond["key"] == "gitlab.com:sub" and cond["result"] is False and cond["key_missing"] is False

    p = subprocess.run(base + ["--explain"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "gitlab.com:sub" in p.stdout

    bad = tmp_path / "bad.json"
    bad.write_text('{"Version":"2012-10-17","Statement":[]}')
    p = subprocess.run([keyless_binary(), "policy", "validate", str(trust), str(bad)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2
    assert "MalformedPolicyDocument" in p.stderr and str(bad) in p.stderr
    p = subprocess.run([keyless_binary(), "policy", "validate", str(trust)], capture_output=True, text=True)
    assert p.returncode == 0


def test_provider_check_and_pin_make_a_private_issuer_work_offline(tmp_path):
    """`provider check` reads an issuer; `provider pin` writes a block that needs no network."""
    issuer_cfg = tmp_path / "issuer.toml"
    issuer_cfg.write_text('[[issuer]]\nname = "ci"\n')
    s = Server(tmp_path / "data", ["--config", str(issuer_cfg)]).start()
    try:
        url = f"{s.url}/issuers/ci"
        p = subprocess.run([keyless_binary(), "provider", "check", url], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert f"jwks_uri    {url}/oauth/discovery/keys" in p.stdout
        assert "RSA" in p.stdout and "alg RS256" in p.stdout
        p = subprocess.run([keyless_binary(), "provider", "pin", url, "--client-id", "sts.private"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        fragment = p.stdout
        token = s.mint("--issuer", "ci", "--project-path", "team/app", "--ref", "main", "--aud", "sts.private")
        feature = s.mint("--issuer", "ci", "--project-path", "team/app", "--ref", "feature", "--aud", "sts.private")
    finally:
        s.stop()

    p = subprocess.run([keyless_binary(), "provider", "check", "http://gitlab.internal.example"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "must use https" in p.stderr

    # The issuer is gone: a second keyless trusts it through the pinned block alone.
    host = url.removeprefix("http://")
    cfg = tmp_path / "pinned.toml"
    cfg.write_text(fragment + textwrap.dedent(f'''
        [[role]]
        name = "private"
        trust_policy = """
        {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Federated": "arn:aws:iam::000000000000:oidc-provider/{host}"}},
          "Action": "sts:AssumeRoleWithWebIdentity",
          "Condition": {{"StringEquals": {{"{host}:sub": "project_path:team/app:ref_type:branch:ref:main"}}}}}}]}}
        """
    '''))
    other = Server(tmp_path / "other", ["--config", str(cfg)]).start()
    try:
        c = client(other, aws_access_key_id="x", aws_secret_access_key="x")
        resp = c.assume_role_with_web_identity(RoleArn="arn:aws:iam::000000000000:role/private",
                                               RoleSessionName="offline", WebIdentityToken=token)
        assert resp["Audience"] == "sts.private"
        # Outside --dev (and without debug_denials) a denial is as opaque as AWS's.
        with pytest.raises(botocore.exceptions.ClientError) as e:
            c.assume_role_with_web_identity(RoleArn="arn:aws:iam::000000000000:role/private",
                                            RoleSessionName="offline", WebIdentityToken=feature)
        assert e.value.response["Error"]["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    finally:
        other.stop()


def test_issuer_key_rotation_publishes_before_use_and_keeps_the_old_key(tmp_path):
    s = Server(tmp_path / "data", ["--dev"]).start()
    try:
        def jwks_kids():
            with urllib.request.urlopen(s.url + "/issuers/gitlab/oauth/discovery/keys", timeout=5) as r:
                import json as _json
                return [k["kid"] for k in _json.loads(r.read())["keys"]]

        def kid_of(token):
            import base64 as _b64
            import json as _json
            head = token.split(".")[0]
            return _json.loads(_b64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]

        old_token = s.mint("--project-path", "example/project", "--ref", "main")
        (old_kid,) = jwks_kids()
        rotate = [keyless_binary(), "keys", "rotate-issuer", "--data-dir", str(s.data_dir), "--issuer", "gitlab"]
        subprocess.run(rotate, check=True, capture_output=True, timeout=30)
        deadline = time.time() + 3
        while len(jwks_kids()) < 2 and time.time() < deadline:
            time.sleep(0.1)
        kids = jwks_kids()
        assert len(kids) == 2 and old_kid in kids
        assert kid_of(s.mint("--project-path", "example/project", "--ref", "main")) == old_kid  # next: not used yet

        subprocess.run(rotate, check=True, capture_output=True, timeout=30)
        new_token = s.mint("--project-path", "example/project", "--ref", "main")
        assert kid_of(new_token) != old_kid and kid_of(new_token) in kids
        deadline = time.time() + 3
        c = client(s, aws_access_key_id="x", aws_secret_access_key="x")
        while True:
            try:
                for t in (old_token, new_token):
                    c.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="rot", WebIdentityToken=t)
                break
            except botocore.exceptions.ClientError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        assert old_kid in jwks_kids()
    finally:
        s.stop()
