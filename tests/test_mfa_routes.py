"""The second factor over HTTP: enroll, confirm, disable, new recovery codes, and the
login's second step, with an authenticator that computes codes from the handed-out secret.

The service accepts each 30 s step once per user, one step either way of its clock. A
test fixes its first step when the secret is handed out (`Authenticator.base`) and uses
`code(0)` then `code(1)`: both are valid whichever side of a step boundary the server's
clock is on while the test runs, and a later one (`code(2)`) would not be.
"""

import re
import time
from xml.etree import ElementTree

import jwt
import pyotp
import pytest
from cryptography.fernet import Fernet

from app.extensions import db
from app.mfa import challenges, enrollment
from app.models import User
from app.web.cookies import CSRF_COOKIE, MODE_HEADER, REFRESH_COOKIE
from tests.factories import make_user, update_user
from tests.support import PASSWORD, AuthActions, assert_error, at_once

EMAIL = "mfa@example.com"
START = "/me/mfa/totp"
CONFIRM = "/me/mfa/totp/confirm"
DISABLE = "/me/mfa/totp"
RENEW = "/me/mfa/recovery-codes"
VERIFY = "/auth/mfa/verify"
RECOVERY = re.compile(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")


class Authenticator:
    """An authenticator app holding `secret`; `code(k)` is the code `k` steps after the
    step in which it was set up."""

    def __init__(self, secret: str):
        self.totp = pyotp.TOTP(secret)
        self.base = int(time.time()) // 30

    def code(self, steps: int = 0) -> str:
        return self.totp.at((self.base + steps) * 30)

    def wrong(self) -> str:
        """A 6-digit code that no step near now has."""
        near = {self.code(k) for k in range(-2, 4)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


@pytest.fixture
def tokens(app, auth):
    make_user(app, EMAIL, verified=True)
    return auth.login(EMAIL)


@pytest.fixture
def headers(tokens):
    return AuthActions.headers(tokens)


def start(client, headers) -> Authenticator:
    response = client.post(START, headers=headers)
    assert response.status_code == 200, response.json
    return Authenticator(response.json["secret"])


def enroll(client, headers) -> tuple[Authenticator, list[str]]:
    """Turn MFA on through the API; the authenticator (its step 0 used) and the codes."""
    authenticator = start(client, headers)
    response = client.post(CONFIRM, json={"code": authenticator.code(0)}, headers=headers)
    assert response.status_code == 200, response.json
    return authenticator, response.json["recoveryCodes"]


def challenge(app, email: str = EMAIL) -> str:
    """An mfaToken, as a login with the right password would hand out."""
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        token = challenges.issue(user)
        db.session.commit()
        return token


def mfa_enabled(app, email: str = EMAIL) -> bool:
    with app.app_context():
        user_id = db.session.scalar(db.select(User.id).where(User.email == email))
        return enrollment.is_enabled(user_id)


# Enrollment


def test_enrollment_hands_out_the_secret_its_uri_and_a_qr_code(client, headers):
    response = client.post(START, headers=headers)

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"secret", "otpauthUri", "qrSvg"}
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])
    assert body["otpauthUri"] == (
        f"otpauth://totp/flask-jwt-auth-service:{EMAIL}"
        f"?secret={body['secret']}&issuer=flask-jwt-auth-service"
    )
    svg = ElementTree.fromstring(body["qrSvg"])  # noqa: S314  (our own answer, not untrusted)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"


def test_starting_again_replaces_the_secret(client, headers):
    first = start(client, headers)
    second = start(client, headers)

    assert first.totp.secret != second.totp.secret
    stale = client.post(CONFIRM, json={"code": first.code(0)}, headers=headers)
    assert_error(stale, 400, "invalid_mfa_code")
    fresh = client.post(CONFIRM, json={"code": second.code(0)}, headers=headers)
    assert fresh.status_code == 200


def test_enrollment_needs_an_access_token(client):
    assert_error(client.post(START), 401, "missing_token")


def test_confirmation_turns_mfa_on_and_hands_out_ten_recovery_codes(app, client, headers):
    authenticator = start(client, headers)
    assert not mfa_enabled(app)

    response = client.post(CONFIRM, json={"code": authenticator.code(0)}, headers=headers)

    assert response.status_code == 200
    codes = response.json["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(RECOVERY.fullmatch(code) for code in codes)
    assert mfa_enabled(app)


def test_confirmation_ends_every_other_session_and_keeps_the_callers(client, auth, tokens, headers):
    other = auth.login(EMAIL)

    enroll(client, headers)

    assert auth.me(tokens).status_code == 200
    assert auth.refresh(tokens["refreshToken"]).status_code == 200
    assert_error(auth.me(other), 401, "token_revoked")
    assert_error(auth.refresh(other["refreshToken"]), 401, "token_revoked")


def test_enrolling_again_once_on_is_a_conflict(client, headers):
    enroll(client, headers)

    assert_error(client.post(START, headers=headers), 409, "mfa_already_enabled")
    again = client.post(CONFIRM, json={"code": "123456"}, headers=headers)
    assert_error(again, 409, "mfa_already_enabled")


def test_confirming_without_an_enrollment_is_a_conflict(client, headers):
    response = client.post(CONFIRM, json={"code": "123456"}, headers=headers)

    assert_error(response, 409, "mfa_not_enabled")


def test_a_wrong_confirmation_code_leaves_mfa_off(app, client, headers):
    authenticator = start(client, headers)

    response = client.post(CONFIRM, json={"code": authenticator.wrong()}, headers=headers)

    assert_error(response, 400, "invalid_mfa_code")
    assert not mfa_enabled(app)


def test_a_used_code_is_refused_on_the_next_route(client, headers):
    authenticator, _ = enroll(client, headers)

    replay = client.delete(DISABLE, json={"code": authenticator.code(0)}, headers=headers)

    assert_error(replay, 400, "invalid_mfa_code")


@pytest.mark.parametrize(
    "code",
    [
        "abc",
        "12345",
        "1234567",
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits
        "12345\n",
        " 123456",
        123456,
        None,
    ],
)
def test_a_code_that_is_not_six_digits_is_a_validation_error(client, headers, code):
    start(client, headers)

    response = client.post(CONFIRM, json={"code": code}, headers=headers)

    body = assert_error(response, 400, "validation_error", details=True)
    assert "code" in body["details"]


def test_confirmation_without_a_code_is_a_validation_error(client, headers):
    response = client.post(CONFIRM, json={}, headers=headers)

    assert_error(response, 400, "validation_error", details=True)


def test_enrollment_is_audited_after_it_is_confirmed(client, headers, audit_log):
    enroll(client, headers)

    events = [line["event"] for line in audit_log]
    assert events == ["mfa_enrollment_started", "mfa_enrolled"]
    assert "secret" not in " ".join(audit_log.raw)


def test_two_enrollments_at_once_leave_one_secret(app, client, headers):
    def begin(index):
        return app.test_client().post(START, headers=headers)

    answers = at_once(2, begin)

    assert [answer.status_code for answer in answers] == [200, 200]
    authenticators = [Authenticator(answer.json["secret"]) for answer in answers]
    confirmations = [
        client.post(CONFIRM, json={"code": a.code(0)}, headers=headers).status_code
        for a in authenticators
    ]
    # The secret written last is the one kept: its code works, then MFA is on.
    assert sorted(confirmations) in ([200, 400], [200, 409])


def test_two_confirmations_at_once_turn_mfa_on_once(app, client, headers):
    authenticator = start(client, headers)
    code = authenticator.code(0)

    def confirm(index):
        return app.test_client().post(CONFIRM, json={"code": code}, headers=headers)

    answers = at_once(2, confirm)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 200
    assert statuses[1] in (400, 409)
    assert mfa_enabled(app)


# Turning it off


def test_disabling_with_a_code_turns_mfa_off(app, client, headers, audit_log):
    authenticator, codes = enroll(client, headers)

    response = client.delete(DISABLE, json={"code": authenticator.code(1)}, headers=headers)

    assert response.status_code == 204
    assert not mfa_enabled(app)
    assert audit_log[-1]["event"] == "mfa_disabled"
    assert audit_log[-1]["factor"] == "otp"
    # The recovery codes went with it; enrolling again starts from nothing.
    again = client.delete(DISABLE, json={"code": codes[0]}, headers=headers)
    assert_error(again, 409, "mfa_not_enabled")
    assert client.post(START, headers=headers).status_code == 200


def test_disabling_with_a_recovery_code(app, client, headers, audit_log):
    _, codes = enroll(client, headers)

    typed = codes[3].upper().replace("-", " ")
    response = client.delete(DISABLE, json={"code": typed}, headers=headers)

    assert response.status_code == 204
    assert not mfa_enabled(app)
    events = [line["event"] for line in audit_log]
    assert events[-2:] == ["mfa_recovery_code_used", "mfa_disabled"]


def test_disabling_with_a_wrong_code_changes_nothing(app, client, headers):
    authenticator, _ = enroll(client, headers)

    wrong_totp = client.delete(DISABLE, json={"code": authenticator.wrong()}, headers=headers)
    wrong_recovery = client.delete(DISABLE, json={"code": "aaaa-bbbb-cccc-dddd"}, headers=headers)

    assert_error(wrong_totp, 400, "invalid_mfa_code")
    assert_error(wrong_recovery, 400, "invalid_mfa_code")
    assert mfa_enabled(app)


def test_disabling_when_off_is_a_conflict(client, headers):
    response = client.delete(DISABLE, json={"code": "123456"}, headers=headers)

    assert_error(response, 409, "mfa_not_enabled")


@pytest.mark.parametrize("code", ["", "abcd", "aaaa-bbbb-cccc-ddd1", "aaaa--bbbb-cccc-dddd", 7])
def test_a_malformed_code_to_disable_is_a_validation_error(client, headers, code):
    enroll(client, headers)

    response = client.delete(DISABLE, json={"code": code}, headers=headers)

    assert_error(response, 400, "validation_error", details=True)


# New recovery codes


def test_new_recovery_codes_replace_the_old_set(app, client, headers, audit_log):
    authenticator, old = enroll(client, headers)

    response = client.post(RENEW, json={"code": authenticator.code(1)}, headers=headers)

    assert response.status_code == 200
    new = response.json["recoveryCodes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert audit_log[-1]["event"] == "mfa_recovery_codes_regenerated"
    dead = client.post(VERIFY, json={"mfaToken": challenge(app), "recoveryCode": old[0]})
    assert_error(dead, 401, "invalid_mfa_code")
    alive = client.post(VERIFY, json={"mfaToken": challenge(app), "recoveryCode": new[0]})
    assert alive.status_code == 200


def test_new_recovery_codes_for_a_recovery_code(client, headers, audit_log):
    _, old = enroll(client, headers)

    response = client.post(RENEW, json={"code": old[0]}, headers=headers)

    assert response.status_code == 200
    assert [line["event"] for line in audit_log][-2:] == [
        "mfa_recovery_code_used",
        "mfa_recovery_codes_regenerated",
    ]


def test_new_recovery_codes_need_a_right_code(client, headers):
    authenticator, _ = enroll(client, headers)

    response = client.post(RENEW, json={"code": authenticator.wrong()}, headers=headers)

    assert_error(response, 400, "invalid_mfa_code")


def test_new_recovery_codes_when_off_is_a_conflict(client, headers):
    response = client.post(RENEW, json={"code": "123456"}, headers=headers)

    assert_error(response, 409, "mfa_not_enabled")


# The login's second step


def test_verify_with_a_code_opens_a_session(app, client, auth, headers, audit_log):
    authenticator, _ = enroll(client, headers)

    response = client.post(VERIFY, json={"mfaToken": challenge(app), "code": authenticator.code(1)})

    assert response.status_code == 200
    pair = response.json
    assert set(pair) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert audit_log[-1]["event"] == "mfa_verify_success"
    assert audit_log[-1]["factor"] == "otp"
    assert auth.me(pair).json["email"] == EMAIL
    assert auth.refresh(pair["refreshToken"]).status_code == 200


def test_verify_with_a_recovery_code_spends_it(app, client, headers, audit_log):
    _, codes = enroll(client, headers)

    first = client.post(VERIFY, json={"mfaToken": challenge(app), "recoveryCode": codes[0]})
    again = client.post(VERIFY, json={"mfaToken": challenge(app), "recoveryCode": codes[0]})

    assert first.status_code == 200
    assert_error(again, 401, "invalid_mfa_code")
    assert "mfa_recovery_code_used" in [line["event"] for line in audit_log]
    assert codes[0] not in " ".join(audit_log.raw)


def test_a_secret_no_key_opens_is_503_and_counts_nothing(app, client, headers, caplog):
    """An operator dropped a key still needed: the user's code is not called wrong, the
    challenge survives, and the log says why."""
    authenticator, _ = enroll(client, headers)
    token = challenge(app)
    kept = app.config["MFA_ENCRYPTION_KEY"]
    app.config["MFA_ENCRYPTION_KEY"] = (Fernet.generate_key().decode(),)

    refused = client.post(VERIFY, json={"mfaToken": token, "code": authenticator.code(1)})

    assert_error(refused, 503, "service_unavailable")
    assert "MfaSecretUnreadable" in caplog.text
    app.config["MFA_ENCRYPTION_KEY"] = kept
    admitted = client.post(VERIFY, json={"mfaToken": token, "code": authenticator.code(1)})
    assert admitted.status_code == 200


def test_an_mfa_token_is_single_use(app, client, headers):
    _, codes = enroll(client, headers)
    token = challenge(app)

    first = client.post(VERIFY, json={"mfaToken": token, "recoveryCode": codes[0]})
    again = client.post(VERIFY, json={"mfaToken": token, "recoveryCode": codes[1]})

    assert first.status_code == 200
    assert_error(again, 401, "invalid_token")


def test_a_code_is_accepted_once_across_logins(app, client, headers):
    authenticator, _ = enroll(client, headers)
    code = authenticator.code(1)

    first = client.post(VERIFY, json={"mfaToken": challenge(app), "code": code})
    replay = client.post(VERIFY, json={"mfaToken": challenge(app), "code": code})

    assert first.status_code == 200
    assert_error(replay, 401, "invalid_mfa_code")


def test_five_wrong_codes_kill_the_mfa_token(app, client, headers, audit_log):
    authenticator, _ = enroll(client, headers)
    token = challenge(app)

    for _ in range(5):
        wrong = client.post(VERIFY, json={"mfaToken": token, "code": authenticator.wrong()})
        assert_error(wrong, 401, "invalid_mfa_code")
    right = client.post(VERIFY, json={"mfaToken": token, "code": authenticator.code(1)})

    assert_error(right, 401, "invalid_token")
    failures = [line for line in audit_log if line["event"] == "mfa_verify_failure"]
    assert [line["reason"] for line in failures] == ["wrong_code"] * 5 + ["invalid_token"]
    assert all(line["user_id"] == failures[0]["user_id"] is not None for line in failures)
    # The code was not spent by the dead token: a new login can still use it.
    fresh = client.post(VERIFY, json={"mfaToken": challenge(app), "code": authenticator.code(1)})
    assert fresh.status_code == 200


def test_unknown_and_foreign_tokens_are_refused(app, client, tokens, headers):
    enroll(client, headers)
    unknown = "mfa_" + "A" * 43

    for token in (unknown, "nonsense", tokens["accessToken"], tokens["refreshToken"]):
        response = client.post(VERIFY, json={"mfaToken": token, "code": "123456"})
        assert_error(response, 401, "invalid_token")


def test_an_mfa_token_is_not_an_access_or_refresh_token(app, client, auth, headers):
    enroll(client, headers)
    token = challenge(app)

    assert_error(auth.me(token), 401, "invalid_token")
    assert_error(auth.refresh(token), 401, "invalid_token")


def test_a_token_of_a_user_who_turned_mfa_off_is_dead(app, client, headers):
    _, codes = enroll(client, headers)
    token = challenge(app)
    assert client.delete(DISABLE, json={"code": codes[0]}, headers=headers).status_code == 204

    response = client.post(VERIFY, json={"mfaToken": token, "recoveryCode": codes[1]})

    assert_error(response, 401, "invalid_token")


@pytest.mark.parametrize(
    "body",
    [
        {"mfaToken": "mfa_x"},
        {"mfaToken": "mfa_x", "code": "123456", "recoveryCode": "aaaa-bbbb-cccc-dddd"},
        {"code": "123456"},
        {"mfaToken": "", "code": "123456"},
        {"mfaToken": "mfa_" + "a" * 5000, "code": "123456"},
        {"mfaToken": "mfa_\x00", "code": "123456"},
        {"mfaToken": "mfa_x", "code": "12345a"},
        {"mfaToken": "mfa_x", "code": "١٢٣٤٥٦"},
        {"mfaToken": "mfa_x", "recoveryCode": "123456"},
        {"mfaToken": 5, "code": "123456"},
    ],
)
def test_a_malformed_verification_is_a_validation_error(client, body):
    response = client.post(VERIFY, json=body)

    assert_error(response, 400, "validation_error", details=True)


def test_verify_refuses_a_disabled_account(app, client, headers):
    _, codes = enroll(client, headers)
    token = challenge(app)
    update_user(app, EMAIL, disabled=True)

    response = client.post(VERIFY, json={"mfaToken": token, "recoveryCode": codes[0]})

    assert_error(response, 403, "account_disabled")


@pytest.mark.parametrize("app_config", [{"REQUIRE_EMAIL_VERIFICATION": True}])
def test_verify_refuses_an_unverified_account_when_verification_is_required(app, client, auth):
    make_user(app, "new@example.com", verified=True)
    headers = AuthActions.headers(auth.login("new@example.com"))
    _, codes = enroll(client, headers)
    update_user(app, "new@example.com", email_verified=False)

    response = client.post(
        VERIFY, json={"mfaToken": challenge(app, "new@example.com"), "recoveryCode": codes[0]}
    )

    assert_error(response, 403, "email_unverified")


def test_two_verifies_with_one_code_open_one_session(app, headers, client):
    authenticator, _ = enroll(client, headers)
    tokens = [challenge(app), challenge(app)]
    code = authenticator.code(1)

    def verify(index):
        return app.test_client().post(VERIFY, json={"mfaToken": tokens[index], "code": code})

    statuses = sorted(response.status_code for response in at_once(2, verify))

    assert statuses == [200, 401]


def test_two_verifies_of_one_mfa_token_open_one_session(app, headers, client):
    _, codes = enroll(client, headers)
    token = challenge(app)

    def verify(index):
        return app.test_client().post(
            VERIFY, json={"mfaToken": token, "recoveryCode": codes[index]}
        )

    statuses = sorted(response.status_code for response in at_once(2, verify))

    assert statuses == [200, 401]


def test_verify_in_cookie_mode_sets_the_refresh_cookie(app, client, headers):
    _, codes = enroll(client, headers)

    response = client.post(
        VERIFY,
        json={"mfaToken": challenge(app), "recoveryCode": codes[0]},
        headers={MODE_HEADER: "cookie"},
    )

    assert response.status_code == 200
    assert set(response.json) == {"accessToken", "tokenType", "expiresIn", "csrfToken"}
    assert client.get_cookie(REFRESH_COOKIE, path="/auth") is not None
    assert client.get_cookie(CSRF_COOKIE).value == response.json["csrfToken"]
    refreshed = client.post("/auth/refresh", headers={"X-CSRF-Token": response.json["csrfToken"]})
    assert refreshed.status_code == 200


LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_LOGIN": "100 per minute",
    "RATELIMIT_LOGIN_ACCOUNT": "2 per minute",
}


@pytest.mark.parametrize("app_config", [LIMITS])
def test_verify_is_limited_per_account_across_mfa_tokens(app, client, headers):
    authenticator, codes = enroll(client, headers)
    make_user(app, "other@example.com", PASSWORD, verified=True)
    other_headers = AuthActions.headers(AuthActions(client).login("other@example.com"))
    _, other_codes = enroll(client, other_headers)

    for _ in range(2):
        wrong = client.post(
            VERIFY, json={"mfaToken": challenge(app), "code": authenticator.wrong()}
        )
        assert_error(wrong, 401, "invalid_mfa_code")
    limited = client.post(VERIFY, json={"mfaToken": challenge(app), "recoveryCode": codes[0]})

    assert_error(limited, 429, "rate_limited")
    assert "Retry-After" in limited.headers
    # Another account's budget is its own.
    other = client.post(
        VERIFY,
        json={"mfaToken": challenge(app, "other@example.com"), "recoveryCode": other_codes[0]},
    )
    assert other.status_code == 200


@pytest.mark.parametrize("app_config", [LIMITS])
def test_a_right_code_gives_its_account_attempt_back(app, client, headers):
    _, codes = enroll(client, headers)

    for code in codes[:4]:
        response = client.post(VERIFY, json={"mfaToken": challenge(app), "recoveryCode": code})
        assert response.status_code == 200


@pytest.mark.parametrize("app_config", [{**LIMITS, "RATELIMIT_LOGIN": "2 per minute"}])
def test_verify_is_limited_per_address(app, client):
    for _ in range(2):
        response = client.post(VERIFY, json={"mfaToken": "mfa_unknown", "code": "123456"})
        assert_error(response, 401, "invalid_token")

    limited = client.post(VERIFY, json={"mfaToken": "mfa_unknown", "code": "123456"})

    assert_error(limited, 429, "rate_limited")


# The whole journey, through the HTTP API only


def amr_of(pair: dict) -> list[str]:
    return jwt.decode(pair["accessToken"], options={"verify_signature": False})["amr"]


@pytest.mark.parametrize("app_config", [{"REQUIRE_MFA_ROLES": ("admin",)}])
def test_enroll_log_in_with_a_code_refresh_and_use_an_admin_route(app, client, auth, audit_log):
    """An admin under REQUIRE_MFA_ROLES=admin: refused on admin routes with a password
    login; enrolls; logs in with password then code (amr pwd + otp), kept by a refresh;
    admitted; logs in again with a recovery code; the code's step is not accepted twice."""
    make_user(app, EMAIL, verified=True, role="admin")
    password_only = auth.login(EMAIL)
    assert amr_of(password_only) == ["pwd"]
    assert_error(
        client.get("/admin/users", headers=AuthActions.headers(password_only)), 403, "mfa_required"
    )

    authenticator, codes = enroll(client, AuthActions.headers(password_only))
    assert client.get("/me", headers=AuthActions.headers(password_only)).json["mfaEnabled"]

    login = client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD}).json
    assert login["mfaRequired"] is True and "accessToken" not in login
    pair = client.post(VERIFY, json={"mfaToken": login["mfaToken"], "code": authenticator.code(1)})
    assert pair.status_code == 200, pair.json
    assert amr_of(pair.json) == ["pwd", "otp"]
    refreshed = auth.refresh(pair.json["refreshToken"]).json
    assert amr_of(refreshed) == ["pwd", "otp"]
    assert client.get("/admin/users", headers=AuthActions.headers(refreshed)).status_code == 200

    replay = client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD}).json
    replayed = client.post(
        VERIFY, json={"mfaToken": replay["mfaToken"], "code": authenticator.code(1)}
    )
    assert_error(replayed, 401, "invalid_mfa_code")
    by_recovery = client.post(
        VERIFY, json={"mfaToken": replay["mfaToken"], "recoveryCode": codes[0]}
    )
    assert by_recovery.status_code == 200
    assert amr_of(by_recovery.json) == ["pwd", "otp"]
    events = [line["event"] for line in audit_log]
    assert {"mfa_enrolled", "mfa_verify_success", "mfa_recovery_code_used"} <= set(events)
