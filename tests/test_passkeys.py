"""Passkey registration, listing and removal (/me/passkeys...), with the software
authenticator of tests/authenticator.py: the options a browser needs, a passkey stored
only when everything checks out, one answer for every refused credential, a second factor
needed to add one where MFA is on, notices mailed, and passkeys gone with their account."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import sessions
from app.extensions import db
from app.mfa import AMR_PASSWORD
from app.models import Passkey, PasskeyChallenge, User, utcnow
from tests import passkey_support
from tests.authenticator import Authenticator, b64url, unb64url
from tests.factories import make_user, mfa_user, signed_in_user, signed_in_with_second_factor
from tests.passkey_support import add_passkey, creation_options
from tests.support import PASSWORD, AuthActions, at_once


@pytest.fixture
def app_config(mail_config):
    return mail_config


@pytest.fixture
def tokens(app, client):
    return signed_in_user(app, client)


def stored(app) -> list[Passkey]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Passkey)))


def no_nulls(value) -> bool:
    """Whether a JSON value holds no null: a browser refuses one where it wants a list."""
    if isinstance(value, dict):
        return all(item is not None and no_nulls(item) for item in value.values())
    if isinstance(value, list):
        return all(no_nulls(item) for item in value)
    return value is not None


def test_creation_options_are_what_a_browser_takes(app, client, tokens):
    options = creation_options(client, tokens)

    assert options["rp"] == {"id": "localhost", "name": "flask-jwt-auth-service"}
    assert options["user"]["name"] == options["user"]["displayName"] == "user@example.com"
    assert len(unb64url(options["challenge"])) == 32
    assert [param["alg"] for param in options["pubKeyCredParams"]] == [-8, -7, -257]
    assert {param["type"] for param in options["pubKeyCredParams"]} == {"public-key"}
    assert options["timeout"] == 300_000
    assert options["excludeCredentials"] == []
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "required"
    assert selection["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert no_nulls(options)
    # base64url without padding, as parseCreationOptionsFromJSON wants
    assert "=" not in options["challenge"] + options["user"]["id"]


def test_the_user_handle_is_random_stable_and_not_the_id_or_email(app, client, tokens):
    first = unb64url(creation_options(client, tokens)["user"]["id"])
    again = unb64url(creation_options(client, tokens)["user"]["id"])
    other = unb64url(
        creation_options(client, signed_in_user(app, client, "b@example.com"))["user"]["id"]
    )

    assert first == again
    assert len(first) == 32 and first != other
    assert b"user@example.com" not in first and first not in (b"1", (1).to_bytes(1, "big"))
    with app.app_context():
        handle = db.session.scalar(sa.select(User.webauthn_user_handle).where(User.id == 1))
    assert handle == first


def test_each_options_call_makes_a_new_challenge_stored_only_hashed(app, client, tokens):
    challenges = {creation_options(client, tokens)["challenge"] for _ in range(3)}

    assert len(challenges) == 3
    with app.app_context():
        stored_hashes = set(db.session.scalars(sa.select(PasskeyChallenge.challenge_hash)))
    assert len(stored_hashes) == 3
    for challenge in challenges:
        raw = unb64url(challenge)
        assert all(challenge not in value and raw.hex() not in value for value in stored_hashes)


def test_a_passkey_is_registered_listed_and_named(app, client, tokens, audit_log):
    authenticator = Authenticator()

    response = add_passkey(client, tokens, authenticator, name="Phone")

    assert response.status_code == 201, response.json
    assert set(response.json) == {"id", "name", "createdAt", "lastUsedAt"}
    assert response.json["name"] == "Phone"
    assert response.json["lastUsedAt"] is None
    assert response.json["createdAt"].endswith("Z")
    listed = client.get("/me/passkeys", headers=AuthActions.headers(tokens)).json
    assert listed == {"passkeys": [response.json]}
    (passkey,) = stored(app)
    assert passkey.credential_id == authenticator.credentials[0].id
    assert passkey.transports == "internal hybrid"
    assert passkey.sign_count == 0 and not passkey.backup_eligible
    assert audit_log[-1]["event"] == "passkey_registered"
    assert audit_log[-1]["passkey_id"] == response.json["id"]


def test_a_passkey_without_a_name_is_called_passkey(client, tokens):
    assert add_passkey(client, tokens, Authenticator()).json["name"] == "Passkey"


def test_a_synced_passkey_is_stored_as_backup_eligible(app, client, tokens):
    add_passkey(client, tokens, Authenticator(synced=True))

    (passkey,) = stored(app)
    assert passkey.backup_eligible and passkey.backed_up


def test_registered_passkeys_are_excluded_from_the_next_options(client, tokens):
    authenticator = Authenticator()
    add_passkey(client, tokens, authenticator)

    excluded = creation_options(client, tokens)["excludeCredentials"]

    assert excluded == [
        {
            "id": b64url(authenticator.credentials[0].id),
            "type": "public-key",
            "transports": ["internal", "hybrid"],
        }
    ]


def test_passkeys_list_only_the_callers_own(app, client, tokens):
    add_passkey(client, tokens, Authenticator(), name="Mine")
    other = signed_in_user(app, client, "other@example.com")

    assert client.get("/me/passkeys", headers=AuthActions.headers(other)).json == {"passkeys": []}


@pytest.fixture
def limit_of_two(monkeypatch):
    monkeypatch.setattr("app.passkeys.registration.MAX_PASSKEYS_PER_USER", 2)


TOO_MANY = {
    "error": "An account can have at most 2 passkeys; remove one to add another.",
    "code": "too_many_passkeys",
}


def test_an_account_holds_a_bounded_number_of_passkeys(client, tokens, limit_of_two):
    for name in ("Phone", "Laptop"):
        assert add_passkey(client, tokens, Authenticator(), name=name).status_code == 201

    refused = client.post("/me/passkeys/options", headers=AuthActions.headers(tokens))
    assert (refused.status_code, refused.json) == (409, TOO_MANY)

    first = client.get("/me/passkeys", headers=AuthActions.headers(tokens)).json["passkeys"][0]
    client.delete(f"/me/passkeys/{first['id']}", headers=AuthActions.headers(tokens))
    assert add_passkey(client, tokens, Authenticator(), name="Key").status_code == 201


def test_options_asked_early_do_not_pass_the_bound(client, tokens, limit_of_two):
    add_passkey(client, tokens, Authenticator())
    early = [Authenticator().create(creation_options(client, tokens)) for _ in range(2)]

    assert register(client, tokens, early[0]).status_code == 201
    late = register(client, tokens, early[1])
    assert (late.status_code, late.json) == (409, TOO_MANY)


def test_registrations_at_once_do_not_pass_the_bound(app, client, tokens, limit_of_two):
    add_passkey(client, tokens, Authenticator())
    early = [Authenticator().create(creation_options(client, tokens)) for _ in range(4)]

    def attempt(index):
        return register(app.test_client(), tokens, early[index]).status_code

    assert sorted(at_once(4, attempt)) == [201, 409, 409, 409]
    assert len(stored(app)) == 2


def register(client, tokens, credential, **body):
    return client.post(
        "/me/passkeys", json={"credential": credential, **body}, headers=AuthActions.headers(tokens)
    )


def refused(response, audit_log, reason):
    return passkey_support.refused(response, audit_log, 400, "passkey_registration_failure", reason)


@pytest.mark.parametrize(
    ("tampering", "reason", "detail"),
    [
        ({"origin": "https://evil.example"}, "rejected", "origin"),
        ({"origin": "http://localhost:5001"}, "rejected", "origin"),
        ({"rp_id": "evil.example"}, "rejected", "RP ID"),
        ({"user_verified": False}, "rejected", "User verification"),
        ({"challenge": "A" * 43}, "unknown_challenge", None),
    ],
)
def test_a_credential_that_does_not_verify_is_refused(
    app, client, tokens, audit_log, tampering, reason, detail
):
    credential = Authenticator().create(creation_options(client, tokens), **tampering)

    failure = refused(register(client, tokens, credential), audit_log, reason)

    if detail:
        assert detail in failure["detail"]
    assert stored(app) == []


def test_a_challenge_works_once(app, client, tokens, audit_log):
    authenticator = Authenticator()
    options = creation_options(client, tokens)
    assert register(client, tokens, authenticator.create(options)).status_code == 201

    replay = authenticator.create(options)  # a new credential on the spent challenge

    refused(register(client, tokens, replay), audit_log, "unknown_challenge")
    assert len(stored(app)) == 1


def test_a_refused_credential_spends_its_challenge(client, tokens, audit_log):
    authenticator = Authenticator()
    options = creation_options(client, tokens)
    register(client, tokens, authenticator.create(options, origin="https://evil.example"))

    refused(register(client, tokens, authenticator.create(options)), audit_log, "unknown_challenge")


def test_an_expired_challenge_is_refused(app, client, tokens, audit_log):
    options = creation_options(client, tokens)
    with app.app_context():
        db.session.execute(
            sa.update(PasskeyChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()

    credential = Authenticator().create(options)

    refused(register(client, tokens, credential), audit_log, "unknown_challenge")


def test_another_users_challenge_is_refused_and_stays_theirs(app, client, tokens, audit_log):
    victim = signed_in_user(app, client, "victim@example.com")
    victims_options = creation_options(client, victim)
    authenticator = Authenticator()

    attack = authenticator.create(victims_options)

    refused(register(client, tokens, attack), audit_log, "unknown_challenge")
    assert stored(app) == []
    # the victim's own ceremony still works
    assert register(client, victim, authenticator.create(victims_options)).status_code == 201


def test_a_credential_registered_twice_is_refused(app, client, tokens, audit_log):
    authenticator = Authenticator()
    add_passkey(client, tokens, authenticator)
    again = authenticator.create(
        creation_options(client, tokens), credential_id=authenticator.credentials[0].id
    )

    refused(register(client, tokens, again), audit_log, "already_registered")
    assert len(stored(app)) == 1


def test_another_users_credential_cannot_be_registered(app, client, tokens, audit_log):
    authenticator = Authenticator()
    add_passkey(client, tokens, authenticator)
    other = signed_in_user(app, client, "other@example.com")
    copy = authenticator.create(
        creation_options(client, other), credential_id=authenticator.credentials[0].id
    )

    refused(register(client, other, copy), audit_log, "already_registered")
    assert [passkey.user_id for passkey in stored(app)] == [1]


# The shape is checked first (400 validation_error), then what the shape holds (400
# invalid_passkey): neither is ever a 500.
MALFORMED = "validation_error"
GARBAGE = "invalid_passkey"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda c: c.pop("response"), MALFORMED),
        (lambda c: c.update(type="password"), MALFORMED),
        (lambda c: c.update(rawId="not base64!"), MALFORMED),
        (lambda c: c.update(id=""), MALFORMED),
        (lambda c: c["response"].update(clientDataJSON=12), MALFORMED),
        (lambda c: c["response"].pop("attestationObject"), MALFORMED),
        (lambda c: c["response"].update(transports="usb"), MALFORMED),
        (lambda c: c.update(response=[]), MALFORMED),
        (lambda c: c["response"].update(attestationObject="AAAA"), GARBAGE),
        (lambda c: c["response"].update(clientDataJSON="e30"), GARBAGE),  # {}
        (lambda c: c["response"].update(clientDataJSON="bm90IGpzb24"), GARBAGE),  # not JSON
        (lambda c: c.update(id="AAAA"), GARBAGE),  # id and rawId disagree
        (lambda c: c["response"].update(attestationObject=b64url(b"\xa1\x63fmt\x64none")), GARBAGE),
    ],
)
def test_a_malformed_credential_is_refused_never_a_500(app, client, tokens, change, code):
    credential = Authenticator().create(creation_options(client, tokens))
    change(credential)

    response = register(client, tokens, credential)

    assert response.status_code == 400
    assert response.json["code"] == code
    # the contract's details: a field (nested ones by a dotted name) to a list of messages
    for field, messages in response.json.get("details", {}).items():
        assert field.startswith("credential"), field
        assert messages and all(isinstance(message, str) for message in messages)
    assert stored(app) == []


def test_a_nested_field_is_named_by_its_path(client, tokens):
    credential = Authenticator().create(creation_options(client, tokens))
    credential["response"]["clientDataJSON"] = "A"

    response = register(client, tokens, credential)

    assert response.json["details"] == {
        "credential.response.clientDataJSON": ["Must be base64url."]
    }


def test_the_routes_need_an_access_token(client):
    for method, path in [
        ("post", "/me/passkeys/options"),
        ("post", "/me/passkeys"),
        ("get", "/me/passkeys"),
        ("delete", "/me/passkeys/1"),
    ]:
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, path
        assert response.json["code"] == "missing_token"


def password_only_session(app, email: str = "user@example.com") -> dict:
    """Headers of a session of `email` that signed in with a password alone (amr pwd), as
    one opened before MFA was turned on is."""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        pair = sessions.start_session(user, sessions.ClientInfo(None, "tests"), AMR_PASSWORD)
        db.session.commit()
        return AuthActions.headers(pair.access_token)


def test_with_mfa_on_a_password_only_session_cannot_add_a_passkey(app, client):
    mfa_user(app)
    headers = password_only_session(app)
    # a complete credential, made for another MFA user's options
    credential = Authenticator().create(
        creation_options(client, signed_in_with_second_factor(app, "b@example.com"))
    )

    options = client.post("/me/passkeys/options", headers=headers)
    added = client.post("/me/passkeys", json={"credential": credential}, headers=headers)

    for response in (options, added):
        assert response.status_code == 403
        assert response.json["code"] == "mfa_required"
    assert stored(app) == []


def test_with_mfa_on_a_session_with_the_second_factor_adds_a_passkey(app, client):
    tokens = signed_in_with_second_factor(app)

    assert add_passkey(client, tokens, Authenticator()).status_code == 201


def test_removing_a_passkey(app, client, tokens, audit_log):
    passkey_id = add_passkey(client, tokens, Authenticator()).json["id"]

    response = client.delete(f"/me/passkeys/{passkey_id}", headers=AuthActions.headers(tokens))

    assert response.status_code == 204
    assert stored(app) == []
    assert client.get("/me/passkeys", headers=AuthActions.headers(tokens)).json == {"passkeys": []}
    assert audit_log[-1]["event"] == "passkey_removed"
    assert audit_log[-1]["passkey_id"] == passkey_id


@pytest.mark.parametrize("passkey_id", ["999", "0", str(2**31), str(2**63), "-1", "abc"])
def test_removing_an_unknown_passkey_is_not_found(client, tokens, passkey_id):
    add_passkey(client, tokens, Authenticator())

    response = client.delete(f"/me/passkeys/{passkey_id}", headers=AuthActions.headers(tokens))

    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_removing_someone_elses_passkey_is_not_found(app, client, tokens):
    passkey_id = add_passkey(client, tokens, Authenticator()).json["id"]
    other = signed_in_user(app, client, "other@example.com")

    response = client.delete(f"/me/passkeys/{passkey_id}", headers=AuthActions.headers(other))

    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert len(stored(app)) == 1


def test_the_owner_is_mailed_when_a_passkey_is_added_and_removed(client, tokens, smtp_server):
    passkey_id = add_passkey(client, tokens, Authenticator(), name="Laptop").json["id"]
    client.delete(f"/me/passkeys/{passkey_id}", headers=AuthActions.headers(tokens))

    added, removed = smtp_server.messages
    assert added["To"] == removed["To"] == "user@example.com"
    assert "added" in added["Subject"] and "removed" in removed["Subject"]
    for message in (added, removed):
        assert "Laptop" in message.get_content()
        assert "http" not in message.get_content()


def test_deleting_the_account_deletes_its_passkeys(app, client, tokens):
    add_passkey(client, tokens, Authenticator())
    make_user(app, "keep@example.com")

    response = client.delete(
        "/me", json={"password": PASSWORD}, headers=AuthActions.headers(tokens)
    )

    assert response.status_code == 204
    assert stored(app) == []
