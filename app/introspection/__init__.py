"""The `introspection` blueprint (RFC 7662); its view is in `routes.py`."""

from app.introspection.routes import bp

__all__ = ["bp"]
