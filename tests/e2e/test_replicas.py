"""Two replicas on one PostgreSQL, and a crash test of durability on SQLite."""

import base64
import os
import random
import signal
import subprocess
import time
import uuid

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import ROLE_ARN, Server, keyless_binary

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
PG = os.environ.get("KEYLESS_TEST_POSTGRES_URL")


@pytest.fixture
def pg_url():
    if not PG:
        pytest.skip("skipped: KEYLESS_TEST_POSTGRES_URL is not set")
    schema = "kl_e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", PG, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True)
    sep = "&" if "?" in PG else "?"
    yield f"{PG}{sep}options=-c%20search_path%3D{schema}"
    subprocess.run(["psql", PG, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], check=False)


def sts(url, **kw):
    return boto3.client("sts", endpoint_url=url, region_name="us-east-1", config=NO_RETRY, **kw)


def signed(url, creds):
    return sts(url, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
               aws_session_token=creds["SessionToken"])


def exchange(url, token, role=ROLE_ARN):
    return sts(url, aws_access_key_id="x", aws_secret_access_key="x").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="replica", WebIdentityToken=token)["Credentials"]


def cli(env, *args):
    return subprocess.run([keyless_binary(), *args], env=dict(os.environ, **env), check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def eventually(check, timeout=1.5):
    """Retries `check` until it passes or `timeout` seconds (the propagation bound) pass."""
    deadline = time.time() + timeout
    while True:
        try:
            return check()
        except (AssertionError, botocore.exceptions.ClientError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def test_two_replicas_share_credentials_roles_and_key_rotation(tmp_path, pg_url):
    env = {"KEYLESS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    a = Server(tmp_path / "a", ["--dev", "--database", pg_url], env=env).start()
    b = Server(tmp_path / "b", ["--dev", "--database", pg_url], env=env).start()
    try:
        token = cli(env, "token", "mint", "--data-dir", str(a.data_dir), "--database", pg_url,
                    "--project-path", "example/project", "--ref", "main")
        creds_a = exchange(a.url, token)
        # Minted on A, verified on B at once: no database lookup, shared sealing keys.
        assert signed(b.url, creds_a).get_caller_identity()["Account"] == "000000000000"
        assert cli(env, "admin", "credentials", "--data-dir", str(a.data_dir), "--database", pg_url) == \
            cli(env, "admin", "credentials", "--data-dir", str(b.data_dir), "--database", pg_url)

        admin = a.admin_env_with(env, pg_url)
        iam_a = boto3.client("iam", endpoint_url=a.url, region_name="us-east-1", config=NO_RETRY,
                             aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                             aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"])
        trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":'
                 '"arn:aws:iam::000000000000:oidc-provider/gitlab.com"},"Action":"sts:AssumeRoleWithWebIdentity",'
                 '"Condition":{"StringEquals":{"gitlab.com:project_path":"example/project"}}}]}')
        iam_a.create_role(RoleName="made-on-a", AssumeRolePolicyDocument=trust)
        started = time.time()
        eventually(lambda: exchange(b.url, token, "arn:aws:iam::000000000000:role/made-on-a"))
        assert time.time() - started < 1.5

        cli(env, "keys", "rotate-sealing", "--data-dir", str(a.data_dir), "--database", pg_url)
        # After the rotation reaches B, B seals with the new key and A verifies it; the
        # credentials sealed with the previous key keep verifying everywhere.
        def rotated():
            creds_b = exchange(b.url, token)
            assert signed(a.url, creds_b).get_caller_identity()["Account"] == "000000000000"
            return creds_b
        creds_b = eventually(rotated)
        assert creds_b["SessionToken"][:8] != creds_a["SessionToken"][:8]
        assert signed(b.url, creds_a).get_caller_identity()["Account"] == "000000000000"
        assert signed(a.url, creds_a).get_caller_identity()["Account"] == "000000000000"
    finally:
        a.stop()
        b.stop()


def test_acknowledged_writes_survive_kill_9(tmp_path):
    data = tmp_path / "data"
    acknowledged = []
    rng = random.Random(7)
    for round_no in range(5):
        s = Server(data, ["--dev"]).start()
        admin = s.admin_env()
        iam = boto3.client("iam", endpoint_url=s.url, region_name="us-east-1", config=NO_RETRY,
                           aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"])
        trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
                 '"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}')
        deadline = time.time() + rng.uniform(0.3, 1.2)
        i = 0
        while time.time() < deadline:
            name = f"crash-{round_no}-{i}"
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
            acknowledged.append(name)
            i += 1
        # Kill mid-stream: a write may be in flight, but every acknowledged one must persist.
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()

    s = Server(data, ["--dev"]).start()
    try:
        admin = s.admin_env()
        iam = boto3.client("iam", endpoint_url=s.url, region_name="us-east-1", config=NO_RETRY,
                           aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"])
        names = set()
        for page in iam.get_paginator("list_roles").paginate():
            names.update(r["RoleName"] for r in page["Roles"])
        missing = [n for n in acknowledged if n not in names]
        assert not missing, missing
        assert len(acknowledged) > 10
    finally:
        s.stop()
