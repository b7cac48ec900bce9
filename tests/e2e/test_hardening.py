"""Start-up checks, private files, a bounded and honest audit trail, and the fidelity slips
real clients found: each against a real `keyless serve` with the stock aws CLI or boto3."""

import http.client
import json
import os
import signal
import stat
import subprocess
import threading
import time
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import ACCOUNT, ROLE_ARN, Server, free_port, keyless_binary

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def serve(tmp_path, *args, timeout=10):
    """Runs `keyless serve` expected to fail; returns (exit code, output, seconds taken)."""
    started = time.monotonic()
    proc = subprocess.run(
        [keyless_binary(), "serve", "--data-dir", str(tmp_path / "data"),
         "--listen", f"127.0.0.1:{free_port()}", *args],
        capture_output=True, text=True, timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def admin_clients(server):
    env = server.admin_env()
    kw = dict(endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return boto3.client("iam", **kw), boto3.client("sts", **kw)


def session(server, role=ROLE_ARN, name="job-1"):
    token = server.mint("--project-path", "example/project", "--ref", "main")
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                       aws_access_key_id="x", aws_secret_access_key="x")
    creds = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName=name,
                                              WebIdentityToken=token)["Credentials"]
    return dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"])


def client(server, service, creds):
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY, **creds)


def error_of(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]


def audit_lines(server):
    path = server.data_dir / "audit.jsonl"
    return path.read_text().splitlines() if path.exists() else []


# --- Start-up ------------------------------------------------------------------------------

def test_a_corrupt_database_fails_fast_with_the_cause_and_the_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "keyless.db").write_bytes(os.urandom(8192))
    code, output, seconds = serve(tmp_path)
    assert code != 0
    assert seconds < 2, f"took {seconds:.1f} s"
    assert "file is not a database" in output, output
    assert str(data / "keyless.db") in output, output


def test_config_mistakes_are_refused_at_start(tmp_path):
    oct_only = '{"keys":[{"kty":"oct","kid":"shared","k":"c2VjcmV0"}]}'
    cfg = tmp_path / "pinned.toml"
    cfg.write_text(f'''
[[provider]]
url = "https://ci.internal.example"
client_ids = ["sts.amazonaws.com"]
jwks = '{oct_only}'
''')
    code, output, _ = serve(tmp_path, "--config", str(cfg))
    assert code != 0
    assert f"{cfg}: provider[0].jwks: the JWKS has no key that can verify ID tokens" in output, output

    cfg = tmp_path / "trust.toml"
    cfg.write_text('''
[[role]]
name = "orphan"
trust_policy = """
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/nowhere.example"},
                "Action": "sts:AssumeRoleWithWebIdentity"}]}
"""
''')
    code, output, _ = serve(tmp_path, "--config", str(cfg))
    assert code != 0
    assert (f'{cfg}: role[0].trust_policy: MalformedPolicyDocument: Invalid principal in policy: '
            '"Federated":"arn:aws:iam::000000000000:oidc-provider/nowhere.example"') in output, output


def test_the_admin_secret_stays_in_its_file_and_the_data_directory_is_private(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # a directory created beforehand with a wider mode
    server = Server(data).start()
    try:
        env = server.admin_env()
        output = server.output()
        assert env["AWS_SECRET_ACCESS_KEY"] not in output, "the secret is not printed without --dev"
        assert str(data / "admin-credentials") in output
        assert "narrowed to 700" in output
        iam, _ = admin_clients(server)
        iam.list_roles()  # the database has its journal files now
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = sorted(p.name for p in data.iterdir())
        for name in ("keyless.db", "keyless.db-wal", "keyless.db-shm", "master.key",
                     "admin-credentials", "runtime.json", "audit.jsonl"):
            assert name in files, files
        for path in data.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} is {oct(path.stat().st_mode)}"
    finally:
        server.stop()

    dev = Server(tmp_path / "dev", ["--dev"]).start()
    try:
        assert dev.admin_env()["AWS_SECRET_ACCESS_KEY"] in dev.output(), "--dev prints it once"
    finally:
        dev.stop()


def test_a_closed_pipe_ends_a_command_quietly(dev_server):
    out = subprocess.run(
        f"set -o pipefail; {keyless_binary()} token mint --data-dir {dev_server.data_dir} "
        "--issuer gitlab --project-path example/project --ref main | head -c 10",
        shell=True, executable="/bin/bash", capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) == 10
    assert "panicked" not in out.stderr and out.stderr == ""


def test_metrics_need_the_admin_signature_or_their_own_listener(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.url + "/metrics", timeout=5)
        assert e.value.code == 403
        assert json.loads(e.value.read())["Error"]["Code"] == "MissingAuthenticationToken"
        env = server.admin_env()
        signed = subprocess.run(
            ["curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:keyless",
             "--user", f"{env['AWS_ACCESS_KEY_ID']}:{env['AWS_SECRET_ACCESS_KEY']}", server.url + "/metrics"],
            capture_output=True, text=True,
        )
        assert signed.returncode == 0, signed.stderr
        assert "keyless_connections_open" in signed.stdout
    finally:
        server.stop()

    metrics_port = free_port()
    cfg = tmp_path / "metrics.toml"
    cfg.write_text(f'[server]\nmetrics_listen = "127.0.0.1:{metrics_port}"\n')
    server = Server(tmp_path / "data2", ["--config", str(cfg)]).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            assert b"keyless_requests_total" in r.read() or r.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.url + "/metrics", timeout=5)
        assert e.value.code == 404
    finally:
        server.stop()


# --- Audit ---------------------------------------------------------------------------------

def post(server, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                  **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def wait_for_audit(server, count, timeout=5):
    deadline = time.time() + timeout
    while len(audit_lines(server)) < count and time.time() < deadline:
        time.sleep(0.05)
    return audit_lines(server)


def test_untrusted_input_is_bounded_in_the_audit_log(tmp_path):
    server = Server(tmp_path / "data", ["--dev"]).start()
    try:
        before = wait_for_audit(server, 0)
        size_before = (server.data_dir / "audit.jsonl").stat().st_size if before else 0
        status, body = post(server, "Action=" + "A" * 250_000 + "&Version=2011-06-15")
        assert status == 400 and b"<Code>InvalidAction</Code>" in body
        lines = wait_for_audit(server, len(before) + 1)
        grown = (server.data_dir / "audit.jsonl").stat().st_size - size_before
        assert grown < 4096, f"the audit file grew by {grown} bytes"
        event = json.loads(lines[-1])
        assert event["eventName"].endswith("[truncated: 250000 bytes]")
        assert "A" * 100 not in server.output(), "the server log does not repeat the action"

        # A live token under the IAM version is summarized, never written whole.
        token = server.mint("--project-path", "example/project", "--ref", "main")
        status, _ = post(server, f"Action=AssumeRoleWithWebIdentity&Version=2010-05-08&RoleArn={ROLE_ARN}"
                                 f"&RoleSessionName=x&WebIdentityToken={token}&Junk=" + "J" * 5000)
        assert status == 403
        lines = wait_for_audit(server, len(lines) + 1)
        text = "\n".join(lines)
        assert token not in text and token.split(".")[2] not in text
        event = json.loads(lines[-1])
        assert event["requestParameters"]["webIdentityToken"]["iss"] == "https://gitlab.com"
        assert event["requestParameters"]["unknownParametersOmitted"] == 1
        assert "J" * 100 not in text, "unauthenticated calls record only known parameters"
    finally:
        server.stop()


def test_a_flood_of_unauthenticated_failures_is_aggregated_and_counted(tmp_path):
    server = Server(tmp_path / "data", ["--dev"]).start()
    try:
        creds = session(server)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for _ in range(500):
            conn.request("POST", "/", body="Action=Nope&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            assert response.status == 400
        conn.close()
        # Successes and signed calls keep their events, flood or not.
        sts = client(server, "sts", creds)
        for _ in range(30):
            sts.get_caller_identity()
        iam, _ = admin_clients(server)
        metrics = subprocess.run(
            ["curl", "-sf", server.url + "/metrics"], capture_output=True, text=True, check=True,
        ).stdout
        assert "keyless_audit_events_aggregated_total 480" in metrics, \
            [l for l in metrics.splitlines() if "aggregated" in l]
    finally:
        server.stop()
    events = [json.loads(l) for l in audit_lines(server)]
    names = [e["eventName"] for e in events]
    assert names.count("Nope") == 20, "the first failures of the window are written"
    assert names.count("GetCallerIdentity") == 30
    summaries = [e for e in events if e["eventName"] == "FailedRequestsAggregated"]
    assert len(summaries) == 1, summaries
    aggregated = summaries[0]["additionalEventData"]["aggregated"]
    assert aggregated == {**aggregated, "sourceIpAddress": "127.0.0.1", "errorCode": "InvalidAction",
                          "count": 480}


def test_durable_audit_keeps_every_acknowledged_event_across_kill_9(tmp_path):
    cfg = tmp_path / "keyless.toml"
    cfg.write_text("[audit]\ndurable = true\n")
    server = Server(tmp_path / "data", ["--dev", "--config", str(cfg)]).start()
    env = server.admin_env()
    acknowledged = []
    stop = threading.Event()

    def burst():
        sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                           aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        while not stop.is_set():
            try:
                response = sts.get_caller_identity()
            except Exception:  # the server died mid-call
                return
            acknowledged.append(response["ResponseMetadata"]["RequestId"])

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    recorded = {json.loads(l)["requestID"] for l in audit_lines(server) if l.strip()}
    missing = [r for r in acknowledged if r not in recorded]
    assert len(acknowledged) > 50
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged calls have no event"


# --- Fidelity ------------------------------------------------------------------------------

FIDELITY = '''
[[role]]
name = "tag-free"
trust_policy = """
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:role/gitlab-deployer"},
                "Action": "sts:AssumeRole"}]}
"""

[[role]]
name = "semantics"
trust_policy = """
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
                "Action": "sts:AssumeRoleWithWebIdentity"}]}
"""
  [[role.policy]]
  name = "conditions"
  document = """
  {"Version": "2012-10-17",
   "Statement": [
     {"Sid": "AnyValueIfExists", "Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
      "Condition": {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["team"]}}},
     {"Sid": "NotIpAddress", "Effect": "Allow", "Action": "iam:TagRole", "Resource": "*",
      "Condition": {"NotIpAddress": {"aws:RequestTag/origin": "10.0.0.0/8"}}}]}
  """
'''


@pytest.fixture(scope="module")
def fidelity(tmp_path_factory):
    root = tmp_path_factory.mktemp("fidelity")
    cfg = root / "keyless.toml"
    cfg.write_text(FIDELITY)
    s = Server(root / "data", ["--config", str(cfg), "--dev"]).start()
    yield s
    s.stop()


def test_a_chained_assume_role_refused_for_its_tags_names_sts_tag_session(fidelity):
    sts = client(fidelity, "sts", session(fidelity))
    assert sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/tag-free", RoleSessionName="plain")
    error = error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/tag-free",
                     RoleSessionName="tagged", Tags=[{"Key": "team", "Value": "platform"}])
    assert error["Code"] == "AccessDenied"
    assert error["Message"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/gitlab-deployer/job-1 is not authorized to perform: "
        f"sts:TagSession on resource: arn:aws:iam::{ACCOUNT}:role/tag-free")
    error = error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/tag-free",
                     RoleSessionName="sourced", SourceIdentity="someone")
    assert "perform: sts:SetSourceIdentity on resource" in error["Message"]


def test_iam_authorizes_before_it_validates_documents(fidelity):
    iam = client(fidelity, "iam", session(fidelity))
    error = error_of(iam.create_role, RoleName="not-mine", AssumeRolePolicyDocument="not json")
    assert error["Code"] == "AccessDenied", error
    error = error_of(iam.put_role_policy, RoleName="gitlab-deployer", PolicyName="p", PolicyDocument="{")
    assert error["Code"] == "AccessDenied", error
    error = error_of(iam.create_policy, PolicyName="p", PolicyDocument="{")
    assert error["Code"] == "AccessDenied", error
    admin, _ = admin_clients(fidelity)
    error = error_of(admin.create_role, RoleName="mine", AssumeRolePolicyDocument="not json")
    assert error["Code"] == "MalformedPolicyDocument"


def test_resource_arns_are_validated_as_iam_validates_them(fidelity):
    iam, _ = admin_clients(fidelity)
    iam.create_role(RoleName="arn-checks", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}))

    def put(resource):
        return iam.put_role_policy(RoleName="arn-checks", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": resource}]}))

    cases = {
        "arn:aws-x:s3:::bucket": 'Partition "aws-x" is not valid for resource "arn:aws-x:s3:::bucket".',
        f"arn:aws:iam:us-east-1:{ACCOUNT}:role/x":
            f"IAM resource arn:aws:iam:us-east-1:{ACCOUNT}:role/x cannot contain region information.",
        "arn:aws:s3:us-east-1::bucket": "Resource arn:aws:s3:us-east-1::bucket can not contain region information.",
        "arn:aws:*:::bucket": "Resource vendor must be fully qualified and cannot contain regexes.",
    }
    for resource, message in cases.items():
        error = error_of(put, resource)
        assert (error["Code"], error["Message"]) == ("MalformedPolicyDocument", message), resource
    put("arn:aws:s3:::bucket/*")


def test_the_two_evaluator_readings(fidelity):
    creds = session(fidelity, role=f"arn:aws:iam::{ACCOUNT}:role/semantics", name="reader")
    iam = client(fidelity, "iam", creds)
    # ForAnyValue:…IfExists is false when the key is missing, IfExists notwithstanding.
    error = error_of(iam.list_roles)
    assert error["Code"] == "AccessDenied"
    # A negated typed operator does not match a value of the wrong type: NotIpAddress on a
    # non-address is false, as ArnNotLike on a non-ARN is.
    error = error_of(iam.tag_role, RoleName="semantics", Tags=[{"Key": "origin", "Value": "not-an-ip"}])
    assert error["Code"] == "AccessDenied"
    # With an address outside 10/8 the statement applies (the config role itself is read-only
    # through the API, which answers only after the authorization).
    error = error_of(iam.tag_role, RoleName="semantics", Tags=[{"Key": "origin", "Value": "192.0.2.1"}])
    assert error["Code"] == "UnmodifiableEntity"
