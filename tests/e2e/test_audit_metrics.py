"""Audit events for every call, and Prometheus metrics that move as calls happen."""

import http.client
import json
import time
import urllib.error
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROLE_ARN, Server

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def metrics(server):
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def requests_total(samples, action, outcome):
    return samples.get(("keyless_requests_total", (("action", action), ("outcome", outcome))), 0)


def read_events(path, want, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= want:
            time.sleep(0.3)
            return [json.loads(l) for l in path.read_text().splitlines()]
        time.sleep(0.1)
    raise AssertionError(f"expected {want} audit events, found {len(lines)}")


def test_one_event_per_call_without_secrets_and_metrics(tmp_path):
    s = Server(tmp_path / "data", ["--dev"]).start()
    try:
        before = metrics(s)
        anon = boto3.client("sts", endpoint_url=s.url, region_name="us-east-1", config=NO_RETRY,
                            aws_access_key_id="x", aws_secret_access_key="x")
        token = s.mint("--project-path", "example/project", "--ref", "main")
        secrets = [token]
        calls = 0

        ok = anon.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="audited",
                                                WebIdentityToken=token)
        calls += 1
        creds = ok["Credentials"]
        secrets += [creds["SecretAccessKey"], creds["SessionToken"]]

        with pytest.raises(botocore.exceptions.ClientError):
            anon.assume_role_with_web_identity(
                RoleArn=ROLE_ARN, RoleSessionName="denied",
                WebIdentityToken=s.mint("--project-path", "example/other", "--ref", "main"))
        calls += 1
        with pytest.raises(botocore.exceptions.ClientError):
            anon.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="garbage",
                                               WebIdentityToken="not.a.jwt")
        calls += 1

        signed = boto3.client("sts", endpoint_url=s.url, region_name="us-east-1", config=NO_RETRY,
                              aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                              aws_session_token=creds["SessionToken"])
        signed.get_caller_identity()
        calls += 1

        admin = s.admin_env()
        secrets.append(admin["AWS_SECRET_ACCESS_KEY"])
        iam = boto3.client("iam", endpoint_url=s.url, region_name="us-east-1", config=NO_RETRY,
                           aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"])
        try:
            iam.list_roles()
        except botocore.exceptions.ClientError:
            pass
        calls += 1

        req = urllib.request.Request(s.url + "/", data=b"Action=Nope&Version=2011-06-15", method="POST")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(req, timeout=5)
        calls += 1

        events = read_events(tmp_path / "data" / "audit.jsonl", calls)
        assert len(events) == calls
        raw = (tmp_path / "data" / "audit.jsonl").read_text()
        for secret in secrets:
            assert secret not in raw
        for e in events:
            for field in ("eventTime", "eventName", "eventSource", "requestID", "eventID", "sourceIPAddress"):
                assert e.get(field), (field, e)

        granted, denied, garbage, whoami, listing, unknown = events
        assert granted["eventName"] == "AssumeRoleWithWebIdentity" and "errorCode" not in granted
        assert granted["requestParameters"]["webIdentityToken"]["sub"] == \
            "project_path:example/project:ref_type:branch:ref:main"
        assert granted["requestParameters"]["webIdentityToken"]["header"]["kid"]
        assert granted["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
        assert granted["additionalEventData"]["decision"] == "Allow"
        assert denied["errorCode"] == "AccessDenied"
        assert "gitlab.com:sub" in denied["additionalEventData"]["reason"]
        assert "example/other" in denied["additionalEventData"]["reason"]
        assert garbage["errorCode"] == "InvalidIdentityToken"
        assert whoami["eventName"] == "GetCallerIdentity"
        assert whoami["userIdentity"]["accessKeyId"] == creds["AccessKeyId"]
        assert listing["eventSource"] == "iam.amazonaws.com"
        assert unknown["errorCode"] == "InvalidAction"

        after = metrics(s)
        assert requests_total(after, "AssumeRoleWithWebIdentity", "Success") - \
            requests_total(before, "AssumeRoleWithWebIdentity", "Success") == 1
        assert requests_total(after, "AssumeRoleWithWebIdentity", "AccessDenied") == 1
        assert requests_total(after, "GetCallerIdentity", "Success") == 1
        assert after[("keyless_decisions_total",
                      (("decision", "Deny"), ("provider", "gitlab.com"), ("role", "gitlab-deployer")))] == 1
        assert after[("keyless_audit_events_dropped_total", ())] == 0
        assert any(name == "keyless_sealing_key_age_seconds" for name, _ in after)
        assert any(name == "keyless_request_duration_seconds_bucket" for name, _ in after)

        with urllib.request.urlopen(s.url + "/readyz", timeout=5) as r:
            assert r.status == 200
    finally:
        s.stop()


def test_a_clean_shutdown_writes_every_event(tmp_path):
    """Events still waiting for the audit writer's next batch reach the file before exit.

    The writer takes queued events every 20 ms under load, so without the final drain the
    last calls before SIGTERM are usually lost; three rounds make a regression hard to miss.
    The calls are signed, so no flood accounting applies to them."""
    calls, rounds = 100, 3
    for _ in range(rounds):
        s = Server(tmp_path / "data", ["--dev"]).start()
        try:
            env = s.admin_env()
            sts = boto3.client("sts", endpoint_url=s.url, region_name="us-east-1", config=NO_RETRY,
                               aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
            for _ in range(calls):
                assert sts.get_caller_identity()["Arn"].endswith(":root")
        finally:
            s.stop()
        assert s.proc.returncode == 0
    lines = (tmp_path / "data" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == calls * rounds
    assert all(json.loads(l)["eventName"] == "GetCallerIdentity" for l in lines)
