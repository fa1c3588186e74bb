"""`flask keys generate` and `flask keys list`: the signing keys of RS256/ES256.

The `keys` group is installed as a `flask.commands` entry point (pyproject.toml) rather
than on `app.cli`, so that `flask keys generate` works before the app can start: the
first key must exist before JWT_PRIVATE_KEY_FILE can point at it.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.keys import current_keys, generate_private_key, thumbprint, write_private_key

DEFAULT_KEY_DIR = Path("instance") / "keys"


def _configured_algorithm() -> str:
    """The asymmetric JWT_ALGORITHM of the environment (and .env), else RS256."""
    algorithm = os.environ.get("JWT_ALGORITHM", "").strip().upper()
    return algorithm if algorithm in ("RS256", "ES256") else "RS256"


@click.group()
def keys():
    """Manage the keys that sign access tokens with RS256/ES256."""


@keys.command()
@click.option(
    "--algorithm",
    type=click.Choice(["RS256", "ES256"], case_sensitive=False),
    default=_configured_algorithm,
    help="RS256 (RSA 2048) or ES256 (P-256). Default: JWT_ALGORITHM if asymmetric, else RS256.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the key to this file.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Write the key to DIR/<yyyymmdd>-<kid>.pem (default: {DEFAULT_KEY_DIR}).",
)
def generate(algorithm: str, out: Path | None, directory: Path | None):
    """Write a new private key (PKCS#8 PEM, mode 0600) and print its kid."""
    if out is not None and directory is not None:
        raise click.UsageError("give --out or --dir, not both")
    algorithm = algorithm.upper()
    private_key = generate_private_key(algorithm)
    kid = thumbprint(private_key.public_key())
    # Dated, so `ls` shows which key is newer; never starting with the "-" a kid may have.
    name = f"{datetime.now(UTC):%Y%m%d}-{kid}.pem"
    path = out if out is not None else (directory or DEFAULT_KEY_DIR) / name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        write_private_key(private_key, path)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"kid:       {kid}")
    click.echo(f"algorithm: {algorithm}")
    click.echo(f"file:      {path.resolve()}")


@keys.command("list")
@with_appcontext
def list_keys():
    """Show the configured keys: role, algorithm, kid and file (never key material)."""
    keyset = current_keys()
    if keyset is None:
        click.echo("JWT_ALGORITHM is HS256: access tokens are signed with JWT_ACCESS_SECRET.")
        return
    click.echo(f"{'role':<12} {'alg':<6} {'kid':<43} file")
    for key in keyset.keys:
        click.echo(f"{key.role:<12} {key.algorithm:<6} {key.kid:<43} {key.path}")
