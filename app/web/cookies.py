"""Cookie mode: the refresh token in an httpOnly cookie, and the CSRF proof that goes with it.

A browser client asks for cookie mode with the header `X-Token-Transport: cookie` (on login,
a password change or a body-mode refresh). The refresh token then travels only in the
`__Secure-refresh_token` cookie (HttpOnly, Secure, SameSite=Strict, Path=/auth), where no
script on the page can read it, and is rotated with every refresh.

A browser attaches that cookie by itself, so a cookie-mode refresh or logout must prove that
the client's own script sent it (double submit): the `X-CSRF-Token` header must repeat the
`__Host-csrf_token` cookie, which another site can neither read nor set (the `__Host-`
prefix forbids a `Domain`, so a sibling subdomain cannot plant one). A request the browser
marks `Sec-Fetch-Site: cross-site` is refused as well. The proof is an HMAC of the session
id, so it is the same in every tab and for the whole life of the session, and it must be
the proof of the very session whose refresh cookie is presented (a signed double submit):
a pair of cookies planted or copied from another session does not pass.
"""

import base64
import hashlib
import hmac

from flask import Response, current_app, jsonify, make_response, request

from app import tokens
from app.errors import APIError
from app.schemas.requests import RefreshTokenSchema
from app.schemas.responses import TokenPairSchema
from app.sessions import TokenPair
from app.web.request_body import load_body

MODE_HEADER = "X-Token-Transport"
REFRESH_COOKIE = "__Secure-refresh_token"
CSRF_COOKIE = "__Host-csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PAIR = TokenPairSchema()


def requested() -> bool:
    """Whether the client asked for its refresh token in a cookie."""
    return request.headers.get(MODE_HEADER, "").strip().lower() == "cookie"


def csrf_token(session_id: str) -> str:
    """The CSRF proof of a session; `csrf:` keeps it apart from anything else this key signs."""
    key = current_app.config["JWT_REFRESH_SECRET"].encode()
    digest = hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _auth_path() -> str:
    # The prefix the `auth` blueprint is registered under (see create_app).
    return request.script_root + "/auth"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _proof_of(refresh_token: str) -> str | None:
    """The CSRF proof of the session a refresh token belongs to (None for a foreign token)."""
    try:
        return csrf_token(tokens.decode_refresh_token(refresh_token, verify_exp=False).session_id)
    except tokens.TokenError:
        return None


def require_csrf_proof(refresh_token: str) -> None:
    """Refuse a cookie-mode request that does not carry the double-submit proof."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    proof = request.headers.get(CSRF_HEADER, "")
    cross_site = request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site"
    expected = _proof_of(refresh_token)
    if (
        cross_site
        or not cookie
        or not _same(cookie, proof)
        or (expected is not None and not _same(proof, expected))
    ):
        raise APIError(
            403,
            "csrf_failed",
            f"A cookie-mode request needs the {CSRF_HEADER} header "
            f"equal to the {CSRF_COOKIE} cookie.",
        )


def refresh_token_from_request() -> tuple[str, bool]:
    """The refresh token of the JSON body, else of the cookie; and whether it was the cookie.

    Without the cookie the body must name the token, exactly as in body mode; with neither
    a body nor the cookie, no token was sent at all (401 `missing_token`, not 415). The
    cookie is only taken with the CSRF proof.
    """
    cookie = request.cookies.get(REFRESH_COOKIE)
    sent_body = bool(request.get_data(cache=True))
    if not cookie:
        if not sent_body:
            raise APIError(401, "missing_token", "A refresh token is required.")
        return load_body(RefreshTokenSchema())["refresh_token"], False
    data = load_body(RefreshTokenSchema(partial=True)) if sent_body else {}
    if "refresh_token" in data:
        return data["refresh_token"], False
    require_csrf_proof(cookie)
    return cookie, True


def _set(response: Response, name: str, value: str, max_age: int, path: str, httponly: bool):
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=True,
        httponly=httponly,
        samesite="Strict",
    )


def token_response(pair: TokenPair, cookie_mode: bool) -> Response:
    """The token pair as JSON; in cookie mode the refresh token goes in the cookie instead,
    and the body carries the CSRF proof (a Response, for the cookies: the view's
    `@bp.response(200, TokenPairSchema)` documents it)."""
    if not cookie_mode:
        return jsonify(TOKEN_PAIR.dump(pair))
    proof = csrf_token(pair.session_id)
    response = jsonify(
        TOKEN_PAIR.dump(
            {"access_token": pair.access_token, "expires_in": pair.expires_in, "csrf_token": proof}
        )
    )
    max_age = pair.refresh_expires_in
    _set(response, REFRESH_COOKIE, pair.refresh_token, max_age, _auth_path(), httponly=True)
    _set(response, CSRF_COOKIE, proof, max_age, "/", httponly=False)
    return response


def signed_out(clear: bool = True) -> Response:
    """An empty 204 that, with `clear`, removes the cookie-mode cookies from the browser."""
    response = make_response("", 204)
    if clear:
        for name, path, httponly in (
            (REFRESH_COOKIE, _auth_path(), True),
            (CSRF_COOKIE, "/", False),
        ):
            response.delete_cookie(
                name, path=path, secure=True, httponly=httponly, samesite="Strict"
            )
    return response
