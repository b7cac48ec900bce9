"""The S3 gateway over HTTPS in front of a real SeaweedFS: a throwaway CA and server
certificate, the stock aws CLI with `AWS_CA_BUNDLE` (whose uploads over TLS are unsigned
aws-chunked bodies with a CRC32 trailer), boto3, and `aws:SecureTransport` in a policy."""

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import time
import zlib

import boto3
import botocore
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import serialization

from conftest import free_port, issue, keyless_binary, make_ca
from test_s3_gateway import (  # noqa: F401  (seaweed is the module's SeaweedFS fixture)
    ACCOUNT, BACKEND_KEY, BACKEND_SECRET, BUCKET, CI_ROLE, CONFIG, cli_env, code_of, exchange,
    run, seaweed, start_gateway, wait_for_port,
)

SECURE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/secure-ci"

# A role whose S3 permissions hold only over TLS.
SECURE_ROLE_CONFIG = """
[[role]]
name = "secure-ci"
trust_policy = '''
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"gitlab.com:sub": "project_path:*"}}}]}
'''
  [[role.policy]]
  name = "over-tls-only"
  document = '''
  {"Version": "2012-10-17",
   "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                  "Resource": "arn:aws:s3:::artifacts/${gitlab.com:project_path}/*",
                  "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
  '''
"""

PLAIN_CONFIG = CONFIG + SECURE_ROLE_CONFIG
TLS_CONFIG = PLAIN_CONFIG.replace(
    "[s3_gateway]\n", '[s3_gateway]\ntls_cert = "server.pem"\ntls_key = "server.key"\n', 1)
assert TLS_CONFIG != PLAIN_CONFIG

# botocore's debug log of each request it sends.
SENT = re.compile(r"Sending http request: <AWSPreparedRequest stream_output=\w+, method=(\w+), "
                  r"url=(\S+), headers=(\{.*\})>")


def tls_files(directory):
    """A CA (written as `ca.pem`) and a server certificate for 127.0.0.1 and localhost from
    it (`server.pem`, `server.key`), all in `directory`; returns the CA's path."""
    ca_key, ca_cert = make_ca()
    issue(ca_key, ca_cert, directory)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_file


def wait_for_tls(port: int, ca_file, proc, timeout=30):
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                    return
        except (OSError, ssl.SSLError):
            assert proc.poll() is None, "keyless serve exited"
            assert time.time() < deadline, f"no TLS on port {port}"
            time.sleep(0.1)


def start_tls_gateway(directory, backend_url, s3_port=None):
    """`keyless serve --dev` with its gateway on HTTPS, its config and certificates in
    `directory`."""
    ca_file = tls_files(directory)
    s3_port = s3_port or free_port()
    server = start_gateway(directory / "data", backend_url, s3_port, config=TLS_CONFIG)
    server.s3_url = f"https://127.0.0.1:{s3_port}"
    server.ca_file = ca_file
    wait_for_tls(s3_port, ca_file, server.proc)
    return server


@pytest.fixture(scope="module")
def tls_gateway(seaweed, tmp_path_factory):
    server = start_tls_gateway(tmp_path_factory.mktemp("tls-gateway"), seaweed["url"])
    yield server
    server.stop()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def uploads_sent(debug_log: str, key: str):
    """The headers of every PUT of `key` in an aws CLI `--debug` log, lower-cased names."""
    sent = []
    for method, url, headers in SENT.findall(debug_log):
        if method == "PUT" and url.split("?")[0].endswith("/" + key):
            sent.append({name.lower(): value for name, value in
                         re.findall(r"'([^']+)': b?'([^']*)'", headers)})
    return sent


def head(env, key):
    code, out, err = run(env, "s3api", "head-object", "--bucket", BUCKET, "--key", key,
                         "--checksum-mode", "ENABLED", "--output", "json")
    assert code == 0, err
    return json.loads(out)


def test_dev_prints_the_https_endpoint(tls_gateway):
    output = tls_gateway.output()
    assert f"keyless: S3 gateway on {tls_gateway.s3_url}, forwarding to" in output, output
    assert f"AWS_ENDPOINT_URL_S3={tls_gateway.s3_url} " in output, output


def test_aws_cli_over_https_uploads_with_a_checksum_trailer(tls_gateway, tmp_path):
    creds = exchange(tls_gateway, "tls/app")
    env = cli_env(tls_gateway, creds, tmp_path / "home")
    env["AWS_CA_BUNDLE"] = str(tls_gateway.ca_file)

    small = tmp_path / "small.txt"
    small.write_bytes(b"a small file over TLS\n")
    code, out, err = run(env, "s3", "cp", str(small), "s3://artifacts/tls/app/small.txt", "--debug")
    assert code == 0, err[-4000:]
    puts = uploads_sent(err, "tls/app/small.txt")
    assert len(puts) == 1, err[-4000:]
    # Over TLS botocore streams the body unsigned, aws-chunked, its CRC32 in the trailer.
    assert puts[0]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", puts[0]
    assert puts[0]["x-amz-trailer"] == "x-amz-checksum-crc32", puts[0]
    assert "aws-chunked" in puts[0]["content-encoding"], puts[0]
    assert "x-amz-checksum-crc32" not in puts[0], puts[0]

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024 + 12345))
    code, out, err = run(env, "s3", "cp", str(big), "s3://artifacts/tls/app/big.bin", "--debug")
    assert code == 0, err[-4000:]
    parts = uploads_sent(err, "tls/app/big.bin")
    assert len(parts) == 3, "20 MiB in 8 MiB parts"
    for part in parts:
        assert part["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", part
        assert part["x-amz-trailer"] == "x-amz-checksum-crc32", part

    for key, original in [("small.txt", small), ("big.bin", big)]:
        back = tmp_path / (key + ".back")
        code, out, err = run(env, "s3", "cp", f"s3://artifacts/tls/app/{key}", str(back))
        assert code == 0, err
        assert back.read_bytes() == original.read_bytes(), key

    # The backend stored the checksum the client sent in its trailer.
    assert head(env, "tls/app/small.txt")["ChecksumCRC32"] == crc32_b64(small.read_bytes())
    multipart = head(env, "tls/app/big.bin")
    data = big.read_bytes()
    part_size = 8 * 1024 * 1024
    part_crcs = [zlib.crc32(data[i:i + part_size]).to_bytes(4, "big")
                 for i in range(0, len(data), part_size)]
    composite = base64.b64encode(zlib.crc32(b"".join(part_crcs)).to_bytes(4, "big")).decode()
    assert multipart.get("ChecksumCRC32") in (f"{composite}-3", crc32_b64(data)), multipart

    # The gateway saw the uploads arrive over TLS: the audit log records them as allowed.
    events = audit_events(tls_gateway, "tls/app/small.txt", "PutObject")
    assert events and events[0]["additionalEventData"]["decision"] == "Allow", events


def audit_events(server, key, name, timeout=10):
    deadline = time.time() + timeout
    while True:
        found = []
        for path in server.data_dir.rglob("audit*.jsonl"):
            for line in path.read_text().splitlines():
                event = json.loads(line)
                if (event.get("eventSource") == "s3.amazonaws.com" and event["eventName"] == name
                        and event.get("requestParameters", {}).get("key") == key):
                    found.append(event)
        if found or time.time() > deadline:
            return found
        time.sleep(0.2)


def s3_client(url, creds, verify=None):
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", verify=verify,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 1, "mode": "standard"}))


def test_secure_transport_allows_over_https_and_denies_over_http(seaweed, tmp_path):
    port = free_port()
    server = start_tls_gateway(tmp_path, seaweed["url"], port)
    try:
        secure = exchange(server, "secure/app", role=SECURE_ROLE)
        plain = exchange(server, "secure/app", role=CI_ROLE)
        client = s3_client(server.s3_url, secure, verify=str(server.ca_file))
        sent = []
        client.meta.events.register(
            "before-send.s3.PutObject",
            lambda request, **_: sent.append({k.lower(): v for k, v in request.headers.items()}))
        body = b"only over TLS\n"
        client.put_object(Bucket=BUCKET, Key="secure/app/k", Body=body)
        assert sent[0]["x-amz-content-sha256"] == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER", sent
        got = client.get_object(Bucket=BUCKET, Key="secure/app/k", ChecksumMode="ENABLED")
        assert got["Body"].read() == body
        assert got.get("ChecksumCRC32") == crc32_b64(body), got["ResponseMetadata"]["HTTPHeaders"]
    finally:
        server.stop()

    # The same node and sessions, its gateway now plain HTTP.
    later = start_gateway(tmp_path / "data", seaweed["url"], port, config=PLAIN_CONFIG)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_port(port, later.proc)
        client = s3_client(url, secure)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.put_object(Bucket=BUCKET, Key="secure/app/k", Body=b"in the clear")
        assert code_of(e) == "AccessDenied"
        assert ('is not authorized to perform: s3:PutObject on resource: '
                '"arn:aws:s3:::artifacts/secure/app/k" because no identity-based policy allows '
                'the s3:PutObject action') in e.value.response["Error"]["Message"]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.get_object(Bucket=BUCKET, Key="secure/app/k")
        assert code_of(e) == "AccessDenied"
        # A role without the condition is served over plain HTTP: the refusal is the condition's.
        assert s3_client(url, plain).put_object(Bucket=BUCKET, Key="secure/app/plain",
                                                Body=b"x")["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert seaweed["client"].get_object(Bucket=BUCKET, Key="secure/app/k")["Body"].read() == body
    finally:
        later.stop()


@pytest.mark.parametrize("lines, message", [
    ('tls_cert = "server.pem"\n', "s3_gateway.tls_key: tls_cert needs tls_key"),
    ('tls_key = "server.key"\n', "s3_gateway.tls_cert: tls_key needs tls_cert"),
    ('tls_cert = "missing.pem"\ntls_key = "missing.key"\n', "missing.pem: cannot read the certificate chain"),
])
def test_a_gateway_certificate_without_its_key_is_a_config_error(tmp_path, lines, message):
    config = tmp_path / "keyless.toml"
    config.write_text(f'[s3_gateway]\nbackend_url = "http://127.0.0.1:1"\n{lines}')
    env = dict(os.environ, KEYLESS_S3_BACKEND_ACCESS_KEY_ID=BACKEND_KEY,
               KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY=BACKEND_SECRET)
    p = subprocess.run(
        [keyless_binary(), "serve", "--dev", "--config", str(config), "--data-dir", str(tmp_path / "data"),
         "--listen", f"127.0.0.1:{free_port()}", "--s3-gateway-listen", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode != 0
    assert message in p.stderr, p.stdout + p.stderr
