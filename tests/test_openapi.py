"""GET /openapi.json: an OpenAPI 3 document covering every route of the app."""

import re

import jsonschema_rs
import pytest

from tests.authenticator import Authenticator
from tests.factories import make_user, mfa_user, signed_in_user
from tests.passkey_support import creation_options, request_options
from tests.support import PASSWORD


def test_document_is_served_as_openapi_3(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_every_route_is_documented_with_its_methods(app, client):
    """Every route of the API; the HTML pages for people (app/pages/) are not API."""
    document = client.get("/openapi.json").json
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("pages."):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: set(ops) - {"parameters"} for path, ops in document["paths"].items()}
    assert documented == routes


def test_every_operation_declares_its_answers_and_who_may_call(client):
    """Each view declared a success response, and a route that takes a body or a token
    lists the errors that come with it; no catch-all `default` answer hides one."""
    for path, operations in client.get("/openapi.json").json["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # of the path item (its path parameters)
                continue
            statuses = set(operation["responses"])
            assert any(status.startswith("2") for status in statuses), (path, method)
            assert "default" not in statuses, (path, method)
            assert "security" in operation, (path, method)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= statuses, (path, method)
            if {"bearerAuth": []} in operation["security"]:
                assert {"401", "403", "503"} <= statuses, (path, method)


def test_guarded_operations_declare_bearer_security(client):
    paths = client.get("/openapi.json").json["paths"]
    assert paths["/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/auth/login"]["post"]["security"] == []
    assert "401" in paths["/me"]["get"]["responses"]


def test_request_bodies_come_from_the_marshmallow_schemas(client):
    document = client.get("/openapi.json").json
    register = document["components"]["schemas"]["Register"]
    assert register["required"] == ["email", "password"]
    assert register["properties"]["email"]["format"] == "email"
    assert register["properties"]["password"]["minLength"] == 8
    pair = document["components"]["schemas"]["TokenPair"]
    assert set(pair["required"]) == {"accessToken", "tokenType", "expiresIn"}
    assert {"refreshToken", "csrfToken"} <= set(pair["properties"])


def body_validator(document: dict, path: str, method: str):
    """A JSON Schema validator of the request body `document` gives for an operation."""
    content = document["paths"][path][method]["requestBody"]["content"]
    schema = content["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


@pytest.mark.parametrize(
    ("method", "path", "body", "accepted"),
    [
        ("post", "/auth/login", {"email": "a@example.com", "password": "pass\x00word"}, False),
        ("post", "/auth/login", {"email": "a@example.com", "password": "password"}, True),
        ("post", "/auth/register", {"email": "a\x00b@example.com", "password": PASSWORD}, False),
        ("patch", "/admin/users/{user_id}", {}, False),
        ("patch", "/admin/users/{user_id}", {"unknown": "field"}, False),
        ("patch", "/admin/users/{user_id}", {"disabled": False}, True),
        ("patch", "/admin/users/{user_id}", {"role": "ad\x00min"}, False),
    ],
)
def test_the_document_refuses_the_bodies_the_service_refuses(
    app, client, auth, method, path, body, accepted
):
    """What the service refuses for its shape, the document says it refuses (schemathesis
    cannot check that direction: the service refuses some schema-valid bodies for reasons
    no schema can say, such as an unknown reset token)."""
    headers = auth.headers(signed_in_user(app, client, "admin@example.com", role="admin"))
    validator = body_validator(client.get("/openapi.json").json, path, method)

    response = client.open(path.format(user_id=1), method=method, json=body, headers=headers)

    assert (response.status_code != 400) is accepted, response.json
    assert validator.is_valid(body) is accepted


def test_both_login_answers_match_the_document(app, client):
    """/auth/login answers a token pair, or a second factor's challenge: the document's
    `oneOf` accepts each answer the service gives, and only as the shape it is."""
    document = client.get("/openapi.json").json
    content = document["paths"]["/auth/login"]["post"]["responses"]["200"]["content"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    answer = jsonschema_rs.validator_for(schema)
    make_user(app, "plain@example.com")
    mfa_user(app, "second@example.com")

    for email in ("plain@example.com", "second@example.com"):
        body = client.post("/auth/login", json={"email": email, "password": PASSWORD}).json
        assert answer.is_valid(body), body
    assert not answer.is_valid({"mfaRequired": True})


def test_the_passkey_routes_are_documented_with_their_webauthn_shapes(app, client):
    """The options the service hands out and the credentials it takes are what the document
    says: the answers validate against its schemas, and so does a real credential."""
    document = client.get("/openapi.json").json
    paths = document["paths"]
    assert paths["/me/passkeys/options"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/auth/passkeys/login"]["post"]["security"] == []
    assert "401" in paths["/auth/passkeys/login"]["post"]["responses"]
    assert "404" in paths["/me/passkeys/{passkey_id}"]["delete"]["responses"]

    def answer(path, method, status="200"):
        content = paths[path][method]["responses"][status]["content"]["application/json"]
        return jsonschema_rs.validator_for(
            {**content["schema"], "components": document["components"]}
        )

    tokens = signed_in_user(app, client)
    authenticator = Authenticator()
    created = creation_options(client, tokens)
    assert answer("/me/passkeys/options", "post").is_valid(created)
    credential = authenticator.create(created)
    assert body_validator(document, "/me/passkeys", "post").is_valid({"credential": credential})
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    stored = client.post("/me/passkeys", json={"credential": credential}, headers=headers).json
    passkey = document["components"]["schemas"]["Passkey"]
    assert set(stored) == set(passkey["properties"]) == set(passkey["required"])
    requested = request_options(client)
    assert answer("/auth/passkeys/options", "post").is_valid(requested)
    assertion = authenticator.get(requested)
    assert body_validator(document, "/auth/passkeys/login", "post").is_valid(
        {"credential": assertion}
    )
    assert client.post("/auth/passkeys/login", json={"credential": assertion}).status_code == 200
    # used once, so that `lastUsedAt` is a time (OpenAPI 3.0's `nullable` is not JSON Schema)
    listed = client.get("/me/passkeys", headers=headers).json
    assert answer("/me/passkeys", "get").is_valid(listed)
    assert not body_validator(document, "/auth/passkeys/login", "post").is_valid(
        {"credential": {**assertion, "rawId": "not base64!"}}
    )
