"""What the passkey tests share: the API calls of a client that registers a passkey and
signs in with one, through the software authenticator of tests/authenticator.py."""

from tests.authenticator import Authenticator
from tests.support import AuthActions


def creation_options(client, tokens) -> dict:
    response = client.post("/me/passkeys/options", headers=AuthActions.headers(tokens))
    assert response.status_code == 200, response.json
    return response.json


def request_options(client) -> dict:
    response = client.post("/auth/passkeys/options", json={})
    assert response.status_code == 200, response.json
    return response.json


def add_passkey(client, tokens, authenticator: Authenticator, name: str | None = None):
    """Register a new passkey of `authenticator` for the signed-in user; the response."""
    credential = authenticator.create(creation_options(client, tokens))
    body = {"credential": credential} if name is None else {"credential": credential, "name": name}
    return client.post("/me/passkeys", json=body, headers=AuthActions.headers(tokens))


def passkey_login(client, authenticator: Authenticator, **tampering):
    """Sign in with the authenticator's last passkey (`tampering` as for
    `Authenticator.get`); the response."""
    assertion = authenticator.get(request_options(client), **tampering)
    return client.post("/auth/passkeys/login", json={"credential": assertion})


# The one answer of every refused credential, on registration (400) and login (401).
REFUSED = {"error": "The passkey could not be verified.", "code": "invalid_passkey"}


def refused(response, audit_log, status: int, event: str, reason: str, **audited) -> dict:
    """Check the answer of a refused credential and its audit line (`event`, `reason` and
    the `audited` fields); return the line."""
    assert response.status_code == status, response.json
    assert response.json == REFUSED
    failure = audit_log[-1]
    assert failure["event"] == event
    assert failure["reason"] == reason
    for name, value in audited.items():
        assert failure[name] == value, name
    return failure
