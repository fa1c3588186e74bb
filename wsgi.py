"""Entry point for gunicorn (`gunicorn wsgi:app`) and the `flask` command.

A configuration the service refuses is one line on stderr, `error: <why>`, and exit
status 4: gunicorn's "the application failed to load", on which its master stops rather
than booting workers again and again. `flask` exits with it too.
"""

import sys

from app import create_app
from app.config import ConfigError

APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(APP_LOAD_ERROR)
