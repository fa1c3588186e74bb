"""GET /openapi.json: an OpenAPI 3 document covering every route of the app."""

import re

from app.openapi import OPERATIONS


def test_document_is_served_as_openapi_3(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_every_route_is_documented_with_its_methods(app, client):
    document = client.get("/openapi.json").json
    routes = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: set(ops) for path, ops in document["paths"].items()}
    assert documented == routes
    assert set(OPERATIONS) == set(routes)


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
