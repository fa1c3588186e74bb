"""No session opened with the old credentials outlives a change of them.

A login checks the password with bcrypt (a quarter of a second at the default cost), and
a password reset, a password change, a role change, disabling or deleting the account may
commit meanwhile; so may a change between a refresh's read and its write. Each test holds
one request at a chosen point (`tests.races.Hold`), runs the change there, and then checks
that the held request failed cleanly or that what it handed out no longer works. Holding
makes the interleaving certain, so the tests fail every time the protection is missing.
"""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask

from app import email_tokens, passwords, sessions
from app.extensions import db
from app.models import ADMIN, User
from tests.factories import make_user
from tests.live import wait_for
from tests.races import Background, Hold, lock_waits
from tests.support import PASSWORD, AuthActions, postgres_engine

EMAIL = "user@example.com"
NEW_PASSWORD = "a brand new passphrase"
headers = AuthActions.headers


@dataclass
class Account:
    """The account whose credentials change, and what each change needs."""

    app: Flask
    user_id: int
    laptop: dict  # a session of the user: the access token that changes or deletes
    admin: dict  # an admin's token pair
    reset_token: str

    def client(self):
        return self.app.test_client()  # one per request: requests run in several threads

    def log_in(self):
        return self.client().post("/auth/login", json={"email": EMAIL, "password": PASSWORD})


@pytest.fixture
def account(app, auth):
    laptop = auth.signup(EMAIL)
    make_user(app, "admin@example.com", role=ADMIN)
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == EMAIL))
        reset_token = email_tokens.issue(user_id, email_tokens.RESET, 900)
        db.session.commit()
    return Account(app, user_id, laptop, auth.login("admin@example.com"), reset_token)


def reset_password(account):
    body = {"token": account.reset_token, "password": NEW_PASSWORD}
    answer = account.client().post("/auth/reset-password", json=body)
    assert answer.status_code == 200, answer.json


def change_password(account):
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    answer = account.client().post("/me/password", json=body, headers=headers(account.laptop))
    assert answer.status_code == 200, answer.json


def disable_by_admin(account):
    answer = account.client().patch(
        f"/admin/users/{account.user_id}", json={"disabled": True}, headers=headers(account.admin)
    )
    assert answer.status_code == 200, answer.json


def promote(account):
    answer = account.client().patch(
        f"/admin/users/{account.user_id}", json={"role": ADMIN}, headers=headers(account.admin)
    )
    assert answer.status_code == 200, answer.json


def disable_by_command(account):
    result = account.app.test_cli_runner().invoke(args=["users", "disable", EMAIL])
    assert result.exit_code == 0, result.output


def delete_account(account):
    body = {"password": PASSWORD}
    answer = account.client().delete("/me", json=body, headers=headers(account.laptop))
    assert answer.status_code == 204, answer.json


# change: (make it, what a login it overtook answers)
CHANGES = {
    "password reset": (reset_password, (401, "invalid_credentials")),
    "password change": (change_password, (401, "invalid_credentials")),
    "disable by an admin": (disable_by_admin, (403, "account_disabled")),
    "flask users disable": (disable_by_command, (403, "account_disabled")),
    "role change": (promote, (401, "invalid_credentials")),
    "account deletion": (delete_account, (401, "invalid_credentials")),
}


def enable_again(account):
    """After a disable: enable the account, so that a session that survived would work."""
    with account.app.app_context():
        user = db.session.get(User, account.user_id)
        if user is not None and user.disabled:
            user.disabled = False
            db.session.commit()


def assert_ended(account, pair):
    """Neither token of `pair` works any more, even with the account enabled again."""
    enable_again(account)
    client = account.client()
    assert client.get("/me", headers=headers(pair)).status_code == 401
    refreshed = client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 401, refreshed.json


def wait_until_queued(database, change):
    """On PostgreSQL, wait until `change` waits for a row lock the held request has (or is
    done, which the test then shows to be wrong). SQLite queues whole transactions on its
    one write lock, whatever they touch."""
    if database != "postgres":
        return
    engine = postgres_engine()
    try:
        wait_for(lambda: lock_waits(engine) or not change.thread.is_alive(), "the change to queue")
    finally:
        engine.dispose()


@pytest.mark.parametrize("change", CHANGES)
def test_a_login_still_checking_the_old_password_fails(account, monkeypatch, change):
    """The change commits while the login runs bcrypt: the login opens nothing."""
    make_change, refused = CHANGES[change]
    login = Background(account.log_in)
    hold = Hold(login.thread)
    monkeypatch.setattr(passwords, "check_password", hold.after(passwords.check_password))
    login.start()
    hold.wait_reached()
    make_change(account)
    hold.release()

    answer = login.result()
    assert (answer.status_code, answer.json["code"]) == refused


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_ends_the_session_a_login_is_opening(account, database, monkeypatch, change):
    """The login has inserted its session but not committed when the change runs: the
    change must wait for it (on PostgreSQL, for its lock on the user's row), then end it."""
    make_change, _ = CHANGES[change]
    login = Background(account.log_in)
    hold = Hold(login.thread)
    monkeypatch.setattr(sessions, "start_session", hold.after(sessions.start_session))
    login.start()
    hold.wait_reached()
    changing = Background(lambda: make_change(account)).start()
    wait_until_queued(database, changing)
    hold.release()

    answer = login.result()
    changing.result()
    assert answer.status_code == 200, answer.json  # it got in first
    assert_ended(account, answer.json)


@pytest.mark.parametrize("change", CHANGES)
def test_a_refresh_racing_a_change_is_refused_or_ended(account, database, monkeypatch, change):
    """The change runs after the refresh read its token and before it writes. SQLite: the
    read locked nothing, so the change commits first and the refresh is refused (even when
    the change deleted the very token it read). PostgreSQL: the refresh holds its session
    row, the change waits for it (no deadlock), then ends the session it renewed."""
    make_change, _ = CHANGES[change]
    phone = account.log_in().json
    refresh = Background(
        lambda: account.client().post("/auth/refresh", json={"refreshToken": phone["refreshToken"]})
    )
    hold = Hold(refresh.thread)
    # rotation.rotate() calls it right after its read, before any write
    monkeypatch.setattr(sessions, "check_may_sign_in", hold.after(sessions.check_may_sign_in))
    refresh.start()
    hold.wait_reached()
    changing = Background(lambda: make_change(account)).start()
    if database == "postgres":
        wait_until_queued(database, changing)
    else:
        changing.result()
    hold.release()

    answer = refresh.result()
    changing.result()
    if database == "postgres":
        assert answer.status_code == 200, answer.json
        assert_ended(account, answer.json)
    else:
        gone = change == "account deletion"
        code = "invalid_token" if gone else "token_revoked"
        assert (answer.status_code, answer.json["code"]) == (401, code)
    assert_ended(account, phone)
