"""The `auth` blueprint; its views are in `routes.py`."""

from app.auth.routes import bp

__all__ = ["bp"]
