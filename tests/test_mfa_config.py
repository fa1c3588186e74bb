"""The second factor's settings: the encryption keys checked at start-up, required in
production and made in development; the issuer; the roles that must use it."""

import re
import stat

import pytest
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from app import create_app
from app.config import ConfigError, derive_defaults, load_config, validate_config
from tests.support import MFA_KEY, dev_app, production, validated


def test_testing_has_a_key():
    config = validated({"APP_ENV": "testing"})

    assert len(config["MFA_ENCRYPTION_KEY"]) == 1
    Fernet(config["MFA_ENCRYPTION_KEY"][0])


def test_production_refuses_to_start_without_the_key():
    environ = {k: v for k, v in production().items() if k != "MFA_ENCRYPTION_KEY"}

    with pytest.raises(ConfigError, match="MFA_ENCRYPTION_KEY is required in production"):
        validated(environ)


def test_the_service_does_not_start_in_production_without_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env to read
    monkeypatch.delenv("MFA_ENCRYPTION_KEY", raising=False)
    for name, value in production().items():
        if name != "MFA_ENCRYPTION_KEY":
            monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match="MFA_ENCRYPTION_KEY is required"):
        create_app({"DATABASE_URL": "sqlite://"})


def test_production_takes_several_keys_the_first_encrypting():
    new = Fernet.generate_key().decode()

    config = validated(production(MFA_ENCRYPTION_KEY=f" {new} , {MFA_KEY} "))

    assert config["MFA_ENCRYPTION_KEY"] == (new, MFA_KEY)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("not-a-key", "key 1 is not a Fernet key"),
        (f"{MFA_KEY},{'A' * 42}=", "key 2 is not a Fernet key"),
        (MFA_KEY[:-2], "key 1 is not a Fernet key"),
        (" , ", "expected one or more Fernet keys"),
    ],
)
def test_a_bad_key_is_a_one_line_error_that_does_not_show_it(value, named):
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"APP_ENV": "testing", "MFA_ENCRYPTION_KEY": value})

    message = str(refused.value)
    assert message.startswith("MFA_ENCRYPTION_KEY is not valid: ")
    assert named in message and "\n" not in message
    assert not [key for key in value.split(",") if key.strip() and key.strip() in message]


def test_development_writes_a_key_to_the_private_env_file(dev_env):
    app = dev_app()

    written = dotenv_values(dev_env)["MFA_ENCRYPTION_KEY"]
    Fernet(written)
    assert app.config["MFA_ENCRYPTION_KEY"] == (written,)
    assert stat.S_IMODE(dev_env.stat().st_mode) == 0o600


@pytest.mark.parametrize("issuer", ["", "Acme:Auth"])
def test_the_issuer_is_a_name_without_a_colon(issuer):
    config = load_config(environ={"APP_ENV": "testing", "MFA_ISSUER": "x"})
    derive_defaults(config)
    config["MFA_ISSUER"] = issuer

    with pytest.raises(ConfigError, match=re.escape("MFA_ISSUER must be")):
        validate_config(config)


@pytest.mark.parametrize(
    ("raw", "roles"),
    [(None, ()), ("admin", ("admin",)), (" admin, moderator ,", ("admin", "moderator"))],
)
def test_require_mfa_roles_is_a_list_of_roles(raw, roles):
    environ = {"APP_ENV": "testing"} | ({} if raw is None else {"REQUIRE_MFA_ROLES": raw})

    assert load_config(environ=environ)["REQUIRE_MFA_ROLES"] == roles
