"""`keyless explain`: each kind of mistake produces a report naming it."""

import json
import subprocess
import textwrap

import pytest

from conftest import ROLE_ARN, Server, keyless_binary

CONFIG = textwrap.dedent('''
    [[role]]
    name = "protected-only"
    trust_policy = """
    {"Version": "2012-10-17", "Statement": [{"Sid": "ProtectedMain", "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {"StringEquals": {"gitlab.com:aud": "https://gitlab.com", "gitlab.com:ref_protected": "true"},
                    "StringLike": {"gitlab.com:sub": "project_path:example/project:*"}}}]}
    """

    [[role]]
    name = "typo"
    trust_policy = """
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/gitlab.com"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {"StringLike": {"gitlab.co:sub": "project_path:example/project:*"}}}]}
    """
''')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    cfg = root / "keyless.toml"
    cfg.write_text(CONFIG)
    s = Server(root / "data", ["--dev", "--config", str(cfg)]).start()
    yield s
    s.stop()


def explain(server, tmp_path, token=None, claims=None, roles=(ROLE_ARN,), fmt="json", all_roles=False):
    args = [keyless_binary(), "explain", "--data-dir", str(server.data_dir), "--format", fmt]
    if token is not None:
        (tmp_path / "token").write_text(token + "\n")
        args += ["--token", str(tmp_path / "token")]
    if claims is not None:
        (tmp_path / "claims.json").write_text(json.dumps(claims))
        args += ["--claims", str(tmp_path / "claims.json")]
    if all_roles:
        args.append("--all-roles")
    else:
        for r in roles:
            args += ["--role", r]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, (json.loads(p.stdout) if fmt == "json" else p.stdout)


def failing_step(report):
    return next(s for s in report["steps"] if s["status"] == "fail")


def test_a_good_token_passes_every_step(server, tmp_path):
    rc, report = explain(server, tmp_path, token=server.mint("--project-path", "example/project", "--ref", "main"))
    assert rc == 0
    assert [s["status"] for s in report["steps"]] == ["pass"] * 5
    assert report["roles"][0]["allowed"] is True


def test_wrong_audience(server, tmp_path):
    rc, report = explain(server, tmp_path, token=server.mint("--project-path", "example/project", "--ref", "main",
                                                             "--aud", "https://wrong.example"))
    assert rc == 1
    step = failing_step(report)
    assert step["name"] == "audience"
    assert "Incorrect token audience" in step["detail"] and "https://wrong.example" in step["detail"]


def test_wrong_project_shows_the_near_miss(server, tmp_path):
    rc, report = explain(server, tmp_path, token=server.mint("--project-path", "example/other", "--ref", "main"))
    assert rc == 1
    verdict = report["roles"][0]
    assert verdict["allowed"] is False
    assert "gitlab.com:sub" in verdict["reason"]
    assert "project_path:example/project:*" in verdict["reason"]
    assert "project_path:example/other:ref_type:branch:ref:main" in verdict["reason"]


def test_unprotected_ref(server, tmp_path):
    rc, report = explain(server, tmp_path, token=server.mint("--project-path", "example/project", "--ref", "feature-x"),
                         roles=["arn:aws:iam::000000000000:role/protected-only"])
    assert rc == 1
    reason = report["roles"][0]["reason"]
    assert "ProtectedMain" in reason and "gitlab.com:ref_protected" in reason and "false" in reason


def test_typo_in_the_key_prefix_is_shown_as_a_missing_key(server, tmp_path):
    rc, text = explain(server, tmp_path, token=server.mint("--project-path", "example/project", "--ref", "main"),
                       roles=["arn:aws:iam::000000000000:role/typo"], fmt="text")
    assert rc == 1
    assert "gitlab.co:sub" in text and "no gitlab.co:sub key" in text


def test_expired_token(server, tmp_path):
    rc, report = explain(server, tmp_path, token=server.mint("--project-path", "example/project", "--ref", "main",
                                                             "--claim", "exp:=1700000000"))
    assert rc == 1
    step = failing_step(report)
    assert step["name"] == "times" and "ExpiredTokenException" in step["detail"]


def test_claims_mode_skips_signature_and_times_and_lists_roles(server, tmp_path):
    claims = {"iss": "https://gitlab.com", "aud": "https://gitlab.com", "ref_protected": "true",
              "sub": "project_path:example/project:ref_type:branch:ref:main"}
    rc, report = explain(server, tmp_path, claims=claims, all_roles=True)
    statuses = {s["name"]: s["status"] for s in report["steps"]}
    assert statuses["signature"] == "skipped" and statuses["times"] == "skipped"
    assert "skipped" in report["steps"][0]["detail"]
    verdicts = {r["role_arn"]: r["allowed"] for r in report["roles"]}
    assert verdicts == {
        "arn:aws:iam::000000000000:role/gitlab-deployer": True,
        "arn:aws:iam::000000000000:role/protected-only": True,
        "arn:aws:iam::000000000000:role/typo": False,
    }

    rc, report = explain(server, tmp_path, claims=dict(claims, iss="https://gitlab.com/"))
    step = failing_step(report)
    assert step["name"] == "provider" and "trailing slash" in step["detail"]


def test_explain_against_a_running_server(server, tmp_path):
    import os
    (tmp_path / "token").write_text(server.mint("--project-path", "example/other", "--ref", "main"))
    env = dict(os.environ, **server.admin_env())
    p = subprocess.run([keyless_binary(), "explain", "--server", server.url, "--role", ROLE_ARN,
                        "--token", str(tmp_path / "token"), "--format", "json"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 1, p.stderr
    report = json.loads(p.stdout)
    assert [s["status"] for s in report["steps"]] == ["pass"] * 5
    assert "project_path:example/other" in report["roles"][0]["reason"]

    env["AWS_SECRET_ACCESS_KEY"] = "wrong" * 8
    p = subprocess.run([keyless_binary(), "explain", "--server", server.url, "--role", ROLE_ARN,
                        "--token", str(tmp_path / "token")], capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode != 0 and "SignatureDoesNotMatch" in p.stderr
