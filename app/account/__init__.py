"""The `account` blueprint; its views are in `routes.py`."""

from app.account.routes import bp

__all__ = ["bp"]
