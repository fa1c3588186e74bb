"""A request body over MAX_CONTENT_LENGTH is a 413 however it is sent.

Werkzeug refuses a Content-Length over the maximum at once. A chunked body has no
Content-Length: gunicorn de-chunks it and marks the stream as ending by itself
(`wsgi.input_terminated`), and Werkzeug then reads it only up to the maximum and stops
there without a word, so an oversized JSON body would be cut short and answered 400
`invalid_json`. `Request` reads such a stream one byte past the maximum instead: if that
byte comes, the body is too large.
"""

from flask import Request as FlaskRequest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class CappedStream(LimitedStream):
    """A stream of unknown length that raises 413 on reading past `maximum` bytes."""

    def __init__(self, stream, maximum: int):
        super().__init__(stream, maximum + 1, is_max=True)

    def readinto(self, buffer) -> int | None:
        size = super().readinto(buffer)
        if self.tell() >= self.limit:
            raise RequestEntityTooLarge()
        return size


class Request(FlaskRequest):
    @cached_property
    def stream(self):
        """The body, capped at MAX_CONTENT_LENGTH also when no Content-Length announces it."""
        maximum = self.max_content_length
        if (
            self.content_length is None
            and maximum is not None
            and "wsgi.input_terminated" in self.environ
        ):
            return CappedStream(self.environ["wsgi.input"], maximum)
        return super().stream
