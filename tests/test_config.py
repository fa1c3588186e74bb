"""Configuration from the environment: parsing, the production safety checks, dev secrets.

Most tests give `load_config` an explicit environ; those that go through `create_app` set
the process environment with monkeypatch and run in a temporary directory, so that the
project's own `.env` is never read or written. The entry points (`flask`, gunicorn) run as
subprocesses, in a temporary directory too.
"""

import base64
import os
import re
import secrets
import stat
import subprocess
import time

import pytest
from dotenv import dotenv_values

from app import create_app
from app.config import (
    MIN_SECRET_BITS,
    SECRET_NAMES,
    ConfigError,
    ensure_dev_secrets,
    load_config,
)
from app.entropy import estimate_bits
from tests.live import BIN, GUNICORN_CONF, ROOT
from tests.support import (
    ACCESS,
    MFA_KEY,
    REFRESH,
    dev_app,
    free_port,
    production,
    validated,
    without_secrets,
)


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
    config = validated({"APP_ENV": "testing", "JWT_REFRESH_SECRET": "é" * 16})

    assert config["JWT_REFRESH_SECRET"] == "é" * 16


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 32,
        "é" * 16,
        "password" * 4,
        "password" + "1" * 24,
        "Summer2024!" * 3,
        "correcthorsebatterystaplecorrecthorse",
        "qwertyuiopasdfghjklzxcvbnm123456",
        "abcdefghijklmnopqrstuvwxyz012345",
        "0123456789" * 4,
    ],
    ids=lambda secret: secret[:12],
)
@pytest.mark.parametrize("name", SECRET_NAMES)
def test_production_refuses_a_guessable_secret(name, secret):
    with pytest.raises(ConfigError, match=f"{name} is too easy to guess"):
        validated(production(**{name: secret}))


def test_random_secrets_of_16_bytes_and_more_are_accepted():
    # the smallest of many draws: hex of 16 bytes (32 characters), hex and base64 of 32
    draws = [secrets.token_hex(16) for _ in range(200)]
    draws += [secrets.token_hex(32) for _ in range(50)]
    draws += [base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(50)]
    draws += [secrets.token_urlsafe(32) for _ in range(50)]

    assert min(estimate_bits(secret) for secret in draws) > MIN_SECRET_BITS + 5
    for access, refresh in zip(draws[::2], draws[1::2], strict=True):
        validated(production(JWT_ACCESS_SECRET=access, JWT_REFRESH_SECRET=refresh))


def test_the_guessability_estimate_takes_bounded_time_on_a_long_secret():
    started = time.perf_counter()
    estimate_bits("ab" * 100_000)

    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"MAIL_BACKEND": "console"}, "MAIL_BACKEND=console"),
        ({"RESET_URL_TEMPLATE": "http://app.example.com/r?t={token}"}, "RESET_URL_TEMPLATE"),
        ({"VERIFY_URL_TEMPLATE": "http://app.example.com/v?t={token}"}, "VERIFY_URL_TEMPLATE"),
        ({"RESET_URL_TEMPLATE": "https://localhost:5000/r?t={token}"}, "RESET_URL_TEMPLATE"),
        ({"RESET_URL_TEMPLATE": "https://app.localhost/r?t={token}"}, "RESET_URL_TEMPLATE"),
        ({"VERIFY_URL_TEMPLATE": "https://127.0.0.1/v?t={token}"}, "VERIFY_URL_TEMPLATE"),
        ({"VERIFY_URL_TEMPLATE": "https://127.1.2.3/v?t={token}"}, "VERIFY_URL_TEMPLATE"),
        ({"RESET_URL_TEMPLATE": "https://[::1]:8443/r?t={token}"}, "RESET_URL_TEMPLATE"),
        ({"RESET_URL_TEMPLATE": "https://0.0.0.0/r?t={token}"}, "RESET_URL_TEMPLATE"),
        ({"RESET_URL_TEMPLATE": "https://[::1/r?t={token}"}, "RESET_URL_TEMPLATE"),
        ({"VERIFY_URL_TEMPLATE": "/verify?token={token}"}, "VERIFY_URL_TEMPLATE"),
        (
            {"EMAIL_CHANGE_URL_TEMPLATE": "http://app.example.com/e?t={token}"},
            "EMAIL_CHANGE_URL_TEMPLATE",
        ),
    ],
)
def test_production_refuses_what_only_suits_a_developer(setting, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        validated(production(**setting))


def test_development_defaults_stay_as_they_are():
    config = validated(
        {"APP_ENV": "development", "JWT_ACCESS_SECRET": "a" * 32, "JWT_REFRESH_SECRET": "b" * 32}
    )

    assert config["MAIL_BACKEND"] == "console"
    assert config["RESET_URL_TEMPLATE"].startswith("http://localhost:")


def test_create_app_refuses_to_start_in_production_without_secrets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_ENV", "production")
    without_secrets(monkeypatch)

    with pytest.raises(ConfigError, match="JWT_ACCESS_SECRET"):
        create_app({"DATABASE_URL": "sqlite://"})
    assert not (tmp_path / ".env").exists()


ENTRY_POINTS = {
    "gunicorn": [BIN / "gunicorn", "-c", GUNICORN_CONF, "wsgi:app"],
    "flask routes": [BIN / "flask", "--app", "wsgi:app", "routes"],
    "flask run": [BIN / "flask", "--app", "wsgi:app", "run", "--port", "{port}"],
}


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"JWT_ACCESS_SECRET": None}, "JWT_ACCESS_SECRET is required"),
        ({"JWT_REFRESH_SECRET": "password" * 4}, "JWT_REFRESH_SECRET is too easy to guess"),
        ({"MAIL_BACKEND": "console"}, "MAIL_BACKEND=console"),
        ({"VERIFY_URL_TEMPLATE": "http://localhost/v?t={token}"}, "VERIFY_URL_TEMPLATE="),
        ({"JWT_ACCESS_TTL": "abc"}, "JWT_ACCESS_TTL='abc' is not valid"),
        ({"ROLES": "user,moderator"}, "must list admin"),
    ],
    ids=["no-secret", "guessable-secret", "console-mail", "http-link", "bad-integer", "roles"],
)
@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_entry_points_refuse_a_bad_configuration_in_one_line(tmp_path, entry_point, setting, named):
    """No traceback: `error: <why>` on stderr, and a non-zero exit; gunicorn's master stops
    rather than booting workers again and again."""
    port = str(free_port())
    inherited = {k: v for k, v in os.environ.items() if k not in SECRET_NAMES}
    env = {
        **inherited,
        **production(**setting),
        "PYTHONPATH": str(ROOT),  # wsgi.py, from a directory without the project's .env
        "DATABASE_URL": f"sqlite:///{tmp_path / 'auth.db'}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    command = [str(part).format(port=port) for part in ENTRY_POINTS[entry_point]]

    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={name: value for name, value in env.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=60,
    )

    output = result.stderr + result.stdout
    assert result.returncode != 0, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output  # gunicorn too: once, not once per worker
    assert named in errors[0]
    assert "Traceback" not in output


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
        ("REQUIRE_EMAIL_VERIFICATION", "sometimes"),
        ("VERIFY_TOKEN_TTL", "0"),
        ("VERIFY_RESEND_INTERVAL", "-1"),
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
        ({"VERIFY_URL_TEMPLATE": "https://app.example.com/verify"}, "VERIFY_URL_TEMPLATE"),
        ({"EMAIL_CHANGE_URL_TEMPLATE": "https://a.example.com/e"}, "EMAIL_CHANGE_URL_TEMPLATE"),
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
    monkeypatch.setenv("MFA_ENCRYPTION_KEY", MFA_KEY)

    assert ensure_dev_secrets(tmp_path / ".env") == []
    assert not (tmp_path / ".env").exists()
