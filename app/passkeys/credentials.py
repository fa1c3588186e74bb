"""The stored passkeys of users: list and count them, find one by credential id, tell
whether one is registered, delete one, record a use."""

from datetime import datetime

import sqlalchemy as sa
from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

from app.extensions import db
from app.models import Passkey, User, utcnow
from app.passkeys.exceptions import PasskeyNotFound
from app.schemas.requests import INT32_MAX

TRANSPORTS = {transport.value: transport for transport in AuthenticatorTransport}


def transports_column(transports: list[AuthenticatorTransport] | None) -> str:
    """The transports an authenticator named, as stored: space-separated, each once."""
    return " ".join(dict.fromkeys(transport.value for transport in transports or ()))


def of_user(user_id: int) -> list[Passkey]:
    """The passkeys of `user_id`, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Passkey)
            .where(Passkey.user_id == user_id)
            .order_by(Passkey.created_at, Passkey.id)
        )
    )


def descriptors(user_id: int) -> list[PublicKeyCredentialDescriptor]:
    """The user's credentials as `excludeCredentials` names them: an authenticator that
    holds one already refuses to make a second for the same account."""
    return [
        PublicKeyCredentialDescriptor(
            id=passkey.credential_id,
            transports=[TRANSPORTS[name] for name in passkey.transports.split()] or None,
        )
        for passkey in of_user(user_id)
    ]


def count(user_id: int) -> int:
    """How many passkeys `user_id` holds."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    )


def registered(credential_id: bytes) -> bool:
    """Whether any user has registered this credential already."""
    found = db.session.scalar(sa.select(Passkey.id).where(Passkey.credential_id == credential_id))
    return found is not None


def find(credential_id: bytes) -> tuple[Passkey, User] | None:
    """The passkey with this credential id and its user, or None."""
    row = db.session.execute(
        sa.select(Passkey, User)
        .join(User, User.id == Passkey.user_id)
        .where(Passkey.credential_id == credential_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def delete(user_id: int, passkey_id: int) -> Passkey:
    """Delete a passkey of `user_id` and return it. PasskeyNotFound, without saying why,
    for an id that does not exist or is someone else's."""
    if not 0 < passkey_id <= INT32_MAX:
        raise PasskeyNotFound()
    passkey = db.session.scalar(
        sa.select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    )
    if passkey is None:
        raise PasskeyNotFound()
    db.session.delete(passkey)
    db.session.flush()
    return passkey


def record_use(
    passkey: Passkey, sign_count: int, backed_up: bool, now: datetime | None = None
) -> bool:
    """Keep the counter and the backup state a login's assertion reported, and when it was
    used; False if another login moved the counter since `passkey` was read (the
    authenticator's counter must only grow, so only one of them may win)."""
    updated = db.session.execute(
        sa.update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
        .values(sign_count=sign_count, backed_up=backed_up, last_used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return updated.rowcount == 1
