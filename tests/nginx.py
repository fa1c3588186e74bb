"""Run deploy/nginx/auth.conf, the documented nginx site, in front of test instances.

The site file is used as written, with only its example addresses, ports and certificate
paths replaced (each must be found exactly once, so the file and this helper cannot drift
apart). nginx runs in the foreground as a child of the test, with every path of its own
in a temporary directory, and a self-signed certificate made by openssl.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.live import ROOT, stop
from tests.support import free_port, service_missing

SITE = ROOT / "deploy" / "nginx" / "auth.conf"
EXAMPLE_UPSTREAMS = ("auth-1.internal:8000", "auth-2.internal:8000")

MAIN_CONFIG = """\
daemon off;
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/auth.conf;
}}
"""


def nginx_binary() -> str:
    """The nginx executable; skip (or fail under CI) when it is not installed."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        service_missing(
            "nginx", "not installed", "apt-get install -y --no-install-recommends nginx"
        )
    return found


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def render_site(upstreams: list[str], http_port: int, https_port: int, cert: Path, key: Path):
    """The documented site with this test's instances, ports and certificate."""
    text = SITE.read_text()
    replacements = {
        **dict(zip(EXAMPLE_UPSTREAMS, upstreams, strict=True)),
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "/etc/ssl/certs/auth.example.com.pem": str(cert),
        "/etc/ssl/private/auth.example.com.key": str(key),
        "/var/log/nginx/auth.access.log": str(key.parent / "auth.access.log"),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} should appear once in {SITE}"
        text = text.replace(old, new)
    return text


@dataclass
class Front:
    """nginx in front of the instances: its https and http addresses, and a TLS context
    that trusts its certificate."""

    https: str
    http: str
    tls: ssl.SSLContext
    directory: Path


@contextmanager
def nginx(directory: Path, upstreams: list[str]):
    """Serve the documented site for `upstreams` (host:port) until the block ends."""
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(directory)
    http_port, https_port = free_port(), free_port()
    (directory / "auth.conf").write_text(render_site(upstreams, http_port, https_port, cert, key))
    # As root, nginx's workers would otherwise run as nobody, who cannot enter pytest's
    # private temporary directories.
    user = "user root;" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(MAIN_CONFIG.format(dir=directory, user=user))
    command = [binary, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                errors = (directory / "error.log").read_text(errors="replace")
                assert process.poll() is None, f"nginx did not start:\n{errors}"
                assert time.monotonic() < deadline, f"nginx did not listen:\n{errors}"
                time.sleep(0.1)
        tls = ssl.create_default_context(cafile=str(cert))
        yield Front(
            f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", tls, directory
        )
    finally:
        stop(process)
