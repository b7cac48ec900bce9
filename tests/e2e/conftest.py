"""Fixtures that run a real `keyless serve` and drive it with real AWS clients."""

import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "000000000000"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/gitlab-deployer"


def keyless_binary() -> str:
    path = os.environ.get("KEYLESS_BIN") or str(ROOT / "target" / "debug" / "keyless")
    if not Path(path).exists():
        raise RuntimeError(f"{path} does not exist: build it first (cargo build -p keyless)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `keyless serve` on a free loopback port."""

    def __init__(self, data_dir: Path, args=(), env=None):
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.env = env or {}
        self.proc = None
        self.port = None
        self.log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        return self.start_on(free_port())

    def start_on(self, port: int):
        self.port = port
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "w+")
        env = dict(os.environ, KEYLESS_LOG="info", **self.env)
        self.proc = subprocess.Popen(
            [keyless_binary(), "serve", "--data-dir", str(self.data_dir),
             "--listen", f"127.0.0.1:{self.port}", *self.args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
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

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def admin_env(self) -> dict:
        return self.admin_env_with({}, None)

    def admin_env_with(self, env: dict, database) -> dict:
        args = [keyless_binary(), "admin", "credentials", "--data-dir", str(self.data_dir)]
        if database:
            args += ["--database", database]
        out = subprocess.run(
            args, check=True, capture_output=True, text=True, env=dict(os.environ, **env),
        ).stdout
        env = {}
        for line in out.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        return env

    def mint(self, *args) -> str:
        """`keyless token mint` against this server's data dir."""
        out = subprocess.run(
            [keyless_binary(), "token", "mint", "--data-dir", str(self.data_dir), *args],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("dev") / "data", ["--dev"]).start()
    yield server
    server.stop()


@pytest.fixture
def scratch(tmp_path):
    return tmp_path


def aws_env(server: Server, home: Path, **extra) -> dict:
    """An environment for the stock `aws` CLI pointed at `server`, with no ambient credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(home),
        AWS_ENDPOINT_URL=server.url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / ".aws" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="1",
    )
    env.update(extra)
    return env


def aws(env: dict, *args):
    """Runs the stock `aws` CLI; returns (exit code, stdout, stderr)."""
    exe = shutil.which("aws") or str(ROOT / ".venv" / "bin" / "aws")
    p = subprocess.run([exe, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write_token(home: Path, token: str, newline: bool = True) -> Path:
    path = home / "web_identity_token"
    path.write_text(token + ("\n" if newline else ""))
    return path


def json_out(stdout: str) -> dict:
    return json.loads(stdout)


def make_ca():
    """A throwaway CA: its key and certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyless test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert, directory):
    """A server certificate for 127.0.0.1 and localhost from the CA, written as `server.pem`
    and `server.key` in `directory`; returns its serial number."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    serial = x509.random_serial_number()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    # Written beside and renamed into place, as certificate tooling does.
    for name, data in (("server.key", key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())),
                       ("server.pem", cert.public_bytes(serialization.Encoding.PEM))):
        tmp = directory / (name + ".new")
        tmp.write_bytes(data)
        os.replace(tmp, directory / name)
    return serial
