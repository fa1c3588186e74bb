"""`flask tokens ...`: upkeep of the token store, meant to run from cron."""

import re
from datetime import timedelta

import click
from flask.cli import AppGroup

from app import purge

tokens_cli = AppGroup(
    "tokens", help="Upkeep of the refresh, session, emailed and MFA login tokens."
)

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType):
    """`90`, `90s`, `15m`, `12h` or `3d`."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        match = re.fullmatch(r"(\d{1,9})([smhd]?)", str(value).strip())
        if match is None:
            self.fail(f"{value!r} is not a duration like 90s, 15m, 12h or 3d", param, ctx)
        amount, unit = match.groups()
        return timedelta(seconds=int(amount) * UNITS[unit or "s"])


def _shown(delta: timedelta) -> str:
    """A duration in the largest unit that divides it: `3d`, `90m`, `0s`."""
    seconds = int(delta.total_seconds())
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@tokens_cli.command("purge")
@click.option(
    "--older-than",
    type=Duration(),
    default="3d",
    show_default=True,
    help="Keep what expired, was revoked or was used more recently than this.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=100_000),
    default=1000,
    show_default=True,
    help="Rows deleted per transaction.",
)
def purge_command(older_than: timedelta, batch_size: int) -> None:
    """Delete expired and long-revoked tokens, ended sessions, spent or expired MFA login
    challenges and expired passkey challenges, in short batches."""
    purged = purge.purge(older_than, batch_size)
    click.echo(
        f"removed {purged.refresh_tokens} refresh tokens, {purged.sessions} sessions, "
        f"{purged.email_tokens} emailed tokens, {purged.mfa_challenges} MFA challenges and "
        f"{purged.passkey_challenges} passkey challenges (ended more than {_shown(older_than)} ago)"
    )
