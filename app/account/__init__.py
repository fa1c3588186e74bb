"""The `account` blueprint; its views are in `routes.py` and `mfa.py`."""

from app.account import mfa  # noqa: F401  (registers its views on bp)
from app.account.routes import bp

__all__ = ["bp"]
