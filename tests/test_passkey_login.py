"""Signing in with a passkey (/auth/passkeys/...), with the software authenticator of
tests/authenticator.py: a session like a password login's, with a second factor in its
`amr`; every attack of the issue's "Bad input and abuse" one 401 that opens nothing;
disabled and unverified accounts refused as at login; a challenge spent once even by
concurrent requests."""

from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession, Passkey, PasskeyChallenge, utcnow
from app.web.cookies import MODE_HEADER, REFRESH_COOKIE
from tests import passkey_support
from tests.authenticator import ALGORITHMS, Authenticator, unb64url
from tests.factories import signed_in_user, signed_in_with_second_factor, update_user
from tests.passkey_support import (
    add_passkey,
    creation_options,
    passkey_login,
    request_options,
)
from tests.support import AuthActions, at_once


@pytest.fixture
def authenticator(app, client):
    """A device-bound authenticator holding a passkey of user@example.com."""
    authenticator = Authenticator()
    response = add_passkey(client, signed_in_user(app, client), authenticator)
    assert response.status_code == 201, response.json
    return authenticator


def sessions_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession))


def claims(tokens) -> dict:
    return jwt.decode(tokens["accessToken"], options={"verify_signature": False})


def test_request_options_name_no_credential_and_require_user_verification(client):
    options = request_options(client)

    assert set(options) == {"challenge", "timeout", "rpId", "allowCredentials", "userVerification"}
    assert options["rpId"] == "localhost"
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    assert options["timeout"] == 300_000
    assert len(unb64url(options["challenge"])) == 32


def test_request_options_need_no_body(client):
    assert client.post("/auth/passkeys/options").status_code == 200


def test_a_passkey_signs_in_without_email_or_password(app, client, authenticator, audit_log):
    response = passkey_login(client, authenticator)

    assert response.status_code == 200, response.json
    assert set(response.json) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert response.headers["Cache-Control"] == "no-store"
    me = AuthActions(client).me(response.json)
    assert me.status_code == 200
    assert me.json["email"] == "user@example.com"
    assert claims(response.json)["amr"] == ["hwk", "user"]
    success = audit_log[-1]
    assert success["event"] == "passkey_login_success"
    assert success["user_id"] == 1
    assert success["session_id"] == claims(response.json)["sid"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_of_the_options_works(app, client, algorithm):
    """ES256 and RS256 (COSE -7, -257), and EdDSA (-8), which py_webauthn verifies too."""
    authenticator = Authenticator(algorithm=algorithm)
    assert add_passkey(client, signed_in_user(app, client), authenticator).status_code == 201

    assert passkey_login(client, authenticator).status_code == 200
    refused = passkey_login(client, authenticator, bad_signature=True)
    assert refused.status_code == 401


def test_a_synced_passkey_signs_in_as_a_software_key(app, client):
    authenticator = Authenticator(synced=True)
    add_passkey(client, signed_in_user(app, client), authenticator)

    for _ in range(2):  # a synced passkey's counter stays 0: no replay check to trip
        response = passkey_login(client, authenticator)
        assert response.status_code == 200, response.json
        assert claims(response.json)["amr"] == ["swk", "user"]


def test_the_counter_and_last_use_are_kept(app, client, authenticator):
    passkey_login(client, authenticator)
    passkey_login(client, authenticator)

    with app.app_context():
        passkey = db.session.scalar(sa.select(Passkey))
        assert passkey.sign_count == 2
        assert passkey.last_used_at > utcnow() - timedelta(minutes=1)
    tokens = AuthActions(client).login()
    (listed,) = client.get("/me/passkeys", headers=AuthActions.headers(tokens)).json["passkeys"]
    assert listed["lastUsedAt"].endswith("Z")


def test_the_session_keeps_its_amr_through_refresh(client, authenticator):
    tokens = passkey_login(client, authenticator).json

    refreshed = AuthActions(client).refresh(tokens["refreshToken"])

    assert refreshed.status_code == 200
    assert claims(refreshed.json)["amr"] == ["hwk", "user"]


def test_a_passkey_session_counts_as_a_second_factor(app, client):
    """An account with MFA on adds a passkey only from a session with a second factor: a
    passkey session is one, so it can add another passkey."""
    authenticator = Authenticator()
    add_passkey(client, signed_in_with_second_factor(app, "mfa@example.com"), authenticator)
    tokens = passkey_login(client, authenticator).json

    assert add_passkey(client, tokens, Authenticator()).status_code == 201


def test_cookie_mode_works_as_at_login(client, authenticator):
    assertion = authenticator.get(request_options(client))

    response = client.post(
        "/auth/passkeys/login", json={"credential": assertion}, headers={MODE_HEADER: "cookie"}
    )

    assert response.status_code == 200
    assert set(response.json) == {"accessToken", "tokenType", "expiresIn", "csrfToken"}
    assert client.get_cookie(REFRESH_COOKIE, path="/auth") is not None


def refused(response, audit_log, reason, user_id=None):
    return passkey_support.refused(
        response, audit_log, 401, "passkey_login_failure", reason, user_id=user_id
    )


@pytest.mark.parametrize(
    ("tampering", "reason", "detail"),
    [
        ({"origin": "https://evil.example"}, "rejected", "origin"),
        ({"rp_id": "evil.example"}, "rejected", "RP ID"),
        ({"user_verified": False}, "rejected", "User verification"),
        ({"bad_signature": True}, "rejected", "signature"),
        ({"sign_count": 0}, "rejected", "sign count"),  # the counter went back to 0
        ({"challenge": "A" * 43}, "unknown_challenge", None),
        ({"user_handle": bytes(32)}, "user_handle_mismatch", None),
        ({"user_handle": b""}, "user_handle_mismatch", None),
    ],
)
def test_an_assertion_that_does_not_verify_opens_nothing(
    app, client, authenticator, audit_log, tampering, reason, detail
):
    passkey_login(client, authenticator)  # counter 1
    before = sessions_count(app)

    # a challenge is spent before the credential is looked up: then no user is named
    user_id = None if reason == "unknown_challenge" else 1
    response = passkey_login(client, authenticator, **tampering)

    failure = refused(response, audit_log, reason, user_id)

    if detail:
        assert detail in failure["detail"]
    assert sessions_count(app) == before


def test_a_counter_that_does_not_grow_is_refused(client, authenticator, audit_log):
    passkey_login(client, authenticator)
    passkey_login(client, authenticator)  # counter 2

    refused(passkey_login(client, authenticator, sign_count=1), audit_log, "rejected", 1)
    refused(passkey_login(client, authenticator, sign_count=2), audit_log, "rejected", 1)
    assert passkey_login(client, authenticator, sign_count=3).status_code == 200


def test_an_unknown_credential_is_refused(app, client, authenticator, audit_log):
    stranger = Authenticator()
    stranger.create(creation_options(client, signed_in_user(app, client, "b@example.com")))

    refused(passkey_login(client, stranger), audit_log, "unknown_credential")


def test_a_removed_passkey_no_longer_signs_in(client, authenticator, audit_log):
    tokens = AuthActions(client).login()
    (passkey,) = client.get("/me/passkeys", headers=AuthActions.headers(tokens)).json["passkeys"]
    client.delete(f"/me/passkeys/{passkey['id']}", headers=AuthActions.headers(tokens))

    refused(passkey_login(client, authenticator), audit_log, "unknown_credential")


def test_another_users_handle_is_refused(app, client, authenticator, audit_log):
    other = Authenticator()
    add_passkey(client, signed_in_user(app, client, "b@example.com"), other)

    # the user's credential, claiming the other account
    response = passkey_login(client, authenticator, user_handle=other.credentials[0].user_handle)

    refused(response, audit_log, "user_handle_mismatch", 1)


def test_a_replayed_assertion_is_refused(app, client, authenticator, audit_log):
    assertion = authenticator.get(request_options(client))
    first = client.post("/auth/passkeys/login", json={"credential": assertion})
    assert first.status_code == 200

    replay = client.post("/auth/passkeys/login", json={"credential": assertion})

    refused(replay, audit_log, "unknown_challenge")


def test_a_refused_assertion_spends_its_challenge(client, authenticator, audit_log):
    options = request_options(client)
    bad = authenticator.get(options, bad_signature=True)
    client.post("/auth/passkeys/login", json={"credential": bad})

    good = authenticator.get(options)

    response = client.post("/auth/passkeys/login", json={"credential": good})
    refused(response, audit_log, "unknown_challenge")


def test_an_expired_challenge_is_refused(app, client, authenticator, audit_log):
    options = request_options(client)
    with app.app_context():
        db.session.execute(
            sa.update(PasskeyChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()

    response = client.post("/auth/passkeys/login", json={"credential": authenticator.get(options)})

    refused(response, audit_log, "unknown_challenge")


def test_a_registration_challenge_does_not_sign_in(app, client, authenticator, audit_log):
    """A challenge is spent only for its purpose: one a signed-in user asked to register a
    passkey with cannot be answered to sign in."""
    options = creation_options(client, AuthActions(client).login())

    response = passkey_login(client, authenticator, challenge=options["challenge"])

    refused(response, audit_log, "unknown_challenge")


def test_a_login_challenge_does_not_register(client, authenticator, audit_log):
    tokens = AuthActions(client).login()
    credential = Authenticator().create(
        creation_options(client, tokens), challenge=request_options(client)["challenge"]
    )

    response = client.post(
        "/me/passkeys", json={"credential": credential}, headers=AuthActions.headers(tokens)
    )

    assert response.status_code == 400
    assert response.json["code"] == "invalid_passkey"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda c: c.pop("response"), 400),
        (lambda c: c["response"].pop("signature"), 400),
        (lambda c: c["response"].update(userHandle="***"), 400),
        (lambda c: c["response"].update(userHandle=None), 401),
        (lambda c: c["response"].update(authenticatorData="AAAA"), 401),
        (lambda c: c["response"].update(clientDataJSON="e30"), 401),
        (lambda c: c["response"].update(signature="AAAA"), 401),
        (lambda c: c.update(id="AAAA"), 401),
    ],
)
def test_a_malformed_assertion_is_refused_never_a_500(client, authenticator, change, status):
    assertion = authenticator.get(request_options(client))
    change(assertion)

    response = client.post("/auth/passkeys/login", json={"credential": assertion})

    assert response.status_code == status, response.json
    assert response.json["code"] == ("validation_error" if status == 400 else "invalid_passkey")


def test_a_disabled_account_is_refused_as_at_login(app, client, authenticator, audit_log):
    update_user(app, "user@example.com", disabled=True)

    response = passkey_login(client, authenticator)

    assert response.status_code == 403
    assert response.json["code"] == "account_disabled"
    assert audit_log[-1]["event"] == "passkey_login_failure"
    assert audit_log[-1]["reason"] == "account_disabled"


def test_a_disabled_account_tells_nothing_to_an_assertion_that_fails(
    app, client, authenticator, audit_log
):
    update_user(app, "user@example.com", disabled=True)

    refused(passkey_login(client, authenticator, bad_signature=True), audit_log, "rejected", 1)


@pytest.mark.parametrize("app_config", [{"REQUIRE_EMAIL_VERIFICATION": True}])
def test_an_unverified_account_is_refused_when_verification_is_required(app, client):
    authenticator = Authenticator()
    add_passkey(client, signed_in_user(app, client, verified=True), authenticator)
    update_user(app, "user@example.com", email_verified=False)

    response = passkey_login(client, authenticator)

    assert response.status_code == 403
    assert response.json["code"] == "email_unverified"
    update_user(app, "user@example.com", email_verified=True)
    assert passkey_login(client, authenticator).status_code == 200


def test_one_challenge_answered_at_once_signs_in_once(app, client, authenticator):
    assertion = authenticator.get(request_options(client))
    before = sessions_count(app)

    def attempt(_):
        response = app.test_client().post("/auth/passkeys/login", json={"credential": assertion})
        return response.status_code

    results = at_once(4, attempt)

    assert sorted(results) == [200, 401, 401, 401]
    assert sessions_count(app) == before + 1


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "RATELIMIT_PASSKEY": "2 per minute"}]
)
def test_both_routes_are_limited_per_address(client):
    address = {"REMOTE_ADDR": "192.0.2.77"}
    for _ in range(2):
        assert client.post("/auth/passkeys/options", environ_base=address).status_code == 200
        login = client.post("/auth/passkeys/login", json={}, environ_base=address)
        assert login.status_code == 400  # a malformed body is refused before it counts

    limited = client.post("/auth/passkeys/options", environ_base=address)

    assert limited.status_code == 429
    assert limited.json["code"] == "rate_limited"
    other = {"REMOTE_ADDR": "192.0.2.78"}
    assert client.post("/auth/passkeys/options", environ_base=other).status_code == 200


def test_no_challenge_key_or_token_reaches_the_audit_log(app, client, audit_log):
    authenticator = Authenticator()
    tokens = signed_in_user(app, client)
    created = creation_options(client, tokens)
    credential = authenticator.create(created)
    client.post(
        "/me/passkeys", json={"credential": credential}, headers=AuthActions.headers(tokens)
    )
    requested = request_options(client)
    assertion = authenticator.get(requested)
    signed_in = client.post("/auth/passkeys/login", json={"credential": assertion}).json
    passkey_login(client, authenticator, bad_signature=True)

    text = "\n".join(audit_log.raw)
    secrets = [
        created["challenge"],
        created["user"]["id"],
        requested["challenge"],
        credential["response"]["attestationObject"],
        assertion["response"]["signature"],
        signed_in["accessToken"],
        signed_in["refreshToken"],
    ]
    for secret in secrets:
        assert secret not in text
