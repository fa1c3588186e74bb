"""The `reset` blueprint; its views are in `routes.py`."""

from app.reset.routes import bp

__all__ = ["bp"]
