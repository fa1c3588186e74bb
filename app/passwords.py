"""bcrypt hashing and the password policy (after NIST SP 800-63B).

The policy is length and blocklist, not composition rules: at least 8 characters, at most
72 UTF-8 bytes (bcrypt only reads that many, so longer is refused rather than silently
truncated), not one of the 30,000 most common passwords, not the email address.
bcrypt releases the GIL while hashing, so threads and workers hash in parallel.
"""

from functools import cache
from importlib.resources import files

import bcrypt
from flask import current_app

MIN_LENGTH = 8
MAX_BYTES = 72


@cache
def common_passwords() -> frozenset[str]:
    """The blocklist shipped in app/data, case-folded; read once per process."""
    text = files("app").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


def policy_errors(password: str, email: str | None = None) -> list[str]:
    """Return why `password` is refused (an empty list when it is acceptable)."""
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"Password must be at least {MIN_LENGTH} characters.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        errors.append(f"Password must be at most {MAX_BYTES} bytes in UTF-8.")
    if "\x00" in password:
        errors.append("Password must not contain NUL characters.")
    if password.casefold() in common_passwords():
        errors.append("Password is too common; choose a less predictable one.")
    if email and password.casefold() == email.casefold():
        errors.append("Password must not be the same as the email address.")
    return errors


def hash_password(password: str) -> str:
    rounds = current_app.config["BCRYPT_ROUNDS"]
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def check_password(password: str, password_hash: str) -> bool:
    return bcrypt.checkpw(password.encode(), password_hash.encode())


@cache
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"not a real password", bcrypt.gensalt(rounds)).decode()


def burn_check(password: str) -> None:
    """Spend one bcrypt check for an unknown account, so timing does not reveal it."""
    check_password(password, _dummy_hash(current_app.config["BCRYPT_ROUNDS"]))
