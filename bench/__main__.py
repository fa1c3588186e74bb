"""`python -m bench`: how fast the service answers, measured against its own floor.

For each backend (SQLite, PostgreSQL) it makes two fresh databases, an almost empty one
and a large one (100,000 more users, 1,000,000 refresh tokens), starts the service on each
under gunicorn with the repository's gunicorn.conf.py (production mode), and a
flask-jwt-extended service of the same shape beside them. wrk then loads, in alternating
rounds so that drift hits every phase alike:

    reference      GET /bench/users/<id>: one primary-key lookup, no authentication
    me             GET /me: the guard (token, session and user checks) and the same lookup
    fje_me         GET /me of the flask-jwt-extended service
    refresh        POST /auth/refresh: rotation, 16 clients each spending its own chain
    me/refresh on the large store

then `POST /auth/login` at bcrypt cost 12 against the bcrypt limit measured here, and a
soak of /me and refresh together, reading every worker's RSS before and after. It prints
the table and the targets; `--docs` also writes them into docs/performance.md, and a
summary into README.md.

Usage: .venv/bin/python -m bench [--backend both] [--seconds 5] [--rounds 3] [--soak 60]
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import bcrypt
from cryptography.fernet import Fernet

from app import create_app
from app.ratelimit import LIMIT_SETTINGS
from bench import load, report, round_trips, store
from bench.fje import create_fje_app
from bench.load import Load
from tests.live import gunicorn_process, migrate
from tests.support import SAFE_PRODUCTION

CONNECTIONS = 16
CLIENT_USERS = 64
# The large store: what a service with many users and months of rotation holds.
LARGE_USERS = 100_000
TOKENS_PER_SESSION = 10
BCRYPT_COST = 12
WARM_UP_SECONDS = 3
SOAK_SAMPLE_SECONDS = 5
# The services: name -> (store, gunicorn app), and the access tokens each accepts.
SERVICES = {
    "small": ("small", "bench.reference:create_reference_app()"),
    "large": ("large", "bench.reference:create_reference_app()"),
    "fje": ("small", "bench.fje:create_fje_app()"),
}
BEARER_RECORDS = {"small": "bearer", "large": "bearer", "fje": "fje-bearer"}
# Phases measured in every round: (name, service, wrk mode, path, record file).
ROUND = (
    ("reference", "small", "reference", "/bench/users/", "bearer"),
    ("me", "small", "bearer", "/me", "bearer"),
    ("fje_me", "fje", "bearer", "/me", BEARER_RECORDS["fje"]),
    ("me_large", "large", "bearer", "/me", "bearer"),
    ("refresh", "small", "refresh", "/auth/refresh", "refresh-{round}"),
    ("refresh_large", "large", "refresh", "/auth/refresh", "refresh-{round}"),
)


def service_env(database_url: str, secrets_: dict[str, str]) -> dict[str, str]:
    """Production settings, with every rate limit raised out of reach: the limiter still
    runs on every request, as in production, but never refuses the benchmark."""
    return {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        # What else production insists on (SMTP mail, https:// links); the benchmark mails none.
        **SAFE_PRODUCTION,
        **secrets_,
        "JWT_ACCESS_TTL": "3600",
        "BCRYPT_ROUNDS": str(BCRYPT_COST),
        **{name: "1000000 per minute" for name in LIMIT_SETTINGS},
    }


def bcrypt_limit(cores: int, samples: int = 7) -> dict:
    """Logins per second the machine could do if it did nothing but bcrypt checks."""
    hashed = bcrypt.hashpw(store.PASSWORD.encode(), bcrypt.gensalt(BCRYPT_COST))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        bcrypt.checkpw(store.PASSWORD.encode(), hashed)
        times.append(time.perf_counter() - start)
    check = statistics.median(times)
    return {"check_ms": check * 1000, "cores": cores, "limit_rps": cores / check}


def bench_backend(backend: str, args: argparse.Namespace, scratch: Path) -> dict:
    keys = {name: secrets.token_urlsafe(48) for name in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET")}
    keys["MFA_ENCRYPTION_KEY"] = Fernet.generate_key().decode()  # production requires one
    urls, apps, clients = prepare_stores(backend, args, scratch, keys)
    results: dict = {"stores": {size: store.counts(app) for size, app in apps.items()}}
    if backend == "postgres":
        step(f"{backend}: counting round trips per request")
        results["round_trips"] = round_trips.count(
            urls["small"],
            keys["JWT_ACCESS_SECRET"],
            clients["small"].user_ids[0],
            store.CLIENT_EMAIL.format(n=0),
        )
    with ExitStack() as stack:
        services = {
            name: stack.enter_context(
                gunicorn_process(
                    service_env(urls[size], keys),
                    args.workers,
                    app=app,
                    log=scratch / f"{backend}-{name}.log",
                )
            )
            for name, (size, app) in SERVICES.items()
        }
        step(f"{backend}: warming up")
        for name, (_, base) in services.items():
            records = clients[name].path(BEARER_RECORDS[name])
            load.run(base, Load("bearer", "/me", records), WARM_UP_SECONDS, CONNECTIONS)
        results["workers"] = len(load.worker_rss(services["small"][0].pid))

        runs: dict[str, list[dict]] = {}
        for n in range(args.rounds):
            for phase, service, mode, path, records in ROUND:
                step(f"{backend}: round {n + 1}/{args.rounds}: {phase}")
                target = Load(mode, path, clients[service].path(records.format(round=n)))
                outcome = load.run(services[service][1], target, args.seconds, CONNECTIONS)
                runs.setdefault(phase, []).append(outcome)
        results["phases"] = {phase: report.median_round(each) for phase, each in runs.items()}

        step(f"{backend}: login at bcrypt cost {BCRYPT_COST}")
        results["bcrypt"] = bcrypt_limit(cores())
        login = Load("login", "/auth/login", clients["small"].path("login"))
        results["phases"]["login"] = load.run(
            services["small"][1], login, args.seconds * 2, CONNECTIONS
        )

        step(f"{backend}: soak of {args.soak} s (/me and refresh together)")
        results["memory"] = soak(services["small"], clients["small"], args.soak)
    results["sessions"] = {size: store.forked_sessions(app) for size, app in apps.items()}
    return results


def prepare_stores(backend: str, args: argparse.Namespace, scratch: Path, keys: dict) -> tuple:
    """Fresh small and large databases, migrated and seeded, and the clients' records."""
    urls = {
        size: store.fresh_database(backend, f"auth_bench_{size}", scratch, args.postgres_url)
        for size in ("small", "large")
    }
    # Twice as many sessions as connections: see "refresh" in bench/wrk/client.lua.
    refresh_sets = {f"refresh-{n}": 2 * CONNECTIONS for n in range(args.rounds)}
    refresh_sets["refresh-soak"] = CONNECTIONS
    apps, clients = {}, {}
    for size, url in urls.items():
        env = service_env(url, keys)
        migrate(env)
        os.environ.update(env)  # this process's app: the services' settings exactly
        apps[size] = create_app()
        step(f"{backend}: seeding the {size} store")
        clients[size] = store.seed_clients(
            apps[size], scratch / backend / size, CLIENT_USERS, refresh_sets
        )
    step(
        f"{backend}: growing the large store by {LARGE_USERS:,} users and "
        f"{LARGE_USERS * TOKENS_PER_SESSION:,} refresh tokens"
    )
    store.grow(apps["large"], LARGE_USERS, TOKENS_PER_SESSION)
    store.fje_clients(create_fje_app(urls["small"], keys["JWT_ACCESS_SECRET"]), clients["small"])
    clients["fje"] = clients["small"]
    return urls, apps, clients


def soak(service, clients: store.Clients, seconds: int) -> dict:
    """Load /me and refresh together for `seconds`, reading every worker's RSS each
    `SOAK_SAMPLE_SECONDS`. Caches fill early on; a leak keeps growing in the second half."""
    process, base = service
    half = CONNECTIONS // 2
    me = load.start(base, Load("bearer", "/me", clients.path("bearer")), seconds, half)
    refresh = load.start(
        base, Load("refresh", "/auth/refresh", clients.path("refresh-soak")), seconds, half
    )
    samples = [load.worker_rss(process.pid)]
    for _ in range(seconds // SOAK_SAMPLE_SECONDS):
        time.sleep(SOAK_SAMPLE_SECONDS)
        samples.append(load.worker_rss(process.pid))
    outcomes = [load.finish(me, seconds), load.finish(refresh, seconds)]
    return {
        "seconds": seconds,
        "sample_seconds": SOAK_SAMPLE_SECONDS,
        "requests": sum(outcome["requests"] for outcome in outcomes),
        "errors": sum(outcome["errors"] for outcome in outcomes),
        "workers": [
            {"pid": pid, "rss_kib": [sample.get(pid) for sample in samples]} for pid in samples[0]
        ],
    }


def cores() -> int:
    return len(os.sched_getaffinity(0))


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=5, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the phases")
    parser.add_argument("--soak", type=int, default=60, help="length of the memory soak")
    parser.add_argument(
        "--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's, as deployed)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a server where the benchmark may create and drop its auth_bench_* databases",
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="write the results to docs/performance.md and their summary to README.md",
    )
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as scratch:
        for backend in backends:
            results[backend] = bench_backend(backend, args, Path(scratch))
    machine = report.machine(args, time.monotonic() - started)
    text = report.markdown(results, machine)
    print(text)
    report.save(results, machine)
    if args.docs:
        report.write_docs(text, report.summary(results, machine))


if __name__ == "__main__":
    main()
