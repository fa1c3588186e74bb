"""The mails that tell a user a passkey was added to or removed from their account.

No link, as for the other security notices (app/email_change.py): whoever reads the mail
learns of the change and is told what to do if it was not them.
"""

from app import outbox


def added(email: str, name: str) -> None:
    outbox.send_mail(
        email,
        "A passkey was added to your account",
        f"A passkey named {name!r} was added to your account. It can now sign in to the "
        "account without a password.\n\n"
        "If it was not you, remove it from your account's passkeys and change your "
        "password now.\n",
    )


def removed(email: str, name: str) -> None:
    outbox.send_mail(
        email,
        "A passkey was removed from your account",
        f"The passkey named {name!r} was removed from your account and can no longer "
        "sign in to it.\n\n"
        "If it was not you, change your password now.\n",
    )
