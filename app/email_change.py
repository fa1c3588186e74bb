"""Changing a user's email address: a link to the new address confirms it.

The request (`request_change`) stores an `app.email_tokens` token of the purpose
"email_change" that carries the new address, and only a newer request or a confirmation
spends it. Following the link (`confirm`) makes the address the account's, verified, and
ends every session: the address is in every access token. An address can be taken by
someone else between request and confirmation; the unique index has the last word, and
losing that race is `EmailTaken`, as at the request.
"""

from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import email_tokens, outbox, sessions
from app.exceptions import EmailTaken, InvalidEmailChangeToken
from app.extensions import db
from app.locks import lock_user
from app.models import User

PURPOSE = email_tokens.EMAIL_CHANGE
TOKEN_TTL = 3600  # seconds: the contract's one hour


class Changed(NamedTuple):
    user_id: int
    old_email: str
    new_email: str


def _taken(email: str, user_id: int) -> bool:
    other = sa.select(User.id).where(User.email == email, User.id != user_id)
    return db.session.scalar(other) is not None


def request_change(user: User, new_email: str) -> str:
    """A confirmation token for `user`'s move to `new_email` (normalised, not the current
    one), to `send` once committed; earlier links of the user stop working, and so does
    this one at any change that ends all their sessions (a password change, a reset...).
    EmailTaken."""
    lock_user(user.id)  # two requests at once leave one live link
    if _taken(new_email, user.id):
        db.session.rollback()
        raise EmailTaken()
    email_tokens.revoke_all(user.id, PURPOSE)
    return email_tokens.issue(user.id, PURPOSE, TOKEN_TTL, new_email=new_email)


def send(old_email: str, new_email: str, token: str) -> None:
    """Queue the link to the new address and a notice, without the link, to the old one:
    whoever holds the old mailbox learns of the change, and cannot complete it."""
    link = current_app.config["EMAIL_CHANGE_URL_TEMPLATE"].replace("{token}", token)
    outbox.send_mail(
        new_email,
        "Confirm your new email address",
        f"Someone asked to make this the email address of their account.\n\n"
        f"To confirm, open this link within 1 hour:\n{link}\n\n"
        f"If it was not you, ignore this message; nothing changes.\n",
    )
    outbox.send_mail(
        old_email,
        "Your email address is being changed",
        f"Someone signed in to your account asked to change its email address to "
        f"{new_email}.\nIt changes only once a link sent to that address is followed.\n\n"
        f"If it was not you, change your password now.\n",
    )


def confirm(token: str) -> Changed:
    """Spend an email-change token and give its user the new address, verified, ending
    every session (the caller commits). InvalidEmailChangeToken; EmailTaken when the
    address found an owner since the request."""
    spent = email_tokens.spend_row(token, PURPOSE)  # under the user's row lock
    user = db.session.get(User, spent.user_id) if spent is not None else None
    if user is None:
        db.session.rollback()
        raise InvalidEmailChangeToken()
    old_email = user.email
    if _taken(spent.new_email, user.id):
        db.session.rollback()
        raise EmailTaken()
    user.email = spent.new_email
    user.email_verified = True
    try:
        db.session.flush()
    except IntegrityError:  # taken by a registration or another change committing now
        db.session.rollback()
        raise EmailTaken() from None
    # Links mailed to the old address (a reset, a verification) must not act on the new one.
    email_tokens.revoke_all(user.id)
    sessions.credentials_changed(user)
    return Changed(user.id, old_email, spent.new_email)
