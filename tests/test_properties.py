"""Property-based tests: the body parser, the schemas and the token decoder on any input.

Whatever arrives, the answer is a clean refusal (a 4xx envelope, a ValidationError or a
TokenError), never an unexpected exception.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app import tokens
from app.schemas import requests as schemas

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(
    st.sampled_from(["email", "password", "refreshToken", "token", "role", "x"]) | st.text(),
    json_values | st.text(alphabet=st.characters(codec=None)),
    max_size=5,
)


@pytest.mark.parametrize(
    "schema",
    [
        schemas.RegisterSchema,
        schemas.CredentialsSchema,
        schemas.RefreshTokenSchema,
        schemas.ForgotPasswordSchema,
        schemas.ResetPasswordSchema,
    ],
)
@FUZZ
@given(body=bodies)
def test_schemas_accept_or_refuse_cleanly(schema, body):
    try:
        loaded = schema().load(body)
    except ValidationError as exc:
        assert isinstance(exc.messages, dict)
        return
    for value in loaded.values():
        assert isinstance(value, str)
        value.encode("utf-8")  # anything accepted can reach bcrypt and the database


@FUZZ
@given(token=st.text() | st.binary().map(lambda b: b.decode("latin-1")))
def test_token_decoders_refuse_garbage_with_token_error(app, token):
    with app.app_context():
        for decode in (tokens.decode_access_token, tokens.decode_refresh_token):
            with pytest.raises(tokens.TokenError):
                decode(token)


@FUZZ
@given(
    header=st.dictionaries(st.text(max_size=5), json_values, max_size=4),
    claims=st.dictionaries(st.text(max_size=5), json_values, max_size=6),
)
def test_token_decoders_refuse_any_unsigned_structure(app, header, claims):
    import base64

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    with app.app_context(), pytest.raises(tokens.TokenError):
        tokens.decode_access_token(f"{part(header)}.{part(claims)}.c2ln")


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_request_body_gets_an_envelope_not_a_500(client, raw):
    for path in ("/auth/login", "/auth/register", "/auth/refresh", "/auth/forgot-password"):
        response = client.post(path, data=raw, content_type="application/json")
        assert 400 <= response.status_code < 500, (path, raw, response.json)
        assert set(response.json) >= {"error", "code"}
