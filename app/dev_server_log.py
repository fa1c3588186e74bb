"""`flask run`'s request lines, without their query strings.

werkzeug's development server logs every request line as it came, and the links the
service mails carry their token in the query (`/reset?token=...`, `/verify?token=...`).
This filter cuts the query out of those lines, as gunicorn's access log
(app/access_log.py) never writes it: no token reaches a log, in development either.
"""

import logging
import re

from flask import Flask

QUERY = re.compile(r"\?[^\s\"]*")


class WithoutQueryStrings(logging.Filter):
    """Drops `?...` from the string arguments of a record (the request line is one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                QUERY.sub("", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def init_app(app: Flask) -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(existing, WithoutQueryStrings) for existing in logger.filters):
        logger.addFilter(WithoutQueryStrings())
