"""The admin blueprint: GET /admin/users and PATCH /admin/users/{id}."""

import pytest

from app import email_tokens, verification
from app.extensions import db
from app.models import LoginSession, RefreshToken, User
from tests.factories import signed_in_user, update_user
from tests.support import PASSWORD, at_once

ADMIN_ROUTES = [
    ("get", "/admin/users", None),
    ("patch", "/admin/users/1", {"role": "admin"}),
    ("patch", "/admin/users/2", {"disabled": True}),
]


@pytest.fixture
def admin(app, client):
    """An admin's token pair (admin@example.com, user id 1)."""
    return signed_in_user(app, client, "admin@example.com", role="admin")


def patch(client, auth, tokens, user_id, body):
    return client.patch(f"/admin/users/{user_id}", json=body, headers=auth.headers(tokens))


def stored(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_normal_user_is_refused_on_every_admin_route(app, client, auth, method, path, body):
    tokens = auth.signup()
    auth.register("other@example.com")
    response = getattr(client, method)(path, json=body, headers=auth.headers(tokens))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_role"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    assert 'error="insufficient_scope"' in challenge
    # nothing changed: the caller did not promote themself or disable the other user
    assert stored(app, 1).role == "user"
    assert stored(app, 2).disabled is False


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_need_a_token(client, auth, method, path, body):
    auth.register()
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 401
    assert response.json["code"] == "missing_token"


def test_list_users_pages_by_id_without_hashes(client, auth, admin):
    for index in range(4):
        auth.register(f"user{index}@example.com")
    response = client.get("/admin/users?page=2&perPage=2", headers=auth.headers(admin))
    assert response.status_code == 200
    body = response.json
    assert (body["page"], body["perPage"], body["total"]) == (2, 2, 5)
    assert [user["email"] for user in body["users"]] == [
        "user1@example.com",
        "user2@example.com",
    ]
    assert set(body["users"][0]) == {
        "id",
        "email",
        "role",
        "emailVerified",
        "mfaEnabled",
        "disabled",
        "createdAt",
    }
    assert "$2b$" not in response.get_data(as_text=True)
    assert "hash" not in response.get_data(as_text=True).lower()


def test_list_users_defaults(client, auth, admin):
    body = client.get("/admin/users", headers=auth.headers(admin)).json
    assert (body["page"], body["perPage"], body["total"]) == (1, 20, 1)
    assert body["users"][0] == {
        "id": 1,
        "email": "admin@example.com",
        "role": "admin",
        "emailVerified": False,
        "mfaEnabled": False,
        "createdAt": body["users"][0]["createdAt"],
        "disabled": False,
    }


@pytest.mark.parametrize("page", [2, 2**31 - 1])
def test_list_users_past_the_last_page_is_empty(client, auth, admin, page):
    response = client.get(f"/admin/users?page={page}&perPage=100", headers=auth.headers(admin))
    assert response.status_code == 200
    assert response.json["users"] == []
    assert response.json["total"] == 1


def test_email_filter_is_a_case_insensitive_prefix(client, auth, admin):
    auth.register("alice@example.com")
    auth.register("alfred@example.com")
    auth.register("bob@alice.example")
    body = client.get("/admin/users?email=AL", headers=auth.headers(admin)).json
    assert [user["email"] for user in body["users"]] == ["alice@example.com", "alfred@example.com"]
    assert body["total"] == 2


@pytest.mark.parametrize("wildcard", ["%", "_", "a%", "a_"])
def test_email_filter_matches_like_wildcards_literally(client, auth, admin, wildcard):
    auth.register("abc@example.com")
    auth.register("a_b@example.com")
    auth.register("a%b@example.com")
    body = client.get("/admin/users", query_string={"email": wildcard}, headers=auth.headers(admin))
    emails = [user["email"] for user in body.json["users"]]
    assert all(email.startswith(wildcard) for email in emails)
    if len(wildcard) == 2:
        assert len(emails) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=" + "9" * 30, "page"),
        ("page=2147483648", "page"),
        ("perPage=0", "perPage"),
        ("perPage=101", "perPage"),
        ("perPage=1000", "perPage"),
        ("email=" + "a" * 321, "email"),
        ("email=%00", "email"),
    ],
)
def test_bad_list_parameters_are_validation_errors(client, auth, admin, query, field):
    response = client.get(f"/admin/users?{query}", headers=auth.headers(admin))
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"
    assert field in response.json["details"]


def test_patch_changes_role_and_answers_the_user(client, auth, admin):
    auth.register("bob@example.com")
    response = patch(client, auth, admin, 2, {"role": "admin"})
    assert response.status_code == 200
    assert response.json["id"] == 2
    assert response.json["role"] == "admin"
    assert response.json["disabled"] is False
    assert "passwordHash" not in response.json


def test_patch_ignores_unknown_fields(app, client, auth, admin):
    auth.register("bob@example.com")
    body = {"disabled": True, "email": "evil@example.com", "passwordHash": "x", "id": 7}
    assert patch(client, auth, admin, 2, body).status_code == 200
    user = stored(app, 2)
    assert (user.email, user.disabled) == ("bob@example.com", True)
    assert user.password_hash.startswith("$2b$")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "x@example.com"},
        {"role": "root"},
        {"role": "Admin"},
        {"role": None},
        {"role": ["admin"]},
        {"disabled": "true"},
        {"disabled": 1},
        {"disabled": None},
    ],
)
def test_patch_rejects_bad_bodies(app, client, auth, admin, body):
    auth.register("bob@example.com")
    response = patch(client, auth, admin, 2, body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"
    assert (stored(app, 2).role, stored(app, 2).disabled) == ("user", False)


@pytest.mark.parametrize("user_id", ["99", "0", "abc", "-1", "99999999999999999999"])
def test_patch_unknown_user_is_not_found(client, auth, admin, user_id):
    response = patch(client, auth, admin, user_id, {"disabled": True})
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_disabling_takes_effect_on_the_users_next_request(app, client, auth, admin):
    target = auth.signup("bob@example.com")
    assert auth.me(target).status_code == 200
    assert patch(client, auth, admin, 2, {"disabled": True}).json["disabled"] is True
    me = auth.me(target)
    assert me.status_code == 403
    assert me.json["code"] == "account_disabled"
    refreshed = auth.refresh(target["refreshToken"])
    assert refreshed.status_code == 403
    assert refreshed.json["code"] == "account_disabled"
    login = client.post("/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert login.json["code"] == "account_disabled"


def test_enabling_again_does_not_revive_old_sessions(client, auth, admin):
    target = auth.signup("bob@example.com")
    patch(client, auth, admin, 2, {"disabled": True})
    assert patch(client, auth, admin, 2, {"disabled": False}).json["disabled"] is False
    assert auth.me(target).json["code"] == "token_revoked"
    assert auth.refresh(target["refreshToken"]).json["code"] == "token_revoked"
    fresh = auth.login("bob@example.com")
    assert auth.me(fresh).status_code == 200


def test_disabling_spends_the_users_reset_and_verification_links(app, client, auth, admin):
    """Re-enabled, the account must not find its old links working again."""
    auth.register("bob@example.com")
    with app.app_context():
        reset_token = email_tokens.issue(2, email_tokens.RESET, 900)
        verify_token = email_tokens.issue(2, verification.PURPOSE, 3600)
        db.session.commit()
    patch(client, auth, admin, 2, {"disabled": True})
    patch(client, auth, admin, 2, {"disabled": False})
    body = {"token": reset_token, "password": "a brand new passphrase"}
    reset = client.post("/auth/reset-password", json=body)
    assert (reset.status_code, reset.json["code"]) == (400, "invalid_reset_token")
    verify = client.post("/auth/verify-email", json={"token": verify_token})
    assert (verify.status_code, verify.json["code"]) == (400, "invalid_verification_token")


def test_disabling_ends_every_session_in_the_store(app, client, auth, admin):
    auth.signup("bob@example.com")
    auth.login("bob@example.com")
    patch(client, auth, admin, 2, {"disabled": True})
    with app.app_context():
        sessions = db.session.scalars(db.select(LoginSession).where(LoginSession.user_id == 2))
        assert all(session.revoked_at is not None for session in sessions)
        tokens = db.session.scalars(db.select(RefreshToken).where(RefreshToken.user_id == 2))
        assert all(token.revoked_at is not None for token in tokens)


def test_role_change_takes_effect_on_the_users_next_request(client, auth, admin):
    target = auth.signup("bob@example.com")
    assert patch(client, auth, admin, 2, {"role": "admin"}).status_code == 200
    old = auth.me(target)
    assert old.status_code == 401
    assert old.json["code"] == "token_revoked"
    # the session ended with the role change: the user signs in again, as an admin
    assert auth.refresh(target["refreshToken"]).json["code"] == "token_revoked"
    fresh = auth.login("bob@example.com")
    assert auth.me(fresh).json["role"] == "admin"
    assert client.get("/admin/users", headers=auth.headers(fresh)).status_code == 200


def test_demote_then_promote_does_not_revive_old_admin_tokens(client, auth, admin):
    """The guard compares the token's role with the stored one; changing the role back
    must not make the old tokens match again."""
    auth.register("bob@example.com")
    patch(client, auth, admin, 2, {"role": "admin"})
    bob = auth.login("bob@example.com")
    assert patch(client, auth, admin, 2, {"role": "user"}).status_code == 200
    assert patch(client, auth, admin, 2, {"role": "admin"}).status_code == 200
    old = client.get("/admin/users", headers=auth.headers(bob))
    assert old.status_code == 401
    assert old.json["code"] == "token_revoked"
    assert auth.refresh(bob["refreshToken"]).json["code"] == "token_revoked"


def test_demoted_admin_loses_admin_routes_at_once(client, auth, admin):
    auth.register("bob@example.com")
    patch(client, auth, admin, 2, {"role": "admin"})
    bob = auth.login("bob@example.com")
    assert patch(client, auth, admin, 2, {"role": "user"}).status_code == 200
    assert client.get("/admin/users", headers=auth.headers(bob)).status_code == 401
    bob = auth.login("bob@example.com")
    assert client.get("/admin/users", headers=auth.headers(bob)).status_code == 403


@pytest.mark.parametrize("body", [{"role": "user"}, {"disabled": True}])
def test_the_last_admin_cannot_remove_themself(app, client, auth, admin, body):
    response = patch(client, auth, admin, 1, body)
    assert response.status_code == 409
    assert response.json["code"] == "last_admin"
    user = stored(app, 1)
    assert (user.role, user.disabled) == ("admin", False)
    assert auth.me(admin).status_code == 200


def test_a_disabled_admin_does_not_count_as_the_other_admin(app, client, auth, admin):
    auth.register("bob@example.com")
    patch(client, auth, admin, 2, {"role": "admin"})
    patch(client, auth, admin, 2, {"disabled": True})
    response = patch(client, auth, admin, 1, {"role": "user"})
    assert response.json["code"] == "last_admin"


def test_an_admin_may_step_down_while_another_remains(app, client, auth, admin):
    auth.register("bob@example.com")
    patch(client, auth, admin, 2, {"role": "admin"})
    response = patch(client, auth, admin, 1, {"role": "user"})
    assert response.status_code == 200
    assert stored(app, 2).role == "admin"
    assert auth.me(admin).json["code"] == "token_revoked"


def demote_each_other_at_once(app, auth, tokens):
    """Admin i demotes admin i+1 (by id, wrapping round), all at the same moment."""
    count = len(tokens)
    return at_once(
        count,
        lambda i: patch(app.test_client(), auth, tokens[i], (i + 1) % count + 1, {"role": "user"}),
    )


def test_admins_demoting_each_other_at_once_leave_one_admin(app, auth, admin):
    count = 6
    for index in range(2, count + 1):
        auth.register(f"admin{index}@example.com")
    emails = ["admin@example.com"] + [f"admin{i}@example.com" for i in range(2, count + 1)]
    for _round in range(5):  # a lost race is likely, not certain, in one round
        update_user(app, role="admin")
        responses = demote_each_other_at_once(app, auth, [auth.login(e) for e in emails])
        with app.app_context():
            admins = db.session.scalar(
                db.select(db.func.count()).select_from(User).where(User.role == "admin")
            )
        assert admins >= 1, [(r.status_code, r.json) for r in responses]
        assert {r.json["code"] for r in responses if r.status_code != 200} <= {
            "last_admin",
            "token_revoked",
        }
