"""Signing keys: read once at start-up, refused when wrong, and `flask keys generate|list`."""

import base64
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app import keys
from app.commands.keys import keys as keys_cli
from app.config import ConfigError, load_config, validate_config
from tests.support import REFRESH, SAFE_PRODUCTION, key_config, make_app

ROOT = Path(__file__).resolve().parents[1]


def write_pem(path: Path, pem: bytes) -> str:
    path.write_bytes(pem)
    path.chmod(0o600)
    return str(path)


def private_pem(private_key, encryption=None) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


def public_pem(key_file: str) -> bytes:
    private_key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def start(tmp_path, **config):
    return make_app(f"sqlite:///{tmp_path / 'keys.db'}", **config)


# --- start-up refuses what cannot sign safely ---------------------------------------------


def test_rs256_needs_a_private_key_file(tmp_path):
    with pytest.raises(ConfigError, match="JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY_FILE"):
        start(tmp_path, JWT_ALGORITHM="RS256")


def test_missing_key_file_is_refused_at_start_up(tmp_path):
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ConfigError, match=f"JWT_PRIVATE_KEY_FILE: cannot read {missing}"):
        start(tmp_path, **key_config("RS256", missing))


def test_missing_verify_only_key_file_is_refused_at_start_up(tmp_path, key_files):
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ConfigError, match="JWT_VERIFY_ONLY_KEY_FILES: cannot read"):
        start(tmp_path, **key_config("RS256", key_files["a"], missing))


@pytest.mark.parametrize(
    ("algorithm", "file", "problem"),
    [
        ("RS256", "ec", "is not an RSA key, which RS256 needs"),
        ("ES256", "a", "is not a P-256 EC key, which ES256 needs"),
    ],
)
def test_key_of_the_wrong_type_is_refused(tmp_path, key_files, algorithm, file, problem):
    with pytest.raises(ConfigError, match=problem):
        start(tmp_path, **key_config(algorithm, key_files[file]))


@pytest.mark.parametrize(
    ("algorithm", "private_key", "problem"),
    [
        ("RS256", lambda: rsa.generate_private_key(65537, 1024), "1024-bit RSA key"),  # noqa: S505
        ("ES256", lambda: ec.generate_private_key(ec.SECP384R1()), "not a P-256 EC key"),
        ("RS256", ed25519.Ed25519PrivateKey.generate, "not an RSA key"),
    ],
)
def test_weak_or_foreign_keys_are_refused(tmp_path, algorithm, private_key, problem):
    path = write_pem(tmp_path / "weak.pem", private_pem(private_key()))
    with pytest.raises(ConfigError, match=problem):
        start(tmp_path, **key_config(algorithm, path))


def test_public_key_cannot_sign(tmp_path, key_files):
    path = write_pem(tmp_path / "public.pem", public_pem(key_files["a"]))
    with pytest.raises(ConfigError, match="is a public key; the private key signs"):
        start(tmp_path, **key_config("RS256", path))


def test_public_key_may_verify_only(tmp_path, key_files):
    """A retired key needs no private half: its public key keeps its tokens verifiable."""
    path = write_pem(tmp_path / "public.pem", public_pem(key_files["b"]))
    keyset = start(tmp_path, **key_config("RS256", key_files["a"], path)).extensions["jwt_keys"]
    assert [key.role for key in keyset.keys] == ["signing", "verify-only"]
    assert keyset.keys[1].private_key is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a key", "is not a PEM key"),
        (b"", "is not a PEM key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is not a PEM key"),
    ],
)
def test_garbage_key_file_is_refused(tmp_path, content, problem):
    path = write_pem(tmp_path / "garbage.pem", content)
    with pytest.raises(ConfigError, match=problem):
        start(tmp_path, **key_config("RS256", path))


def test_encrypted_key_file_is_refused(tmp_path):
    encryption = serialization.BestAvailableEncryption(b"passphrase")
    pem = private_pem(rsa.generate_private_key(65537, 2048), encryption)
    path = write_pem(tmp_path / "encrypted.pem", pem)
    with pytest.raises(ConfigError, match="is encrypted"):
        start(tmp_path, **key_config("RS256", path))


@pytest.mark.parametrize("name", ["JWT_PRIVATE_KEY_FILE", "JWT_VERIFY_ONLY_KEY_FILES"])
def test_key_files_with_hs256_are_refused(tmp_path, key_files, name):
    """Set keys and forgot JWT_ALGORITHM: say so rather than silently sign with HMAC."""
    value = key_files["a"] if name == "JWT_PRIVATE_KEY_FILE" else (key_files["a"],)
    with pytest.raises(ConfigError, match=f"{name} is set but JWT_ALGORITHM is HS256"):
        start(tmp_path, **{name: value})


@pytest.mark.parametrize("algorithm", ["HS512", "RS512", "PS256", "none", "EdDSA"])
def test_other_algorithms_are_refused(tmp_path, algorithm):
    with pytest.raises(ConfigError, match="JWT_ALGORITHM must be one of HS256, RS256, ES256"):
        start(tmp_path, JWT_ALGORITHM=algorithm)


def test_asymmetric_access_tokens_need_no_access_secret(tmp_path, key_files):
    app = start(tmp_path, JWT_ACCESS_SECRET=None, **key_config("RS256", key_files["a"]))
    assert app.extensions["jwt_keys"].signer.path == key_files["a"]


def production(**env):
    return load_config({"APP_ENV": "production", "BCRYPT_ROUNDS": "12", **SAFE_PRODUCTION, **env})


def test_production_with_rs256_needs_the_refresh_secret_only(key_files):
    env = {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": key_files["a"]}
    validate_config(production(**env, JWT_REFRESH_SECRET=REFRESH))
    with pytest.raises(ConfigError, match="JWT_REFRESH_SECRET is required"):
        validate_config(production(**env))
    with pytest.raises(ConfigError, match="JWT_REFRESH_SECRET must be at least 32 bytes"):
        validate_config(production(**env, JWT_REFRESH_SECRET="short"))


def test_production_with_hs256_still_needs_both_distinct_secrets():
    with pytest.raises(ConfigError, match="JWT_ACCESS_SECRET is required"):
        validate_config(production(JWT_REFRESH_SECRET="r" * 32))
    with pytest.raises(ConfigError, match="must differ"):
        validate_config(production(JWT_ACCESS_SECRET="s" * 32, JWT_REFRESH_SECRET="s" * 32))


def test_environment_lists_and_algorithm_spelling_are_parsed():
    config = load_config(
        {"JWT_ALGORITHM": " rs256 ", "JWT_VERIFY_ONLY_KEY_FILES": " old.pem, ,next.pem ,"}
    )
    assert config["JWT_ALGORITHM"] == "RS256"
    assert config["JWT_VERIFY_ONLY_KEY_FILES"] == ("old.pem", "next.pem")
    assert load_config({})["JWT_VERIFY_ONLY_KEY_FILES"] == ()


# --- what is loaded -----------------------------------------------------------------------


def test_kid_is_the_rfc7638_thumbprint():
    """The example of RFC 7638, section 3.1."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
        "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)))
    public_key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    assert keys.thumbprint(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_signer_comes_first_and_a_key_listed_twice_is_published_once(tmp_path, key_files):
    config = key_config("RS256", key_files["b"], key_files["a"], key_files["b"], key_files["a"])
    keyset = start(tmp_path, **config).extensions["jwt_keys"]
    assert [(key.path, key.role) for key in keyset.keys] == [
        (key_files["b"], "signing"),
        (key_files["a"], "verify-only"),
    ]
    assert len({key.kid for key in keyset.keys}) == 2


def test_keys_are_read_once_at_start_up(tmp_path, key_files):
    """The file is not read per request: it can even go away while the app runs."""
    path = tmp_path / "a.pem"
    path.write_bytes(Path(key_files["a"]).read_bytes())
    app = start(tmp_path, **key_config("RS256", str(path)))
    path.unlink()
    assert app.test_client().get("/.well-known/jwks.json").status_code == 200


def test_key_readable_by_others_is_warned_about(tmp_path, key_files, caplog):
    path = tmp_path / "open.pem"
    path.write_bytes(Path(key_files["a"]).read_bytes())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        start(tmp_path, **key_config("RS256", str(path)))
    assert f"private key file {path} can be read or written by other users" in caplog.text
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        start(tmp_path, **key_config("RS256", str(path)))
    assert "other users" not in caplog.text


# --- flask keys generate ------------------------------------------------------------------


def generate(*args):
    return CliRunner().invoke(keys_cli, ["generate", *args])


def output_field(output: str, name: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith(f"{name}:"))
    return line.split(":", 1)[1].strip()


@pytest.fixture
def open_umask():
    """A umask that would leave a new file world-readable, to prove the mode is explicit."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_generate_writes_a_pkcs8_key_only_its_owner_can_read(tmp_path, open_umask):
    path = tmp_path / "new.pem"
    result = generate("--out", str(path))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    private_key = serialization.load_pem_private_key(pem, None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    assert private_key.key_size == 2048
    assert output_field(result.output, "kid") == keys.thumbprint(private_key.public_key())
    assert output_field(result.output, "file") == str(path.resolve())
    assert b"PRIVATE" not in result.output.encode()


def test_generate_es256_into_a_directory_names_the_file_by_date_and_kid(tmp_path):
    directory = tmp_path / "keys"
    result = generate("--algorithm", "ES256", "--dir", str(directory))
    assert result.exit_code == 0, result.output
    kid = output_field(result.output, "kid")
    (path,) = directory.iterdir()
    assert re.fullmatch(rf"\d{{8}}-{re.escape(kid)}\.pem", path.name)
    assert output_field(result.output, "file") == str(path.resolve())
    private_key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(private_key.curve, ec.SECP256R1)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert keys.load_key("JWT_PRIVATE_KEY_FILE", str(path), "ES256").kid == kid


def test_generate_defaults_to_the_configured_algorithm(tmp_path, monkeypatch):
    monkeypatch.setenv("JWT_ALGORITHM", "ES256")
    result = generate("--dir", str(tmp_path))
    assert output_field(result.output, "algorithm") == "ES256"


def test_generate_never_overwrites_a_key(tmp_path):
    path = tmp_path / "existing.pem"
    path.write_bytes(b"the key in service")
    result = generate("--out", str(path))
    assert result.exit_code != 0
    assert "exists; refusing to overwrite" in result.output
    assert path.read_bytes() == b"the key in service"


def test_generate_does_not_follow_a_planted_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    assert generate("--out", str(link)).exit_code != 0
    assert not target.exists()


def test_generate_takes_out_or_dir_not_both(tmp_path):
    result = generate("--out", str(tmp_path / "a.pem"), "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "not both" in result.output


def test_flask_keys_generate_works_before_the_app_can_start(tmp_path):
    """The first key is made while JWT_PRIVATE_KEY_FILE still names a missing file."""
    path = tmp_path / "first.pem"
    env = {
        **os.environ,
        "FLASK_APP": "wsgi:app",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "JWT_ALGORITHM": "RS256",
        "JWT_PRIVATE_KEY_FILE": str(path),
    }
    flask = Path(sys.executable).with_name("flask")
    command = [str(flask), "keys", "generate", "--out", str(path)]
    run = {"env": env, "cwd": ROOT, "capture_output": True, "text": True, "check": False}
    result = subprocess.run(command, **run)
    assert result.returncode == 0, result.stderr
    assert path.exists()
    listed = subprocess.run([str(flask), "keys", "list"], **run)
    assert listed.returncode == 0, listed.stderr
    assert output_field(result.stdout, "kid") in listed.stdout


# --- flask keys list ----------------------------------------------------------------------


@pytest.fixture
def app_config(key_files):
    return key_config("RS256", key_files["b"], key_files["a"])


def test_list_shows_roles_kids_and_files_but_no_key_material(app, runner, key_files):
    result = runner.invoke(keys_cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    signer, verifier = app.extensions["jwt_keys"].keys
    assert lines[1].split() == ["signing", "RS256", signer.kid, key_files["b"]]
    assert lines[2].split() == ["verify-only", "RS256", verifier.kid, key_files["a"]]
    assert "KEY-----" not in result.output
    assert public_pem(key_files["a"]).decode().splitlines()[1] not in result.output


@pytest.mark.parametrize("app_config", [{}])
def test_list_with_hs256_says_there_are_no_keys(runner):
    result = runner.invoke(keys_cli, ["list"])
    assert result.exit_code == 0
    assert "JWT_ALGORITHM is HS256" in result.output
