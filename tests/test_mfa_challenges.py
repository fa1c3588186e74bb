"""The login challenge: an `mfaToken` traded once, with a TOTP or a recovery code, for
the sign-in; wrong codes counted, expiry, credential changes, and races."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import tokens
from app.extensions import db
from app.mfa import challenges, enrollment
from app.mfa.exceptions import InvalidMfaCode, InvalidMfaToken
from app.models import MfaChallenge, User
from app.tokens import TokenError
from tests.mfa_support import NOW, add_user, code, enrolled, keys
from tests.support import at_once


@pytest.fixture
def signed_in(app):
    """A user with MFA on: (user id, secret, recovery codes)."""
    with app.app_context():
        user = add_user()
        secret, codes = enrolled(app, user)
        return user.id, secret, codes


def issue(user_id: int, now=NOW) -> str:
    token = challenges.issue(db.session.get(User, user_id), now=now)
    db.session.commit()
    return token


def verify(app, token, now=NOW, **factor):
    return challenges.verify(token, keys=keys(app), now=now, **factor)


def test_a_token_is_opaque_random_and_stored_hashed(app, signed_in):
    user_id, _, _ = signed_in
    with app.app_context():
        first, second = issue(user_id), issue(user_id)

        assert first != second
        assert first.startswith("mfa_") and len(first) >= len("mfa_") + 43
        hashes = db.session.scalars(sa.select(MfaChallenge.token_hash)).all()
        assert len(hashes) == 2 and not {first, second} & set(hashes)


def test_a_code_trades_the_token_for_a_sign_in_with_otp(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)

        login = verify(app, token, code=code(secret, 1))

        assert (login.user.id, login.amr, login.factor) == (user_id, ("pwd", "otp"), "otp")


def test_a_recovery_code_trades_it_too_once(app, signed_in):
    user_id, _, codes = signed_in
    with app.app_context():
        login = verify(app, issue(user_id), recovery_code=codes[0])
        db.session.commit()

        assert (login.amr, login.factor) == (("pwd", "otp"), "recovery_code")
        with pytest.raises(InvalidMfaCode):
            verify(app, issue(user_id), recovery_code=codes[0])


def test_a_token_is_single_use(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)
        verify(app, token, code=code(secret, 1))
        db.session.commit()

        with pytest.raises(InvalidMfaToken):
            verify(app, token, code=code(secret, 1, NOW + timedelta(seconds=30)))


def test_a_replayed_code_is_a_wrong_code(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        verify(app, issue(user_id), code=code(secret, 1))
        db.session.commit()

        with pytest.raises(InvalidMfaCode):
            verify(app, issue(user_id), code=code(secret, 1))


def test_five_wrong_codes_kill_the_token(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)
        for wrong in ("000000", "111111", "abc", "aaaa-bbbb-cccc-dddd", "999999"):
            factor = {"recovery_code": wrong} if "-" in wrong else {"code": wrong}
            with pytest.raises(InvalidMfaCode):
                verify(app, token, **factor)
            db.session.commit()  # as the view does: the count outlives the refusal

        with pytest.raises(InvalidMfaToken):
            verify(app, token, code=code(secret, 1))


def test_four_wrong_codes_leave_the_token_alive(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)
        for _ in range(4):
            with pytest.raises(InvalidMfaCode):
                verify(app, token, code="000000")
            db.session.commit()

        assert verify(app, token, code=code(secret, 1)).user.id == user_id


def test_a_token_lives_five_minutes(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)
        later = NOW + timedelta(seconds=challenges.TTL_SECONDS)

        with pytest.raises(InvalidMfaToken):
            verify(app, token, now=later, code=code(secret, 0, later))
        just_in_time = later - timedelta(seconds=1)
        assert verify(app, token, now=just_in_time, code=code(secret, 0, just_in_time))


def test_a_credential_change_kills_the_token(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)
        db.session.execute(
            sa.update(User)
            .where(User.id == user_id)
            .values(credential_version=User.credential_version + 1)
        )
        db.session.commit()

        with pytest.raises(InvalidMfaToken):
            verify(app, token, code=code(secret, 1))


def test_turning_mfa_off_kills_the_token(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)
        enrollment.reset(user_id)
        db.session.commit()

        with pytest.raises(InvalidMfaToken):
            verify(app, token, code=code(secret, 1))


@pytest.mark.parametrize("token", ["", "mfa_", "mfa_unknown", "not-a-token"])
def test_unknown_tokens_are_refused(app, signed_in, token):
    _, secret, _ = signed_in
    with app.app_context(), pytest.raises(InvalidMfaToken):
        verify(app, token, code=code(secret, 1))


def test_access_and_refresh_tokens_are_no_mfa_tokens_nor_it_one_of_them(app, auth, signed_in):
    user_id, secret, _ = signed_in
    pair = auth.signup("jwt@example.com")
    with app.app_context():
        token = issue(user_id)
        for jwt in (pair["accessToken"], pair["refreshToken"]):
            with pytest.raises(InvalidMfaToken):
                verify(app, jwt, code=code(secret, 1))
        with pytest.raises(TokenError):
            tokens.decode_access_token(token)
        with pytest.raises(TokenError):
            tokens.decode_refresh_token(token)


def test_two_concurrent_verifies_of_one_token_and_code_let_exactly_one_through(app, signed_in):
    user_id, secret, _ = signed_in
    with app.app_context():
        token = issue(user_id)

    def attempt(_):
        with app.app_context():
            try:
                outcome = verify(app, token, code=code(secret, 1)).factor
            except (InvalidMfaCode, InvalidMfaToken) as exc:
                outcome = type(exc).__name__
            db.session.commit()
            return outcome

    assert at_once(3, attempt).count("otp") == 1


def test_one_token_answered_at_once_with_different_codes_signs_in_once(app, signed_in):
    """Each code is good: only the single use of the token can stop the others."""
    user_id, secret, codes = signed_in
    with app.app_context():
        token = issue(user_id)
    factors = [{"code": code(secret, 1)}, {"recovery_code": codes[0]}, {"recovery_code": codes[1]}]

    def attempt(index):
        with app.app_context():
            try:
                verify(app, token, **factors[index])
                outcome = "signed in"
            except InvalidMfaToken:
                outcome = "refused"
            db.session.commit()
            return outcome

    assert sorted(at_once(3, attempt)) == ["refused", "refused", "signed in"]


def test_one_recovery_code_on_two_tokens_at_once_signs_in_once(app, signed_in):
    user_id, _, codes = signed_in
    with app.app_context():
        tokens_ = [issue(user_id) for _ in range(3)]

    def attempt(index):
        with app.app_context():
            try:
                verify(app, tokens_[index], recovery_code=codes[0])
                outcome = "signed in"
            except InvalidMfaCode:
                outcome = "refused"
            db.session.commit()
            return outcome

    assert sorted(at_once(3, attempt)) == ["refused", "refused", "signed in"]


def test_exactly_one_factor_is_given(app, signed_in):
    user_id, secret, codes = signed_in
    with app.app_context():
        token = issue(user_id)
        with pytest.raises(ValueError):
            verify(app, token)
        with pytest.raises(ValueError):
            verify(app, token, code=code(secret), recovery_code=codes[0])
