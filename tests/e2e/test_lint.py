"""`keyless lint` on the seed blog's policy, on a config file, and as SARIF."""

import json
import subprocess

from conftest import keyless_binary

SEED_BLOG = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"gitlab.com:sub": "project_path:mygroup*"}},
    }],
}


def lint(*args):
    return subprocess.run([keyless_binary(), "lint", *args], capture_output=True, text=True, timeout=30)


def test_seed_blog_policy_is_flagged_with_a_verified_counter_example(tmp_path):
    f = tmp_path / "trust.json"
    f.write_text(json.dumps(SEED_BLOG, indent=2))
    p = lint(str(f), "--format", "json")
    assert p.returncode == 1, p.stderr
    findings = json.loads(p.stdout)["files"][0]["findings"]
    prefix = next(x for x in findings if x["rule"] == "OIDC-UNTERMINATED-PREFIX")
    assert prefix["severity"] == "high"
    assert prefix["pointer"].startswith("/Statement/0/Condition/StringLike/gitlab.com:sub")
    example = prefix["counterExample"]
    assert example["verified"] is True
    assert example["claims"]["sub"].startswith("project_path:mygroup-")

    p = lint(str(f), "--fail-on", "critical")
    assert p.returncode == 0, p.stdout
    assert "OIDC-UNTERMINATED-PREFIX" in p.stdout


def test_sarif_and_config_files(tmp_path):
    cfg = tmp_path / "keyless.toml"
    cfg.write_text('[[role]]\nname = "open"\ntrust_policy = \'\'\'' + json.dumps(SEED_BLOG) + '\'\'\'\n')
    p = lint(str(cfg), "--format", "sarif")
    assert p.returncode == 1
    sarif = json.loads(p.stdout)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"] == "OIDC-UNTERMINATED-PREFIX" and r["level"] == "error" for r in results)
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("keyless.toml")

    good = dict(SEED_BLOG)
    good["Statement"] = [dict(SEED_BLOG["Statement"][0], Condition={
        "StringEquals": {"gitlab.com:aud": "https://gitlab.com", "gitlab.com:ref_protected": "true",
                         "gitlab.com:sub": "project_path:mygroup/app:ref_type:branch:ref:main"}})]
    g = tmp_path / "good.json"
    g.write_text(json.dumps(good))
    assert lint(str(g)).returncode == 0
