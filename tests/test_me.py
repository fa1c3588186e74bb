"""GET /me and the `login_required` guard."""

from datetime import datetime

import pytest

from app.extensions import db
from app.models import User
from app.security import current_user, login_required
from tests.factories import signed_in_user, update_user


def test_me_returns_the_account(auth):
    tokens = auth.signup("Me@Example.com")
    response = auth.me(tokens)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"id", "email", "role", "emailVerified", "mfaEnabled", "createdAt"}
    assert body["email"] == "me@example.com"
    assert body["role"] == "user"
    assert body["emailVerified"] is False
    assert body["mfaEnabled"] is False
    assert datetime.fromisoformat(body["createdAt"]).tzinfo is not None
    assert response.headers["Cache-Control"] == "no-store"


def test_disabled_user_is_refused_on_the_next_request(app, auth):
    tokens = auth.signup()
    update_user(app, disabled=True)
    response = auth.me(tokens)
    assert response.status_code == 403
    assert response.json["code"] == "account_disabled"


def test_role_change_revokes_existing_access_tokens(app, auth):
    tokens = auth.signup()
    update_user(app, role="admin")
    response = auth.me(tokens)
    assert response.status_code == 401
    assert response.json["code"] == "token_revoked"


def test_deleted_user_token_is_refused(app, auth):
    tokens = auth.signup()
    with app.app_context():
        db.session.delete(db.session.get(User, 1))
        db.session.commit()
    assert auth.me(tokens).status_code == 401


@pytest.fixture
def guarded(app):
    """Two extra routes: one for any signed-in user, one for admins."""

    @app.get("/test/any")
    @login_required
    def any_user():
        return {"id": current_user().id}

    @app.get("/test/admin")
    @login_required(role="admin")
    def admin_only():
        return {"id": current_user().id}

    return app


def test_role_requirement_refuses_other_roles_with_insufficient_scope(guarded, auth):
    tokens = auth.signup()
    guarded_client = guarded.test_client()
    assert guarded_client.get("/test/any", headers=auth.headers(tokens)).json == {"id": 1}
    response = guarded_client.get("/test/admin", headers=auth.headers(tokens))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_role"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_role_requirement_admits_the_role(guarded, auth, app):
    tokens = signed_in_user(app, auth.client, role="admin")
    guarded_client = guarded.test_client()
    assert guarded_client.get("/test/admin", headers=auth.headers(tokens)).status_code == 200


def test_guard_does_not_write_to_the_database(app, auth):
    """Authenticated reads stay reads: no UPDATE/INSERT on the hot path."""
    from sqlalchemy import event

    tokens = auth.signup()
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert auth.me(tokens).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT")
