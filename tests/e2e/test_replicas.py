"""Replicas on one PostgreSQL (sharing credentials, following each other's writes through the
change log, falling back to a full reload behind a trimmed log), and crash tests of durability."""

import base64
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

import boto3
import botocore
import jwt
import pytest
from botocore.config import Config

from conftest import ACCOUNT, ROLE_ARN, Server, keyless_binary

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


def holds(predicate, timeout=1.5):
    """Waits until `predicate()` is true, at most `timeout` seconds."""
    def check():
        assert predicate()
    eventually(check, timeout)


ROOT_TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
              f'"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}')


def allow(action):
    return ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"%s","Resource":"*"}]}'
            % action)


class Endpoint:
    """A running server with clients signed by its admin key."""

    def __init__(self, server, admin):
        self.server = server
        self.keys = dict(aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"])

    @property
    def url(self):
        return self.server.url

    def iam(self, **creds):
        return boto3.client("iam", endpoint_url=self.url, region_name="us-east-1", config=NO_RETRY,
                            **(creds or self.keys))

    def sts(self):
        return sts(self.url, **self.keys)

    def metric(self, name):
        """The value of a metric series (`/metrics` is open with --dev), summed over its labels."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as r:
            text = r.read().decode()
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith(name) and line[len(name)] in " {"]
        return sum(values) if values else None

    def generation(self):
        return int(self.metric("keyless_state_generation"))

    def role_id_seen(self, name):
        """The role ID the server's live state has for `name` (by assuming it), or None."""
        try:
            user = self.sts().assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
                                          RoleSessionName="probe")["AssumedRoleUser"]
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
            return None
        return user["AssumedRoleId"].split(":")[0]

    def stop(self):
        self.server.stop()


def session_creds(endpoint, role):
    creds = endpoint.sts().assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                       RoleSessionName="worker")["Credentials"]
    return dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"])


def may(iam, call, **kw):
    try:
        getattr(iam, call)(**kw)
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
        return False


@pytest.fixture
def replicas(tmp_path, pg_url):
    env = {"KEYLESS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    started = []

    def start(name, config=None):
        args = ["--dev", "--database", pg_url] + (["--config", str(config)] if config else [])
        server = Server(tmp_path / name, args, env=env).start()
        replica = Endpoint(server, server.admin_env_with(env, pg_url))
        started.append(replica)
        return replica

    yield start
    for replica in started:
        if replica.server.proc.poll() is None:
            replica.server.proc.send_signal(signal.SIGCONT)
        replica.stop()


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
    """Creates, inline-policy puts and deletes, killed mid-stream five times: every acknowledged
    write is in the store and in the restarted server's state, and the change log goes on."""
    data = tmp_path / "data"
    expected = {}  # role name -> acknowledged inline policy document, or None once deleted
    rng = random.Random(7)
    for round_no in range(5):
        s = Server(data, ["--dev"]).start()
        iam = Endpoint(s, s.admin_env()).iam()
        deadline = time.time() + rng.uniform(0.3, 1.2)
        i = 0
        while time.time() < deadline:
            name = f"crash-{round_no}-{i}"
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROOT_TRUST)
            expected[name] = ""
            document = allow(f"iam:GetRole{'' if i % 2 else '*'}")
            iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document)
            expected[name] = document
            if i % 4 == 3:
                iam.delete_role_policy(RoleName=name, PolicyName="p")
                expected[name] = ""
                iam.delete_role(RoleName=name)
                expected[name] = None
            i += 1
        # Kill mid-stream: a write may be in flight, but every acknowledged one must persist.
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()

    s = Server(data, ["--dev"]).start()
    try:
        endpoint = Endpoint(s, s.admin_env())
        iam = endpoint.iam()
        names = set()
        for page in iam.get_paginator("list_roles").paginate():
            names.update(r["RoleName"] for r in page["Roles"])
        assert len(expected) > 10
        for name, document in expected.items():
            if document is None:
                assert name not in names, name
                continue
            assert name in names, name
            if document:
                got = iam.get_role_policy(RoleName=name, PolicyName="p")["PolicyDocument"]
                assert got == json.loads(document), name
        # The restarted state has them too, and follows writes made after the restart.
        for name in [n for n, d in expected.items() if d][:5]:
            assert may(endpoint.iam(**session_creds(endpoint, name)), "get_role", RoleName=name)
        for name in [n for n, d in expected.items() if d is None][:5]:
            assert endpoint.role_id_seen(name) is None
        iam.create_role(RoleName="after-restart", AssumeRolePolicyDocument=ROOT_TRUST)
        holds(lambda: endpoint.role_id_seen("after-restart"))
    finally:
        s.stop()


def test_a_replica_killed_mid_write_leaves_every_acknowledged_write_to_the_other(replicas):
    a, b = replicas("a"), replicas("b")
    iam_a = a.iam()
    acknowledged = []
    deadline = time.time() + 1.0
    while time.time() < deadline:
        name = f"acked-{len(acknowledged)}"
        iam_a.create_role(RoleName=name, AssumeRolePolicyDocument=ROOT_TRUST)
        acknowledged.append(name)
    a.server.proc.send_signal(signal.SIGKILL)
    a.server.proc.wait()
    assert len(acknowledged) > 10
    for name in acknowledged:
        holds(lambda name=name: b.role_id_seen(name))

def test_concurrent_writes_through_two_replicas_reach_both_in_order(replicas):
    a, b = replicas("a"), replicas("b")
    failures = []

    def guarded(work):
        def run():
            try:
                work()
            except Exception as e:  # reported by the main thread
                failures.append(e)
        return threading.Thread(target=run)

    def writer(replica, prefix):
        def work():
            iam = replica.iam()
            for i in range(30):
                iam.create_role(RoleName=f"{prefix}-{i}", AssumeRolePolicyDocument=ROOT_TRUST)
                if i % 3 == 0:
                    iam.delete_role(RoleName=f"{prefix}-{i}")
        return work

    # One name deleted and created again six times, alternately through each replica.
    created_ids = []
    flipping = threading.Event()

    def flipper():
        iams = [a.iam(), b.iam()]
        for k in range(6):
            if k:
                iams[k % 2].delete_role(RoleName="flip")
            role = iams[(k + 1) % 2].create_role(RoleName="flip", AssumeRolePolicyDocument=ROOT_TRUST)
            created_ids.append(role["Role"]["RoleId"])
        flipping.set()

    # Meanwhile, what each replica's state says of the name, and each replica's generation.
    seen = {"a": [], "b": []}
    generations = {"a": [], "b": []}

    def watcher(replica, key):
        def work():
            while not flipping.is_set():
                generations[key].append(replica.generation())
                seen[key].append(replica.role_id_seen("flip"))
        return work

    threads = [guarded(writer(a, "wa")), guarded(writer(b, "wb")), guarded(flipper),
               guarded(watcher(a, "a")), guarded(watcher(b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert len(created_ids) == 6 and len(set(created_ids)) == 6

    for key in ("a", "b"):
        assert generations[key] == sorted(generations[key]), f"{key} went back a generation"
        # Every version of the name a replica showed came after the ones it showed before.
        order = [created_ids.index(rid) for rid in seen[key] if rid is not None]
        assert order == sorted(order), (key, seen[key], created_ids)
        assert all(rid in created_ids for rid in seen[key] if rid is not None)

    # Both end at the store's generation, with the same roles, each under its latest ID.
    holds(lambda: a.generation() == b.generation())
    expected = {"flip": created_ids[-1]}
    for prefix in ("wa", "wb"):
        for i in range(30):
            name = f"{prefix}-{i}"
            expected[name] = None if i % 3 == 0 else a.iam().get_role(RoleName=name)["Role"]["RoleId"]
    for replica in (a, b):
        assert {name: replica.role_id_seen(name) for name in expected} == expected, replica.url


def test_a_managed_policy_attached_and_changed_on_one_replica_governs_sessions_on_the_other(replicas):
    a, b = replicas("a"), replicas("b")
    iam_a, iam_b = a.iam(), b.iam()
    teams = [f"team-{i}" for i in range(3)]
    for team in teams:
        iam_a.create_role(RoleName=team, AssumeRolePolicyDocument=ROOT_TRUST)
    arn = iam_a.create_policy(PolicyName="shared", PolicyDocument=allow("iam:ListRoles"))["Policy"]["Arn"]
    sessions = {team: eventually(lambda team=team: session_creds(b, team)) for team in teams}
    on_a = {team: a.iam(**sessions[team]) for team in teams}
    on_b = {team: b.iam(**sessions[team]) for team in teams}
    assert not any(may(on_b[t], "list_roles") for t in teams)

    # Attached through A: every session may list, on B at once.
    for team in teams:
        iam_a.attach_role_policy(RoleName=team, PolicyArn=arn)
    for team in teams:
        holds(lambda team=team: may(on_b[team], "list_roles"))

    # A new default version through B: listing is gone and reading a role is granted, on A.
    iam_b.create_policy_version(PolicyArn=arn, PolicyDocument=allow("iam:GetRole"), SetAsDefault=True)

    def narrowed(team):
        assert not may(on_a[team], "list_roles")
        assert may(on_a[team], "get_role", RoleName=team)
    for team in teams:
        eventually(lambda team=team: narrowed(team))

    # Detached from one role through A: that role's sessions lose it on B, the others keep it.
    iam_a.detach_role_policy(RoleName="team-1", PolicyArn=arn)
    holds(lambda: not may(on_b["team-1"], "get_role", RoleName="team-1"))
    assert may(on_b["team-0"], "get_role", RoleName="team-0")
    assert may(on_b["team-2"], "get_role", RoleName="team-2")

    # Deleting the policy (after the last detach) takes it from everyone.
    for team in ("team-0", "team-2"):
        iam_b.detach_role_policy(RoleName=team, PolicyArn=arn)
    iam_b.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam_b.delete_policy(PolicyArn=arn)
    for team in teams:
        holds(lambda team=team: not may(on_a[team], "get_role", RoleName=team))


def test_a_permissions_boundary_set_on_one_replica_bounds_sessions_on_the_other(replicas):
    a, b = replicas("a"), replicas("b")
    iam_a, iam_b = a.iam(), b.iam()
    iam_a.create_role(RoleName="bounded", AssumeRolePolicyDocument=ROOT_TRUST)
    iam_a.put_role_policy(RoleName="bounded", PolicyName="both", PolicyDocument=allow("iam:*"))
    boundary = iam_a.create_policy(PolicyName="get-only", PolicyDocument=allow("iam:GetRole"))["Policy"]["Arn"]
    session = eventually(lambda: session_creds(b, "bounded"))
    on_b = b.iam(**session)
    holds(lambda: may(on_b, "list_roles"))

    # Set through A: B's sessions are bounded at once.
    iam_a.put_role_permissions_boundary(RoleName="bounded", PermissionsBoundary=boundary)
    holds(lambda: not may(on_b, "list_roles"))
    assert may(on_b, "get_role", RoleName="bounded")
    assert iam_b.get_role(RoleName="bounded")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary

    # A new default version of the boundary through B reaches A's sessions.
    on_a = a.iam(**session)
    iam_b.create_policy_version(PolicyArn=boundary, PolicyDocument=allow("iam:List*"), SetAsDefault=True)
    holds(lambda: may(on_a, "list_roles") and not may(on_a, "get_role", RoleName="bounded"))

    # Removed through B: A's sessions have the role's whole permissions again.
    iam_b.delete_role_permissions_boundary(RoleName="bounded")
    holds(lambda: may(on_a, "get_role", RoleName="bounded"))


def test_a_replica_behind_a_trimmed_change_log_reloads_fully_and_agrees(tmp_path, replicas):
    config = tmp_path / "keyless.toml"
    config.write_text("[server]\nchange_log_generations = 4\n")
    a, b = replicas("a", config), replicas("b", config)
    iam_a = a.iam()
    iam_a.create_role(RoleName="before", AssumeRolePolicyDocument=ROOT_TRUST)
    holds(lambda: b.role_id_seen("before"))
    reloads = b.metric("keyless_state_updates_total{kind=\"full_reload\"}") or 0

    # B sleeps through more writes than the log keeps.
    b.server.proc.send_signal(signal.SIGSTOP)
    try:
        ids = {}
        for i in range(20):
            ids[f"while-{i}"] = iam_a.create_role(RoleName=f"while-{i}",
                                                  AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["RoleId"]
        iam_a.delete_role(RoleName="before")
        ids["before"] = None
    finally:
        b.server.proc.send_signal(signal.SIGCONT)

    holds(lambda: a.generation() == b.generation(), timeout=5)
    assert {name: b.role_id_seen(name) for name in ids} == ids
    assert {name: a.role_id_seen(name) for name in ids} == ids
    assert (b.metric("keyless_state_updates_total{kind=\"full_reload\"}") or 0) > reloads
    assert "reloading the whole state" in b.server.output()

    # And it follows the log again afterwards.
    iam_a.create_role(RoleName="after", AssumeRolePolicyDocument=ROOT_TRUST)
    holds(lambda: b.role_id_seen("after"))


def test_outbound_federation_switched_on_one_replica_governs_tokens_on_the_other(replicas):
    a, b = replicas("a"), replicas("b")
    iam_a, iam_b = a.iam(), b.iam()
    iam_a.create_role(RoleName="vendor", AssumeRolePolicyDocument=ROOT_TRUST)
    iam_a.put_role_policy(RoleName="vendor", PolicyName="tokens", PolicyDocument=allow("sts:GetWebIdentityToken"))
    on_a = sts(a.url, **eventually(lambda: session_creds(a, "vendor")))
    on_b = sts(b.url, **eventually(lambda: session_creds(b, "vendor")))

    def token(client):
        return client.get_web_identity_token(Audience=["sts.amazonaws.com"], SigningAlgorithm="ES384")[
            "WebIdentityToken"]

    def refused(client):
        try:
            token(client)
            return False
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "OutboundWebIdentityFederationDisabledException", e.response
            return True

    assert refused(on_b)
    # Enabled through A: B issues tokens at once, signed with the keys every replica shares.
    issuer_a = iam_a.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    holds(lambda: not refused(on_b))
    issued = token(on_b)
    with urllib.request.urlopen(f"{issuer_a}/.well-known/jwks.json", timeout=5) as r:
        jwks = json.loads(r.read())
    header = jwt.get_unverified_header(issued)
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(issued, key.key, algorithms=["ES384"], audience="sts.amazonaws.com",
                        options={"verify_iss": False})
    assert claims["sub"] == f"arn:aws:iam::{ACCOUNT}:role/vendor"
    assert iam_b.get_outbound_web_identity_federation_info()["JwtVendingEnabled"] is True

    # Disabled through B: A refuses at once.
    iam_b.disable_outbound_web_identity_federation()
    holds(lambda: refused(on_a))
    assert iam_a.get_outbound_web_identity_federation_info()["JwtVendingEnabled"] is False
