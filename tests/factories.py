"""Accounts made in one call, for tests whose subject is not registration.

`make_user` writes the row itself, in any state (role, verified, disabled, password);
`update_user` changes stored accounts behind the API's back, as the CLI or an operator
would; `signed_in_user` makes an account and logs it in through the API, so its session
and tokens are the service's own. `mfa_user` turns a second factor on for an account and
`signed_in_with_second_factor` signs it in with one, through the services of `app.mfa`
(the HTTP routes of enrollment and verification come later). In the spirit of
cookiecutter-flask's factories, without factory_boy: a user has few fields, and plain
functions keep the row visible.
"""

from typing import NamedTuple

import pyotp
import sqlalchemy as sa

from app import sessions
from app.extensions import db
from app.mfa import challenges, enrollment
from app.models import USER, User
from app.schemas.responses import TokenPairSchema
from tests.support import PASSWORD, AuthActions


class MfaAccount(NamedTuple):
    user_id: int
    secret: str
    recovery_codes: list[str]


def make_user(
    app,
    email: str = "user@example.com",
    password: str = PASSWORD,
    *,
    role: str = USER,
    verified: bool = False,
    disabled: bool = False,
) -> int:
    """Store an account as registration would leave it (email lower-cased); return its id."""
    with app.app_context():
        user = User(email=email.lower(), role=role, email_verified=verified, disabled=disabled)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user.id


def update_user(app, email: str | None = None, **values) -> None:
    """Set columns of the account with `email`, or of every account when none is named."""
    with app.app_context():
        statement = db.update(User).values(**values)
        if email is not None:
            statement = statement.where(User.email == email.lower())
        db.session.execute(statement)
        db.session.commit()


def signed_in_user(
    app, client, email: str = "user@example.com", password: str = PASSWORD, **state
) -> dict:
    """Make an account (`state` as for `make_user`) and log it in; return its token pair."""
    make_user(app, email, password, **state)
    return AuthActions(client).login(email, password)


def mfa_user(app, email: str = "user@example.com", password: str = PASSWORD, **state):
    """Make an account (`state` as for `make_user`) with a confirmed TOTP authenticator,
    enrolled now (its current step is spent); return its id, secret and recovery codes."""
    user_id = make_user(app, email, password, **state)
    with app.app_context():
        keys = app.config["MFA_ENCRYPTION_KEY"]
        user = db.session.get(User, user_id)
        pending = enrollment.start(user, issuer=app.config["MFA_ISSUER"], keys=keys)
        codes = enrollment.confirm(user_id, pyotp.TOTP(pending.secret).now(), keys=keys)
        db.session.commit()
        return MfaAccount(user_id, pending.secret, codes)


def signed_in_with_second_factor(app, email: str = "user@example.com", **state) -> dict:
    """Make an account with MFA on and sign it in with its password and a recovery code,
    as /auth/mfa/verify will: return the token pair of a session whose amr is pwd + otp."""
    account = mfa_user(app, email, **state)
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.id == account.user_id))
        token = challenges.issue(user)
        login = challenges.verify(
            token,
            recovery_code=account.recovery_codes[0],
            keys=app.config["MFA_ENCRYPTION_KEY"],
        )
        pair = sessions.start_session(login.user, sessions.ClientInfo(None, "tests"), login.amr)
        db.session.commit()
        return TokenPairSchema().dump(pair)
