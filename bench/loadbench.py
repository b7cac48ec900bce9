#!/usr/bin/env python3
"""keyless load benchmark: one `keyless serve --dev` pinned to CPU 0, wrk pinned to CPU 1.

Started by bench/run.sh, which builds the release binary, prepares the venv (botocore) and wrk.
Every process it starts is stopped by its PID. See bench/README.md for the scenarios and method.
"""
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

ACCOUNT = "000000000000"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/gitlab-deployer"
COLD_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/jwks-cold-deployer"
COLD_ISS = "https://jwks-cold.example"
AUDIENCE = "https://gitlab.com"
REGION = "us-east-1"
SESSION_NAME = "gitlab-job-4000000"


def env_int(name, default):
    return int(os.environ.get(name, default))


SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "1")
DURATION = env_int("BENCH_DURATION", 10)
WARMUP = env_int("BENCH_WARMUP", 2)
REPEATS = env_int("BENCH_REPEATS", 3)
CONNS = [int(c) for c in os.environ.get("BENCH_CONNS", "32 256").split()]
TOKENS = env_int("BENCH_TOKENS", 10000)
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "distinct repeated mixed caller-identity mint jwks-remote").split()
KEYLESS = os.environ.get("KEYLESS_BIN", os.path.join(REPO, "target", "release", "keyless"))
# BENCH_PROFILE=callgrind: run the server under valgrind's callgrind and write one profile per
# scenario (counters zeroed before its measured runs, dumped after), for callgrind_annotate.
# BENCH_PROFILE=perf: sample the server with `perf record` (DWARF call graphs, on the load CPU)
# during the measured runs of each scenario; bench/perf-shares.py summarizes the result.
PROFILE = os.environ.get("BENCH_PROFILE", "")

STARTED = []


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- processes
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu_times(cpu):
    """(busy, steal) clock ticks of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal
                return v[0] + v[1] + v[2] + v[5] + v[6], v[7]
    return 0, 0


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return None


def thread_names(pid):
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                n = f.read().strip()
        except OSError:
            continue
        names[n] = names.get(n, 0) + 1
    return names


def stop_all():
    for p in reversed(STARTED):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    STARTED.clear()


# ----------------------------------------------------------------------------- HTTP helpers
class Client:
    """One keep-alive connection to the server."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method, path, body, headers):
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def signed(method, url, body, headers, creds, service, when):
    """A SigV4-signed request as botocore signs it, dated `when` (a UTC datetime)."""
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    real_now = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when
    try:
        SigV4Auth(creds, service, REGION).add_auth(req)
    finally:
        botocore.auth.get_current_datetime = real_now
    return {k: v for k, v in req.headers.items()}


def sts_body(role_arn, token):
    """The STS Query body botocore sends for AssumeRoleWithWebIdentity."""
    return urllib.parse.urlencode([
        ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", role_arn),
        ("RoleSessionName", SESSION_NAME), ("WebIdentityToken", token), ("DurationSeconds", "900"),
    ])


FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def request_line(method, path, body, headers):
    for v in [body, *headers.values()]:
        assert "\t" not in v and "\n" not in v
    return "\t".join([method, path, body] + [f"{k}: {v}" for k, v in headers.items()]) + "\n"


# ----------------------------------------------------------------------------- setup
class Bench:
    def __init__(self):
        self.scratch = tempfile.mkdtemp(prefix="keyless-bench-", dir="/tmp")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.results = {"runs": [], "notes": []}

    def path(self, *parts):
        return os.path.join(self.scratch, *parts)

    def write_config(self):
        """--dev brings the gitlab issuer, the gitlab.com provider (keys pinned from the built-in
        issuer) and the gitlab-deployer role. The config adds a second built-in issuer whose
        tokens say iss=https://jwks-cold.example, and a provider for that iss whose keys come
        from this server's own JWKS URL over loopback HTTP: the path of any remote provider
        (HTTP fetch, JWKS cache), with the network reduced to loopback."""
        trust = json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/jwks-cold.example"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"jwks-cold.example:aud": AUDIENCE},
                    "StringLike": {"jwks-cold.example:sub": "project_path:example/project:*"},
                },
            }],
        })
        cfg = f"""[[issuer]]
name = "cold"
iss = "{COLD_ISS}"

[[provider]]
url = "{COLD_ISS}"
client_ids = ["{AUDIENCE}"]
jwks_url = "{self.base}/issuers/cold/oauth/discovery/keys"

[[role]]
name = "jwks-cold-deployer"
trust_policy = '''{trust}'''
"""
        # BENCH_CONFIG_APPEND: extra TOML for a comparison run, e.g. '[audit]\nsink = "none"'.
        extra = os.environ.get("BENCH_CONFIG_APPEND", "").replace("\\n", "\n")
        if extra:
            cfg += "\n" + extra + "\n"
            self.results["config_append"] = extra
        with open(self.path("keyless.toml"), "w") as f:
            f.write(cfg)

    def data_dir(self):
        """BENCH_DATA_DIR: a prepared data directory (bench/scale.py's), else a fresh one."""
        return os.environ.get("BENCH_DATA_DIR") or self.path("data")

    def start_server(self):
        if not os.environ.get("BENCH_DATA_DIR"):
            os.makedirs(self.path("data"))
        wrapper = []
        if PROFILE == "callgrind":
            wrapper = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--collect-atstart=yes",
                       f"--callgrind-out-file={self.path('callgrind.out.%p')}"]
        elif PROFILE and PROFILE != "perf":
            raise RuntimeError(f"BENCH_PROFILE must be callgrind or perf, not {PROFILE!r}")
        cmd = ["taskset", "-c", SERVER_CPU, *wrapper, KEYLESS, "serve", "--dev", "--config", self.path("keyless.toml"),
               "--data-dir", self.data_dir(), "--listen", f"127.0.0.1:{self.port}"]
        log("start: " + " ".join(cmd))
        self.server_log = open(self.path("server.log"), "wb")
        env = dict(os.environ)
        env.pop("KEYLESS_LOG", None)  # the default log level, as deployed
        self.server = subprocess.Popen(cmd, stdout=self.server_log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        STARTED.append(self.server)
        deadline = time.time() + (600 if PROFILE else 60)
        while time.time() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"keyless exited early; see {self.path('server.log')}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("keyless did not come up in time")
        self.pid = self.server.pid  # taskset execs keyless: same PID
        out = subprocess.run([KEYLESS, "admin", "credentials", "--data-dir", self.data_dir()],
                             capture_output=True, text=True, check=True).stdout
        kv = dict(re.findall(r"export (\w+)=['\"]?([^'\"\n]+)", out))
        self.admin = Credentials(kv["AWS_ACCESS_KEY_ID"], kv["AWS_SECRET_ACCESS_KEY"])
        self.results["server_threads_at_start"] = thread_names(self.pid)
        self.results["server_rss_idle_kib"] = proc_status(self.pid, "VmRSS")

    # ------------------------------------------------------------------------- tokens
    def mint_request(self, issuer, body, when=None):
        url = f"{self.base}/keyless/issuers/{issuer}/mint"
        data = json.dumps(body, separators=(",", ":"))
        when = when or datetime.datetime.now(datetime.timezone.utc)
        headers = signed("POST", url, data, {"Content-Type": "application/json"}, self.admin, "keyless", when)
        return f"/keyless/issuers/{issuer}/mint", data, headers

    def mint_many(self, jobs):
        """Mints tokens through the mint API, 4 keep-alive connections in parallel."""
        local = threading.local()

        def one(job):
            issuer, body = job
            if not hasattr(local, "client"):
                local.client = Client(self.port)
            path, data, headers = self.mint_request(issuer, body)
            status, out = local.client.send("POST", path, data, headers)
            if status != 200:
                raise RuntimeError(f"mint failed: {status} {out[:300]!r}")
            return json.loads(out)["token"]

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            return list(ex.map(one, jobs))

    def prepare_tokens(self):
        t0 = time.time()
        n_denied = max(1, TOKENS // 10)
        jobs = [("gitlab", {"project_path": "example/project", "ref": "main", "aud": [AUDIENCE],
                            "claims": {"job_id": str(4000000 + i), "pipeline_id": str(900000 + i // 4)}})
                for i in range(TOKENS)]
        jobs += [("gitlab", {"project_path": "other-group/other-project", "ref": "main", "aud": [AUDIENCE],
                             "claims": {"job_id": str(5000000 + i)}}) for i in range(n_denied)]
        n_cold = min(TOKENS, 2000)
        cold_jobs = [("cold", {"project_path": "example/project", "ref": "main", "aud": [AUDIENCE],
                               "claims": {"job_id": str(6000000 + i)}}) for i in range(n_cold)]
        tokens = self.mint_many(jobs + cold_jobs)
        self.valid = tokens[:TOKENS]
        self.denied = tokens[TOKENS:TOKENS + n_denied]
        self.cold = tokens[TOKENS + n_denied:]
        assert len(set(self.valid)) == TOKENS, "tokens are not distinct"
        secs = time.time() - t0
        log(f"minted {len(tokens)} distinct tokens through the mint API in {secs:.1f} s")
        self.results["tokens"] = {"valid": len(self.valid), "denied": len(self.denied), "jwks_cold": len(self.cold),
                                  "mint_seconds": round(secs, 1),
                                  "token_bytes": len(self.valid[0]),
                                  "body_bytes": len(sts_body(ROLE_ARN, self.valid[0]))}

    # ------------------------------------------------------------------------- request files
    def write_requests(self, name, lines):
        path = self.path(f"requests-{name}.tsv")
        with open(path, "w") as f:
            f.writelines(lines)
        return path

    def sts_lines(self, role_arn, tokens):
        return [request_line("POST", "/", sts_body(role_arn, t), FORM) for t in tokens]

    def check_request(self, line, want_status, must_contain):
        method, path, body, *hdrs = line.rstrip("\n").split("\t")
        headers = dict(h.split(": ", 1) for h in hdrs)
        status, out = Client(self.port).send(method, path, body, headers)
        if status != want_status or must_contain.encode() not in out:
            raise RuntimeError(f"check failed: want {want_status} with {must_contain!r}, got {status} {out[:400]!r}")
        return out

    def sessions(self, n):
        """n sets of temporary credentials from AssumeRoleWithWebIdentity."""
        client = Client(self.port)
        out = []
        for t in self.valid[:n]:
            status, body = client.send("POST", "/", sts_body(ROLE_ARN, t), FORM)
            if status != 200:
                raise RuntimeError(f"AssumeRoleWithWebIdentity failed: {status} {body[:300]!r}")
            text = body.decode()
            get = lambda tag: re.search(f"<{tag}>([^<]+)</{tag}>", text).group(1)
            out.append(Credentials(get("AccessKeyId"), get("SecretAccessKey"), get("SessionToken")))
        return out

    def signed_lines(self, build, count, creds_list):
        """`count` requests, each signed by botocore with one of `creds_list` and dated one of the
        last 100 seconds, so that every signature differs."""
        now = datetime.datetime.now(datetime.timezone.utc)
        lines = []
        for i in range(count):
            creds = creds_list[i % len(creds_list)]
            when = now - datetime.timedelta(seconds=(i // len(creds_list)) % 100)
            lines.append(build(i, creds, when))
        return lines

    def caller_identity_lines(self, count):
        creds = self.sessions(100)
        url = self.base + "/"
        body = "Action=GetCallerIdentity&Version=2011-06-15"

        def build(i, c, when):
            return request_line("POST", "/", body, signed("POST", url, body, dict(FORM), c, "sts", when))
        return self.signed_lines(build, count, creds)

    def mint_lines(self, count):
        def build(i, c, when):
            path, data, headers = self.mint_request(
                "gitlab", {"project_path": "example/project", "ref": "main", "aud": [AUDIENCE],
                           "claims": {"job_id": str(7000000 + i)}}, when)
            return request_line("POST", path, data, headers)
        return self.signed_lines(build, count, [self.admin])

    # ------------------------------------------------------------------------- JWKS cold
    def jwks_cold_latency(self):
        """The first exchange for a provider whose keys are not cached waits for the JWKS fetch.
        The cache is per process and fills on first use, so a process gives one cold sample: this
        takes it before anything else touches the provider, then 20 warm samples."""
        client = Client(self.port)
        client.send("GET", "/healthz", None, {})  # connection set up outside the timing

        def timed(token):
            body = sts_body(COLD_ROLE_ARN, token)
            t0 = time.perf_counter()
            status, out = client.send("POST", "/", body, FORM)
            dt = (time.perf_counter() - t0) * 1e3
            if status != 200:
                raise RuntimeError(f"jwks-cold exchange failed: {status} {out[:300]!r}")
            return dt

        cold = timed(self.cold[0])
        warm = [timed(t) for t in self.cold[1:21]]
        self.results["jwks_cold"] = {"first_request_ms": round(cold, 2),
                                     "warm_median_ms": round(statistics.median(warm), 2),
                                     "warm_max_ms": round(max(warm), 2)}
        log(f"jwks-remote: first (cold) exchange {cold:.2f} ms, then warm median {statistics.median(warm):.2f} ms")

    # ------------------------------------------------------------------------- wrk
    def wrk(self, scenario, conns, requests_file, seconds, tag, classify=False):
        out_json = self.path(f"wrk-{scenario}-{conns}-{tag}.json")
        env = dict(os.environ, BENCH_REQUESTS=requests_file, BENCH_JSON=out_json,
                   BENCH_CLASSIFY="1" if classify else "0")
        cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s",
               "-s", os.path.join(HERE, "rotate.lua"), self.base + "/"]
        cpu0 = proc_cpu_ticks(self.pid)
        busy0, steal0 = cpu_times(SERVER_CPU)
        load_busy0, _ = cpu_times(LOAD_CPU)
        t0 = time.time()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        STARTED.append(p)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        STARTED.remove(p)
        wall = time.time() - t0
        server_cpu_s = (proc_cpu_ticks(self.pid) - cpu0) / CLK_TCK
        busy1, steal1 = cpu_times(SERVER_CPU)
        others_s = max(0.0, (busy1 - busy0) / CLK_TCK - server_cpu_s)
        load_busy1, _ = cpu_times(LOAD_CPU)
        wrk_cpu_s = usage.ru_utime + usage.ru_stime
        others_load_s = max(0.0, (load_busy1 - load_busy0) / CLK_TCK - wrk_cpu_s)
        text = p.stdout.read().decode(errors="replace")
        with open(self.path(f"wrk-{scenario}-{conns}-{tag}.txt"), "w") as f:
            f.write(" ".join(cmd) + "\n" + text)
        if p.returncode != 0 or not os.path.exists(out_json):
            raise RuntimeError(f"wrk failed ({p.returncode}): {text[-500:]}")
        with open(out_json) as f:
            r = json.load(f)
        secs = r["duration_us"] / 1e6
        e = r["errors"]
        return {
            "scenario": scenario, "conns": conns, "tag": tag,
            "requests": r["requests"], "rps": r["requests"] / secs,
            "p50_ms": r["latency_us"]["p50"] / 1e3, "p90_ms": r["latency_us"]["p90"] / 1e3,
            "p99_ms": r["latency_us"]["p99"] / 1e3, "p999_ms": r["latency_us"]["p999"] / 1e3,
            "max_ms": r["latency_us"]["max"] / 1e3,
            "non_2xx": e["status"], "socket_errors": e["connect"] + e["read"] + e["write"] + e["timeout"],
            "statuses": r.get("statuses", {}),
            "wrk_cpu_pct": 100 * wrk_cpu_s / wall,
            "others_on_load_cpu_pct": 100 * others_load_s / wall,
            "server_cpu_pct": 100 * server_cpu_s / secs,
            "server_cpu_us_per_req": 1e6 * server_cpu_s / max(1, r["requests"]),
            "others_on_server_cpu_pct": 100 * others_s / wall,
            "server_rss_kib": proc_status(self.pid, "VmRSS"),
            "server_peak_rss_kib": proc_status(self.pid, "VmHWM"),
            "steal_server_cpu_pct": 100 * (steal1 - steal0) / CLK_TCK / wall,
        }

    def scenario(self, name, requests_file, expect, classify=False):
        """Warm-up, then REPEATS measured runs, for every connection count."""
        for conns in CONNS:
            if WARMUP > 0:
                self.wrk(name, conns, requests_file, WARMUP, "warmup", classify)
            if PROFILE == "callgrind":
                subprocess.run(["callgrind_control", "--zero", str(self.pid)], check=True, capture_output=True)
            perf = None
            if PROFILE == "perf":
                perf = subprocess.Popen(
                    ["taskset", "-c", LOAD_CPU, "perf", "record", "-F", "1000", "-g", "--call-graph", "dwarf,16384",
                     "-p", str(self.pid), "-o", self.path(f"perf.{name}-c{conns}.data")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(REPEATS):
                r = self.wrk(name, conns, requests_file, DURATION, f"run{i + 1}", classify)
                r.update(expect(r))
                self.results["runs"].append(r)
                log(f"{name:16} c={conns:<4} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.2f}  p99 {r['p99_ms']:.2f}  "
                    f"p99.9 {r['p999_ms']:.2f} ms  non-2xx {r['non_2xx']}  sock-err {r['socket_errors']}  "
                    f"wrk CPU {r['wrk_cpu_pct']:.0f}% (others on CPU {LOAD_CPU}: {r['others_on_load_cpu_pct']:.0f}%)  server {r['server_cpu_pct']:.0f}% CPU, "
                    f"{r['server_cpu_us_per_req']:.0f} us/req  others on CPU {SERVER_CPU}: {r['others_on_server_cpu_pct']:.0f}%")
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=300)
            if PROFILE == "callgrind":
                subprocess.run(["callgrind_control", f"--dump={name}-c{conns}", str(self.pid)], check=True,
                               capture_output=True)
                self.results.setdefault("profiled_requests", {})[f"{name}-c{conns}"] = sum(
                    r["requests"] for r in self.results["runs"] if r["scenario"] == name and r["conns"] == conns)

    # ------------------------------------------------------------------------- main
    def run(self):
        self.results["meta"] = meta()
        self.write_config()
        self.start_server()
        self.prepare_tokens()
        if "jwks-remote" in SCENARIOS:
            self.jwks_cold_latency()

        all_ok = lambda r: {"valid": r["non_2xx"] == 0 and r["socket_errors"] == 0}
        if "distinct" in SCENARIOS:
            lines = self.sts_lines(ROLE_ARN, self.valid)
            self.check_request(lines[0], 200, "<AccessKeyId>ASIA")
            self.scenario("distinct", self.write_requests("distinct", lines), all_ok)
        if "repeated" in SCENARIOS:
            lines = self.sts_lines(ROLE_ARN, self.valid[:1])
            self.scenario("repeated", self.write_requests("repeated", lines), all_ok)
        if "mixed" in SCENARIOS:
            valid = self.sts_lines(ROLE_ARN, self.valid)
            denied = self.sts_lines(ROLE_ARN, self.denied)
            self.check_request(denied[0], 403, "<Code>AccessDenied</Code>")
            lines = []
            for i in range(len(denied)):  # every 10th request is denied: exactly 10%
                lines += valid[9 * i:9 * i + 9] + [denied[i]]
            share = len(denied) / len(lines)

            def mixed_ok(r):
                st = {int(k): v for k, v in r["statuses"].items()}
                other = sum(v for k, v in st.items() if k not in (200, 403))
                answered = sum(st.values())
                return {"ok_200": st.get(200, 0), "denied_403": st.get(403, 0), "other_status": other,
                        "denied_share": st.get(403, 0) / max(1, answered), "expected_denied_share": share,
                        "valid": other == 0 and r["socket_errors"] == 0
                        and abs(st.get(403, 0) / max(1, answered) - share) < 0.01}
            self.scenario("mixed", self.write_requests("mixed", lines), mixed_ok, classify=True)
        if "caller-identity" in SCENARIOS:
            lines = self.caller_identity_lines(TOKENS)
            self.check_request(lines[0], 200, "assumed-role/gitlab-deployer/")
            self.scenario("caller-identity", self.write_requests("caller-identity", lines), all_ok)
        if "mint" in SCENARIOS:
            lines = self.mint_lines(2000)
            self.check_request(lines[0], 200, '"token":"ey')
            self.scenario("mint", self.write_requests("mint", lines), all_ok)
        if "jwks-remote" in SCENARIOS:
            lines = self.sts_lines(COLD_ROLE_ARN, self.cold)
            self.scenario("jwks-remote", self.write_requests("jwks-remote", lines), all_ok)

        status, text = Client(self.port).send("GET", "/metrics", None, {})
        if status == 200:
            self.results["audit_metrics"] = {
                m.group(1): float(m.group(2))
                for m in re.finditer(r"^(keyless_audit\w*)(?:\{[^}]*\})?\s+(\S+)$", text.decode(), re.M)}
        self.results["server_peak_rss_kib"] = proc_status(self.pid, "VmHWM")
        self.results["server_rss_end_kib"] = proc_status(self.pid, "VmRSS")
        self.results["server_threads_end"] = thread_names(self.pid)
        stop_all()
        self.server_log.close()
        size = os.path.getsize(self.path("server.log"))
        total = sum(r["requests"] for r in self.results["runs"])
        self.results["server_log"] = {"bytes": size, "bytes_per_measured_request": round(size / max(1, total), 1)}
        if os.environ.get("BENCH_KEEP_LOG") != "1":
            with open(self.path("server.log"), "rb") as f:
                head = f.read(20000)
            with open(self.path("server.log.head"), "wb") as f:
                f.write(head)
            os.remove(self.path("server.log"))
        report(self)


def cmd_out(cmd, cwd=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def meta():
    lscpu = cmd_out(["lscpu"])
    model = re.search(r"Model name:\s*(.+)", lscpu)
    status = cmd_out(["git", "status", "--porcelain"], cwd=REPO)
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model.group(1) if model else "?",
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "git_rev": cmd_out(["git", "rev-parse", "--short", "HEAD"], cwd=REPO) + (" (+ uncommitted changes)" if status else ""),
        "rustc": cmd_out(["rustc", "--version"]),
        "wrk": (cmd_out(["sh", "-c", "wrk -v 2>&1 | head -1"]) or "?").split(" Copyright")[0],
        "keyless": cmd_out([KEYLESS, "--version"]) + ", binary built " + datetime.datetime.fromtimestamp(
            os.path.getmtime(KEYLESS), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "method": {"server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU, "wrk_threads": 1, "conns": CONNS,
                   "warmup_s": WARMUP, "duration_s": DURATION, "repeats": REPEATS},
    }


def median_run(runs):
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def report(b):
    res = b.results
    m = res["meta"]
    L = [f"# keyless load benchmark, {m['date_utc']}", "",
         f"- machine: {m['cpu_model']}, {m['nproc']} CPUs, kernel {m['kernel']}; load average at start "
         f"{' '.join(m['loadavg_at_start'])}",
         f"- versions: keyless {m['git_rev']} ({m['keyless']}), {m['rustc']}, {m['wrk']}",
         f"- method: server `taskset -c {SERVER_CPU}`, wrk `taskset -c {LOAD_CPU}` with 1 thread and keep-alive; "
         f"{WARMUP} s warm-up, then {REPEATS} x {DURATION} s per connection count; the median run (by req/s) is shown",
         f"- tokens: {res['tokens']['valid']} distinct valid + {res['tokens']['denied']} denied + "
         f"{res['tokens']['jwks_cold']} for the remote-JWKS provider, minted through the mint API in "
         f"{res['tokens']['mint_seconds']} s; token {res['tokens']['token_bytes']} B, request body "
         f"{res['tokens']['body_bytes']} B",
         *([f"- config appended for this run: `{'; '.join(res['config_append'].splitlines())}`"] if "config_append" in res else []),
         f"- server threads: at start {res['server_threads_at_start']}, at the end {res['server_threads_end']}",
         f"- server RSS: idle {res['server_rss_idle_kib'] / 1024:.1f} MiB, peak (VmHWM) "
         f"{res['server_peak_rss_kib'] / 1024:.1f} MiB",
         f"- server log: {res['server_log']['bytes_per_measured_request']} B per request at the default level; "
         f"audit metrics at the end: {res.get('audit_metrics', 'not exported')}",
         ""]
    if "jwks_cold" in res:
        j = res["jwks_cold"]
        L += [f"- remote JWKS: first exchange (cold cache, one loopback fetch) {j['first_request_ms']} ms; "
              f"the next 20: median {j['warm_median_ms']} ms, max {j['warm_max_ms']} ms", ""]
    L += ["| scenario | conns | req/s (median) | min-max req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | socket err | "
          "server CPU % | other load on CPU 0 % | server CPU us/req | wrk CPU % | other load on CPU 1 % | RSS after, MiB | valid |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = {}
    for r in res["runs"]:
        groups.setdefault((r["scenario"], r["conns"]), []).append(r)
    for (scen, conns), runs in groups.items():
        med = median_run(runs)
        rps = [r["rps"] for r in runs]
        non2xx = sum(r["non_2xx"] for r in runs)
        if scen == "mixed":
            non2xx = (f"{sum(r['denied_403'] for r in runs)} x 403 ({100 * med['denied_share']:.1f}%, "
                      f"expected {100 * med['expected_denied_share']:.1f}%), {sum(r['other_status'] for r in runs)} other")
        L.append(f"| {scen} | {conns} | {med['rps']:.0f} | {min(rps):.0f}-{max(rps):.0f} | {med['p50_ms']:.2f} | "
                 f"{med['p99_ms']:.2f} | {med['p999_ms']:.2f} | {non2xx} | {sum(r['socket_errors'] for r in runs)} | "
                 f"{med['server_cpu_pct']:.0f} | {med['others_on_server_cpu_pct']:.0f} | {med['server_cpu_us_per_req']:.0f} | {med['wrk_cpu_pct']:.0f} | "
                 f"{med['others_on_load_cpu_pct']:.0f} | {max(r['server_rss_kib'] for r in runs) / 1024:.1f} | "
                 f"{'yes' if all(r['valid'] for r in runs) else 'NO'} |")
    md = "\n".join(L) + "\n"
    with open(b.path("results.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(b.path("results.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"results: {b.path('results.md')} and results.json (raw wrk output and requests in {b.scratch})")


def main():
    if not os.access(KEYLESS, os.X_OK):
        sys.exit(f"{KEYLESS} is not built; run bench/run.sh")
    b = Bench()

    def on_signal(signum, frame):
        stop_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        b.run()
    finally:
        stop_all()
    invalid = [r for r in b.results["runs"] if not r["valid"]]
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
