"""TOTP (RFC 6238): the otpauth URI and its QR code, clock skew, and each step once."""

import re

import pytest

from app.extensions import db
from app.mfa import totp
from app.mfa.enrollment import accept_totp
from app.models import TotpEnrollment
from tests.mfa_support import NOW, add_user, code, enrolled, keys
from tests.support import at_once


def test_a_secret_is_160_bits_of_base32():
    secrets = {totp.new_secret() for _ in range(20)}

    assert len(secrets) == 20
    assert all(re.fullmatch(r"[A-Z2-7]{32}", secret) for secret in secrets)


def test_otpauth_uri_names_issuer_and_account():
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "ann+mfa@example.com", "Acme Auth")

    assert uri == (
        "otpauth://totp/Acme%20Auth:ann%2Bmfa@example.com"
        "?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Auth"
    )


def test_qr_code_is_an_svg_document():
    svg = totp.qr_svg(totp.otpauth_uri("JBSWY3DPEHPK3PXP", "a@example.com", "Acme"))

    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.rstrip().endswith("</svg>")
    assert "<path" in svg


@pytest.mark.parametrize(
    ("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_one_step_of_skew_either_way_is_accepted(steps, accepted):
    secret = totp.new_secret()

    step = totp.matching_step(secret, code(secret, steps), NOW)

    assert step == (totp.step_at(NOW) + steps if accepted else None)


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12345a", " 123456", "١٢٣٤٥٦"])
def test_anything_but_six_ascii_digits_is_no_code(typed):
    assert totp.matching_step(totp.new_secret(), typed, NOW) is None


def test_a_code_is_accepted_once(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)
        row = db.session.get(TotpEnrollment, user.id)

        assert accept_totp(row, code(secret, 1), keys(app), NOW)
        assert not accept_totp(row, code(secret, 1), keys(app), NOW)
        # nor an earlier step, still within the skew
        assert not accept_totp(row, code(secret, -1), keys(app), NOW)


def test_the_confirming_code_cannot_be_used_again(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)
        row = db.session.get(TotpEnrollment, user.id)

        assert not accept_totp(row, code(secret), keys(app), NOW)


def test_two_concurrent_uses_of_one_code_let_exactly_one_through(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)
        user_id = user.id

    def use(_):
        with app.app_context():
            row = db.session.get(TotpEnrollment, user_id)
            accepted = accept_totp(row, code(secret, 1), keys(app), NOW)
            db.session.commit()
            return accepted

    assert sorted(at_once(4, use)) == [False, False, False, True]
