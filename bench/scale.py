#!/usr/bin/env python3
"""Scale benchmark: keyless with 100 and with 100,000 roles (and 1,000 OIDC providers).

For each size it prepares a data directory (a first `keyless serve --dev` creates the keys and
the database; the roles, their inline policies and the providers are then **bulk-loaded straight
into the store's tables** in one transaction, the way the IAM API would have written them, and
the change log is marked as starting there), starts `keyless serve` pinned to CPU 0 and measures
from CPU 1:

- start-up: from `exec` to the port answering (the port opens only once the state is compiled);
- RSS after start (VmRSS), against the same server with no bulk-loaded roles;
- CreateRole, PutRolePolicy and UpdateAssumeRolePolicy latency through the IAM API (sequential,
  SigV4-signed by botocore; p50 / p99);
- a ListRoles page of 100 from a marker in the middle (p50 / p99);
- the exchange's throughput (`bench/loadbench.py`, `distinct` scenario, 32 connections) on the
  same data directory.

With `SCALE_POSTGRES_URL` set it also measures propagation on PostgreSQL: two replicas on one
database holding the large account; a role created through replica A, and an exchange for it
retried on replica B until it succeeds (p50 / p99 of the delay between A's answer and B's
first success).

Results: a table on stdout and `results.json` in the scratch folder it prints. Knobs
(environment): SCALE_ROLES (100000), SCALE_BASE_ROLES (100), SCALE_PROVIDERS (1000),
SCALE_SAMPLES (200), SCALE_POSTGRES_URL, SCALE_SKIP_EXCHANGE, KEYLESS_BIN.
"""

import base64
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYLESS = os.environ.get("KEYLESS_BIN", os.path.join(ROOT, "target", "release", "keyless"))
ROLES = int(os.environ.get("SCALE_ROLES", "100000"))
BASE_ROLES = int(os.environ.get("SCALE_BASE_ROLES", "100"))
PROVIDERS = int(os.environ.get("SCALE_PROVIDERS", "1000"))
SAMPLES = int(os.environ.get("SCALE_SAMPLES", "200"))
PG_URL = os.environ.get("SCALE_POSTGRES_URL")
ACCOUNT = "000000000000"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
STARTED = []


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


class Server:
    def __init__(self, data, database=None, config=None, cpu="0"):
        self.data, self.database, self.config, self.cpu = data, database, config, cpu
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        cmd = ["taskset", "-c", self.cpu, KEYLESS, "serve", "--dev", "--data-dir", self.data,
               "--listen", f"127.0.0.1:{self.port}"]
        if self.database:
            cmd += ["--database", self.database]
        if self.config:
            cmd += ["--config", self.config]
        self.log = open(os.path.join(os.path.dirname(self.data), f"server-{self.port}.log"), "wb")
        env = dict(os.environ)
        env.pop("KEYLESS_LOG", None)
        started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        STARTED.append(self.proc)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keyless exited; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.005)
        self.startup = time.monotonic() - started
        with urllib.request.urlopen(self.url + "/readyz", timeout=10) as r:
            assert r.status == 200
        return self

    def rss_kib(self):
        return proc_kib(self.proc.pid, "VmRSS")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def admin(self):
        args = [KEYLESS, "admin", "credentials", "--data-dir", self.data]
        if self.database:
            args += ["--database", self.database]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        kv = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
        return kv["AWS_ACCESS_KEY_ID"], kv["AWS_SECRET_ACCESS_KEY"]

    def client(self, service):
        key, secret = self.admin()
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", config=NO_RETRY,
                            aws_access_key_id=key, aws_secret_access_key=secret)


def trust(provider, project, audience="sts.amazonaws.com"):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{provider}:aud": audience},
                "StringLike": {f"{provider}:sub": f"project_path:{project}:ref_type:branch:ref:main"},
            },
        }],
    }, separators=(",", ":"))


def permissions(project):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                       "Resource": f"arn:aws:s3:::artifacts/{project}/*"}],
    }, separators=(",", ":"))


def role_rows(count):
    """(roles, inline policies): one role a project, trusting its group's CI provider."""
    now = int(time.time())
    roles, policies = [], []
    for i in range(count):
        provider = f"ci-{i % PROVIDERS}.example"
        project = f"group-{i // 100}/project-{i}"
        name = f"project-{i:06d}-deployer"
        role_id = f"AROASCALE{i:012d}"
        roles.append((name, "/ci/", role_id, trust(provider, project), None, 3600, "[]", now, "api"))
        policies.append((name, "deploy", permissions(project)))
    return roles, policies


def provider_rows():
    now = int(time.time())
    return [(f"https://ci-{p}.example", json.dumps(["sts.amazonaws.com"]), "[]",
             json.dumps({"type": "discovery"}), "all", 0, None, "[]", now, "api")
            for p in range(PROVIDERS)]


ROLE_INSERT = ("INSERT INTO roles (name, path, role_id, trust_policy, description, max_session_duration, "
               "tags, created, managed_by) VALUES ({})")
POLICY_INSERT = "INSERT INTO role_policies (role_name, policy_name, document) VALUES ({})"
PROVIDER_INSERT = ("INSERT INTO oidc_providers (url, client_ids, thumbprints, key_source, condition_keys, "
                   "allow_insecure_http, ca_bundle, tags, created, managed_by) VALUES ({})")


def bulk_load_sqlite(path, roles):
    role_values, policy_values = role_rows(roles)
    db = sqlite3.connect(path)
    with db:
        db.executemany(PROVIDER_INSERT.format(",".join("?" * 10)), provider_rows())
        db.executemany(ROLE_INSERT.format(",".join("?" * 9)), role_values)
        db.executemany(POLICY_INSERT.format("?,?,?"), policy_values)
        # One generation for the whole load; the change log starts after it, so a replica
        # behind it reloads everything.
        db.execute("UPDATE store_state SET generation = generation + 1, changes_from = generation + 1")
    db.close()


def bulk_load_postgres(url, roles):
    role_values, policy_values = role_rows(roles)

    def copy(table, columns, rows):
        lines = []
        for row in rows:
            lines.append("\t".join("\\N" if v is None else str(v).replace("\\", "\\\\") for v in row))
        data = "\n".join(lines) + "\n"
        subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f"COPY {table} ({columns}) FROM STDIN"], input=data, text=True, check=True)

    copy("oidc_providers", "url, client_ids, thumbprints, key_source, condition_keys, allow_insecure_http, "
         "ca_bundle, tags, created, managed_by", provider_rows())
    copy("roles", "name, path, role_id, trust_policy, description, max_session_duration, tags, created, "
         "managed_by", role_values)
    copy("role_policies", "role_name, policy_name, document", policy_values)
    subprocess.run(["psql", url, "-q", "-c", "UPDATE store_state SET generation = generation + 1, "
                    "changes_from = generation + 1"], check=True)


def prepare(scratch, name, roles, database=None):
    """A data directory with `roles` bulk-loaded roles: first start, stop, load."""
    data = os.path.join(scratch, name, "data")
    os.makedirs(os.path.dirname(data))
    first = Server(data, database).start()
    first.stop()
    if roles:
        t0 = time.monotonic()
        if database:
            bulk_load_postgres(database, roles)
        else:
            bulk_load_sqlite(os.path.join(data, "keyless.db"), roles)
        log(f"{name}: bulk-loaded {roles} roles and {PROVIDERS} providers in {time.monotonic() - t0:.1f} s")
    return data


def timed(call, samples):
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2),
            "samples": samples}


def measure_writes(server, tag):
    iam = server.client("iam")
    iam.list_roles(MaxItems=1)  # warm the connection
    out = {}
    out["create_role"] = timed(lambda i: iam.create_role(
        RoleName=f"bench-{tag}-{i}", Path="/bench/",
        AssumeRolePolicyDocument=trust("gitlab.com", f"bench/project-{i}")), SAMPLES)
    out["put_role_policy"] = timed(lambda i: iam.put_role_policy(
        RoleName=f"bench-{tag}-{i}", PolicyName="deploy",
        PolicyDocument=permissions(f"bench/project-{i}")), SAMPLES)
    out["update_assume_role_policy"] = timed(lambda i: iam.update_assume_role_policy(
        RoleName=f"bench-{tag}-{i}", PolicyDocument=trust("gitlab.com", f"bench/other-{i}")), SAMPLES)
    return out


def measure_list(server, roles):
    """A ListRoles page of 100 from a marker in the middle (from the start when there are too
    few roles for a full page past the middle): the round trip of a SigV4-signed request over
    a kept-alive connection, without botocore's XML parsing, which would dominate."""
    key, secret = server.admin()
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "iam",
                                     "us-east-1")
    params = {"Action": "ListRoles", "Version": "2010-05-08", "MaxItems": "100"}
    if roles >= 200:
        middle = f"project-{roles // 2:06d}-deployer"
        params["Marker"] = base64.urlsafe_b64encode(middle.encode()).decode().rstrip("=")
    body = urllib.parse.urlencode(params)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def page(i):
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=server.url + "/", data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        signer.add_auth(request)
        conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
        answer = conn.getresponse().read().decode()
        assert answer.count("<member>") >= 100, answer[:500]

    try:
        return timed(page, 50)
    finally:
        conn.close()


def measure_exchange(data):
    env = dict(os.environ, BENCH_DATA_DIR=data, BENCH_SCENARIOS="distinct", BENCH_CONNS="32",
               KEYLESS_BIN=KEYLESS, BENCH_TOKENS=os.environ.get("BENCH_TOKENS", "10000"))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "loadbench.py")], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    for line in out.stdout.splitlines():
        if line.startswith("| distinct | 32 |"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            return {"req_s": int(cells[2]), "p99_ms": float(cells[5]), "server_us_per_req": int(cells[11])}
    raise RuntimeError("no distinct row in the load benchmark's output:\n" + out.stdout[-2000:])


def measure_size(scratch, name, roles):
    data = prepare(scratch, name, roles)
    server = Server(data).start()
    try:
        result = {"roles": roles, "startup_s": round(server.startup, 2), "rss_kib": server.rss_kib()}
        log(f"{name}: started in {server.startup:.2f} s, RSS {result['rss_kib'] / 1024:.1f} MiB")
        result.update(measure_writes(server, name))
        result["list_roles_page"] = measure_list(server, roles)
    finally:
        server.stop()
    if not os.environ.get("SCALE_SKIP_EXCHANGE"):
        result["exchange"] = measure_exchange(data)
    log(f"{name}: {json.dumps(result)}")
    return result


def measure_propagation(scratch):
    """Two replicas on one PostgreSQL database with the large account."""
    schema = "keyless_scale"
    subprocess.run(["psql", PG_URL, "-q", "-c",
                    f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"], check=True)
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-c%20search_path%3D{schema}"
    master = base64.b64encode(os.urandom(32)).decode()
    os.environ["KEYLESS_MASTER_KEY"] = master
    try:
        data_a = prepare(scratch, "pg-a", ROLES, database=url)
        a = Server(data_a, url, cpu="0").start()
        data_b = os.path.join(scratch, "pg-b", "data")
        os.makedirs(os.path.dirname(data_b))
        b = Server(data_b, url, cpu="0").start()
        result = {"roles": ROLES, "startup_s_b": round(b.startup, 2)}
        try:
            iam = a.client("iam")
            sts_b = boto3.client("sts", endpoint_url=b.url, region_name="us-east-1", config=NO_RETRY,
                                 aws_access_key_id="x", aws_secret_access_key="x")
            delays = []
            for i in range(max(SAMPLES // 2, 20)):
                project = f"propagation/project-{i}"
                token = subprocess.run(
                    [KEYLESS, "token", "mint", "--data-dir", data_a, "--database", url, "--issuer", "gitlab",
                     "--project-path", project, "--ref", "main", "--aud", "https://gitlab.com"],
                    capture_output=True, text=True, check=True).stdout.strip()
                iam.create_role(RoleName=f"propagated-{i}", AssumeRolePolicyDocument=trust("gitlab.com", project, "https://gitlab.com"))
                acknowledged = time.perf_counter()
                while True:
                    try:
                        sts_b.assume_role_with_web_identity(
                            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/propagated-{i}", RoleSessionName="propagation",
                            WebIdentityToken=token)
                        break
                    except botocore.exceptions.ClientError:
                        if time.perf_counter() - acknowledged > 10:
                            raise
                        time.sleep(0.002)
                delays.append((time.perf_counter() - acknowledged) * 1000)
            result["propagation"] = {"p50_ms": round(percentile(delays, 50), 1),
                                     "p99_ms": round(percentile(delays, 99), 1), "samples": len(delays)}
        finally:
            a.stop()
            b.stop()
    finally:
        del os.environ["KEYLESS_MASTER_KEY"]
        subprocess.run(["psql", PG_URL, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], check=False,
                       capture_output=True)
    log(f"propagation: {json.dumps(result)}")
    return result


def main():
    if not os.path.exists(KEYLESS):
        sys.exit(f"{KEYLESS} is missing: cargo build --release -p keyless, or set KEYLESS_BIN")
    scratch = tempfile.mkdtemp(prefix="keyless-scale-", dir="/tmp")
    log(f"scratch: {scratch}")
    results = {"binary": KEYLESS, "providers": PROVIDERS}
    try:
        empty = Server(prepare(scratch, "empty", 0)).start()
        results["empty_rss_kib"] = empty.rss_kib()
        results["empty_startup_s"] = round(empty.startup, 2)
        empty.stop()
        results["base"] = measure_size(scratch, "base", BASE_ROLES)
        results["large"] = measure_size(scratch, "large", ROLES)
        if PG_URL:
            results["postgres"] = measure_propagation(scratch)
    finally:
        for p in STARTED:
            if p.poll() is None:
                p.kill()
    with open(os.path.join(scratch, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    base, large = results["base"], results["large"]
    per_role = (large["rss_kib"] - results["empty_rss_kib"]) * 1024 / max(1, large["roles"])
    rows = [
        ("start-up, s", base["startup_s"], large["startup_s"]),
        ("RSS, MiB", round(base["rss_kib"] / 1024, 1), round(large["rss_kib"] / 1024, 1)),
    ]
    for op in ("create_role", "put_role_policy", "update_assume_role_policy", "list_roles_page"):
        rows.append((f"{op} p50 / p99, ms", f"{base[op]['p50_ms']} / {base[op]['p99_ms']}",
                     f"{large[op]['p50_ms']} / {large[op]['p99_ms']}"))
    if "exchange" in base:
        rows.append(("exchange req/s (32 conns)", base["exchange"]["req_s"], large["exchange"]["req_s"]))
    print(f"\n| measure | {base['roles']} roles | {large['roles']} roles |\n|---|---|---|")
    for name, b, l in rows:
        print(f"| {name} | {b} | {l} |")
    print(f"\nempty server RSS {results['empty_rss_kib'] / 1024:.1f} MiB; {per_role:.0f} bytes per role above it")
    if "postgres" in results:
        p = results["postgres"]["propagation"]
        print(f"propagation to a second replica (PostgreSQL, {ROLES} roles): p50 {p['p50_ms']} ms, "
              f"p99 {p['p99_ms']} ms")
    print(f"\nresults: {scratch}/results.json")


if __name__ == "__main__":
    main()
