"""Cookie mode: the refresh token in an httpOnly cookie, guarded by a double-submit proof."""

import jwt
import pytest

from app.web.cookies import CSRF_COOKIE, CSRF_HEADER, MODE_HEADER, REFRESH_COOKIE
from tests.support import PASSWORD

COOKIE_MODE = {MODE_HEADER: "cookie"}
CREDENTIALS = {"email": "user@example.com", "password": PASSWORD}


def set_cookies(response):
    """The response's Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def refresh_cookie(client):
    cookie = client.get_cookie(REFRESH_COOKIE, path="/auth")
    return cookie.value if cookie else None


def proof(client):
    return {CSRF_HEADER: client.get_cookie(CSRF_COOKIE).value}


@pytest.fixture
def browser(client, auth):
    """A registered user signed in from a browser in cookie mode; the login response."""
    auth.register()
    response = client.post("/auth/login", json=CREDENTIALS, headers=COOKIE_MODE)
    assert response.status_code == 200, response.json
    return response


def test_login_puts_the_refresh_token_in_a_strict_httponly_cookie(client, auth, browser):
    body = browser.json
    assert set(body) == {"accessToken", "tokenType", "expiresIn", "csrfToken"}
    assert auth.me(body).status_code == 200
    cookies = set_cookies(browser)
    refresh = [p.strip() for p in cookies[REFRESH_COOKIE].split(";")]
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/auth", "Max-Age=604800"} <= set(refresh)
    csrf = [p.strip() for p in cookies[CSRF_COOKIE].split(";")]
    assert {"Secure", "SameSite=Strict", "Path=/"} <= set(csrf)
    assert "HttpOnly" not in csrf
    assert client.get_cookie(CSRF_COOKIE).value == body["csrfToken"]
    header = jwt.get_unverified_header(refresh_cookie(client))
    assert header["typ"] == "refresh+jwt"


def test_cookie_mode_refresh_rotates_the_cookie(client, auth, browser):
    first = refresh_cookie(client)
    response = client.post("/auth/refresh", headers=proof(client))
    assert response.status_code == 200, response.json
    assert set(response.json) == {"accessToken", "tokenType", "expiresIn", "csrfToken"}
    assert response.json["csrfToken"] == browser.json["csrfToken"]
    second = refresh_cookie(client)
    assert second not in (None, first)
    assert auth.me(response.json).status_code == 200
    # the spent cookie value is still a spent refresh token: replaying it is theft
    client.set_cookie(REFRESH_COOKIE, first, path="/auth")
    replay = client.post("/auth/refresh", headers=proof(client))
    assert replay.json["code"] == "token_revoked"
    assert auth.me(response.json).json["code"] == "token_revoked"


def test_cookie_mode_refresh_accepts_an_empty_json_object(client, browser):
    response = client.post("/auth/refresh", json={}, headers=proof(client))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {CSRF_HEADER: ""},
        {CSRF_HEADER: "not-the-token"},
        {CSRF_HEADER: "é"},
        "own-cookie-cross-site",
        "header-without-cookie",
    ],
)
@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_cookie_mode_without_the_csrf_proof_is_refused(client, auth, browser, headers, path):
    if headers == "own-cookie-cross-site":
        headers = {**proof(client), "Sec-Fetch-Site": "cross-site"}
    elif headers == "header-without-cookie":
        headers = proof(client)
        client.delete_cookie(CSRF_COOKIE)
    response = client.post(path, headers=headers)
    assert response.status_code == 403
    assert response.json["code"] == "csrf_failed"
    assert "Set-Cookie" not in response.headers
    # nothing happened: the cookie's token is neither spent nor its session ended
    assert auth.me(browser.json).status_code == 200
    assert auth.refresh(refresh_cookie(client)).status_code == 200


def test_cookie_mode_logout_ends_the_session_and_clears_the_cookies(client, auth, browser):
    token = refresh_cookie(client)
    response = client.post("/auth/logout", headers=proof(client))
    assert response.status_code == 204
    cleared = set_cookies(response)
    assert set(cleared) == {REFRESH_COOKIE, CSRF_COOKIE}
    assert all("Max-Age=0" in header for header in cleared.values())
    assert "Path=/auth" in cleared[REFRESH_COOKIE]
    assert refresh_cookie(client) is None
    assert client.get_cookie(CSRF_COOKIE) is None
    assert auth.me(browser.json).json["code"] == "token_revoked"
    assert auth.refresh(token).json["code"] == "token_revoked"


def test_an_unrecognised_cookie_is_refused_by_refresh_and_cleared_by_logout(client, browser):
    client.set_cookie(REFRESH_COOKIE, "garbage", path="/auth")
    refused = client.post("/auth/refresh", headers=proof(client))
    assert refused.status_code == 401
    assert refused.json["code"] == "invalid_token"
    response = client.post("/auth/logout", headers=proof(client))
    assert response.status_code == 204
    assert refresh_cookie(client) is None


def test_body_mode_works_unchanged_when_cookies_are_present(client, auth, browser):
    """A token in the body cannot be forged by another site, so it needs no CSRF proof."""
    laptop = auth.login()
    cookie = refresh_cookie(client)
    response = client.post("/auth/refresh", json={"refreshToken": laptop["refreshToken"]})
    assert response.status_code == 200
    assert set(response.json) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert "Set-Cookie" not in response.headers
    assert refresh_cookie(client) == cookie
    logout = client.post("/auth/logout", json={"refreshToken": response.json["refreshToken"]})
    assert logout.status_code == 204
    assert "Set-Cookie" not in logout.headers
    # the browser's own session was left alone
    assert client.post("/auth/refresh", headers=proof(client)).status_code == 200


def test_without_a_cookie_the_body_still_needs_its_token(client, auth):
    auth.register()
    response = client.post("/auth/refresh", json={}, headers={CSRF_HEADER: "x"})
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"


def test_a_body_mode_client_can_switch_to_cookie_mode_on_refresh(client, auth):
    tokens = auth.signup()
    response = client.post(
        "/auth/refresh", json={"refreshToken": tokens["refreshToken"]}, headers=COOKIE_MODE
    )
    assert response.status_code == 200
    assert "refreshToken" not in response.json
    assert client.post("/auth/refresh", headers=proof(client)).status_code == 200


def test_a_matching_proof_of_another_session_is_refused(client, auth, browser):
    """Signed double submit: header and cookie agree, but belong to another session."""
    mine = refresh_cookie(client)
    other = client.post("/auth/login", json=CREDENTIALS, headers=COOKIE_MODE).json["csrfToken"]
    client.set_cookie(REFRESH_COOKIE, mine, path="/auth")
    client.set_cookie(CSRF_COOKIE, other)
    response = client.post("/auth/refresh", headers={CSRF_HEADER: other})
    assert response.status_code == 403
    assert response.json["code"] == "csrf_failed"


def test_each_session_has_its_own_csrf_token(client, auth, browser):
    other = client.post("/auth/login", json=CREDENTIALS, headers=COOKIE_MODE).json
    assert other["csrfToken"] != browser.json["csrfToken"]


def test_password_change_in_cookie_mode_sets_the_new_sessions_cookie(client, auth, browser):
    old_cookie = refresh_cookie(client)
    body = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
    response = client.post(
        "/me/password", json=body, headers={**auth.headers(browser.json), **COOKIE_MODE}
    )
    assert response.status_code == 200
    assert "refreshToken" not in response.json
    assert "Path=/auth" in set_cookies(response)[REFRESH_COOKIE]
    assert refresh_cookie(client) != old_cookie
    assert auth.refresh(old_cookie).json["code"] == "token_revoked"
    assert client.post("/auth/refresh", headers=proof(client)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/auth/logout-all", None), ("DELETE", "/me", {"password": PASSWORD})],
)
def test_ending_everything_clears_the_cookies(client, auth, browser, method, path, body):
    response = client.open(path, method=method, json=body, headers=auth.headers(browser.json))
    assert response.status_code == 204
    assert set(set_cookies(response)) == {REFRESH_COOKIE, CSRF_COOKIE}
    assert refresh_cookie(client) is None
