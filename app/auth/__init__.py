"""The `auth` blueprint; its views are in `routes.py`, `verify.py`, `mfa.py` and
`passkeys.py`."""

from app.auth import mfa, passkeys, verify  # noqa: F401  (register their views on bp)
from app.auth.routes import bp

__all__ = ["bp"]
