"""Configuration read from the environment, with the variable names of the API contract.

`load_config()` turns the environment into a dict of Flask settings. Each name, type and
default is declared once in `SETTINGS`. Development needs no configuration: the first run
writes a `.env` with random secrets (see `ensure_dev_secrets`). Production refuses to start
without distinct secrets of at least 32 bytes (with RS256/ES256, the refresh secret and a
private key file: access tokens are then signed by the keys of `app/keys.py`), without
MFA_ENCRYPTION_KEY, and with anything safe only on a developer's machine (see
`validate_production`).
"""

import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from app.entropy import estimate_bits

URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
ENVIRONMENTS = ("development", "production", "testing")
MIN_SECRET_BYTES = 32
# Estimated bits (app/entropy.py) a production secret needs: random hex of 16 bytes
# scores about 150, a word padded or repeated out to 32 bytes under 40.
MIN_SECRET_BITS = 128
SECRET_NAMES = ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET")
ALGORITHMS = ("HS256", "RS256", "ES256")
KEY_FILE_NAMES = ("JWT_PRIVATE_KEY_FILE", "JWT_VERIFY_ONLY_KEY_FILES")
# The links mailed with a live token in them.
LINK_TEMPLATES = ("RESET_URL_TEMPLATE", "VERIFY_URL_TEMPLATE", "EMAIL_CHANGE_URL_TEMPLATE")
# The page of app/pages/ each link opens when its template is not set.
LINK_PAGES = {
    "RESET_URL_TEMPLATE": "/reset?token={token}",
    "VERIFY_URL_TEMPLATE": "/verify?token={token}",
    "EMAIL_CHANGE_URL_TEMPLATE": "/confirm-email?token={token}",
}


class ConfigError(RuntimeError):
    """The environment does not describe a service that may start."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _int(raw: str) -> int:
    return int(raw.strip())


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _delays(raw: str) -> list[int]:
    """Comma-separated seconds, e.g. "5,30,120"."""
    return [_non_negative_int(part) for part in raw.split(",") if part.strip()]


def _str(raw: str) -> str:
    return raw.strip()


def _origins(raw: str) -> list[str]:
    """A comma-separated list of browser origins, e.g. https://app.example.com."""
    origins = [origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()]
    for origin in origins:
        if origin == "*" or not origin.startswith(("https://", "http://")):
            raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
    return origins


def _public_url(raw: str) -> str:
    """An absolute http(s) URL without a trailing slash, e.g. https://auth.example.com."""
    url = raw.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ValueError("expected a URL like https://auth.example.com")
    return url


def _clients(raw: str) -> dict[str, str]:
    """Comma-separated `name:secret` pairs: the callers of POST /auth/introspect.

    Both of URL-safe characters only: RFC 6749 (section 2.3.1) has clients form-encode them
    inside HTTP Basic and many do not, and such values read the same either way."""
    clients = {}
    for pair in _names(raw):
        name, _, secret = pair.partition(":")
        name = name.strip()
        if not URL_SAFE.fullmatch(name) or not URL_SAFE.fullmatch(secret):
            raise ValueError(
                "expected name:secret pairs separated by commas, each of the characters "
                "A-Z a-z 0-9 - . _ ~"
            )
        if name in clients:
            raise ValueError(f"client {name!r} is listed twice")
        clients[name] = secret
    return clients


# A domain name of letters, digits and hyphens (or an IP address, which browsers refuse).
DOMAIN = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _rp_id(raw: str) -> str:
    """A WebAuthn RP ID: a bare domain such as example.com, no scheme, port or path."""
    rp_id = raw.strip().lower().rstrip(".")
    if not rp_id:
        return rp_id  # empty: the host of PUBLIC_URL (`relying_party`)
    if _is_ip(rp_id):
        raise ValueError("browsers refuse an IP address as RP ID: use a name such as localhost")
    if not DOMAIN.fullmatch(rp_id):
        raise ValueError("expected a domain such as example.com (no scheme, port or path)")
    return rp_id


def _algorithm(raw: str) -> str:
    return raw.strip().upper()


def _paths(raw: str) -> tuple[str, ...]:
    """A comma-separated list of file paths."""
    return tuple(path.strip() for path in raw.split(",") if path.strip())


def _names(raw: str) -> tuple[str, ...]:
    """A comma-separated list of names, e.g. "admin,moderator"."""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


# A role is stored in users.role (32 characters) and shown in tokens, logs and the CLI.
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ROLE_NAME_PATTERN = f"^{ROLE_NAME.pattern}$"  # the same rule, for the OpenAPI document


def _roles(raw: str) -> tuple[str, ...]:
    """The roles accounts may have, e.g. "user,admin,moderator": lower-case names."""
    roles = tuple(name.strip() for name in raw.split(","))
    if not any(roles):
        raise ValueError("expected comma-separated role names, such as user,admin")
    for role in roles:
        if not ROLE_NAME.fullmatch(role):
            raise ValueError(
                f"{role!r} is not a role name (a lower-case letter, then up to 31 lower-case "
                "letters, digits, _ or -)"
            )
    repeated = sorted({role for role in roles if roles.count(role) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} is listed more than once")
    return roles


def _fernet_keys(raw: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys (32 url-safe base64 bytes each): the first encrypts,
    every one decrypts, so a new key is put first and the old one kept until rotated out."""
    keys = _names(raw)
    if not keys:
        raise ValueError("expected one or more Fernet keys")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes, as "
                "python3 -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())' makes)"
            ) from None
    return keys


def _database_url(raw: str) -> str:
    """Accept the common `postgres://` spellings and route them to psycopg 3."""
    url = raw.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# name -> (parser, default). A default of None means "unset unless given".
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "DATABASE_URL": (_database_url, None),
    # PostgreSQL: seconds to wait for a connection (new, or from the pool) and for one
    # statement (0: no limit). See app/database.py.
    "DATABASE_CONNECT_TIMEOUT": (_positive_int, 3),
    "DATABASE_STATEMENT_TIMEOUT": (_non_negative_int, 5),
    "JWT_ACCESS_SECRET": (str, None),
    "JWT_REFRESH_SECRET": (str, None),
    "JWT_ALGORITHM": (_algorithm, "HS256"),
    "JWT_PRIVATE_KEY_FILE": (_str, None),
    "JWT_VERIFY_ONLY_KEY_FILES": (_paths, ()),
    "JWT_JWKS_MAX_AGE": (_non_negative_int, 300),
    "JWT_ACCESS_TTL": (_positive_int, 900),
    "JWT_REFRESH_TTL": (_positive_int, 604800),
    "JWT_LEEWAY": (_non_negative_int, 10),
    # Where clients and other services reach this service; the tokens' issuer by default.
    "PUBLIC_URL": (_public_url, "http://localhost:5000"),
    "JWT_ISSUER": (_str, None),
    "JWT_AUDIENCE": (_str, "flask-jwt-auth-service"),
    "JWT_SESSION_MAX_AGE": (_positive_int, 2592000),
    "REFRESH_REUSE_INTERVAL": (_non_negative_int, 0),
    "BCRYPT_ROUNDS": (_int, 12),
    "RESET_TOKEN_TTL": (_positive_int, 900),
    # The mailed links; unset, the service's own pages under PUBLIC_URL (LINK_PAGES).
    "RESET_URL_TEMPLATE": (_str, None),
    "VERIFY_URL_TEMPLATE": (_str, None),
    "EMAIL_CHANGE_URL_TEMPLATE": (_str, None),
    "VERIFY_TOKEN_TTL": (_positive_int, 172800),
    "VERIFY_RESEND_INTERVAL": (_non_negative_int, 60),
    "REQUIRE_EMAIL_VERIFICATION": (_bool, False),
    "MAIL_BACKEND": (_str, "console"),
    "MAIL_FROM": (_str, "no-reply@localhost"),
    "SMTP_HOST": (_str, "localhost"),
    "SMTP_PORT": (_positive_int, 25),
    "SMTP_USERNAME": (_str, ""),
    "SMTP_PASSWORD": (str, ""),
    "SMTP_STARTTLS": (_bool, False),
    "SMTP_TIMEOUT": (_positive_int, 10),
    "MAIL_ASYNC": (_bool, True),
    "MAIL_RETRY_DELAYS": (_delays, [5, 30, 120]),
    "MAX_CONTENT_LENGTH": (_positive_int, 65536),
    "CORS_ORIGINS": (_origins, []),
    "TRUSTED_PROXY_COUNT": (_non_negative_int, 0),
    "RATELIMIT_ENABLED": (_bool, True),
    "RATELIMIT_STORAGE_URI": (_str, "memory://"),
    "RATELIMIT_KEY_PREFIX": (_str, "auth"),
    # Limits: "N per second|minute|hour|day", several separated by ";". See app/ratelimit.py.
    "RATELIMIT_LOGIN": (_str, "10 per minute; 100 per hour"),
    "RATELIMIT_LOGIN_ACCOUNT": (_str, "5 per minute; 20 per hour"),
    "RATELIMIT_REGISTER": (_str, "5 per minute; 50 per hour"),
    "RATELIMIT_REFRESH": (_str, "30 per minute"),
    "RATELIMIT_FORGOT_PASSWORD": (_str, "5 per minute; 20 per hour"),
    "RATELIMIT_FORGOT_PASSWORD_ACCOUNT": (_str, "5 per hour"),
    "RATELIMIT_RESET_PASSWORD": (_str, "10 per minute"),
    "RATELIMIT_RESEND_VERIFICATION": (_str, "5 per minute; 20 per hour"),
    # POST /me/password and DELETE /me check a password: a stolen access token must not
    # become a way to guess it.
    "RATELIMIT_PASSWORD_CHECK": (_str, "5 per minute; 30 per hour"),
    "RATELIMIT_PASSWORD_CHECK_ACCOUNT": (_str, "5 per minute; 20 per hour"),
    # Second factor (app/mfa/): the keys that encrypt TOTP secrets at rest, the name
    # authenticator apps show for the account, and the roles that must use a second factor.
    "MFA_ENCRYPTION_KEY": (_fernet_keys, None),
    "MFA_ISSUER": (_str, "flask-jwt-auth-service"),
    "REQUIRE_MFA_ROLES": (_names, ()),
    # Services allowed to ask POST /auth/introspect (app/introspection/): "name:secret,...".
    "INTROSPECTION_CLIENTS": (_clients, {}),
    "RATELIMIT_INTROSPECT": (_str, "300 per minute"),
    # Refused client credentials per address: a guesser is stopped, and the audit lines
    # its refusals write are bounded.
    "RATELIMIT_INTROSPECT_FAILURES": (_str, "10 per minute; 100 per hour"),
    # The roles an account may have (app/security.py guards routes by them).
    "ROLES": (_roles, ("user", "admin")),
    # Passkeys (app/passkeys/): the WebAuthn relying party's id (a domain; default the host
    # of PUBLIC_URL), the name authenticators show, and the browser origins whose passkeys
    # are accepted (default the origin of PUBLIC_URL).
    "WEBAUTHN_RP_ID": (_rp_id, None),
    "WEBAUTHN_RP_NAME": (_str, "flask-jwt-auth-service"),
    "WEBAUTHN_ORIGINS": (_origins, None),
    # POST /auth/passkeys/options and /auth/passkeys/login, per address, as login is.
    "RATELIMIT_PASSKEY": (_str, "10 per minute; 100 per hour"),
}

# Settings whose value never appears in an error message (it would end up in a log).
SECRET_SETTINGS = (*SECRET_NAMES, "SMTP_PASSWORD", "MFA_ENCRYPTION_KEY", "INTROSPECTION_CLIENTS")

TESTING_DEFAULTS = {
    "JWT_ACCESS_SECRET": "testing-access-secret-0123456789abcdef",
    "JWT_REFRESH_SECRET": "testing-refresh-secret-0123456789abcdef",
    "BCRYPT_ROUNDS": 4,
    # Tests sign in many times from one address; the rate-limit tests turn this on.
    "RATELIMIT_ENABLED": False,
    # Mail is sent inline so tests can read it at once; tests/test_outbox.py covers async.
    "MAIL_ASYNC": False,
    "MAIL_RETRY_DELAYS": [0],
    "MFA_ENCRYPTION_KEY": ("dGVzdGluZy1tZmEta2V5LTAxMjM0NTY3ODlhYmNkZWY=",),
}


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Parse the environment into Flask settings; raise ConfigError on a bad value."""
    env = os.environ if environ is None else environ
    app_env = env.get("APP_ENV", "development").strip().lower()
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}")

    config: dict[str, Any] = {"APP_ENV": app_env, "TESTING": app_env == "testing"}
    for name, (parse, default) in SETTINGS.items():
        raw = env.get(name)
        if raw is None or (raw.strip() == "" and default is not None):
            config[name] = default
            continue
        try:
            config[name] = parse(raw)
        except ValueError as exc:
            shown = name if name in SECRET_SETTINGS else f"{name}={raw!r}"
            raise ConfigError(f"{shown} is not valid: {exc}") from None
    if app_env == "testing":
        for name, value in TESTING_DEFAULTS.items():
            if env.get(name) is None:
                config[name] = value
    return config


def derive_defaults(config: dict[str, Any]) -> None:
    """Fill the settings whose default is another setting, once every override is in."""
    if config["JWT_ISSUER"] is None:
        # OpenID Connect Discovery: the issuer is the URL its document is fetched under.
        config["JWT_ISSUER"] = config["PUBLIC_URL"]
    for name, page in LINK_PAGES.items():
        if not config[name]:
            config[name] = config["PUBLIC_URL"] + page
    config["WEBAUTHN_RP_ID"], config["WEBAUTHN_ORIGINS"] = relying_party(config)


def relying_party(config: Mapping[str, Any]) -> tuple[str, list[str]]:
    """WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS; unset or empty, the host and the origin of
    PUBLIC_URL."""
    public_url = urlsplit(config["PUBLIC_URL"])
    rp_id = config["WEBAUTHN_RP_ID"]
    if not rp_id:
        rp_id = (public_url.hostname or "").rstrip(".")
    origins = config["WEBAUTHN_ORIGINS"]
    if not origins:
        origins = [f"{public_url.scheme}://{public_url.netloc.lower()}"]
    return rp_id, origins


def validate_config(config: Mapping[str, Any]) -> None:
    """Refuse settings that would make the service unsafe or unable to work."""
    algorithm = config["JWT_ALGORITHM"]
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
    if algorithm == "HS256":
        for name in KEY_FILE_NAMES:
            if config.get(name):
                raise ConfigError(f"{name} is set but JWT_ALGORITHM is HS256: use RS256 or ES256")
    elif not config.get("JWT_PRIVATE_KEY_FILE"):
        raise ConfigError(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY_FILE")
    _validate_secrets(config, secret_names(config))
    if not 4 <= config["BCRYPT_ROUNDS"] <= 31:
        raise ConfigError("BCRYPT_ROUNDS must be between 4 and 31")
    if config["MAIL_BACKEND"] not in ("console", "smtp"):
        raise ConfigError("MAIL_BACKEND must be console or smtp")
    for name in LINK_TEMPLATES:
        if "{token}" not in config[name]:
            raise ConfigError(f"{name} must contain {{token}}")
    if not config["MFA_ISSUER"] or ":" in config["MFA_ISSUER"]:
        # The otpauth URI's label is "<issuer>:<email>": a colon would split it elsewhere.
        raise ConfigError("MFA_ISSUER must be a non-empty name without ':'")
    _validate_roles(config)
    _validate_webauthn(config)
    if config["APP_ENV"] == "production":
        validate_production(config)


def _validate_roles(config: Mapping[str, Any]) -> None:
    """New accounts get `user` and the admin API needs `admin`: both must be roles."""
    roles = config["ROLES"]
    for needed in ("user", "admin"):
        if needed not in roles:
            raise ConfigError(f"ROLES={','.join(roles)!r} must list {needed}")
    unknown = [role for role in config["REQUIRE_MFA_ROLES"] if role not in roles]
    if unknown:
        raise ConfigError(f"REQUIRE_MFA_ROLES names {', '.join(unknown)}, which ROLES lacks")


def _validate_webauthn(config: Mapping[str, Any]) -> None:
    """Every origin must be the RP ID or one of its subdomains (WebAuthn's rule: a browser
    refuses any other), and the RP name must be something an authenticator can show."""
    rp_id, origins = relying_party(config)
    # An IP address comes only from PUBLIC_URL's default: the service starts, but browsers
    # will not offer passkeys there (docs/passkeys.md).
    if not rp_id or not (DOMAIN.fullmatch(rp_id) or _is_ip(rp_id)):
        raise ConfigError(
            f"WEBAUTHN_RP_ID={rp_id!r} is not a domain: set it, or a PUBLIC_URL with a host name"
        )
    for origin in origins:
        url = urlsplit(origin)
        host = (url.hostname or "").rstrip(".")
        if url.path or url.query or url.fragment or "@" in url.netloc:
            raise ConfigError(f"WEBAUTHN_ORIGINS: {origin!r} is not an origin (scheme://host)")
        if host != rp_id and not host.endswith("." + rp_id):
            raise ConfigError(
                f"WEBAUTHN_ORIGINS: {origin!r} is not {rp_id} or a subdomain of it "
                "(WEBAUTHN_RP_ID), so browsers would refuse its passkeys"
            )
    if not config["WEBAUTHN_RP_NAME"] or len(config["WEBAUTHN_RP_NAME"]) > 64:
        raise ConfigError("WEBAUTHN_RP_NAME must be a name of 1 to 64 characters")


def secret_names(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The secrets in use: with RS256/ES256 access tokens are signed by the key file, and
    refresh tokens stay HMAC, read only by us."""
    return SECRET_NAMES if config["JWT_ALGORITHM"] == "HS256" else ("JWT_REFRESH_SECRET",)


def validate_production(config: Mapping[str, Any]) -> None:
    """Refuse what is fine on a developer's machine but unsafe in front of users."""
    if config["BCRYPT_ROUNDS"] < 10:
        raise ConfigError("BCRYPT_ROUNDS below 10 is refused in production")
    for name in secret_names(config):
        bits = estimate_bits(config[name])
        if bits < MIN_SECRET_BITS:
            raise ConfigError(
                f"{name} is too easy to guess (about {bits:.0f} bits, {MIN_SECRET_BITS} "
                "needed): use a random value, such as the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    if not config.get("MFA_ENCRYPTION_KEY"):
        raise ConfigError(
            "MFA_ENCRYPTION_KEY is required in production (it encrypts TOTP secrets): make one"
            " with python3 -c 'from cryptography.fernet import Fernet;"
            " print(Fernet.generate_key().decode())'"
        )
    if config["MAIL_BACKEND"] == "console":
        raise ConfigError(
            "MAIL_BACKEND=console is refused in production: it writes reset and verification "
            "links, live tokens, to the log; use smtp"
        )
    for name in ("PUBLIC_URL", *LINK_TEMPLATES):
        problem = _link_problem(config[name])
        if problem:
            raise ConfigError(f"{name}={config[name]!r} {problem} in production")
    for origin in relying_party(config)[1]:
        if not origin.startswith("https://"):
            # Browsers offer passkeys to http:// pages of localhost only.
            raise ConfigError(f"WEBAUTHN_ORIGINS: {origin!r} must be https:// in production")
    for name, secret in config["INTROSPECTION_CLIENTS"].items():
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"INTROSPECTION_CLIENTS: the secret of {name!r} must be at least "
                f"{MIN_SECRET_BYTES} bytes in production"
            )


def _link_problem(template: str) -> str | None:
    """Why a link (emailed, or our own URL) would not reach the user safely, or None: it
    must be https (the token is in it) and name a host other than this machine."""
    try:
        url = urlsplit(template.replace("{token}", "token"))
        host = (url.hostname or "").rstrip(".")
    except ValueError:  # an unclosed [ of an IPv6 address
        return "is not a URL"
    if url.scheme != "https":
        return "must be an https:// link"
    if not host or host == "localhost" or host.endswith(".localhost"):
        return "must name the host users reach, not localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return "must name the host users reach, not a loopback address"
    return None


def _validate_secrets(config: Mapping[str, Any], names: tuple[str, ...]) -> None:
    values = [config.get(name) for name in names]
    for name, value in zip(names, values, strict=True):
        if not value:
            raise ConfigError(f"{name} is required")
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"{name} must be at least {MIN_SECRET_BYTES} bytes")
    if len(set(values)) < len(values):
        raise ConfigError("JWT_ACCESS_SECRET and JWT_REFRESH_SECRET must differ")


# The secrets development makes up, each by its own generator.
DEV_SECRETS: dict[str, Callable[[], str]] = {
    **{name: lambda: secrets.token_urlsafe(48) for name in SECRET_NAMES},
    "MFA_ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
}


def ensure_dev_secrets(env_file: Path) -> list[str]:
    """Append random secrets (JWT, MFA_ENCRYPTION_KEY) to `env_file` for those the
    environment lacks.

    Returns the names it wrote. Only used in development, so that `flask run` works on a
    fresh clone without anyone inventing secrets by hand.
    """
    missing = [name for name in DEV_SECRETS if not os.environ.get(name)]
    if not missing:
        return []
    lines = [f"{name}={DEV_SECRETS[name]()}" for name in missing]
    existing = env_file.read_text() if env_file.exists() else ""
    if not existing:
        lines.insert(0, "# Made by the first run for local development. Never commit this file.")
    elif not existing.endswith("\n"):
        lines.insert(0, "")  # end the unterminated last line first
    with env_file.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return missing
