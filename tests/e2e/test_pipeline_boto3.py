"""The same pipeline with boto3, plus restart and expiry behaviour."""

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import ROLE_ARN, Server

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def sts(server, **creds):
    return boto3.client("sts", endpoint_url=server.url, region_name="eu-west-1", config=NO_RETRY, **creds)


def exchange(server, token, **kw):
    return sts(server, aws_access_key_id="unused", aws_secret_access_key="unused").assume_role_with_web_identity(
        RoleArn=ROLE_ARN, RoleSessionName="boto3-job", WebIdentityToken=token, **kw)


def session_client(server, creds):
    return sts(server, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
               aws_session_token=creds["SessionToken"])


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_boto3_flow_and_error_codes(dev_server):
    token = dev_server.mint("--project-path", "example/project", "--ref", "main")
    resp = exchange(dev_server, token + "\n", DurationSeconds=900)
    creds = resp["Credentials"]
    ident = session_client(dev_server, creds).get_caller_identity()
    assert ident["Arn"] == "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/boto3-job"
    assert ident["UserId"] == resp["AssumedRoleUser"]["AssumedRoleId"]

    bad = dict(creds, SecretAccessKey="x" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        session_client(dev_server, bad).get_caller_identity()
    assert error_code(e) == "SignatureDoesNotMatch"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        exchange(dev_server, dev_server.mint("--project-path", "example/other", "--ref", "main"))
    assert error_code(e) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # --dev debugs denials: the message names the failing condition.
    assert "gitlab.com:sub" in e.value.response["Error"]["Message"]

    with pytest.raises(botocore.exceptions.ClientError) as e:
        exchange(dev_server, dev_server.mint("--project-path", "example/project", "--ref", "main", "--aud", "nope"))
    assert error_code(e) == "InvalidIdentityToken"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        exchange(dev_server, dev_server.mint("--project-path", "example/project", "--ref", "main",
                                             "--claim", "exp:=1700000000"))
    assert error_code(e) == "ExpiredTokenException"

    h, p, s = token.split(".")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        exchange(dev_server, ".".join([h, p, s[::-1]]))
    assert error_code(e) == "InvalidIdentityToken"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        exchange(dev_server, token, DurationSeconds=50000)
    assert error_code(e) == "ValidationError"
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '50000' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 43200")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        exchange(dev_server, token, DurationSeconds=7200)
    assert error_code(e) == "ValidationError"
    assert e.value.response["Error"]["Message"] == (
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts(dev_server, aws_access_key_id="AKIAAAAAAAAAAAAAAAAA", aws_secret_access_key="x" * 40).get_caller_identity()
    assert error_code(e) == "InvalidClientTokenId"


def admin_mint(server, admin, body, clock_offset=0):
    """Calls the mint API signed with the admin key (SigV4, service `keyless`), signing with a
    clock shifted like the server's."""
    url = f"{server.url}/keyless/issuers/gitlab/mint"
    req = AWSRequest(method="POST", url=url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: real_now() + datetime.timedelta(seconds=clock_offset)
    try:
        SigV4Auth(Credentials(admin["AWS_ACCESS_KEY_ID"], admin["AWS_SECRET_ACCESS_KEY"]), "keyless",
                  "us-east-1").add_auth(req)
    finally:
        botocore.auth.get_current_datetime = real_now
    r = urllib.request.Request(url, data=req.body, headers=dict(req.headers), method="POST")
    with urllib.request.urlopen(r, timeout=10) as resp:
        return json.loads(resp.read())["token"]


def test_duration_below_the_minimum_is_refused_by_the_server(dev_server):
    # botocore refuses DurationSeconds < 900 itself, so this request goes out raw.
    token = dev_server.mint("--project-path", "example/project", "--ref", "main")
    form = urllib.parse.urlencode({
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE_ARN,
        "RoleSessionName": "PowerUser/hjacobs", "WebIdentityToken": token, "DurationSeconds": "600"}).encode()
    req = urllib.request.Request(dev_server.url + "/", data=form, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    body = e.value.read().decode()
    assert "<Code>ValidationError</Code>" in body
    assert ("<Message>2 validation errors detected: Value 'PowerUser/hjacobs' at 'roleSessionName' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; "
            "Value '600' at 'durationSeconds' failed to satisfy constraint: "
            "Member must have value greater than or equal to 900</Message>") in body
    assert e.value.headers["x-amzn-RequestId"]


def test_credentials_survive_restart_and_expire(tmp_path):
    data = tmp_path / "data"
    # A server whose clock runs 1000 s behind mints 900 s credentials that are already past
    # their expiry by real time; one with the real clock then refuses them, while credentials
    # minted at real time before the restart keep working.
    past = Server(data, ["--dev", "--clock-offset=-1000s"]).start()
    try:
        admin = past.admin_env()
        old_token = admin_mint(past, admin, {"project_path": "example/project", "ref": "main"}, -1000)
        expired_creds = exchange(past, old_token, DurationSeconds=900)["Credentials"]
    finally:
        past.stop()

    now = Server(data, ["--dev"]).start()
    try:
        fresh = exchange(now, now.mint("--project-path", "example/project", "--ref", "main"))["Credentials"]
    finally:
        now.stop()

    again = Server(data, ["--dev"]).start()
    try:
        assert session_client(again, fresh).get_caller_identity()["Account"] == "000000000000"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            session_client(again, expired_creds).get_caller_identity()
        assert error_code(e) == "ExpiredToken"
        assert e.value.response["Error"]["Message"] == "The security token included in the request is expired"
    finally:
        again.stop()
