"""The `pages` blueprint: the HTML pages for people (sign in, account, the mailed links).

The only HTML the service serves. Plain server-rendered templates and small JavaScript
files that call the JSON API, like any other client; see docs/pages.md.
"""

from app.pages.routes import bp

__all__ = ["bp"]
