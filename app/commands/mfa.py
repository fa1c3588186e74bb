"""`flask mfa rekey`: encrypt every TOTP secret again under the first MFA_ENCRYPTION_KEY,
the step of a key rotation after which the old keys can be dropped (docs/mfa.md)."""

import click
from flask import current_app
from flask.cli import AppGroup

from app.audit import audit
from app.extensions import db
from app.mfa import enrollment

mfa_cli = AppGroup("mfa", help="Upkeep of the second factor's secrets.")


@mfa_cli.command("rekey")
def rekey() -> None:
    """Encrypt every TOTP secret again under the first key of MFA_ENCRYPTION_KEY.

    Run it after putting a new key first; once it reports no unreadable secret, the other
    keys can be removed. Exit status 1 when a secret opens with no listed key (its user
    cannot pass the second factor until reset with `flask users reset-mfa`).
    """
    result = enrollment.rekey_all(current_app.config["MFA_ENCRYPTION_KEY"])
    db.session.commit()
    audit("mfa_secrets_rekeyed", count=result.rekeyed, source="cli")
    click.echo(f"Encrypted {result.rekeyed} TOTP secret(s) under the first key.")
    if result.unreadable:
        ids = ", ".join(map(str, result.unreadable))
        click.echo(
            f"{len(result.unreadable)} secret(s) open with no listed key (user ids {ids}): "
            "put the missing key back, or reset those users with `flask users reset-mfa`.",
            err=True,
        )
        raise SystemExit(1)
