"""Outages a production service must survive, on the real service under gunicorn.

The database: the service reaches PostgreSQL through a TCP proxy that the test cuts (every
connection torn down; new ones refused, or held unanswered like a host that drops
packets) and restores. The shared PostgreSQL server itself is never stopped. While cut,
every request that needs the database answers 503 `service_unavailable` within the
connect timeout; each call below has a client timeout, so a hang fails the test. After
the restore the same processes serve again, with nobody's session lost.

Redis: a redis-server of the test's own, killed and started again.
"""

import threading
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa

from tests.faults import RedisServer, TcpProxy
from tests.live import call, gunicorn, migrate, service_env, wait_for
from tests.support import PASSWORD, POSTGRES_URL, free_port, private_schema

CONNECT_TIMEOUT = 2
STATEMENT_TIMEOUT = 2
# Longest a request may take while the database is away: a failed ping, then a new
# connection that times out. Anything slower is a hang.
OUTAGE_BUDGET = 2 * CONNECT_TIMEOUT + 2


class Service:
    def __init__(self, base, proxy, log, database_url):
        self.base, self.proxy, self.log, self.database_url = base, proxy, log, database_url
        self.users = 0

    def signup(self) -> tuple[int, dict]:
        self.users += 1
        credentials = {"email": f"user{self.users}@example.com", "password": PASSWORD}
        status, _, created = call(self.base, "POST", "/auth/register", credentials)
        assert status == 201
        status, _, tokens = call(self.base, "POST", "/auth/login", credentials)
        assert status == 200
        return created["id"], tokens

    def wait_ready(self) -> None:
        wait_for(lambda: call(self.base, "GET", "/readyz")[0] == 200, "/readyz to answer 200")


@contextmanager
def service_behind_proxy(tmp_path_factory, name: str, **settings: str):
    """The service on a private schema, reaching PostgreSQL through a TcpProxy."""
    target = sa.make_url(POSTGRES_URL)
    with private_schema(name) as url:
        proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432))
        proxied = sa.make_url(url).set(host="127.0.0.1", port=proxy.port)
        env = service_env(
            DATABASE_URL=proxied.render_as_string(hide_password=False),
            DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
            DATABASE_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
            **settings,
        )
        migrate(env)
        log = tmp_path_factory.mktemp(name) / "gunicorn.log"
        try:
            # As deployed: several sync workers, so requests stuck on the cut database do not
            # queue behind one another.
            with gunicorn(env, workers=None, log=log) as base:
                yield Service(base, proxy, log, url)
        finally:
            proxy.close()
        assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with service_behind_proxy(tmp_path_factory, "outage") as running:
        yield running


@pytest.fixture(autouse=True)
def database_back(request):
    """Whatever a test did to the proxy, the next test starts with the database reachable."""
    yield
    if "service" in request.fixturenames:
        running = request.getfixturevalue("service")
        running.proxy.restore()
        running.wait_ready()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def refresh(base: str, tokens: dict, timeout: float = OUTAGE_BUDGET):
    return call(
        base, "POST", "/auth/refresh", {"refreshToken": tokens["refreshToken"]}, timeout=timeout
    )


def assert_unavailable(answer) -> None:
    status, headers, body = answer
    assert (status, body) == (
        503,
        {"error": "The service is temporarily unavailable.", "code": "service_unavailable"},
    )
    assert headers["Retry-After"] == "5"


@pytest.mark.parametrize("blackhole", [False, True], ids=["refused", "blackholed"])
def test_a_database_outage_is_503_at_once_and_recovers_without_restart(service, blackhole):
    _, tokens = service.signup()
    service.proxy.cut(blackhole=blackhole)

    new_user = {"email": "during-outage@example.com", "password": PASSWORD}
    for method, path, body, headers in [
        ("GET", "/readyz", None, None),
        ("GET", "/me", None, bearer(tokens)),
        ("POST", "/auth/refresh", {"refreshToken": tokens["refreshToken"]}, None),
        ("POST", "/auth/login", {"email": "user1@example.com", "password": PASSWORD}, None),
        ("POST", "/auth/register", new_user, None),
    ]:
        assert_unavailable(call(service.base, method, path, body, headers, timeout=OUTAGE_BUDGET))
    # liveness does not depend on the database: nobody restarts a healthy process
    assert call(service.base, "GET", "/healthz", timeout=OUTAGE_BUDGET)[0] == 200

    service.proxy.restore()
    service.wait_ready()

    assert call(service.base, "GET", "/me", headers=bearer(tokens))[0] == 200
    status, _, rotated = refresh(service.base, tokens)
    assert status == 200
    assert call(service.base, "GET", "/me", headers=bearer(rotated))[0] == 200


def test_the_first_request_after_a_database_restart_succeeds(service):
    """No connection is pinged before use: the guard finds its pooled connection dead (the
    database restarted meanwhile), and reads again on a fresh one instead of failing."""
    _, tokens = service.signup()
    for _ in range(20):  # every worker holds a pooled connection
        assert call(service.base, "GET", "/me", headers=bearer(tokens))[0] == 200

    service.proxy.cut()  # every connection torn down, as a restart does...
    service.proxy.restore()  # ...and the database is back at once

    statuses = [call(service.base, "GET", "/me", headers=bearer(tokens))[0] for _ in range(20)]
    assert statuses == [200] * 20
    assert "database connection lost" not in service.log.read_text()


@contextmanager
def user_row_locked(database_url: str, user_id: int):
    """Hold a lock on a user's row, as a long transaction elsewhere would.

    A refresh writes its successor token, and the foreign-key check of that write must
    share-lock the user row: so the refresh waits here after it has spent the presented
    token, in the middle of its transaction.
    """
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user_id})
            yield engine
            conn.rollback()
    finally:
        engine.dispose()


def refresh_waiting_after_spending(engine: sa.Engine) -> bool:
    """Whether a refresh is blocked mid-transaction, writing its successor token (on
    PostgreSQL, in the one statement that also spends the presented token)."""
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query"
                    " ~ '^(WITH locked AS|INSERT INTO refresh_tokens)'"
                )
            )
        )


def test_a_refresh_cut_off_mid_transaction_leaves_the_old_token_usable(service):
    user_id, tokens = service.signup()
    answers = []

    with user_row_locked(service.database_url, user_id) as engine:
        pending = threading.Thread(target=lambda: answers.append(refresh(service.base, tokens)))
        pending.start()
        wait_for(lambda: refresh_waiting_after_spending(engine), "the refresh to block")
        service.proxy.cut()
        pending.join()

    assert_unavailable(answers[0])
    service.proxy.restore()
    service.wait_ready()
    # The spend was rolled back with the rest: the old token still works, once.
    status, _, rotated = refresh(service.base, tokens)
    assert status == 200
    assert call(service.base, "GET", "/me", headers=bearer(rotated))[0] == 200


def test_a_refresh_stopped_by_the_statement_timeout_leaves_the_old_token_usable(service):
    user_id, tokens = service.signup()

    with user_row_locked(service.database_url, user_id):
        answer = refresh(service.base, tokens, timeout=STATEMENT_TIMEOUT + OUTAGE_BUDGET)

    assert_unavailable(answer)
    assert "statement timeout" in service.log.read_text()
    assert refresh(service.base, tokens)[0] == 200


@pytest.fixture(scope="module")
def retrying_service(tmp_path_factory):
    # A client that retries a refresh after a network error cannot know whether the first
    # attempt committed just before the connection died: REFRESH_REUSE_INTERVAL lets the
    # retry get the same successor instead of being taken for theft (docs/deployment.md,
    # "When the database is down").
    with service_behind_proxy(tmp_path_factory, "load", REFRESH_REUSE_INTERVAL="30") as running:
        yield running


def test_sessions_survive_database_outages_under_load(retrying_service):
    service = retrying_service
    devices = [service.signup()[1] for _ in range(6)]
    statuses: list[int] = []
    stop = threading.Event()

    def use(index: int) -> None:
        tokens = devices[index]
        while not stop.is_set():
            statuses.append(call(service.base, "GET", "/me", headers=bearer(tokens))[0])
            status, _, rotated = refresh(service.base, tokens)
            statuses.append(status)
            if status == 200:
                tokens = devices[index] = rotated

    threads = [threading.Thread(target=use, args=(i,)) for i in range(len(devices))]
    for thread in threads:
        thread.start()
    try:
        for blackhole in (False, True, False):
            seen = len(statuses)
            wait_for(lambda seen=seen: len(statuses) > seen + 20, "requests before the cut")
            service.proxy.cut(blackhole=blackhole)
            seen = len(statuses)
            wait_for(
                lambda seen=seen: statuses.count(503) > 0 and len(statuses) > seen + 12, "503s"
            )
            service.proxy.restore()
        seen = len(statuses)
        wait_for(lambda: len(statuses) > seen + 20, "requests after the last restore")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2 * OUTAGE_BUDGET)

    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert set(statuses) == {200, 503}, sorted(set(statuses))
    for tokens in devices:  # every session is still alive: none lost, none revoked
        assert call(service.base, "GET", "/me", headers=bearer(tokens))[0] == 200
        assert refresh(service.base, tokens)[0] == 200


def test_rate_limits_fall_back_to_each_process_while_redis_is_down(tmp_path):
    server = RedisServer(free_port())
    server.start()
    store = redis.Redis.from_url(server.url)
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'auth.db'}",
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=server.url,
        RATELIMIT_LOGIN="3 per minute",
    )
    migrate(env)
    log = tmp_path / "gunicorn.log"

    def wrong_login(n: int) -> int:
        body = {"email": f"nobody{n}@example.com", "password": "wrong-password"}
        return call(base, "POST", "/auth/login", body, timeout=5)[0]

    try:
        with gunicorn(env, log=log) as base:
            assert [wrong_login(n) for n in range(2)] == [401, 401]
            assert store.keys()  # counted in Redis

            server.stop()
            # Each process counts for itself now: the limit still holds, nothing fails.
            assert [wrong_login(n) for n in range(4)] == [401, 401, 401, 429]
            assert call(base, "GET", "/readyz")[0] == 200

            server.start()  # empty: it keeps nothing on disk
            wait_for(
                lambda: wrong_login(0) == 401 and store.keys(), "Redis in use again", interval=0.5
            )
    finally:
        server.stop()
        store.close()
    text = log.read_text()
    # the operator is told both ways
    assert "falling back to in-memory storage" in text
    assert "Rate limit storage recovered" in text
    assert "Traceback" not in text
    assert '"status": 500' not in text
