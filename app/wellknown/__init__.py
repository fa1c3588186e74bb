"""The `wellknown` blueprint (RFC 8615 `/.well-known/` documents); its views are in `routes.py`."""

from app.wellknown.routes import bp

__all__ = ["bp"]
