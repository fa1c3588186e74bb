"""A property-based fuzz run of the live service from its own OpenAPI document.

gunicorn serves the app; schemathesis generates requests for every documented operation,
valid and invalid (positive and negative modes), and runs every check it has on each
answer: no 5xx, a documented status, headers and content type, a body matching the
documented schema, invalid data refused, a missing token refused, undocumented methods
answered 405 with Allow, and the rest. Bounded by max_examples per operation.

One check is left out: "schema-valid data must be accepted". The service validates more
than JSON Schema can say (a reset token must exist, an address must be deliverable in
form, a password must not be common), so a schema-valid body can rightly get a 400. What
JSON Schema can say (no NUL in a string, at least one field to change) the document says;
tests/test_openapi.py holds it to that.
"""

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.live import call, gunicorn, migrate, service_env
from tests.support import PASSWORD, make_app

USER = {"email": "fuzz@example.com", "password": PASSWORD}
# The service allowed to call POST /auth/introspect (HTTP Basic).
CLIENT = "fuzz:fuzz-introspection-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def live_service(tmp_path_factory):
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}",
        INTROSPECTION_CLIENTS=CLIENT,
    )
    migrate(env)
    with gunicorn(env, workers=2) as base:
        call(base, "POST", "/auth/register", USER)
        yield base


@pytest.fixture(scope="module")
def api(live_service):
    return schemathesis.openapi.from_url(f"{live_service}/openapi.json")


def bearer(base: str) -> dict[str, str]:
    """A fresh token per example, so that a logout in one example does not starve the next."""
    _, _, tokens = call(base, "POST", "/auth/login", USER)
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def credentials(base: str, operation) -> dict[str, str] | None:
    """What the operation's security scheme asks for: a client's Basic credentials, a
    bearer token, or nothing."""
    schemes = {
        name for requirement in operation.definition.raw.get("security", []) for name in requirement
    }
    if "clientBasic" in schemes:
        return {"Authorization": "Basic " + base64.b64encode(CLIENT.encode()).decode()}
    if "bearerAuth" in schemes:
        return bearer(base)
    return None


def documented_operations() -> list[tuple[str, str]]:
    """Every operation of the document, read from an app built as tests build one."""
    paths = make_app("sqlite://").extensions["openapi"]["paths"]
    return [
        (path, method)
        for path, operations in paths.items()
        for method in operations
        if method != "parameters"
    ]


@pytest.mark.parametrize(("path", "method"), documented_operations())
def test_api_answers_every_generated_request_as_documented(api, live_service, path, method):
    operation = api[path][method.upper()]
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if check is not positive_data_acceptance]
    cases = st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode))

    @given(case=cases)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        headers = credentials(live_service, operation)
        case.call_and_validate(base_url=live_service, headers=headers, checks=checks)

    check()
