"""RS256/ES256 access tokens: kid and algorithm pinning, forged tokens, and key rotation."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.keys import thumbprint
from tests.support import AuthActions, assert_refused, key_config


@pytest.fixture
def app_config(key_files):
    return key_config("RS256", key_files["a"])


@pytest.fixture(scope="session")
def attacker_keys():
    """Keys of someone who is not us: RSA 2048 and P-256."""
    return {
        "RS256": rsa.generate_private_key(65537, 2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
    }


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_key(key_file: str):
    return serialization.load_pem_private_key(Path(key_file).read_bytes(), None)


def kid_of(key) -> str:
    return thumbprint(key.public_key())


def sign(claims, key, algorithm="RS256", **headers):
    return jwt.encode(claims, key, algorithm, headers={"typ": "at+jwt", **headers})


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


# --- what we issue --------------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "key"), [("RS256", "a"), ("ES256", "ec")])
def test_access_tokens_are_signed_by_the_key_refresh_tokens_stay_hmac(
    deploy, key_files, algorithm, key
):
    redeployed = deploy(**key_config(algorithm, key_files[key]))
    on_redeploy = AuthActions(redeployed.test_client())
    tokens = on_redeploy.signup()
    kid = kid_of(private_key(key_files[key]))
    assert header_of(tokens["accessToken"]) == {"alg": algorithm, "typ": "at+jwt", "kid": kid}
    assert header_of(tokens["refreshToken"]) == {"alg": "HS256", "typ": "refresh+jwt"}
    public_key = private_key(key_files[key]).public_key()
    claims = jwt.decode(
        tokens["accessToken"], public_key, [algorithm], audience="flask-jwt-auth-service"
    )
    assert claims["sub"] == "1"
    assert on_redeploy.me(tokens).status_code == 200
    refreshed = on_redeploy.refresh(tokens["refreshToken"])
    assert refreshed.status_code == 200
    assert on_redeploy.me(refreshed.json).status_code == 200


def test_forged_copy_signed_with_our_key_is_accepted(auth, signed_in_claims, key_files):
    """The control for the attacks below: the same claims signed by our key and kid work."""
    _, claims = signed_in_claims
    ours = private_key(key_files["a"])
    assert auth.me(sign(claims, ours, kid=kid_of(ours))).status_code == 200


# --- forged tokens --------------------------------------------------------------------------


def raw_token(header: dict, claims: dict, sign) -> str:
    """A JWT made by hand, for what PyJWT refuses to make; `sign` signs the signing input."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def hs256_token(claims: dict, secret: bytes, **headers) -> str:
    """PyJWT itself refuses a PEM as an HMAC secret, so this is made by hand."""
    header = {"alg": "HS256", "typ": "at+jwt", **headers}
    return raw_token(header, claims, lambda data: hmac.new(secret, data, hashlib.sha256).digest())


@pytest.mark.parametrize(
    "public_format",
    [serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1],
)
def test_key_confusion_hs256_with_our_public_key_as_secret_is_refused(
    client, auth, signed_in_claims, public_format
):
    """The public key is public (it is in the JWKS): as an HMAC secret it must sign nothing."""
    _, claims = signed_in_claims
    signer = client.application.extensions["jwt_keys"].signer
    public_pem = signer.public_key.public_bytes(serialization.Encoding.PEM, public_format)
    for secret in (public_pem, public_pem.strip()):
        assert_refused(auth.me(hs256_token(claims, secret, kid=signer.kid)))
    jwk_json = json.dumps(client.get("/.well-known/jwks.json").json["keys"][0]).encode()
    assert_refused(auth.me(hs256_token(claims, jwk_json, kid=signer.kid)))


def test_hs256_token_with_the_access_secret_is_refused(app, auth, signed_in_claims):
    """Once RS256 is configured, the HMAC secret (still set here) no longer makes tokens."""
    _, claims = signed_in_claims
    assert_refused(auth.me(hs256_token(claims, app.config["JWT_ACCESS_SECRET"].encode())))


def test_alg_none_is_refused(auth, signed_in_claims, key_files):
    _, claims = signed_in_claims
    header = {"alg": "none", "typ": "at+jwt", "kid": kid_of(private_key(key_files["a"]))}
    assert_refused(auth.me(raw_token(header, claims, lambda data: b"")))


def test_es256_token_is_refused_when_rs256_is_configured(
    auth, signed_in_claims, key_files, attacker_keys
):
    _, claims = signed_in_claims
    our_kid = kid_of(private_key(key_files["a"]))
    ec_key = attacker_keys["ES256"]
    assert_refused(auth.me(sign(claims, ec_key, "ES256", kid=our_kid)))
    assert_refused(auth.me(sign(claims, ec_key, "ES256", kid=kid_of(ec_key))))


@pytest.mark.parametrize("algorithm", ["RS384", "RS512", "PS256"])
def test_other_rsa_algorithms_with_our_own_key_are_refused(
    auth, signed_in_claims, key_files, algorithm
):
    """Only the configured algorithm is accepted, even with a signature our key made."""
    _, claims = signed_in_claims
    ours = private_key(key_files["a"])
    assert_refused(auth.me(sign(claims, ours, algorithm, kid=kid_of(ours))))


def test_token_with_an_unknown_kid_is_refused(auth, signed_in_claims, key_files, attacker_keys):
    _, claims = signed_in_claims
    attacker = attacker_keys["RS256"]
    assert_refused(auth.me(sign(claims, attacker, kid=kid_of(attacker))))
    assert_refused(auth.me(sign(claims, attacker, kid="some-other-kid")))


def test_our_signature_under_a_foreign_kid_is_refused(auth, signed_in_claims, key_files):
    """The kid chooses the key: a kid we do not have is refused, whoever signed."""
    _, claims = signed_in_claims
    ours = private_key(key_files["a"])
    assert_refused(auth.me(sign(claims, ours, kid=kid_of(private_key(key_files["b"])))))


def test_token_without_a_kid_is_refused_even_with_our_signature(auth, signed_in_claims, key_files):
    _, claims = signed_in_claims
    assert_refused(auth.me(sign(claims, private_key(key_files["a"]))))


@pytest.mark.parametrize("kid", [None, 7, ["a"], {"kid": "x"}, "", "x" * 5000])
def test_malformed_kids_are_refused(auth, signed_in_claims, key_files, kid):
    """Signed by our key, by hand: PyJWT will not even encode a kid that is not a string."""
    _, claims = signed_in_claims
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    rs256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    ours = private_key(key_files["a"])
    assert_refused(auth.me(raw_token(header, claims, lambda data: rs256.sign(data, ours))))


def test_attacker_key_in_jku_x5u_or_jwk_headers_is_ignored(auth, signed_in_claims, attacker_keys):
    _, claims = signed_in_claims
    attacker = attacker_keys["RS256"]
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    pointers = {
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "jwk": attacker_jwk,
    }
    for name, value in pointers.items():
        assert_refused(auth.me(sign(claims, attacker, **{name: value})))
        assert_refused(auth.me(sign(claims, attacker, kid=kid_of(attacker), **{name: value})))


def test_our_kid_with_an_embedded_attacker_jwk_is_refused(
    auth, signed_in_claims, key_files, attacker_keys
):
    _, claims = signed_in_claims
    attacker = attacker_keys["RS256"]
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    our_kid = kid_of(private_key(key_files["a"]))
    assert_refused(auth.me(sign(claims, attacker, kid=our_kid, jwk=attacker_jwk)))


def test_our_token_with_jku_headers_is_still_ours(auth, signed_in_claims, key_files):
    """The headers are ignored, not fatal: our key alone decides."""
    _, claims = signed_in_claims
    ours = private_key(key_files["a"])
    token = sign(claims, ours, kid=kid_of(ours), jku="https://attacker.example/jwks.json")
    assert auth.me(token).status_code == 200


def test_refresh_token_is_not_an_access_token(auth, signed_in_claims):
    tokens, _ = signed_in_claims
    assert_refused(auth.me(tokens["refreshToken"]))


def test_access_token_is_not_a_refresh_token(auth, signed_in_claims):
    tokens, _ = signed_in_claims
    response = auth.refresh(tokens["accessToken"])
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


# --- key rotation, as docs/keys.md does it --------------------------------------------------


def test_rotation_keeps_everyone_logged_in_and_retires_the_old_key(app, deploy, key_files):
    a, b = key_files["a"], key_files["b"]
    kid_a, kid_b = kid_of(private_key(a)), kid_of(private_key(b))

    # Before: A signs. Alice and Bob log in.
    before = AuthActions(app.test_client())
    alice = before.signup("alice@example.com")
    bob = before.signup("bob@example.com")
    assert header_of(alice["accessToken"])["kid"] == kid_a

    # Steps 1-2: B is published, A still signs.
    published = AuthActions(deploy(**key_config("RS256", a, b)).test_client())
    jwks = published.client.get("/.well-known/jwks.json").json
    assert [jwk["kid"] for jwk in jwks["keys"]] == [kid_a, kid_b]
    assert published.me(alice).status_code == 200
    assert header_of(published.login("alice@example.com")["accessToken"])["kid"] == kid_a

    # Step 4: B signs, A only verifies. Tokens signed by A keep working.
    swapped = AuthActions(deploy(**key_config("RS256", b, a)).test_client())
    assert swapped.me(alice).status_code == 200
    assert swapped.me(bob).status_code == 200
    alice = swapped.refresh(alice["refreshToken"]).json
    assert header_of(alice["accessToken"])["kid"] == kid_b
    carol = swapped.signup("carol@example.com")
    assert header_of(carol["accessToken"])["kid"] == kid_b

    # Step 6: A is retired. Its tokens are refused; nobody has to log in again.
    retired = AuthActions(deploy(**key_config("RS256", b)).test_client())
    jwks = retired.client.get("/.well-known/jwks.json").json
    assert [jwk["kid"] for jwk in jwks["keys"]] == [kid_b]
    assert_refused(retired.me(bob))
    assert retired.me(alice).status_code == 200
    assert retired.me(carol).status_code == 200
    bob = retired.refresh(bob["refreshToken"])
    assert bob.status_code == 200
    assert header_of(bob.json["accessToken"])["kid"] == kid_b
    assert retired.me(bob.json).status_code == 200


def test_verify_only_key_never_signs(deploy, key_files):
    redeployed = deploy(**key_config("RS256", key_files["a"], key_files["b"]))
    tokens = AuthActions(redeployed.test_client()).signup()
    assert header_of(tokens["accessToken"])["kid"] == kid_of(private_key(key_files["a"]))
