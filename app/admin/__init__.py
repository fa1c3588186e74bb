"""The `admin` blueprint; its views are in `routes.py`."""

from app.admin.routes import bp

__all__ = ["bp"]
