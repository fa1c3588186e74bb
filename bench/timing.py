"""Measure account enumeration by timing, with real bcrypt cost, under gunicorn.

Compares, request by request in alternation so that drift hits both sides alike:
  - login with an unknown email vs. with a known email and a wrong password
  - forgot-password for an unknown vs. a known email (mail goes through the outbox)

Usage:  .venv/bin/python bench/timing.py [--rounds 12] [--samples 60]
Prints median, mean, p90 and the difference of medians for each pair. Not a test: the
numbers depend on the machine; what matters is that each pair's medians agree within noise.
"""

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from tests.live import call, free_port, gunicorn, migrate, service_env
from tests.support import SAFE_PRODUCTION

PASSWORD = "correct horse battery"


def timed(base: str, path: str, body: dict) -> tuple[float, int]:
    start = time.perf_counter()
    status, _, _ = call(base, "POST", path, body)
    return time.perf_counter() - start, status


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return (
        f"median {statistics.median(ordered) * 1000:7.1f} ms   "
        f"mean {statistics.fmean(ordered) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms"
    )


def compare(
    base: str, title: str, path: str, a: tuple[str, dict], b: tuple[str, dict], samples: int
) -> None:
    times: dict[str, list[float]] = {a[0]: [], b[0]: []}
    statuses: dict[str, set[int]] = {a[0]: set(), b[0]: set()}
    for i in range(samples):
        for label, body in (a, b) if i % 2 == 0 else (b, a):
            elapsed, status = timed(base, path, body)
            times[label].append(elapsed)
            statuses[label].add(status)
    print(f"\n{title} ({samples} each, alternating)")
    for label in times:
        print(f"  {label:<24} {summary(times[label])}   status {sorted(statuses[label])}")
    delta = statistics.median(times[a[0]]) - statistics.median(times[b[0]])
    spread = statistics.stdev(times[a[0]] + times[b[0]])
    print(f"  difference of medians    {delta * 1000:+7.2f} ms   (stdev {spread * 1000:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="BCRYPT_ROUNDS (default 12)")
    parser.add_argument("--samples", type=int, default=60, help="requests per side")
    args = parser.parse_args()
    # Production mails by SMTP only: a server that accepts and discards every message.
    mail = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    mail.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = service_env(
                **SAFE_PRODUCTION,
                APP_ENV="production",
                JWT_ACCESS_SECRET=secrets.token_urlsafe(48),
                JWT_REFRESH_SECRET=secrets.token_urlsafe(48),
                DATABASE_URL=f"sqlite:///{Path(tmp) / 'timing.db'}",
                BCRYPT_ROUNDS=str(args.rounds),
                RATELIMIT_ENABLED="false",
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(mail.port),
                MAIL_ASYNC="true",
            )
            migrate(env)
            with gunicorn(env, workers=1) as base:
                call(
                    base,
                    "POST",
                    "/auth/register",
                    {"email": "known@example.com", "password": PASSWORD},
                )
                print(f"bcrypt cost {args.rounds}, gunicorn 1 worker, SQLite, 127.0.0.1")
                compare(
                    base,
                    "POST /auth/login",
                    "/auth/login",
                    ("unknown email", {"email": "nobody@example.com", "password": PASSWORD}),
                    (
                        "known, wrong password",
                        {"email": "known@example.com", "password": "wrong pass 1"},
                    ),
                    args.samples,
                )
                compare(
                    base,
                    "POST /auth/forgot-password",
                    "/auth/forgot-password",
                    ("unknown email", {"email": "nobody@example.com"}),
                    ("known email", {"email": "known@example.com"}),
                    args.samples,
                )

    finally:
        mail.stop()


if __name__ == "__main__":
    main()
