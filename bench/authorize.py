#!/usr/bin/env python3
"""The authorization API under load: `keyless serve --dev` pinned to CPU 0, wrk (and nginx)
pinned to CPU 1. Started by `bench/run.sh authorize`. Every process it starts is stopped by its
PID. See bench/README.md.

Scenarios, all measured in one run against one server:

- `caller-identity`: `GetCallerIdentity` signed with a session's credentials, the baseline of a
  signed call (one SigV4 verification, one session token unsealed);
- `authorize`: `POST /keyless/authorize` signed by a gateway session allowed `keyless:Authorize`,
  forwarding a caller's request signed by botocore for `execute-api`, with an action and
  resource the caller's permission policy decides (two SigV4 verifications, two tokens
  unsealed, two permission decisions: the gateway's `keyless:Authorize` and the question);
- `nginx-alone`: nginx proxying to a static location of its own, no authorization;
- `nginx-auth`: the same through docs/authorize-nginx.conf: `auth_request` to keyless for
  every request, signed by botocore as `curl --aws-sigv4` would sign it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

# A short run at the connection count of the targets (p99 at 32 connections), unless asked.
os.environ.setdefault("BENCH_CONNS", "32")
os.environ.setdefault("BENCH_DURATION", "5")

import loadbench as lb  # noqa: E402
from loadbench import Client, request_line, signed  # noqa: E402

CALLER_ROLE = "api-caller"
GATEWAY_ROLE = "gateway"
TOKEN = "bench-authorizer-token-0123456789"
API = f"arn:aws:execute-api:us-east-1:{lb.ACCOUNT}:api"
REQUESTS = lb.env_int("BENCH_REQUESTS_PER_SCENARIO", 10000)
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "caller-identity authorize nginx-alone nginx-auth").split()


def trust(project):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{lb.ACCOUNT}:oidc-provider/gitlab.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"gitlab.com:sub": f"project_path:{project}:*"}}}]})


# A typical permission policy: a public prefix, a per-pipeline prefix by ${gitlab.com:sub}, and
# an explicit Deny.
INVOKE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Public", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/GET/public/*"},
    {"Sid": "Own", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/*/projects/${{gitlab.com:sub}}/*"},
    {"Sid": "NoAdmin", "Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{API}/*/admin/*"}]})
AUTHORIZE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "keyless:Authorize", "Resource": "*"}]})


class AuthorizeBench(lb.Bench):
    def write_config(self):
        cfg = f"""[authorize]
nginx_token = "{TOKEN}"

[[role]]
name = "{CALLER_ROLE}"
trust_policy = '''{trust("example/project")}'''
  [[role.policy]]
  name = "invoke"
  document = '''{INVOKE}'''

[[role]]
name = "{GATEWAY_ROLE}"
trust_policy = '''{trust("example/gateway")}'''
  [[role.policy]]
  name = "authorize"
  document = '''{AUTHORIZE}'''
"""
        with open(self.path("keyless.toml"), "w") as f:
            f.write(cfg)

    def role_sessions(self, role, project, n):
        tokens = self.mint_many([("gitlab", {"project_path": project, "ref": "main", "aud": [lb.AUDIENCE],
                                             "claims": {"job_id": str(8000000 + i)}}) for i in range(n)])
        client = Client(self.port)
        out = []
        for t in tokens:
            status, body = client.send("POST", "/", lb.sts_body(f"arn:aws:iam::{lb.ACCOUNT}:role/{role}", t), lb.FORM)
            if status != 200:
                raise RuntimeError(f"AssumeRoleWithWebIdentity failed: {status} {body[:300]!r}")
            text = body.decode()
            get = lambda tag: re.search(f"<{tag}>([^<]+)</{tag}>", text).group(1)
            out.append(lb.Credentials(get("AccessKeyId"), get("SecretAccessKey"), get("SessionToken")))
        return out

    def authorize_lines(self, callers, gateways):
        url = self.base + "/keyless/authorize"

        def build(i, caller, when):
            target = f"https://api.internal.example/public/items/{i}?view=full"
            forwarded = signed("GET", target, "", {}, caller, "execute-api", when)
            body = json.dumps({"method": "GET", "url": target, "headers": forwarded, "service": "execute-api",
                               "action": "execute-api:Invoke", "resource": f"{API}/GET/public/items/{i}"},
                              separators=(",", ":"))
            gateway = gateways[i % len(gateways)]
            headers = signed("POST", url, body, {"Content-Type": "application/json"}, gateway, "keyless", when)
            return request_line("POST", "/keyless/authorize", body, headers)
        return self.signed_lines(build, REQUESTS, callers)

    def caller_identity(self, callers):
        url = self.base + "/"
        body = "Action=GetCallerIdentity&Version=2011-06-15"

        def build(i, c, when):
            return request_line("POST", "/", body, signed("POST", url, body, dict(lb.FORM), c, "sts", when))
        return self.signed_lines(build, REQUESTS, callers)

    def nginx_lines(self, callers, port):
        base = f"http://127.0.0.1:{port}"

        def build(i, caller, when):
            path = f"/public/items/{i}"
            return request_line("GET", path, "", signed("GET", base + path, "", {}, caller, "execute-api", when))
        return self.signed_lines(build, REQUESTS, callers)

    def start_nginx(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        d = self.path("nginx")
        os.makedirs(d)
        self.nginx_auth_port, self.nginx_alone_port, static = lb.free_port(), lb.free_port(), lb.free_port()
        site = open(os.path.join(lb.REPO, "docs", "authorize-nginx.conf")).read()
        for marker, value in {"@KEYLESS@": f"127.0.0.1:{self.port}", "@UPSTREAM@": f"127.0.0.1:{static}",
                              "@LISTEN@": f"127.0.0.1:{self.nginx_auth_port}", "@ACCOUNT@": lb.ACCOUNT,
                              "@TOKEN@": TOKEN}.items():
            site = site.replace(marker, value)
        site += f"""
server {{
    listen 127.0.0.1:{static};
    access_log off;
    location / {{ return 200 "ok\\n"; }}
}}

server {{
    listen 127.0.0.1:{self.nginx_alone_port};
    location / {{ proxy_pass http://protected; }}
}}
"""
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(f"    {k}_temp_path {d}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(d, "site.conf"), "w") as f:
            f.write(site)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    include {d}/site.conf;
}}
""")
        cmd = ["taskset", "-c", lb.LOAD_CPU, nginx, "-p", d, "-c", os.path.join(d, "nginx.conf"),
               "-e", os.path.join(d, "error.log")]
        lb.log("start: " + " ".join(cmd))
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        lb.STARTED.append(p)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                Client(self.nginx_alone_port).send("GET", "/", None, {})
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def on_port(self, port, fn):
        base = self.base
        self.base = f"http://127.0.0.1:{port}"
        try:
            fn()
        finally:
            self.base = base

    def run(self):
        self.results["meta"] = lb.meta()
        self.write_config()
        self.start_server()
        callers = self.role_sessions(CALLER_ROLE, "example/project", 100)
        gateways = self.role_sessions(GATEWAY_ROLE, "example/gateway", 10)
        self.results["tokens"] = {"valid": len(callers), "denied": 0, "jwks_cold": 0, "mint_seconds": 0,
                                  "token_bytes": 0, "body_bytes": 0}
        all_ok = lambda r: {"valid": r["non_2xx"] == 0 and r["socket_errors"] == 0}
        if "caller-identity" in SCENARIOS:
            lines = self.caller_identity(callers)
            self.check_request(lines[0], 200, "assumed-role/api-caller/")
            self.scenario("caller-identity", self.write_requests("caller-identity", lines), all_ok)
        if "authorize" in SCENARIOS:
            lines = self.authorize_lines(callers, gateways)
            self.check_request(lines[0], 200, '"allowed":true')
            self.results["authorize_body_bytes"] = len(lines[0].split("\t")[2])
            self.scenario("authorize", self.write_requests("authorize", lines), all_ok)
        if "nginx-alone" in SCENARIOS or "nginx-auth" in SCENARIOS:
            self.start_nginx()
        if "nginx-alone" in SCENARIOS:
            lines = self.nginx_lines(callers, self.nginx_alone_port)
            self.on_port(self.nginx_alone_port, lambda: self.scenario(
                "nginx-alone", self.write_requests("nginx-alone", lines), all_ok))
        if "nginx-auth" in SCENARIOS:
            lines = self.nginx_lines(callers, self.nginx_auth_port)
            status, out = Client(self.nginx_auth_port).send(*self.parsed(lines[0]))
            if status != 200:
                raise RuntimeError(f"nginx-auth check failed: {status} {out[:300]!r}")
            self.on_port(self.nginx_auth_port, lambda: self.scenario(
                "nginx-auth", self.write_requests("nginx-auth", lines), all_ok))
        self.results["server_peak_rss_kib"] = lb.proc_status(self.pid, "VmHWM")
        self.results["server_rss_end_kib"] = lb.proc_status(self.pid, "VmRSS")
        self.results["server_threads_end"] = lb.thread_names(self.pid)
        lb.stop_all()
        self.server_log.close()
        self.results["server_log"] = {"bytes": os.path.getsize(self.path("server.log")),
                                      "bytes_per_measured_request": 0}
        lb.report(self)
        self.ratios()

    @staticmethod
    def parsed(line):
        method, path, body, *hdrs = line.rstrip("\n").split("\t")
        return method, path, body or None, dict(h.split(": ", 1) for h in hdrs)

    def ratios(self):
        med = {}
        for r in self.results["runs"]:
            med.setdefault((r["scenario"], r["conns"]), []).append(r)
        for (scen, conns), runs in list(med.items()):
            med[(scen, conns)] = lb.median_run(runs)
        lines = []
        for conns in lb.CONNS:
            a, g = med.get(("authorize", conns)), med.get(("caller-identity", conns))
            if a and g:
                lines.append(f"c={conns}: authorize {a['rps']:.0f} req/s = {a['rps'] / g['rps']:.2f} x "
                             f"GetCallerIdentity ({g['rps']:.0f}); p99 {a['p99_ms']:.2f} ms; "
                             f"server CPU {a['server_cpu_us_per_req']:.0f} us/req vs {g['server_cpu_us_per_req']:.0f}")
            n, x = med.get(("nginx-auth", conns)), med.get(("nginx-alone", conns))
            if n and x:
                lines.append(f"c={conns}: nginx+auth_request p50 {n['p50_ms']:.2f} ms vs nginx alone "
                             f"{x['p50_ms']:.2f} ms: +{n['p50_ms'] - x['p50_ms']:.2f} ms; "
                             f"{n['rps']:.0f} vs {x['rps']:.0f} req/s")
        text = "\n".join(lines) + "\n"
        with open(self.path("ratios.txt"), "w") as f:
            f.write(text)
        print(text)


def main():
    if not os.access(lb.KEYLESS, os.X_OK):
        sys.exit(f"{lb.KEYLESS} is not built; run bench/run.sh authorize")
    b = AuthorizeBench()
    try:
        b.run()
    finally:
        lb.stop_all()


if __name__ == "__main__":
    main()
