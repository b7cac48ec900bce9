"""Hostile web identity tokens against the real STS endpoint.

Every token is built by hand (base64url JSON header and payload, signed with `cryptography`), so each
field is under the test's control. The issuers are private: their keys are pinned with `jwks_file`,
so keyless never touches the network for them. Each case goes through boto3's
`assume_role_with_web_identity` against a running `keyless serve --config FILE` and asserts the
exact AWS error code, and the message wherever docs/token-verification.md gives one.
"""

import base64
import hashlib
import http.server
import json
import re
import textwrap
import threading
import time

import boto3
import botocore
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import Server

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})

ISSUER = "https://issuer.hostile.test"
OTHER_ISSUER = "https://other.hostile.test"
CLIENT_ID = "sts.example"
ACCOUNT = "000000000000"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/hostile-app"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/other-app"
SUBJECT = "repo:acme/app:ref:refs/heads/main"

KEY_UNAVAILABLE = ("Couldn't retrieve verification key from your identity provider,  please reference "
                   "AssumeRoleWithWebIdentity documentation for requirements")
SIGNATURE_INVALID = "The token signature is invalid"
NOT_SIGNED = "The token is not signed"


# ---------------------------------------------------------------------------------------------
# Keys, JWKS and token building
# ---------------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64url(n: int, length: int = 0) -> str:
    return b64url(n.to_bytes(length or (n.bit_length() + 7) // 8, "big"))


def thumbprint(required: dict) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    return b64url(hashlib.sha256(canonical).digest())


class RsaKey:
    def __init__(self):
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.private.public_key().public_numbers()
        self.required = {"e": int_b64url(numbers.e), "kty": "RSA", "n": int_b64url(numbers.n)}
        self.kid = thumbprint(self.required)

    def jwk(self) -> dict:
        return {**self.required, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, signing_input: bytes) -> bytes:
        return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_der(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


class EcKey:
    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private.public_key().public_numbers()
        self.required = {"crv": "P-256", "kty": "EC", "x": int_b64url(numbers.x, 32),
                         "y": int_b64url(numbers.y, 32)}
        self.kid = thumbprint(self.required)

    def jwk(self) -> dict:
        return {**self.required, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def encode_json(value) -> str:
    """A JSON part as given: a str is taken verbatim (for malformed JSON), anything else is dumped."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return b64url(text.encode())


def build(header, payload, key=None) -> str:
    """`header.payload.signature`; with no key the signature part is empty."""
    signing_input = encode_json(header) + "." + encode_json(payload)
    signature = key.sign(signing_input.encode()) if key is not None else b""
    return signing_input + "." + b64url(signature)


def hs256(header, payload, secret: bytes) -> str:
    signing_input = encode_json(header) + "." + encode_json(payload)
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(signing_input.encode())
    return signing_input + "." + b64url(mac.finalize())


DROP = object()
"""A claim value that removes the claim."""


def claims(**overrides) -> dict:
    """Valid claims for the hostile issuer, with `overrides` applied."""
    now = int(time.time())
    base = {"iss": ISSUER, "sub": SUBJECT, "aud": CLIENT_ID, "iat": now, "nbf": now - 5, "exp": now + 600,
            "jti": "hostile-test"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


# ---------------------------------------------------------------------------------------------
# Fixtures: keys, pinned JWKS, config and a running server
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keys():
    return {"rsa": RsaKey(), "ec": EcKey(), "other": RsaKey(), "attacker": RsaKey()}


def trust(provider_host: str, sub_pattern: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider_host}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{provider_host}:aud": CLIENT_ID},
                          "StringLike": {f"{provider_host}:sub": sub_pattern}},
        }],
    })


@pytest.fixture(scope="module")
def server(tmp_path_factory, keys):
    root = tmp_path_factory.mktemp("hostile")
    (root / "issuer-jwks.json").write_text(json.dumps({"keys": [keys["rsa"].jwk(), keys["ec"].jwk()]}))
    (root / "other-jwks.json").write_text(json.dumps({"keys": [keys["other"].jwk()]}))
    cfg = root / "keyless.toml"
    cfg.write_text(textwrap.dedent(f'''
        [server]
        account_id = "{ACCOUNT}"

        [[provider]]
        url = "{ISSUER}"
        client_ids = ["{CLIENT_ID}"]
        jwks_file = "issuer-jwks.json"

        [[provider]]
        url = "{OTHER_ISSUER}"
        client_ids = ["{CLIENT_ID}"]
        jwks_file = "other-jwks.json"

        [[role]]
        name = "hostile-app"
        trust_policy = \'\'\'{trust("issuer.hostile.test", "repo:acme/app:*")}\'\'\'

        [[role]]
        name = "other-app"
        trust_policy = \'\'\'{trust("other.hostile.test", "repo:acme/app:*")}\'\'\'
    '''))
    s = Server(root / "data", ["--config", str(cfg)]).start()
    yield s
    s.stop()


class KeyServer:
    """A loopback HTTP server that serves the attacker's JWKS (and a certificate URL) and counts hits."""

    def __init__(self, jwks: dict):
        body = json.dumps(jwks).encode()
        owner = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# Calling STS
# ---------------------------------------------------------------------------------------------

def sts(server, **kw):
    kw.setdefault("aws_access_key_id", "x")
    kw.setdefault("aws_secret_access_key", "x")
    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1", config=NO_RETRY, **kw)


def exchange(server, token, role=APP_ROLE):
    return sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="hostile",
                                                     WebIdentityToken=token)


def rejected(server, token, role=APP_ROLE) -> dict:
    """Exchanges `token`, requires a refusal, and returns the error (Code, Message, HTTP status)."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        resp = exchange(server, token, role)
        pytest.fail(f"the token was accepted: {resp.get('AssumedRoleUser')}")
    error = dict(e.value.response["Error"])
    error["status"] = e.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error


def assert_refused(server, token, code, message=None, role=APP_ROLE, status=400):
    error = rejected(server, token, role)
    assert (error["Code"], error["status"]) == (code, status), error
    if message is not None:
        assert error["Message"] == message, error
    return error


def header(kid=None, alg="RS256", **extra):
    h = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        h["kid"] = kid
    h.update(extra)
    return h


# ---------------------------------------------------------------------------------------------
# Valid tokens (the positive controls)
# ---------------------------------------------------------------------------------------------

def test_valid_token_from_pinned_keys_and_get_caller_identity(server, keys):
    token = build(header(keys["rsa"].kid), claims(), keys["rsa"])
    resp = exchange(server, token)
    assert resp["Provider"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/issuer.hostile.test"
    assert resp["Audience"] == CLIENT_ID
    assert resp["SubjectFromWebIdentityToken"] == SUBJECT
    assert resp["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/hostile-app/hostile"
    creds = resp["Credentials"]
    ident = sts(server, aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"]).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/hostile-app/hostile"
    assert ident["Account"] == ACCOUNT


def test_valid_es256_token_and_a_token_without_kid(server, keys):
    resp = exchange(server, build(header(keys["ec"].kid, alg="ES256"), claims(), keys["ec"]))
    assert resp["Audience"] == CLIENT_ID
    # No kid: exactly one key of the set can verify RS256, so it is chosen.
    resp = exchange(server, build(header(), claims(), keys["rsa"]))
    assert resp["SubjectFromWebIdentityToken"] == SUBJECT


def test_valid_signature_but_subject_outside_the_trust_policy_is_denied(server, keys):
    token = build(header(keys["rsa"].kid), claims(sub="repo:acme/other:ref:refs/heads/main"), keys["rsa"])
    assert_refused(server, token, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", status=403)


def test_other_providers_key_is_valid_for_its_own_issuer(server, keys):
    token = build(header(keys["other"].kid), claims(iss=OTHER_ISSUER), keys["other"])
    assert exchange(server, token, OTHER_ROLE)["Provider"] == \
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/other.hostile.test"


# ---------------------------------------------------------------------------------------------
# Algorithm attacks and signatures
# ---------------------------------------------------------------------------------------------

def test_alg_none_with_a_signature(server, keys):
    token = build(header(keys["rsa"].kid, alg="none"), claims(), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", "Unsupported token algorithm 'none'")


def test_alg_none_without_a_signature(server, keys):
    token = build(header(keys["rsa"].kid, alg="none"), claims())
    assert token.endswith(".")
    assert_refused(server, token, "InvalidIdentityToken", NOT_SIGNED)


@pytest.mark.parametrize("variant", ["None", "NONE", "nOnE"])
def test_alg_none_spellings(server, keys, variant):
    token = build(header(keys["rsa"].kid, alg=variant), claims(), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", f"Unsupported token algorithm '{variant}'")


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_hs256_keyed_with_the_rsa_public_key(server, keys, encoding):
    secret = keys["rsa"].public_pem() if encoding == "pem" else keys["rsa"].public_der()
    for kid in (keys["rsa"].kid, None):
        token = hs256(header(kid, alg="HS256"), claims(), secret)
        assert_refused(server, token, "InvalidIdentityToken", "Unsupported token algorithm 'HS256'")


def test_stripped_signature(server, keys):
    valid = build(header(keys["rsa"].kid), claims(), keys["rsa"])
    stripped = valid.rsplit(".", 1)[0] + "."
    assert_refused(server, stripped, "InvalidIdentityToken", NOT_SIGNED)


def test_signature_from_another_key_with_the_same_kid(server, keys):
    token = build(header(keys["rsa"].kid), claims(), keys["attacker"])
    assert_refused(server, token, "InvalidIdentityToken", SIGNATURE_INVALID)
    # The same forgery without a kid picks the only RSA key and fails the same way.
    assert_refused(server, build(header(), claims(), keys["attacker"]), "InvalidIdentityToken",
                   SIGNATURE_INVALID)


def test_tampered_payload_under_a_valid_signature(server, keys):
    valid = build(header(keys["rsa"].kid), claims(), keys["rsa"])
    h, _, sig = valid.split(".")
    forged = h + "." + encode_json(claims(sub="repo:acme/app:ref:refs/heads/evil")) + "." + sig
    assert_refused(server, forged, "InvalidIdentityToken", SIGNATURE_INVALID)


def test_kid_of_another_providers_key(server, keys):
    token = build(header(keys["other"].kid), claims(), keys["other"])
    assert_refused(server, token, "InvalidIdentityToken", KEY_UNAVAILABLE)


def test_unknown_kid(server, keys):
    token = build(header(keys["attacker"].kid), claims(), keys["attacker"])
    assert_refused(server, token, "InvalidIdentityToken", KEY_UNAVAILABLE)


def test_algorithm_that_does_not_fit_the_key(server, keys):
    # ES256 under the RSA key's kid, and RS256 under the EC key's kid.
    error = assert_refused(server, build(header(keys["rsa"].kid, alg="ES256"), claims(), keys["ec"]),
                           "InvalidIdentityToken")
    assert re.fullmatch(r"The verification key \S+ does not support the token algorithm ES256",
                        error["Message"]), error
    error = assert_refused(server, build(header(keys["ec"].kid, alg="RS256"), claims(), keys["rsa"]),
                           "InvalidIdentityToken")
    assert re.fullmatch(r"The verification key \S+ does not support the token algorithm RS256",
                        error["Message"]), error


def test_algorithm_that_does_not_fit_the_key_names_the_kid(server, keys):
    kid = keys["rsa"].kid
    assert len(kid) == 43
    assert_refused(server, build(header(kid, alg="ES256"), claims(), keys["ec"]), "InvalidIdentityToken",
                   f"The verification key '{kid}' does not support the token algorithm ES256")


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_key_url_headers_are_never_fetched(server, keys, name):
    attacker = keys["attacker"]
    with KeyServer({"keys": [attacker.jwk()]}) as ks:
        url = ks.url + ("/jwks.json" if name == "jku" else "/cert.pem")
        # The attacker's own key, announced by URL: judged only by the pinned set, which lacks it.
        forged = build(header(attacker.kid, **{name: url}), claims(), attacker)
        assert_refused(server, forged, "InvalidIdentityToken", KEY_UNAVAILABLE)
        # The attacker's key under the pinned kid: the pinned key rejects the signature.
        forged = build(header(keys["rsa"].kid, **{name: url}), claims(), attacker)
        assert_refused(server, forged, "InvalidIdentityToken", SIGNATURE_INVALID)
        # A genuine token carrying the header: the header is ignored, the pinned key verifies it.
        genuine = build(header(keys["rsa"].kid, **{name: url}), claims(), keys["rsa"])
        assert exchange(server, genuine)["Audience"] == CLIENT_ID
        time.sleep(0.5)
        assert ks.requests == []


def test_embedded_jwk_and_x5c_headers_are_ignored(server, keys):
    attacker = keys["attacker"]
    der = attacker.public_der()
    for extra in ({"jwk": attacker.jwk()}, {"x5c": [base64.b64encode(der).decode()]}):
        token = build(header(keys["rsa"].kid, **extra), claims(), attacker)
        assert_refused(server, token, "InvalidIdentityToken", SIGNATURE_INVALID)
        token = build(header(None, **extra), claims(), attacker)
        assert_refused(server, token, "InvalidIdentityToken", SIGNATURE_INVALID)


# ---------------------------------------------------------------------------------------------
# Issuer
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("iss", [
    "https://unknown.hostile.test",
    ISSUER + "/",
    "https://Issuer.Hostile.Test",
    "HTTPS://issuer.hostile.test",
    "issuer.hostile.test",
    "http://issuer.hostile.test",
])
def test_issuer_must_match_exactly(server, keys, iss):
    token = build(header(keys["rsa"].kid), claims(iss=iss), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}")


def test_issuer_with_markup_is_escaped(server, keys):
    iss = "https://x.hostile.test/<a>&amp;\"'"
    token = build(header(keys["rsa"].kid), claims(iss=iss), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}")


def test_issuer_with_control_characters_gives_a_readable_error(server, keys):
    token = build(header(keys["rsa"].kid), claims(iss="https://x.hostile.test/\u0001\u001b[31m"), keys["rsa"])
    error = assert_refused(server, token, "InvalidIdentityToken")
    assert error["Message"].startswith("No OpenIDConnect provider found in your account for https://x.hostile.test/")
    assert not any(ord(c) < 0x20 for c in error["Message"]), repr(error["Message"])


def test_missing_and_mistyped_issuer(server, keys):
    assert_refused(server, build(header(keys["rsa"].kid), claims(iss=DROP), keys["rsa"]),
                   "InvalidIdentityToken", "Missing a required claim: iss")
    assert_refused(server, build(header(keys["rsa"].kid), claims(iss=[ISSUER]), keys["rsa"]),
                   "InvalidIdentityToken", "The iss claim must be a string, not array")


def test_long_issuer_is_shortened_in_the_message(server, keys):
    iss = "https://" + "a" * 400 + ".hostile.test"
    token = build(header(keys["rsa"].kid), claims(iss=iss), keys["rsa"])
    error = assert_refused(server, token, "InvalidIdentityToken")
    prefix = "No OpenIDConnect provider found in your account for "
    assert error["Message"].startswith(prefix + "https://aaaa"), error
    # docs/token-verification.md: "An iss longer than 256 bytes is shortened in the message."
    assert len(error["Message"]) <= len(prefix) + 256 + len("..."), len(error["Message"])


# ---------------------------------------------------------------------------------------------
# Audience
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("aud,message", [
    (DROP, "Missing a required claim: aud"),
    ([], "Missing a required claim: aud"),
    ("sts.other", "Incorrect token audience"),
    ("STS.EXAMPLE", "Incorrect token audience"),
    (["sts.other", "https://gitlab.com"], "Incorrect token audience"),
    ({"0": CLIENT_ID}, "The aud claim must be a string or an array of strings, not object"),
    ([CLIENT_ID, 7], "The aud claim must contain only strings, not integer"),
])
def test_audience(server, keys, aud, message):
    token = build(header(keys["rsa"].kid), claims(aud=aud), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", message)


def test_audience_array_with_a_match_and_azp(server, keys):
    token = build(header(keys["rsa"].kid), claims(aud=["sts.other", CLIENT_ID]), keys["rsa"])
    assert exchange(server, token)["Audience"] == CLIENT_ID
    # Several audiences and an azp naming another party: issued for someone else.
    token = build(header(keys["rsa"].kid), claims(aud=["sts.other", CLIENT_ID], azp="sts.other"), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", "Incorrect token audience")


# ---------------------------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------------------------

def test_expired_token(server, keys):
    exp = int(time.time()) - 120
    token = build(header(keys["rsa"].kid), claims(exp=exp, iat=exp - 600, nbf=exp - 600), keys["rsa"])
    error = assert_refused(server, token, "ExpiredTokenException")
    match = re.fullmatch(rf"Token expired: current date/time (\d+) must be before the expiration date/time {exp}",
                         error["Message"])
    assert match, error
    assert abs(int(match.group(1)) - time.time()) < 60


def test_token_expiring_now_is_expired(server, keys):
    # exp is strict with no leeway: a token whose exp is this second is already expired.
    exp = int(time.time())
    token = build(header(keys["rsa"].kid), claims(exp=exp, iat=exp - 60, nbf=exp - 60), keys["rsa"])
    assert_refused(server, token, "ExpiredTokenException")


def test_missing_exp(server, keys):
    token = build(header(keys["rsa"].kid), claims(exp=DROP), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", "Missing a required claim: exp")


def test_not_yet_valid(server, keys):
    nbf = int(time.time()) + 3600
    token = build(header(keys["rsa"].kid), claims(nbf=nbf, exp=nbf + 600), keys["rsa"])
    error = assert_refused(server, token, "InvalidIdentityToken")
    assert re.fullmatch(rf"Token not yet valid: current date/time \d+ is before the not-before date/time {nbf}",
                        error["Message"]), error


def test_issued_in_the_future(server, keys):
    iat = int(time.time()) + 3600
    token = build(header(keys["rsa"].kid), claims(iat=iat, exp=iat + 600), keys["rsa"])
    error = assert_refused(server, token, "InvalidIdentityToken")
    assert re.fullmatch(rf"Token issued in the future: current date/time \d+ is before the issued-at date/time {iat}",
                        error["Message"]), error


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_string_typed_time_claims(server, keys, claim):
    value = str(int(time.time()) + 600)
    token = build(header(keys["rsa"].kid), claims(**{claim: value}), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken",
                   f"The {claim} claim must be an integer number of seconds, not string")


@pytest.mark.parametrize("literal", ["{exp}.5", "{exp}.0", "{exp}e0", "1e10"])
def test_fractional_exp(server, keys, literal):
    exp = int(time.time()) + 600
    body = json.dumps(claims(exp=0), separators=(",", ":")).replace('"exp":0', '"exp":' + literal.format(exp=exp))
    token = build(header(keys["rsa"].kid), body, keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken",
                   "The exp claim must be an integer number of seconds, not number")


# ---------------------------------------------------------------------------------------------
# Size, encoding and structure
# ---------------------------------------------------------------------------------------------

def test_one_megabyte_token_is_refused_by_the_body_limit(server, keys):
    token = build(header(keys["rsa"].kid), claims(pad="x" * (1024 * 1024)), keys["rsa"])
    assert len(token) > 1024 * 1024
    error = rejected(server, token)
    assert (error["Code"], error["status"]) == ("RequestEntityTooLarge", 413), error


def test_token_over_20000_characters_is_a_validation_error(server, keys):
    token = build(header(keys["rsa"].kid), claims(pad="x" * 19000), keys["rsa"])
    assert 20000 < len(token) < 30000
    error = assert_refused(server, token, "ValidationError")
    assert error["Message"].startswith("1 validation error detected: Value "), error
    assert error["Message"].endswith("at 'webIdentityToken' failed to satisfy constraint: "
                                     "Member must have length less than or equal to 20000"), error


def test_token_is_not_echoed_in_the_length_validation_error(server, keys):
    # WebIdentityToken is a sensitive member in AWS's model: AWS leaves the value out
    # ("Value at 'webIdentityToken' ..."), and docs/token-verification.md says messages never
    # contain the token.
    token = build(header(keys["rsa"].kid), claims(pad="x" * 19000), keys["rsa"])
    assert_refused(server, token, "ValidationError",
                   "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: "
                   "Member must have length less than or equal to 20000")


def test_token_of_exactly_20000_characters_passes_the_length_checks(server, keys):
    # An RS256 signature over a 2048-bit key is 342 base64url characters, so the length is known
    # before signing; base64url grows in steps, so aim for 20000 and accept the longest pad within it.
    key = keys["rsa"]
    fixed = claims()

    def unsigned_length(pad: int) -> int:
        return len(encode_json(header(key.kid))) + 1 + len(encode_json({**fixed, "pad": "x" * pad})) + 1 + 342

    pad = max(p for p in range(20000) if unsigned_length(p) <= 20000)
    token = build(header(key.kid), {**fixed, "pad": "x" * pad}, key)
    assert 19997 <= len(token) <= 20000
    assert exchange(server, token)["Audience"] == CLIENT_ID
    too_long = build(header(key.kid), {**fixed, "pad": "x" * (pad + 3)}, key)
    assert len(too_long) > 20000
    assert_refused(server, too_long, "ValidationError")


@pytest.mark.parametrize("part", ["header", "payload", "signature"])
@pytest.mark.parametrize("damage", ["padding", "standard-alphabet", "invalid-character"])
def test_bad_base64(server, keys, part, damage):
    valid = build(header(keys["rsa"].kid, pad="??>>"), claims(pad="??>>"), keys["rsa"])
    parts = valid.split(".")
    index = ["header", "payload", "signature"].index(part)
    segment = parts[index]
    if damage == "padding":
        segment = segment + "=" * (-len(segment) % 4 or 4)
    elif damage == "standard-alphabet":
        segment = segment.replace("-", "+").replace("_", "/")
        if segment == parts[index]:
            segment = "+" + segment[1:]
    else:
        segment = segment[:4] + "*" + segment[5:]
    parts[index] = segment
    assert_refused(server, ".".join(parts), "InvalidIdentityToken",
                   f"The token {part} is not valid unpadded base64url")


def test_non_canonical_trailing_bits(server, keys):
    valid = build(header(keys["rsa"].kid), claims(), keys["rsa"])
    h, p, s = valid.split(".")
    # A 2048-bit signature is 256 bytes: 342 characters whose last one carries 2 spare bits.
    assert len(s) % 4 == 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(s[-1])
    tweaked = s[:-1] + alphabet[last | 1]
    assert tweaked != s
    assert_refused(server, f"{h}.{p}.{tweaked}", "InvalidIdentityToken",
                   "The token signature is not valid unpadded base64url")


def test_duplicate_member_in_the_header(server, keys):
    raw = '{"alg":"RS256","kid":"%s","alg":"none"}' % keys["rsa"].kid
    token = build(raw, claims(), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", "The token header has a duplicate JSON member name")


@pytest.mark.parametrize("raw", [
    '{{"iss":"{iss}","sub":"{sub}","aud":"{aud}","exp":{exp},"sub":"repo:acme/app:ref:refs/heads/evil"}}',
    '{{"iss":"{iss}","sub":"{sub}","aud":"{aud}","exp":{exp},"aud":"{aud}"}}',
    '{{"iss":"{iss}","sub":"{sub}","aud":"{aud}","exp":{exp},"x":{{"a":1,"a":2}}}}',
])
def test_duplicate_member_in_the_payload(server, keys, raw):
    body = raw.format(iss=ISSUER, sub=SUBJECT, aud=CLIENT_ID, exp=int(time.time()) + 600)
    token = build(header(keys["rsa"].kid), body, keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", "The token payload has a duplicate JSON member name")


def test_deeply_nested_payload(server, keys):
    depth = 5000
    body = ('{"iss":"%s","sub":"%s","aud":"%s","exp":%d,"deep":%s1%s}'
            % (ISSUER, SUBJECT, CLIENT_ID, int(time.time()) + 600, "[" * depth, "]" * depth))
    token = build(header(keys["rsa"].kid), body, keys["rsa"])
    assert len(token) <= 20000
    assert_refused(server, token, "InvalidIdentityToken", "The token payload nests JSON deeper than 32 levels")
    nested_header = '{"alg":"RS256","deep":%s1%s}' % ("[" * depth, "]" * depth)
    token = build(nested_header, claims(), keys["rsa"])
    assert len(token) <= 20000
    assert_refused(server, token, "InvalidIdentityToken", "The token header nests JSON deeper than 32 levels")
    # The server is still serving after both.
    assert exchange(server, build(header(keys["rsa"].kid), claims(), keys["rsa"]))["Audience"] == CLIENT_ID


def test_jwe_shaped_token(server, keys):
    jwe_header = encode_json({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": keys["rsa"].kid})
    token = ".".join([jwe_header, b64url(b"k" * 256), b64url(b"iv" * 6), b64url(b"ciphertext"),
                      b64url(b"tag" * 5)])
    assert_refused(server, token, "InvalidIdentityToken",
                   "Encrypted tokens (JWE) are not supported; a signed JWT (JWS) is required")


@pytest.mark.parametrize("count", [2, 4, 6])
def test_wrong_number_of_parts(server, keys, count):
    valid = build(header(keys["rsa"].kid), claims(), keys["rsa"])
    parts = valid.split(".")
    token = ".".join((parts * 2)[:count])
    assert_refused(server, token, "InvalidIdentityToken", "The token is not a JWT: expected three dot-separated parts")


def test_crit_header(server, keys):
    for crit in (["exp"], ["b64"], []):
        token = build(header(keys["rsa"].kid, crit=crit, b64=False), claims(), keys["rsa"])
        assert_refused(server, token, "InvalidIdentityToken",
                       "The token header has critical extensions (crit), which are not supported")


@pytest.mark.parametrize("member", [{"enc": "A256GCM"}, {"zip": "DEF"}])
def test_enc_and_zip_headers(server, keys, member):
    token = build(header(keys["rsa"].kid, **member), claims(), keys["rsa"])
    assert_refused(server, token, "InvalidIdentityToken", "Encrypted or compressed tokens are not supported")


@pytest.mark.parametrize("raw,message", [
    ('{"kid":"k"}', "The token header has no alg"),
    ('{"alg":["RS256"]}', "The token header alg must be a string"),
    ('{"alg":"RS256","kid":7}', "The token header kid must be a string"),
    ('{"alg":"RS256","typ":{}}', "The token header typ must be a string"),
    ('["RS256"]', "The token header is not a JSON object"),
    ('{"alg":"RS256"} {}', "The token header is not valid JSON"),
    ('{"alg":"RS256",}', "The token header is not valid JSON"),
    ('{"alg":"RS\\ud800"}', "The token header is not valid JSON"),
])
def test_malformed_header(server, keys, raw, message):
    assert_refused(server, build(raw, claims(), keys["rsa"]), "InvalidIdentityToken", message)


def test_payload_that_is_not_an_object(server, keys):
    assert_refused(server, build(header(keys["rsa"].kid), "[1,2]", keys["rsa"]), "InvalidIdentityToken",
                   "The token payload is not a JSON object")
    assert_refused(server, build(header(keys["rsa"].kid), "not json", keys["rsa"]), "InvalidIdentityToken",
                   "The token payload is not valid JSON")


def test_whitespace_only_token(server):
    # Four characters pass the parameter's length constraint; trimmed, nothing is left.
    assert_refused(server, " \t\n ", "InvalidIdentityToken", "The token is empty")
