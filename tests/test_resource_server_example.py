"""examples/resource_server/ against the live service: discovery, the JWKS and
introspection, and the trade-off its README states (after a logout, the introspected route
refuses the token at once; the locally verified one accepts it until it expires)."""

import pytest

from tests.live import call, gunicorn_process, migrate, service_env
from tests.support import PASSWORD, free_port, key_config

CLIENT = "payments:payments-introspection-secret-0123456789"
USER = {"email": "example@example.com", "password": PASSWORD}


@pytest.fixture(scope="module")
def services(tmp_path_factory, key_files):
    """Our service (ES256, its PUBLIC_URL its real address) and the example, under gunicorn."""
    port = free_port()
    auth_url = f"http://127.0.0.1:{port}"
    database = tmp_path_factory.mktemp("example") / "auth.db"
    env = service_env(
        DATABASE_URL=f"sqlite:///{database}",
        PUBLIC_URL=auth_url,
        INTROSPECTION_CLIENTS=CLIENT,
        **{
            name: str(value)
            for name, value in key_config("ES256", key_files["ec"]).items()
            if value
        },
    )
    migrate(env)
    example_env = service_env(AUTH_SERVICE_URL=auth_url, INTROSPECTION_CLIENT=CLIENT)
    example_app = "examples.resource_server.app:app"
    with (
        gunicorn_process(env, port=port) as (_, auth),
        gunicorn_process(example_env, app=example_app) as (_, example),
    ):
        yield auth, example


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def test_a_token_works_on_both_routes_until_logout_ends_it_where_introspection_asks(services):
    auth, example = services
    assert call(auth, "POST", "/auth/register", USER)[0] == 201
    _, _, tokens = call(auth, "POST", "/auth/login", USER)

    status, _, body = call(example, "GET", "/hello", headers=bearer(tokens))
    assert (status, body) == (200, {"hello": USER["email"], "sub": "1"})
    status, _, body = call(example, "POST", "/payments", headers=bearer(tokens))
    assert (status, body) == (200, {"paid": True, "by": "1"})

    assert call(auth, "POST", "/auth/logout", {"refreshToken": tokens["refreshToken"]})[0] == 204
    assert call(example, "POST", "/payments", headers=bearer(tokens))[0] == 401
    # Verified with the public keys only: good until it expires (JWT_ACCESS_TTL).
    assert call(example, "GET", "/hello", headers=bearer(tokens))[0] == 200


def test_the_example_refuses_what_we_did_not_issue_as_an_access_token(services):
    auth, example = services
    call(auth, "POST", "/auth/register", {**USER, "email": "other@example.com"})
    _, _, tokens = call(auth, "POST", "/auth/login", {**USER, "email": "other@example.com"})
    refresh_as_access = {"Authorization": f"Bearer {tokens['refreshToken']}"}
    for path, method in (("/hello", "GET"), ("/payments", "POST")):
        assert call(example, method, path)[0] == 401
        assert call(example, method, path, headers=refresh_as_access)[0] == 401
        assert call(example, method, path, headers={"Authorization": "Bearer a.b.c"})[0] == 401
