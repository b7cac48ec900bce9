"""The seed's pipeline with the stock `aws` CLI against `keyless serve --dev`."""

import configparser

from conftest import ROLE_ARN, aws, aws_env, json_out, write_token


def profile_env(server, home, token_path):
    """The .gitlab-ci.yml setup: a profile with role_arn and web_identity_token_file."""
    (home / ".aws").mkdir(exist_ok=True)
    cfg = configparser.ConfigParser()
    cfg["profile oidc"] = {"role_arn": ROLE_ARN, "web_identity_token_file": str(token_path)}
    with open(home / ".aws" / "config", "w") as f:
        cfg.write(f)
    return aws_env(server, home, AWS_PROFILE="oidc")


def test_profile_flow_gives_the_assumed_role_identity(dev_server, scratch):
    token = dev_server.mint("--issuer", "gitlab", "--project-path", "example/project", "--ref", "main")
    env = profile_env(dev_server, scratch, write_token(scratch, token))  # echo-style: trailing newline
    rc, out, err = aws(env, "sts", "get-caller-identity")
    assert rc == 0, err
    ident = json_out(out)
    assert ident["Account"] == "000000000000"
    assert ident["Arn"].startswith("arn:aws:sts::000000000000:assumed-role/gitlab-deployer/")
    assert ident["UserId"].startswith("AROA") and ":" in ident["UserId"]


def direct(server, home, token, *extra):
    env = aws_env(server, home)
    return aws(env, "sts", "assume-role-with-web-identity", "--duration-seconds", "900",
               "--role-session-name", "cicd", "--role-arn", ROLE_ARN,
               "--web-identity-token", token, *extra)


def test_direct_form_returns_credentials_that_work(dev_server, scratch):
    token = dev_server.mint("--project-path", "example/project", "--ref", "main")
    rc, out, err = direct(dev_server, scratch, token)
    assert rc == 0, err
    resp = json_out(out)
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert resp["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd"
    assert resp["Provider"] == "arn:aws:iam::000000000000:oidc-provider/gitlab.com"
    assert resp["Audience"] == "https://gitlab.com"
    assert resp["SubjectFromWebIdentityToken"] == "project_path:example/project:ref_type:branch:ref:main"

    env = aws_env(dev_server, scratch, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
                  AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"], AWS_SESSION_TOKEN=creds["SessionToken"])
    rc, out, err = aws(env, "sts", "get-caller-identity")
    assert rc == 0, err
    assert json_out(out)["Arn"] == "arn:aws:sts::000000000000:assumed-role/gitlab-deployer/cicd"

    tampered = creds["SecretAccessKey"][:-1] + ("A" if creds["SecretAccessKey"][-1] != "A" else "B")
    env["AWS_SECRET_ACCESS_KEY"] = tampered
    rc, out, err = aws(env, "sts", "get-caller-identity")
    assert rc != 0
    assert "(SignatureDoesNotMatch)" in err


def test_token_for_another_project_is_denied(dev_server, scratch):
    token = dev_server.mint("--project-path", "example/other", "--ref", "main")
    rc, _, err = direct(dev_server, scratch, token)
    assert rc != 0
    assert "(AccessDenied)" in err
    assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in err


def test_wrong_audience_is_an_invalid_identity_token(dev_server, scratch):
    token = dev_server.mint("--project-path", "example/project", "--ref", "main", "--aud", "https://other.example")
    rc, _, err = direct(dev_server, scratch, token)
    assert rc != 0
    assert "(InvalidIdentityToken)" in err
    assert "Incorrect token audience" in err


def test_expired_token_is_expired_token_exception(dev_server, scratch):
    token = dev_server.mint("--project-path", "example/project", "--ref", "main", "--claim", "exp:=1700000000")
    rc, _, err = direct(dev_server, scratch, token)
    assert rc != 0
    assert "(ExpiredTokenException)" in err
    assert "Token expired: current date/time" in err


def test_forged_signature_is_an_invalid_identity_token(dev_server, scratch):
    token = dev_server.mint("--project-path", "example/project", "--ref", "main")
    header, payload, sig = token.split(".")
    forged_sig = ("B" if sig[10] != "B" else "C").join([sig[:10], sig[11:]])
    rc, _, err = direct(dev_server, scratch, ".".join([header, payload, forged_sig]))
    assert rc != 0
    assert "(InvalidIdentityToken)" in err
