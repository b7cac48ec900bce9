"""Hostile connections, native TLS, and a port that answers only once the server is ready."""

import os
import resource
import selectors
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import ROLE_ARN, Server, aws_env, free_port, issue, keyless_binary, make_ca

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})

TIMEOUTS = """
[server]
header_read_timeout_secs = 2
idle_timeout_secs = 4
body_read_timeout_secs = 2
min_body_rate = 1024
"""


def low_fd_limit():
    """Runs in the server's process before exec: the common 1,024-descriptor limit, hard too."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def raise_own_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        pytest.skip(f"this process cannot open {want} sockets (hard limit {hard})")


class LimitedServer(Server):
    """A server started with a hard limit of 1,024 open files."""

    def start_on(self, port):
        self.port = port
        self.log = open(self.data_dir.parent / f"server-{port}.log", "w+")
        env = dict(os.environ, KEYLESS_LOG="info", **self.env)
        self.proc = subprocess.Popen(
            [keyless_binary(), "serve", "--data-dir", str(self.data_dir),
             "--listen", f"127.0.0.1:{port}", *self.args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, preexec_fn=low_fd_limit,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keyless exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"keyless did not start:\n{self.output()}")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s


def healthz(server):
    with urllib.request.urlopen(server.url + "/healthz", timeout=3) as r:
        return r.status


def exchange(server):
    token = server.mint("--project-path", "example/project", "--ref", "main")
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                       aws_access_key_id="x", aws_secret_access_key="x")
    return sts.assume_role_with_web_identity(
        RoleArn=ROLE_ARN, RoleSessionName="under-attack", WebIdentityToken=token)["Credentials"]


def caller_identity(server, creds):
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY,
                       aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    return sts.get_caller_identity()["Arn"]


class Watcher(threading.Thread):
    """Watches hostile connections: when each one closes, and one more byte of every open
    slow header once a second."""

    HEADER = b"OST / HTTP/1.1\r\nHost: x\r\n"

    def __init__(self, hostile):
        super().__init__(daemon=True)
        self.hostile = hostile
        self.closed = {}
        self.selector = selectors.DefaultSelector()
        for s in hostile:
            self.selector.register(s, selectors.EVENT_READ)

    def run(self):
        sent = 0
        deadline = time.monotonic() + 20
        last_trickle = time.monotonic()
        while len(self.closed) < len(self.hostile) and time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=0.1):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if data:
                    continue  # a refused body gets its answer before the connection closes
                self.closed[s] = time.monotonic() - self.hostile[s][1]
                self.selector.unregister(s)
            if time.monotonic() - last_trickle >= 1:
                last_trickle = time.monotonic()
                for s, (kind, _) in self.hostile.items():
                    if kind == "slow-header" and s not in self.closed and sent < len(self.HEADER):
                        try:
                            s.send(self.HEADER[sent:sent + 1])
                        except OSError:
                            pass
                sent += 1


def test_hostile_connections_do_not_lock_callers_out(tmp_path):
    raise_own_fd_limit(2600)
    cfg = tmp_path / "keyless.toml"
    cfg.write_text(TIMEOUTS)
    server = LimitedServer(tmp_path / "data", ["--dev", "--config", str(cfg)]).start()
    hostile = {}  # socket -> (kind, opened at)
    try:
        creds = exchange(server)
        for i in range(2000):
            s = connect(server.port)
            kind = ("silent", "slow-header", "stalled-body")[i % 3]
            if kind == "stalled-body":
                s.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       b"Content-Length: 200000\r\n\r\n" + b"A" * 1024)
            elif kind == "slow-header":
                s.send(b"P")
            hostile[s] = (kind, time.monotonic())
        watcher = Watcher(hostile)
        watcher.start()

        # While the flood holds every slot it can, callers are still served.
        for _ in range(10):
            assert healthz(server) == 200
        assert caller_identity(server, creds).endswith("/under-attack")
        creds = exchange(server)
        assert caller_identity(server, creds).endswith("/under-attack")

        # The hostile connections close within their timeouts: 2 s for a head, 2 s plus the
        # 1 KiB received at 1 KiB/s for the stalled body (or earlier, to make room).
        watcher.join(timeout=30)
        still_open = [hostile[s][0] for s in hostile if s not in watcher.closed]
        assert not still_open, f"{len(still_open)} hostile connections still open: {set(still_open)}"
        by_kind = {}
        for s, seconds in watcher.closed.items():
            by_kind.setdefault(hostile[s][0], []).append(seconds)
        slack = 2.0
        assert max(by_kind["silent"]) < 2 + slack, sorted(by_kind["silent"])[-5:]
        assert max(by_kind["slow-header"]) < 2 + slack, sorted(by_kind["slow-header"])[-5:]
        assert max(by_kind["stalled-body"]) < 3 + slack, sorted(by_kind["stalled-body"])[-5:]
        assert server.proc.poll() is None, "the server is still running"
        assert healthz(server) == 200
        # The cap stays below the descriptor limit, with room for what closes to make room.
        assert "Too many open files" not in server.output()
    finally:
        for s in hostile:
            s.close()
        server.stop()


def test_idle_keep_alive_and_oversized_bodies_are_closed(tmp_path):
    cfg = tmp_path / "keyless.toml"
    cfg.write_text(TIMEOUTS)
    server = Server(tmp_path / "data", ["--dev", "--config", str(cfg)]).start()
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert s.recv(4096) == b"", "an idle keep-alive connection is closed"
        assert 3 < time.monotonic() - started < 4 + 2
        s.close()

        # A body announced larger than the limit is refused before it is read.
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 10737418240\r\n\r\n" + b"A" * 1024)
        started = time.monotonic()
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"<Code>RequestEntityTooLarge</Code>" in answer
        assert time.monotonic() - started < 2
        s.close()
    finally:
        server.stop()


def test_the_port_opens_only_when_the_server_is_ready(tmp_path):
    """`keyless serve &`, wait for the port, mint a token at once: never a failure."""
    for i in range(50):
        data = tmp_path / f"data-{i}"
        port = free_port()
        proc = subprocess.Popen(
            [keyless_binary(), "serve", "--dev", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.time() < deadline, "the port never opened"
                    assert proc.poll() is None, "keyless serve exited"
                    time.sleep(0.01)
            minted = subprocess.run(
                [keyless_binary(), "token", "mint", "--data-dir", str(data), "--issuer", "gitlab",
                 "--project-path", "example/project", "--ref", "main"],
                capture_output=True, text=True,
            )
            assert minted.returncode == 0, f"attempt {i}: {minted.stderr}"
            assert minted.stdout.count(".") == 2
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def served_serial(port, ca_file):
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() in (None, "http/1.1")
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def test_native_tls_with_the_stock_cli_and_certificate_rotation(tmp_path):
    ca_key, ca_cert = make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    first = issue(ca_key, ca_cert, tmp_path)
    cfg = tmp_path / "keyless.toml"
    cfg.write_text('''
[server]
tls_cert = "server.pem"
tls_key = "server.key"

[[role]]
name = "secure-only"
trust_policy = """
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"gitlab.com:sub": "project_path:example/project:*"}}}]}
"""
  [[role.policy]]
  name = "over-tls"
  document = """
  {"Version": "2012-10-17",
   "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
                  "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
  """
''')
    port = free_port()
    server = Server(tmp_path / "data", ["--dev", "--config", str(cfg)])
    server.port = port
    server.log = open(tmp_path / "server.log", "w+")
    server.proc = subprocess.Popen(
        [keyless_binary(), "serve", "--dev", "--config", str(cfg), "--data-dir", str(server.data_dir),
         "--listen", f"127.0.0.1:{port}"],
        stdout=server.log, stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                assert served_serial(port, ca_file) == first
                break
            except (OSError, ssl.SSLError):
                assert time.time() < deadline, server.output()
                time.sleep(0.1)
        token = tmp_path / "token"
        token.write_text(server.mint("--project-path", "example/project", "--ref", "main"))
        home = tmp_path / "home"
        (home / ".aws").mkdir(parents=True)
        env = aws_env(server, home, AWS_ENDPOINT_URL=url, AWS_CA_BUNDLE=str(ca_file),
                      AWS_ROLE_ARN="arn:aws:iam::000000000000:role/secure-only",
                      AWS_WEB_IDENTITY_TOKEN_FILE=str(token))
        who = subprocess.run(["aws", "sts", "get-caller-identity", "--output", "text", "--query", "Arn"],
                             capture_output=True, text=True, env=env)
        assert who.returncode == 0, who.stderr
        assert who.stdout.strip().startswith("arn:aws:sts::000000000000:assumed-role/secure-only/")
        # aws:SecureTransport is true on a TLS connection.
        roles = subprocess.run(["aws", "iam", "list-roles", "--query", "Roles[].RoleName", "--output", "text"],
                               capture_output=True, text=True, env=env)
        assert roles.returncode == 0, roles.stderr
        assert "secure-only" in roles.stdout

        second = issue(ca_key, ca_cert, tmp_path)
        deadline = time.time() + 10
        while served_serial(port, ca_file) != second:
            assert time.time() < deadline, "the new certificate was not picked up"
            time.sleep(0.2)
        who = subprocess.run(["aws", "sts", "get-caller-identity"], capture_output=True, text=True, env=env)
        assert who.returncode == 0, who.stderr
    finally:
        server.stop()
