"""Configuration from the environment: parsing, the production safety checks, dev secrets.

Most tests give `load_config` an explicit environ; those that go through `create_app` set
the process environment with monkeypatch and run in a temporary directory, so that the
project's own `.env` is never read or written.
"""

import stat

import pytest
from dotenv import dotenv_values

from app import create_app
from app.config import SECRET_NAMES, ConfigError, ensure_dev_secrets, load_config, validate_config

ACCESS = "a" * 32
REFRESH = "r" * 32


def production(**env):
    return {
        "APP_ENV": "production",
        "JWT_ACCESS_SECRET": ACCESS,
        "JWT_REFRESH_SECRET": REFRESH,
        **env,
    }


def validated(environ):
    config = load_config(environ=environ)
    validate_config(config)
    return config


def without_secrets(monkeypatch):
    """Unset the JWT secrets now, and again at teardown.

    load_dotenv() copies what it reads into os.environ; setting a variable before deleting
    it makes monkeypatch delete that copy at teardown, so no secret leaks into later tests.
    """
    for name in SECRET_NAMES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def dev_env(tmp_path, monkeypatch):
    """A development environment without secrets, working in an empty directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_ENV", "development")
    without_secrets(monkeypatch)
    return tmp_path / ".env"


def dev_app():
    return create_app({"DATABASE_URL": "sqlite://"})


def test_production_accepts_distinct_secrets_of_32_bytes():
    config = validated(production())

    assert config["JWT_ACCESS_SECRET"] == ACCESS
    assert config["JWT_REFRESH_SECRET"] == REFRESH


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JWT_ACCESS_SECRET": None}, "JWT_ACCESS_SECRET"),
        ({"JWT_REFRESH_SECRET": None}, "JWT_REFRESH_SECRET"),
        ({"JWT_ACCESS_SECRET": ""}, "JWT_ACCESS_SECRET"),
        ({"JWT_ACCESS_SECRET": "a" * 31}, "JWT_ACCESS_SECRET"),
        ({"JWT_REFRESH_SECRET": "é" * 15 + "r"}, "JWT_REFRESH_SECRET"),
        ({"JWT_REFRESH_SECRET": ACCESS}, "must differ"),
        ({"BCRYPT_ROUNDS": "9"}, "BCRYPT_ROUNDS"),
    ],
    ids=[
        "no-access",
        "no-refresh",
        "empty-access",
        "31-byte-access",
        "16-chars-but-31-bytes",
        "identical",
        "weak-bcrypt",
    ],
)
def test_production_refuses_unsafe_secrets(env, named):
    environ = {k: v for k, v in production(**env).items() if v is not None}

    with pytest.raises(ConfigError, match=named):
        validated(environ)


def test_secret_length_is_counted_in_utf8_bytes():
    config = validated(production(JWT_REFRESH_SECRET="é" * 16))

    assert config["JWT_REFRESH_SECRET"] == "é" * 16


def test_create_app_refuses_to_start_in_production_without_secrets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_ENV", "production")
    without_secrets(monkeypatch)

    with pytest.raises(ConfigError, match="JWT_ACCESS_SECRET"):
        create_app({"DATABASE_URL": "sqlite://"})
    assert not (tmp_path / ".env").exists()


def test_production_refuses_debug_mode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, value in production(FLASK_DEBUG="1").items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match="debug"):
        create_app({"DATABASE_URL": "sqlite://"})
    monkeypatch.delenv("FLASK_DEBUG")
    assert create_app({"DATABASE_URL": "sqlite://"}).debug is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_ACCESS_TTL", "abc"),
        ("JWT_REFRESH_TTL", "0"),
        ("JWT_LEEWAY", "-1"),
        ("SMTP_PORT", "25.0"),
        ("MAX_CONTENT_LENGTH", "64KiB"),
        ("SMTP_STARTTLS", "maybe"),
        ("APP_ENV", "staging"),
    ],
)
def test_bad_value_is_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config(environ={"APP_ENV": "testing", name: value})


def test_create_app_refuses_a_bad_integer(monkeypatch):
    monkeypatch.setenv("JWT_ACCESS_TTL", "abc")

    with pytest.raises(ConfigError, match="JWT_ACCESS_TTL"):
        create_app({"DATABASE_URL": "sqlite://"})


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"RESET_URL_TEMPLATE": "https://app.example.com/reset"}, "RESET_URL_TEMPLATE"),
        ({"MAIL_BACKEND": "sendmail"}, "MAIL_BACKEND"),
        ({"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS"),
    ],
)
def test_validate_config_refuses_unworkable_settings(setting, named):
    with pytest.raises(ConfigError, match=named):
        validated({"APP_ENV": "testing", **setting})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/auth", "postgresql+psycopg://u:p@db:5432/auth"),
        ("postgresql://u:p@db/auth", "postgresql+psycopg://u:p@db/auth"),
        ("postgresql+psycopg://u:p@db/auth", "postgresql+psycopg://u:p@db/auth"),
        ("sqlite:////var/lib/auth.db", "sqlite:////var/lib/auth.db"),
    ],
)
def test_database_url_is_routed_to_psycopg(url, expected):
    assert load_config(environ={"APP_ENV": "testing", "DATABASE_URL": url})["DATABASE_URL"] == (
        expected
    )


def test_development_writes_two_random_secrets_to_a_private_env_file(dev_env):
    app = dev_app()

    assert stat.S_IMODE(dev_env.stat().st_mode) == 0o600
    written = dotenv_values(dev_env)
    access, refresh = written["JWT_ACCESS_SECRET"], written["JWT_REFRESH_SECRET"]
    assert access != refresh
    assert min(len(access), len(refresh)) >= 32
    assert (app.config["JWT_ACCESS_SECRET"], app.config["JWT_REFRESH_SECRET"]) == (access, refresh)


def test_development_reuses_the_secrets_it_wrote(dev_env, monkeypatch):
    first = dev_app()
    content = dev_env.read_text()
    without_secrets(monkeypatch)  # a new process: only the file remembers them

    second = dev_app()

    assert dev_env.read_text() == content
    assert second.config["JWT_ACCESS_SECRET"] == first.config["JWT_ACCESS_SECRET"]
    assert second.config["JWT_REFRESH_SECRET"] == first.config["JWT_REFRESH_SECRET"]


def test_development_appends_only_the_missing_secret_to_an_existing_env_file(dev_env):
    existing = f"# my settings\nJWT_ACCESS_SECRET={'k' * 40}\n"
    dev_env.write_text(existing)

    app = dev_app()

    content = dev_env.read_text()
    assert content.startswith(existing)
    assert content.count("JWT_ACCESS_SECRET") == 1
    assert app.config["JWT_ACCESS_SECRET"] == "k" * 40
    assert app.config["JWT_REFRESH_SECRET"] == dotenv_values(dev_env)["JWT_REFRESH_SECRET"]
    assert stat.S_IMODE(dev_env.stat().st_mode) == 0o600


def test_development_appends_after_an_env_file_without_final_newline(dev_env):
    dev_env.write_text(f"JWT_ACCESS_SECRET={'k' * 40}")

    app = dev_app()

    assert dotenv_values(dev_env)["JWT_ACCESS_SECRET"] == "k" * 40
    assert app.config["JWT_ACCESS_SECRET"] == "k" * 40


def test_ensure_dev_secrets_writes_nothing_when_the_environment_has_them(tmp_path, monkeypatch):
    monkeypatch.setenv("JWT_ACCESS_SECRET", ACCESS)
    monkeypatch.setenv("JWT_REFRESH_SECRET", REFRESH)

    assert ensure_dev_secrets(tmp_path / ".env") == []
    assert not (tmp_path / ".env").exists()
