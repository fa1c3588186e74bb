"""bcrypt hashing and the password policy.

bcrypt only reads the first 72 bytes of a password, so longer ones are refused rather than
silently truncated. bcrypt releases the GIL while hashing, so threads and workers hash in
parallel.
"""

from functools import cache

import bcrypt
from flask import current_app

MIN_LENGTH = 8
MAX_BYTES = 72


def policy_errors(password: str, email: str | None = None) -> list[str]:
    """Return why `password` is refused (an empty list when it is acceptable)."""
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"Password must be at least {MIN_LENGTH} characters.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        errors.append(f"Password must be at most {MAX_BYTES} bytes in UTF-8.")
    if "\x00" in password:
        errors.append("Password must not contain NUL characters.")
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
