"""Turning the second factor on and off: the pending enrollment, confirmation, recovery
codes, disabling, new codes, the admin reset, and the secret encrypted at rest."""

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app.extensions import db
from app.mfa import crypto, enrollment, recovery_codes
from app.mfa.exceptions import MfaAlreadyEnabled, MfaNotEnabled, MfaSecretUnreadable, WrongMfaCode
from app.models import MfaChallenge, RecoveryCode, TotpEnrollment
from tests.mfa_support import NOW, add_user, code, enrolled, keys
from tests.support import at_once


def start(app, user):
    return enrollment.start(user, issuer=app.config["MFA_ISSUER"], keys=keys(app))


def stored(model, user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(model).where(model.user_id == user_id)
    )


def test_start_hands_out_a_secret_its_uri_and_qr_code(app):
    with app.app_context():
        user = add_user("ann@example.com")

        pending = start(app, user)

        assert pending.otpauth_uri == (
            f"otpauth://totp/flask-jwt-auth-service:ann@example.com?secret={pending.secret}"
            "&issuer=flask-jwt-auth-service"
        )
        assert pending.qr_svg.startswith("<svg")
        assert not enrollment.is_enabled(user.id)


def test_confirm_turns_mfa_on_and_hands_out_ten_distinct_recovery_codes(app):
    with app.app_context():
        user = add_user()
        _, codes = enrolled(app, user)

        assert enrollment.is_enabled(user.id)
        assert len(set(codes)) == 10
        hashes = db.session.scalars(
            sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)
        ).all()
        assert len(hashes) == 10
        assert not set(codes) & set(hashes)


def test_confirm_refuses_a_wrong_code_and_stays_pending(app):
    with app.app_context():
        user = add_user()
        pending = start(app, user)

        with pytest.raises(WrongMfaCode):
            enrollment.confirm(user.id, code(pending.secret, 3), keys=keys(app), now=NOW)
        assert not enrollment.is_enabled(user.id)
        assert stored(RecoveryCode, user.id) == 0


def test_confirm_needs_a_pending_enrollment(app):
    with app.app_context():
        user = add_user()

        with pytest.raises(MfaNotEnabled):
            enrollment.confirm(user.id, "123456", keys=keys(app), now=NOW)


def test_start_and_confirm_are_refused_once_mfa_is_on(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)

        with pytest.raises(MfaAlreadyEnabled):
            start(app, user)
        with pytest.raises(MfaAlreadyEnabled):
            enrollment.confirm(user.id, code(secret, 1), keys=keys(app), now=NOW)


def test_restarting_a_pending_enrollment_replaces_its_secret(app):
    with app.app_context():
        user = add_user()
        first = start(app, user)
        second = start(app, user)

        assert first.secret != second.secret
        with pytest.raises(WrongMfaCode):
            enrollment.confirm(user.id, code(first.secret), keys=keys(app), now=NOW)
        assert enrollment.confirm(user.id, code(second.secret), keys=keys(app), now=NOW)


def test_the_secret_is_stored_encrypted(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)

        stored_secret = db.session.get(TotpEnrollment, user.id).secret_encrypted
        assert secret not in stored_secret
        assert crypto.decrypt(stored_secret, keys(app)) == secret
        with pytest.raises(MfaSecretUnreadable):
            crypto.decrypt(stored_secret, (Fernet.generate_key().decode(),))


def test_an_old_key_still_decrypts_after_a_new_one_is_prepended(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)
        new_key = Fernet.generate_key().decode()
        rotated = (new_key, *keys(app))

        row = db.session.get(TotpEnrollment, user.id)
        assert crypto.decrypt(row.secret_encrypted, rotated) == secret
        # what is written from now on is under the new key alone
        assert crypto.decrypt(crypto.encrypt(secret, rotated), (new_key,)) == secret
        enrollment.disable(user.id, code(secret, 1), keys=rotated, now=NOW)
        assert not enrollment.is_enabled(user.id)


def test_rekey_moves_every_secret_to_the_first_key_and_names_the_unreadable(app, runner):
    with app.app_context():
        secrets = {}
        for email in ("a@example.com", "b@example.com"):
            user = add_user(email)
            secrets[user.id], _ = enrolled(app, user)
        lost = add_user("lost@example.com")
        enrolled(app, lost)
        lost_id = lost.id
        row = db.session.get(TotpEnrollment, lost_id)
        row.secret_encrypted = crypto.encrypt("JBSWY3DPEHPK3PXP", (Fernet.generate_key().decode(),))
        db.session.commit()
    new_key = Fernet.generate_key().decode()
    app.config["MFA_ENCRYPTION_KEY"] = (new_key, *keys(app))

    result = runner.invoke(args=["mfa", "rekey"])

    assert result.exit_code == 1
    assert "Encrypted 2 TOTP secret(s)" in result.stdout
    assert f"user ids {lost_id}" in result.stderr
    with app.app_context():
        for user_id, secret in secrets.items():
            stored_secret = db.session.get(TotpEnrollment, user_id).secret_encrypted
            assert crypto.decrypt(stored_secret, (new_key,)) == secret


def test_rekey_with_nothing_unreadable_succeeds(app, runner):
    with app.app_context():
        enrolled(app, add_user())
    result = runner.invoke(args=["mfa", "rekey"])
    assert result.exit_code == 0
    assert "Encrypted 1 TOTP secret(s)" in result.stdout


def test_disable_with_a_code_removes_secret_and_recovery_codes(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)

        assert enrollment.disable(user.id, code(secret, 1), keys=keys(app), now=NOW) == "otp"
        assert [stored(TotpEnrollment, user.id), stored(RecoveryCode, user.id)] == [0, 0]
        assert not enrollment.is_enabled(user.id)


def test_disable_with_a_recovery_code(app):
    with app.app_context():
        user = add_user()
        _, codes = enrolled(app, user)

        factor = enrollment.disable(user.id, codes[3].upper(), keys=keys(app), now=NOW)

        assert factor == "recovery_code"
        assert not enrollment.is_enabled(user.id)


@pytest.mark.parametrize("wrong", ["000000", "aaaa-bbbb-cccc-dddd", "", "replayed"])
def test_disable_refuses_a_wrong_or_used_code(app, wrong):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)
        if wrong == "replayed":
            wrong = code(secret)  # the code that confirmed

        with pytest.raises(WrongMfaCode):
            enrollment.disable(user.id, wrong, keys=keys(app), now=NOW)
        assert enrollment.is_enabled(user.id)


def test_disable_and_new_codes_are_refused_when_mfa_is_off(app):
    with app.app_context():
        user = add_user()
        pending = start(app, user)  # pending is not on

        with pytest.raises(MfaNotEnabled):
            enrollment.disable(user.id, code(pending.secret), keys=keys(app), now=NOW)
        with pytest.raises(MfaNotEnabled):
            enrollment.regenerate_recovery_codes(
                user.id, code(pending.secret), keys=keys(app), now=NOW
            )


def test_a_recovery_code_is_single_use(app):
    with app.app_context():
        user = add_user()
        _, codes = enrolled(app, user)

        assert recovery_codes.spend(user.id, codes[0], NOW)
        assert not recovery_codes.spend(user.id, codes[0], NOW)
        assert recovery_codes.spend(user.id, codes[1].replace("-", " "), NOW)
        # another user's codes are not this user's
        other = add_user("other@example.com")
        assert not recovery_codes.spend(other.id, codes[2], NOW)


def test_new_recovery_codes_end_the_old_set(app):
    with app.app_context():
        user = add_user()
        secret, old = enrolled(app, user)

        new = enrollment.regenerate_recovery_codes(
            user.id, code(secret, 1), keys=keys(app), now=NOW
        )

        assert len(new) == 10 and not set(new) & set(old)
        assert stored(RecoveryCode, user.id) == 10
        with pytest.raises(WrongMfaCode):
            enrollment.disable(user.id, old[0], keys=keys(app), now=NOW)
        assert enrollment.disable(user.id, new[0], keys=keys(app), now=NOW) == "recovery_code"


def test_new_recovery_codes_need_a_current_code(app):
    with app.app_context():
        user = add_user()
        secret, _ = enrolled(app, user)

        with pytest.raises(WrongMfaCode):
            enrollment.regenerate_recovery_codes(user.id, code(secret, 2), keys=keys(app), now=NOW)
        assert stored(RecoveryCode, user.id) == 10


def test_admin_reset_turns_mfa_off_without_a_code(app):
    with app.app_context():
        user = add_user()
        enrolled(app, user)
        db.session.add(
            MfaChallenge(token_hash="h", user_id=user.id, credential_version=0, expires_at=NOW)
        )

        assert enrollment.reset(user.id) is True
        assert [stored(m, user.id) for m in (TotpEnrollment, RecoveryCode, MfaChallenge)] == [
            0,
            0,
            0,
        ]
        assert enrollment.reset(user.id) is False


def test_two_concurrent_uses_of_one_recovery_code_let_exactly_one_through(app):
    with app.app_context():
        user = add_user()
        _, codes = enrolled(app, user)
        user_id = user.id

    def disable(_):
        with app.app_context():
            try:
                enrollment.disable(user_id, codes[0], keys=keys(app), now=NOW)
                outcome = "off"
            except (WrongMfaCode, MfaNotEnabled) as exc:
                outcome = type(exc).__name__
            db.session.commit()
            return outcome

    outcomes = at_once(3, disable)

    assert outcomes.count("off") == 1


def test_two_concurrent_confirmations_turn_mfa_on_once(app):
    with app.app_context():
        user = add_user()
        pending = start(app, user)
        db.session.commit()
        user_id = user.id

    def confirm(steps):
        with app.app_context():
            try:
                codes = enrollment.confirm(
                    user_id, code(pending.secret, steps - 1), keys=keys(app), now=NOW
                )
            except MfaAlreadyEnabled:
                codes = None
            db.session.commit()
            return codes

    results = at_once(3, confirm)

    assert len([codes for codes in results if codes]) == 1
    with app.app_context():
        assert stored(RecoveryCode, user_id) == 10
