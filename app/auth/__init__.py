"""The `auth` blueprint; its views are in `routes.py` and `verify.py`."""

from app.auth import verify  # noqa: F401  (registers its views on bp)
from app.auth.routes import bp

__all__ = ["bp"]
