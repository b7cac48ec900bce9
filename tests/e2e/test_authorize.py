"""The authorization API: nginx (Debian's package) in front of a small upstream with
`auth_request` to keyless, called with `curl --aws-sigv4`; and `POST /keyless/authorize` with
requests signed by botocore's own signers (header and presigned), with credentials from real
exchanges of tokens from keyless's built-in issuer."""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import ACCOUNT, ROOT, Server, free_port

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
TOKEN = "e2e-authorizer-token-0123456789"
API = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:api"
CALLER_SUB = "project_path:example/project:ref_type:branch:ref:main"
PAST = -1000


def trust(project):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"gitlab.com:sub": f"project_path:{project}:*"}}}]})


INVOKE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Public", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/GET/public/*"},
    {"Sid": "Own", "Effect": "Allow", "Action": "execute-api:Invoke",
     "Resource": f"{API}/*/projects/${{gitlab.com:sub}}"},
    {"Sid": "FromLoopback", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/GET/office/*",
     "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}},
    {"Sid": "Lab", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/GET/lab/*"},
    {"Sid": "NotFromLoopback", "Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{API}/GET/lab/*",
     "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}},
    {"Sid": "OnlyTls", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/GET/tls/*",
     "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})
AUTHORIZE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "keyless:Authorize", "Resource": "*"}]})

CONFIG = f"""
[[role]]
name = "api-caller"
trust_policy = '{trust("example/project")}'
[[role.policy]]
name = "invoke"
document = '{INVOKE}'

[[role]]
name = "gateway"
trust_policy = '{trust("example/gateway")}'
[[role.policy]]
name = "authorize"
document = '{AUTHORIZE}'
"""


def sts(server):
    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                        aws_access_key_id="unused", aws_secret_access_key="unused")


def signed_at(offset):
    """botocore's signers, dated `offset` seconds from now."""
    real_now = botocore.auth.get_current_datetime

    class Shifted:
        def __enter__(self):
            botocore.auth.get_current_datetime = lambda: real_now() + datetime.timedelta(seconds=offset)

        def __exit__(self, *exc):
            botocore.auth.get_current_datetime = real_now
    return Shifted()


def mint(server, admin, project, offset=0):
    """A token of the built-in issuer from the mint API, signed by the admin key."""
    url = f"{server.url}/keyless/issuers/gitlab/mint"
    req = AWSRequest(method="POST", url=url, data=json.dumps({"project_path": project, "ref": "main"}),
                     headers={"Content-Type": "application/json"})
    with signed_at(offset):
        SigV4Auth(Credentials(admin["AWS_ACCESS_KEY_ID"], admin["AWS_SECRET_ACCESS_KEY"]), "keyless",
                  "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=req.body, headers=dict(req.headers), method="POST")
    with urllib.request.urlopen(r, timeout=10) as resp:
        return json.loads(resp.read())["token"]


def session(server, role, project, admin, offset=0):
    token = mint(server, admin, project, offset)
    return sts(server).assume_role_with_web_identity(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="job", WebIdentityToken=token,
        DurationSeconds=900)["Credentials"]


class Echo(BaseHTTPRequestHandler):
    """The protected upstream: answers every request with the headers it got, as JSON."""

    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class Nginx:
    """Debian's nginx with the documented configuration, on loopback, in its own directory."""

    def __init__(self, directory: Path, keyless_port: int, upstream_port: int):
        self.dir = directory
        self.port = free_port()
        site = (ROOT / "docs" / "authorize-nginx.conf").read_text()
        for marker, value in {"@KEYLESS@": f"127.0.0.1:{keyless_port}", "@UPSTREAM@": f"127.0.0.1:{upstream_port}",
                              "@LISTEN@": f"127.0.0.1:{self.port}", "@ACCOUNT@": ACCOUNT,
                              "@TOKEN@": TOKEN}.items():
            site = site.replace(marker, value)
        assert "@" not in site.replace("$", ""), "every marker is filled in"
        (directory / "keyless.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(f"    {kind}_temp_path {directory}/{kind};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (directory / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
{temp}
    include {directory}/keyless.conf;
}}
""")
        self.proc = None

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                                      "-e", str(self.dir / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.dir / 'error.log').read_text()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is needed (scripts/test installs it with apt-get)")
    base = tmp_path_factory.mktemp("authorize")
    config = base / "keyless.toml"
    config.write_text(CONFIG)
    data = base / "data"
    # A server whose clock runs 1000 s behind mints 900 s credentials that real time has
    # already expired; the server under test then sees an expired session.
    past = Server(data, ["--dev", f"--clock-offset={PAST}s", "--config", str(config)]).start()
    try:
        admin = past.admin_env()
        expired = session(past, "api-caller", "example/project", admin, PAST)
    finally:
        past.stop()
    server = Server(data, ["--dev", "--config", str(config)], env={"KEYLESS_AUTHORIZE_NGINX_TOKEN": TOKEN}).start()
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    nginx_dir = base / "nginx"
    nginx_dir.mkdir()
    nginx = None
    try:
        nginx = Nginx(nginx_dir, server.port, upstream.server_address[1]).start()
        admin = server.admin_env()
        yield {
            "server": server,
            "nginx": nginx,
            "caller": session(server, "api-caller", "example/project", admin),
            "gateway": session(server, "gateway", "example/gateway", admin),
            "expired": expired,
            "data": data,
        }
    finally:
        if nginx:
            nginx.stop()
        upstream.shutdown()
        server.stop()


def curl(creds, url, secret=None, extra=()):
    """`curl --aws-sigv4` with a session's credentials; returns (status, body)."""
    p = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:execute-api",
         "--user", f"{creds['AccessKeyId']}:{secret or creds['SecretAccessKey']}",
         "-H", f"x-amz-security-token: {creds['SessionToken']}", *extra, url],
        capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    body, _, status = p.stdout.rpartition("\n")
    return int(status), body


def test_nginx_passes_a_signed_caller_with_its_principal(env):
    nginx = env["nginx"]
    status, body = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/public/hello?limit=10")
    assert status == 200, body
    seen = json.loads(body)
    assert seen["x-keyless-principal-arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/api-caller/job"
    assert seen["x-keyless-account"] == ACCOUNT
    assert seen["x-keyless-user-id"].endswith(":job")
    # A caller cannot put its own principal into the upstream's headers.
    status, body = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/public/hello",
                        extra=["-H", "X-Keyless-Principal-Arn: arn:aws:iam::999999999999:root"])
    assert status == 401, body


def test_nginx_refuses_a_tampered_secret_with_401(env):
    nginx = env["nginx"]
    status, _ = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/public/hello", secret="x" * 40)
    assert status == 401
    # And no signature at all.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{nginx.port}/public/hello", timeout=10)
    assert e.value.code == 401


def test_nginx_refuses_a_path_the_role_may_not_use_with_403(env):
    nginx = env["nginx"]
    status, _ = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/private/report")
    assert status == 403
    status, _ = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/public")
    assert status == 403


def test_nginx_passes_the_callers_address_and_transport(env):
    """The documented configuration sends $remote_addr and $https: a statement on
    aws:SourceIp 127.0.0.1/32 allows (or denies) the caller curl runs on loopback, and
    aws:SecureTransport is false over plain HTTP."""
    nginx = env["nginx"]
    status, body = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/office/plan")
    assert status == 200, body
    status, _ = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/lab/results")
    assert status == 403
    status, _ = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/tls/keys")
    assert status == 403
    # A caller cannot say where it comes from: nginx replaces the header, and keyless drops
    # it before verifying, so a caller that signs it fails its signature.
    status, _ = curl(env["caller"], f"http://127.0.0.1:{nginx.port}/lab/results",
                     extra=["-H", "X-Keyless-Source-Ip: 203.0.113.9"])
    assert status == 401
    events = []
    deadline = time.time() + 10
    while time.time() < deadline:
        events = [json.loads(l) for l in (env["data"] / "audit.jsonl").read_text().splitlines()]
        events = [e for e in events if e["eventName"] == "AuthorizeNginx"
                  and e.get("requestParameters", {}).get("path") == "/office/plan"]
        if events:
            break
        time.sleep(0.1)
    assert events and events[0]["requestParameters"]["sourceIp"] == "127.0.0.1", events


def test_nginx_refuses_an_expired_session_with_401(env):
    nginx = env["nginx"]
    status, _ = curl(env["expired"], f"http://127.0.0.1:{nginx.port}/public/hello")
    assert status == 401
    codes = []
    deadline = time.time() + 10
    while "ExpiredToken" not in codes and time.time() < deadline:
        time.sleep(0.1)
        events = [json.loads(l) for l in (env["data"] / "audit.jsonl").read_text().splitlines()]
        codes = [e.get("errorCode") for e in events if e["eventName"] == "AuthorizeNginx"]
    assert "ExpiredToken" in codes, codes


def authorize(server, gateway, body):
    """`POST /keyless/authorize`, signed by the gateway's session with botocore (service keyless)."""
    url = f"{server.url}/keyless/authorize"
    req = AWSRequest(method="POST", url=url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(gateway["AccessKeyId"], gateway["SecretAccessKey"], gateway["SessionToken"]),
              "keyless", "us-east-1").add_auth(req)
    r = urllib.request.Request(url, data=req.body, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def caller_credentials(creds):
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def test_authorize_verifies_botocore_header_signatures(env):
    server, gateway, caller = env["server"], env["gateway"], env["caller"]
    payload = json.dumps({"name": "x"})
    target = f"https://api.example.com/projects/{CALLER_SUB}?b=2&a=1"
    req = AWSRequest(method="POST", url=target, data=payload, headers={"Content-Type": "application/json"})
    SigV4Auth(caller_credentials(caller), "execute-api", "us-east-1").add_auth(req)
    forwarded = {
        "method": "POST", "url": req.url, "headers": dict(req.headers),
        "payload_hash": hashlib.sha256(payload.encode()).hexdigest(), "service": "execute-api",
        "action": "execute-api:Invoke", "resource": f"{API}/POST/projects/{CALLER_SUB}",
    }
    status, answer = authorize(server, gateway, forwarded)
    assert status == 200, answer
    assert answer["principal"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/api-caller/job"
    assert answer["principal"]["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/api-caller"
    assert answer["principal"]["web_identity"]["claims"]["gitlab.com:sub"] == CALLER_SUB
    assert answer["signature"] == {"service": "execute-api", "region": "us-east-1", "presigned": False}
    assert answer["decision"]["allowed"] is True
    assert answer["decision"]["matched_statements"][0]["sid"] == "Own"

    # ${gitlab.com:sub} gives the session its own project, not another's.
    status, answer = authorize(server, gateway, dict(
        forwarded, resource=f"{API}/POST/projects/project_path:other/project:ref_type:branch:ref:main", trace=True))
    assert status == 200, answer
    assert answer["decision"]["allowed"] is False
    assert answer["decision"]["decision"] == "ImplicitDeny"
    assert answer["decision"]["trace"]["layers"][0]["layer"] == "Identity"

    # The body the caller signed is not the one the service hashed.
    status, answer = authorize(server, gateway, dict(forwarded, payload_hash=hashlib.sha256(b"{}").hexdigest()))
    assert status == 401
    assert answer["Error"]["Code"] == "SignatureDoesNotMatch"

    # A caller's session that lacks keyless:Authorize cannot use the API.
    status, answer = authorize(server, caller, forwarded)
    assert status == 403
    assert answer["Error"]["Code"] == "AccessDenied"


def test_authorize_verifies_botocore_presigned_urls(env):
    server, gateway, caller = env["server"], env["gateway"], env["caller"]
    req = AWSRequest(method="GET", url="https://api.example.com/public/report?format=csv")
    SigV4QueryAuth(caller_credentials(caller), "execute-api", "us-east-1", expires=60).add_auth(req)
    assert "X-Amz-Signature=" in req.url
    status, answer = authorize(server, gateway, {
        "method": "GET", "url": req.url, "headers": {},
        "action": "execute-api:Invoke", "resource": f"{API}/GET/public/report"})
    assert status == 200, answer
    assert answer["signature"]["presigned"] is True
    assert answer["principal"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/api-caller/job"
    assert answer["decision"]["allowed"] is True

    altered = req.url.replace("format=csv", "format=json")
    status, answer = authorize(server, gateway, {"method": "GET", "url": altered})
    assert status == 401
    assert answer["Error"]["Code"] == "SignatureDoesNotMatch"

    # An S3-style presigned URL signs UNSIGNED-PAYLOAD, which the service names.
    s3 = AWSRequest(method="GET", url="https://s3.example.com/artifacts/report.csv")
    S3SigV4QueryAuth(caller_credentials(caller), "s3", "us-east-1", expires=60).add_auth(s3)
    status, answer = authorize(server, gateway, {"method": "GET", "url": s3.url, "service": "s3",
                                                 "payload_hash": "UNSIGNED-PAYLOAD"})
    assert status == 200, answer
    assert answer["signature"]["service"] == "s3"
    status, answer = authorize(server, gateway, {"method": "GET", "url": s3.url})
    assert status == 401

    # An expired session, presigned.
    old = AWSRequest(method="GET", url="https://api.example.com/public/report")
    SigV4QueryAuth(caller_credentials(env["expired"]), "execute-api", "us-east-1", expires=60).add_auth(old)
    status, answer = authorize(server, gateway, {"method": "GET", "url": old.url})
    assert status == 401
    assert answer["Error"]["Code"] == "ExpiredToken"


def test_authorizations_are_measured_and_audited_without_credentials(env):
    server, caller = env["server"], env["caller"]
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'keyless_authorizations_total{mode="nginx",result="Allow"}' in text
    assert 'keyless_authorizations_total{mode="nginx",result="Deny"}' in text
    assert 'keyless_requests_total{action="Authorize",outcome="Success"}' in text
    time.sleep(0.5)
    log = (env["data"] / "audit.jsonl").read_text()
    events = [json.loads(l) for l in log.splitlines()]
    nginx = [e for e in events if e["eventName"] == "AuthorizeNginx" and "errorCode" not in e]
    assert nginx and nginx[0]["responseElements"]["arn"].endswith("assumed-role/api-caller/job")
    assert nginx[0]["requestParameters"]["action"] == "execute-api:Invoke"
    for secret in (caller["SessionToken"], caller["SecretAccessKey"], TOKEN):
        assert secret not in log
    assert "Signature=" not in log
