"""The passkeys' settings: the relying party follows PUBLIC_URL unless set, every origin
must belong to the RP ID, and a value browsers would refuse stops the service at start-up
with a line that says why."""

import pytest

from app import create_app
from app.config import ConfigError, load_config
from tests.support import production, validated


def started(**settings):
    """The settings of an app started with `settings` on top of the testing ones."""
    return create_app({"DATABASE_URL": "sqlite://", **settings}).config


def test_the_relying_party_defaults_to_public_url():
    config = started(PUBLIC_URL="https://Auth.Example.com:8443")

    assert config["WEBAUTHN_RP_ID"] == "auth.example.com"
    assert config["WEBAUTHN_ORIGINS"] == ["https://auth.example.com:8443"]
    assert config["WEBAUTHN_RP_NAME"] == "flask-jwt-auth-service"


def test_the_development_default_is_localhost():
    config = started()

    assert config["WEBAUTHN_RP_ID"] == "localhost"
    assert config["WEBAUTHN_ORIGINS"] == ["http://localhost:5000"]


def test_settings_from_the_environment_win_over_public_url():
    config = load_config(
        {
            "APP_ENV": "testing",
            "PUBLIC_URL": "https://auth.example.com",
            "WEBAUTHN_RP_ID": " Example.COM ",
            "WEBAUTHN_ORIGINS": "https://app.example.com, https://example.com/",
            "WEBAUTHN_RP_NAME": "Example",
        }
    )

    assert config["WEBAUTHN_RP_ID"] == "example.com"
    assert config["WEBAUTHN_ORIGINS"] == ["https://app.example.com", "https://example.com"]
    assert started(**config)["WEBAUTHN_RP_NAME"] == "Example"


def test_empty_settings_mean_the_defaults():
    config = validated({"APP_ENV": "testing", "WEBAUTHN_RP_ID": "", "WEBAUTHN_ORIGINS": " "})

    assert started(**config)["WEBAUTHN_RP_ID"] == "localhost"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WEBAUTHN_RP_ID": "https://example.com"}, "WEBAUTHN_RP_ID='https://example.com'"),
        ({"WEBAUTHN_RP_ID": "example.com:443"}, "expected a domain"),
        ({"WEBAUTHN_RP_ID": "127.0.0.1"}, "browsers refuse an IP address"),
        ({"WEBAUTHN_ORIGINS": "*"}, "WEBAUTHN_ORIGINS"),
        ({"WEBAUTHN_ORIGINS": "localhost:5000"}, "is not an origin like"),
    ],
)
def test_a_malformed_value_is_refused_and_named(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"APP_ENV": "testing", **environ})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        # An origin must be the RP ID or a subdomain of it, not merely end with its letters.
        (
            {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://evilexample.com"},
            "is not example.com or a subdomain of it",
        ),
        (
            {"WEBAUTHN_RP_ID": "app.example.com", "WEBAUTHN_ORIGINS": "https://example.com"},
            "is not app.example.com or a subdomain",
        ),
        ({"WEBAUTHN_ORIGINS": "https://localhost/path"}, "is not an origin"),
        ({"WEBAUTHN_RP_NAME": "x" * 65}, "WEBAUTHN_RP_NAME must be a name of 1 to 64"),
    ],
)
def test_origins_outside_the_relying_party_are_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        validated({"APP_ENV": "testing", **environ})


def test_subdomain_origins_are_accepted():
    validated(
        {
            "APP_ENV": "testing",
            "WEBAUTHN_RP_ID": "example.com",
            "WEBAUTHN_ORIGINS": "https://example.com,https://app.example.com:8443",
        }
    )


def test_the_service_does_not_start_with_a_foreign_origin():
    with pytest.raises(ConfigError, match="WEBAUTHN_ORIGINS"):
        started(WEBAUTHN_ORIGINS=["https://elsewhere.example"])


def test_production_refuses_a_plain_http_origin():
    validated(production())  # the origin of its https PUBLIC_URL
    with pytest.raises(ConfigError, match="must be https:// in production"):
        validated(
            production(WEBAUTHN_RP_ID="example.com", WEBAUTHN_ORIGINS="http://app.example.com")
        )


def test_the_passkey_rate_limit_must_be_a_limit():
    with pytest.raises(ConfigError, match="RATELIMIT_PASSKEY"):
        started(RATELIMIT_PASSKEY="often")
