#!/usr/bin/env python3
"""The S3 gateway against its backend, in the same run: a real SeaweedFS, `keyless serve --dev`
in front of it, and the same load sent to both.

- 4 KiB GET and PUT: `wrk` replaying presigned URLs (SigV4, `UNSIGNED-PAYLOAD`), signed with a
  keyless session for the gateway and with the backend key for SeaweedFS directly.
- The gateway's CPU per small request: its user + system time over a GET run, per request,
  beside the same process's CPU for a presigned `GetCallerIdentity` (the machine's yardstick).
- 1 GiB upload and download with boto3's transfer manager (same settings both ways).

The gateway runs on one core (`taskset -c $BENCH_GATEWAY_CPU`, default 0); SeaweedFS, wrk and
boto3 share the other (`BENCH_LOAD_CPU`, default 1) in the direct and the gateway runs alike,
so that the backend and the load are the same both ways and the gateway's own cost shows.
With BENCH_PROFILE=perf, the gateway's GET runs are sampled with `perf record` into the scratch
folder.

Started by bench/s3gateway.sh. Every process it starts is stopped by its PID.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("KEYLESS_BIN", os.path.join(os.path.dirname(HERE), "target", "release", "keyless"))
WEED = os.environ.get("WEED_BIN") or shutil.which("weed")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
GATEWAY_CPU = os.environ.get("BENCH_GATEWAY_CPU", "0")
LOAD_CPU = int(os.environ.get("BENCH_LOAD_CPU", "1"))
PROFILE = os.environ.get("BENCH_PROFILE", "")
BACKEND_KEY, BACKEND_SECRET = "GATEWAYBACKENDKEY000", "gateway-backend-secret-change-me"
KEY = "example/project/bench-4k"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} never opened")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(url, key, secret, token=None):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


def wrk(scratch, name, url, lines):
    requests = os.path.join(scratch, f"{name}.requests")
    with open(requests, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(scratch, f"{name}.json")
    env = dict(os.environ, BENCH_REQUESTS=requests, BENCH_JSON=out)
    env["BENCH_CLASSIFY"] = "1"
    subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "5s",
                    "-s", os.path.join(HERE, "rotate.lua"), url],
                   env=env, check=True, capture_output=True)
    with open(out) as f:
        return json.load(f)


def main():
    scratch = tempfile.mkdtemp(prefix="keyless-s3bench-")
    procs = []
    # This process, and so SeaweedFS and wrk, on the load CPU; the gateway on its own.
    os.sched_setaffinity(0, {LOAD_CPU})
    try:
        ids = os.path.join(scratch, "identities.json")
        with open(ids, "w") as f:
            json.dump({"identities": [{"name": "gateway", "credentials": [
                {"accessKey": BACKEND_KEY, "secretKey": BACKEND_SECRET}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        os.mkdir(os.path.join(scratch, "weed"))
        s3_port = free_port()
        weed = subprocess.Popen(
            [WEED, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={scratch}/weed",
             "-master.telemetry=false", "-master.volumeSizeLimitMB=1024", "-volume.max=8",
             f"-master.port={free_port()}", f"-master.port.grpc={free_port()}",
             f"-volume.port={free_port()}", f"-volume.port.grpc={free_port()}",
             f"-filer.port={free_port()}", f"-filer.port.grpc={free_port()}",
             "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={free_port()}", "-s3.port.iceberg=0",
             "-s3.port.lance=0", f"-s3.config={ids}", "-s3.iam=false", f"-iam.port={free_port()}",
             f"-debug.port={free_port()}"],
            stdout=open(os.path.join(scratch, "weed.log"), "w"), stderr=subprocess.STDOUT, cwd=scratch)
        procs.append(weed)
        direct_url = f"http://127.0.0.1:{s3_port}"
        wait_port(s3_port)
        direct = client(direct_url, BACKEND_KEY, BACKEND_SECRET)
        for _ in range(120):
            try:
                direct.create_bucket(Bucket="artifacts")
                break
            except Exception:
                time.sleep(0.5)

        sts_port, gw_port = free_port(), free_port()
        keyless = subprocess.Popen(
            ["taskset", "-c", GATEWAY_CPU, BIN, "serve", "--dev", "--data-dir", f"{scratch}/data", "--listen", f"127.0.0.1:{sts_port}",
             "--s3-backend-url", direct_url, "--s3-gateway-listen", f"127.0.0.1:{gw_port}"],
            env=dict(os.environ, KEYLESS_S3_BACKEND_ACCESS_KEY_ID=BACKEND_KEY,
                     KEYLESS_S3_BACKEND_SECRET_ACCESS_KEY=BACKEND_SECRET, KEYLESS_LOG="warn"),
            stdout=open(os.path.join(scratch, "keyless.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(keyless)
        wait_port(sts_port)
        wait_port(gw_port)
        token = subprocess.run([BIN, "token", "mint", "--data-dir", f"{scratch}/data", "--issuer", "gitlab",
                                "--project-path", "example/project", "--ref", "main"],
                               check=True, capture_output=True, text=True).stdout.strip()
        sts = boto3.client("sts", endpoint_url=f"http://127.0.0.1:{sts_port}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        creds = sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::000000000000:role/gitlab-deployer", RoleSessionName="bench",
            WebIdentityToken=token, DurationSeconds=3600)["Credentials"]
        gateway_url = f"http://127.0.0.1:{gw_port}"
        gateway = client(gateway_url, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

        body = "a" * 4096
        direct.put_object(Bucket="artifacts", Key=KEY, Body=body.encode())

        def presigned(c, method):
            op = "get_object" if method == "GET" else "put_object"
            url = c.generate_presigned_url(op, Params={"Bucket": "artifacts", "Key": KEY}, ExpiresIn=3600)
            path = url.split("/", 3)[3]
            return f"{method}\t/{path}\t{body if method == 'PUT' else ''}"

        # The machine's yardstick in the same run: a presigned GetCallerIdentity against the
        # STS of the same process (one SigV4 verification, one session token), whose CPU per
        # request the gateway's is compared with.
        session_sts = boto3.client("sts", endpoint_url=f"http://127.0.0.1:{sts_port}", region_name="us-east-1",
                                   aws_access_key_id=creds["AccessKeyId"],
                                   aws_secret_access_key=creds["SecretAccessKey"],
                                   aws_session_token=creds["SessionToken"])
        identity_url = session_sts.generate_presigned_url("get_caller_identity", ExpiresIn=3600, HttpMethod="GET")
        identity_line = f"GET\t/{identity_url.split('/', 3)[3]}\t"

        results = {}

        def measure(key, run, url, line, profile=None):
            before = cpu_seconds(keyless.pid)
            perf = None
            if profile:
                perf = subprocess.Popen(
                    ["perf", "record", "-q", "-F", "999", "-g", "-p", str(keyless.pid),
                     "-o", os.path.join(scratch, profile)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            summary = wrk(scratch, run, url, [line])
            if perf:
                perf.send_signal(2)
                perf.wait(timeout=60)
            used = cpu_seconds(keyless.pid) - before
            if set(summary["statuses"]) != {"200"}:
                raise RuntimeError(f"{run}: answers other than 200: {summary['statuses']}")
            requests = summary["requests"]
            results.setdefault(key, []).append({
                "rps": requests / (summary["duration_us"] / 1e6), "errors": sum(summary["errors"].values()),
                "statuses": summary["statuses"], "p50_us": summary["latency_us"]["p50"],
                "keyless_cpu_us_per_request": used / max(requests, 1) * 1e6})

        for round_ in range(2):
            measure("sts GetCallerIdentity", f"sts-GetCallerIdentity-{round_}",
                    f"http://127.0.0.1:{sts_port}", identity_line)
            for name, c, url in [("direct", direct, direct_url), ("gateway", gateway, gateway_url)]:
                for method in ["GET", "PUT"]:
                    profile = None
                    if PROFILE == "perf" and name == "gateway" and method == "GET":
                        profile = f"perf.gateway-GET-{round_}.data"
                    measure(f"{name} {method}", f"{name}-{method}-{round_}", url, presigned(c, method), profile)

        transfers = {}
        big = os.path.join(scratch, "1g.bin")
        if os.environ.get("BENCH_BIG", "1") == "0":
            big = None
        if big:
            with open(big, "wb") as f:
                block = os.urandom(1 << 20)
                for _ in range(1024):
                    f.write(block)
        for name, c in ([("direct", direct), ("gateway", gateway)] if big else []):
            start = time.time()
            c.upload_file(big, "artifacts", "example/project/1g.bin")
            up = time.time() - start
            start = time.time()
            c.download_file("artifacts", "example/project/1g.bin", big + ".back")
            down = time.time() - start
            os.unlink(big + ".back")
            transfers[name] = {"upload_mib_s": 1024 / up, "download_mib_s": 1024 / down}

        print(json.dumps({"small": results, "transfers": transfers}, indent=2))
        with open(os.path.join(scratch, "results.json"), "w") as f:
            json.dump({"small": results, "transfers": transfers}, f, indent=2)
        print(f"results in {scratch}/results.json", file=sys.stderr)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
