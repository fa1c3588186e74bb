"""Accounts made in one call, for tests whose subject is not registration.

`make_user` writes the row itself, in any state (role, verified, disabled, password);
`update_user` changes stored accounts behind the API's back, as the CLI or an operator
would; `signed_in_user` makes an account and logs it in through the API, so its session
and tokens are the service's own. In the spirit of cookiecutter-flask's factories, without
factory_boy: a user has few fields, and plain functions keep the row visible.
"""

from app.extensions import db
from app.models import USER, User
from tests.support import PASSWORD, AuthActions


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
