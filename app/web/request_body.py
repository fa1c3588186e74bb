"""Reading a request body as JSON: 415 when it is not JSON, 400 `invalid_json` when it is
malformed or not an object. (413 for a body over MAX_CONTENT_LENGTH: app/bodies.py.)"""

import json
from typing import Any

from flask import request
from marshmallow import Schema

from app.errors import APIError


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or an APIError (415 or 400 invalid_json)."""
    if not request.is_json:
        raise APIError(
            415,
            "unsupported_media_type",
            "The request body must be JSON (Content-Type: application/json).",
        )
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise APIError(400, "invalid_json", "The request body must be a JSON object.")
    return data


def load_body(schema: Schema) -> dict[str, Any]:
    """Parse the JSON object in the request body and validate it with `schema` (a
    marshmallow ValidationError is answered 400 `validation_error`, app/errors.py)."""
    return schema.load(json_body())
