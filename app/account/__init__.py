"""The `account` blueprint; its views are in `routes.py`, `mfa.py` and `passkeys.py`."""

from app.account import mfa, passkeys  # noqa: F401  (register their views on bp)
from app.account.routes import bp

__all__ = ["bp"]
