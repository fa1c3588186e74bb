"""Security headers on every response, and CORS only for configured origins."""

import pytest

from app.config import ConfigError, load_config

APP = "https://app.example.com"


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/me"), ("post", "/auth/login"), ("get", "/nowhere")]
)
def test_every_response_carries_the_security_headers(client, method, path):
    response = getattr(client, method)(path, json={})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_is_sent_over_https(client):
    response = client.get("/me", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_cors_headers_by_default(client):
    response = client.get("/me", headers={"Origin": APP})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("app_config", [{"CORS_ORIGINS": [APP]}])
def test_cors_allows_only_the_configured_origins(client):
    allowed = client.get("/me", headers={"Origin": APP})
    assert allowed.headers["Access-Control-Allow-Origin"] == APP
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    other = client.get("/me", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("app_config", [{"CORS_ORIGINS": [APP]}])
def test_cors_preflight_allows_authorization_header(client):
    response = client.options(
        "/me",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize("app_config", [{}, {"CORS_ORIGINS": [APP]}], ids=["no-cors", "cors"])
@pytest.mark.parametrize("path", ["/auth/login", "/me", "/admin/users/1", "/openapi.json"])
def test_options_answers_carry_no_html(client, path):
    preflight = {"Origin": APP, "Access-Control-Request-Method": "POST"}

    response = client.options(path, headers=preflight)

    assert response.status_code == 200
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert "OPTIONS" in response.headers["Allow"]


def test_an_answer_without_a_body_has_no_content_type(client):
    response = client.post("/auth/logout", json={"refreshToken": "not-a-token"})

    assert (response.status_code, response.data) == (204, b"")
    assert "Content-Type" not in response.headers


def test_cors_origins_are_parsed_from_a_comma_separated_list():
    config = load_config({"CORS_ORIGINS": f"{APP}/, http://localhost:3000"})
    assert config["CORS_ORIGINS"] == [APP, "http://localhost:3000"]


@pytest.mark.parametrize("value", ["*", "app.example.com", "javascript:alert(1)"])
def test_wildcard_or_bare_host_origins_are_refused(value):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_config({"CORS_ORIGINS": value})
