"""The `auth` blueprint; its views are in `routes.py`, `verify.py` and `mfa.py`."""

from app.auth import mfa, verify  # noqa: F401  (register their views on bp)
from app.auth.routes import bp

__all__ = ["bp"]
