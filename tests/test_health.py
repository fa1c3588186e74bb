"""GET /healthz (liveness) and GET /readyz (readiness: the database answers)."""

import pytest

from tests.conftest import make_app
from tests.test_errors import assert_error

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/test"  # nothing listens on port 1


def test_healthz_says_the_process_serves(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_without_its_database_the_process_is_alive_but_not_ready():
    client = make_app(DEAD_DATABASE).test_client()

    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_LOGIN": "1 per minute",
            "RATELIMIT_REFRESH": "1 per minute",
        }
    ],
)
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_are_never_rate_limited(client, path):
    # A balancer polls every few seconds from one address; a 429 would take us out of it.
    statuses = {client.get(path).status_code for _ in range(30)}

    assert statuses == {200}


def test_health_checks_need_no_token_and_take_no_body(client):
    response = client.get("/readyz", headers={"Authorization": "Bearer not-a-token"})

    assert response.status_code == 200
    assert client.post("/readyz").status_code == 405
