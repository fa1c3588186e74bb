"""`flask users ...`: manage accounts from a shell, without SQL.

The rules are those of the HTTP API (`app.users`): the same email and password checks as
registration, and the last enabled admin cannot be demoted or disabled. A password is
read from a hidden prompt or from standard input, never from an argument, which would
leave it in the shell history and the process list.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from app import users, verification
from app.audit import audit, audit_change
from app.exceptions import ServiceError
from app.extensions import db
from app.models import USER, User
from app.schemas.fields import Email
from app.schemas.requests import RegisterSchema

users_cli = AppGroup(
    "users",
    help="Create, list, promote, disable and enable accounts; reset a second factor; check roles.",
)


class EmailType(click.ParamType):
    """An email address, normalised as the API does (so `Alice@X.io` finds `alice@x.io`)."""

    name = "email"

    def convert(self, value, param, ctx):
        try:
            return Email().deserialize(value)
        except ValidationError as exc:
            self.fail(" ".join(exc.messages), param, ctx)


EMAIL = EmailType()


@contextmanager
def _refused() -> Iterator[None]:
    """Turn a refusal of the service (unknown user, last admin...) into a clean exit 1."""
    try:
        yield
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None


def _configured(role: str, param: str) -> str:
    """`role` if it is in the app's ROLES (read once the app is loaded); else exit 2."""
    roles = current_app.config["ROLES"]
    if role not in roles:
        raise click.BadParameter(f"{role!r} is not one of {', '.join(roles)}.", param_hint=param)
    return role


def _describe(user: User) -> str:
    return f"{user.email} (id {user.id}, role {user.role}{', disabled' if user.disabled else ''})"


def _change(email: str, done: str, **changes) -> None:
    with _refused():
        change = users.change(users.get_by_email(email).id, **changes)
        db.session.commit()
    audit_change(change, source="cli")
    click.echo(f"{done} {_describe(change.user)}.")


def _read_password(from_stdin: bool) -> str:
    if not from_stdin:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    if not line.strip("\r\n"):
        raise click.ClickException("No password on standard input.")
    return line.rstrip("\r\n")


@users_cli.command("create")
@click.argument("email", type=EMAIL)
@click.option(
    "--role", default=USER, show_default=True, help="One of the roles in the ROLES setting."
)
@click.option(
    "--verified/--unverified",
    default=True,
    show_default=True,
    help="Whether the address counts as verified. --unverified: the user must confirm it "
    "with a link (asked for at POST /auth/resend-verification) when "
    "REQUIRE_EMAIL_VERIFICATION is on.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
def create(email: str, role: str, verified: bool, password_stdin: bool) -> None:
    """Create an account; the password is prompted for.

    The password is asked for twice with the input hidden, or read from standard input
    with --password-stdin; it is never an argument. It must pass the registration policy.
    The operator vouches for the address, so it counts as verified unless --unverified
    is given (no mail is sent either way).
    """
    role = _configured(role, "--role")
    password = _read_password(password_stdin)
    try:
        data = RegisterSchema().load({"email": email, "password": password})
    except ValidationError as exc:
        problems = "; ".join(" ".join(messages) for messages in exc.messages.values())
        raise click.ClickException(problems) from None
    with _refused():
        user = users.create_user(data["email"], data["password"], role=role, verified=verified)
        db.session.commit()
    audit("user_created", user_id=user.id, role=role, source="cli")
    click.echo(f"Created {_describe(user)}.")


@users_cli.command("set-role")
@click.argument("email", type=EMAIL)
@click.argument("role")
def set_role(email: str, role: str) -> None:
    """Give an account the role ROLE, one of the ROLES setting.

    Every session of it ends at once, access and refresh tokens alike: it signs in again
    and gets the new role. The last enabled admin cannot be demoted.
    """
    _change(email, "Updated", role=_configured(role, "ROLE"))


@users_cli.command("roles")
def roles() -> None:
    """Count the accounts of each role, and fail on roles that ROLES no longer lists.

    Such accounts still sign in, but pass no role-guarded route: give them a configured
    role with `set-role`. Exit status 1 while any is left, so a deployment can check.
    """
    configured = current_app.config["ROLES"]
    counts = users.role_counts()
    for role in configured:
        click.echo(f"{role:<32}  {counts.get(role, 0):>6}")
    unknown = {role: count for role, count in counts.items() if role not in configured}
    for role, count in unknown.items():
        click.echo(f"{role:<32}  {count:>6}  not in ROLES", err=True)
    if unknown:
        raise click.ClickException(
            f"{sum(unknown.values())} account(s) hold a role that ROLES does not list: "
            f"{', '.join(unknown)}; move them with `flask users set-role`."
        )


@users_cli.command("disable")
@click.argument("email", type=EMAIL)
def disable(email: str) -> None:
    """Disable an account, end its sessions and spend its emailed links.

    It can no longer log in or refresh, and its access tokens stop working at once. The
    last enabled admin cannot be disabled.
    """
    _change(email, "Disabled", disabled=True)


@users_cli.command("enable")
@click.argument("email", type=EMAIL)
def enable(email: str) -> None:
    """Enable a disabled account.

    It must log in anew: the sessions ended by `disable` stay ended.
    """
    _change(email, "Enabled", disabled=False)


@users_cli.command("reset-mfa")
@click.argument("email", type=EMAIL)
def reset_mfa(email: str) -> None:
    """Turn an account's second factor off, for a user who lost their authenticator and
    their recovery codes.

    The authenticator and the recovery codes are deleted and every session ends; the user
    signs in with the password alone, and may enroll again. Check who is asking first:
    this is what an attacker who has the password would ask for.
    """
    with _refused():
        change = users.change(users.get_by_email(email).id, reset_mfa=True)
        db.session.commit()
    audit_change(change, source="cli")
    if change.mfa_reset:
        click.echo(f"Turned the second factor off for {_describe(change.user)}.")
    else:
        click.echo(f"No second factor was on for {_describe(change.user)}.")


@users_cli.command("verify")
@click.argument("email", type=EMAIL)
def verify(email: str) -> None:
    """Mark an account's email address verified.

    As following its verification link would; outstanding links stop working.
    """
    with _refused():
        user = users.get_by_email(email)
        verification.mark_verified(user.id)
        db.session.commit()
    audit("email_verified", user_id=user.id, source="cli")
    click.echo(f"Verified {user.email}.")


@users_cli.command("list")
@click.option("--email", "prefix", metavar="PREFIX", help="Only emails starting with PREFIX.")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most N."
)
def list_users(prefix: str | None, limit: int) -> None:
    """List accounts by id.

    Columns: id, email, role, verified, enabled or disabled, created. A count goes to
    standard error.
    """
    found, total = users.search(prefix, 0, limit)
    role_width = max((len(user.role) for user in found), default=0)
    for user in found:
        click.echo(
            f"{user.id:>6}  {user.email:<40}  {user.role:<{role_width}}  "
            f"{'verified' if user.email_verified else 'unverified':<10}  "
            f"{'disabled' if user.disabled else 'enabled':<8}  "
            f"{user.created_at.isoformat(timespec='seconds')}"
        )
    click.echo(f"{len(found)} of {total} accounts shown.", err=True)
