"""Faults a production service meets, made on loopback without touching shared servers.

`TcpProxy` stands between the service and PostgreSQL: the test cuts it (every open
connection is torn down, as when the database stops, and new ones are refused or, like a
host that drops packets, accepted and never answered) and restores it. `RedisServer` is a
Redis of the test's own, on its own port, that the test really stops and starts again.
"""

import shutil
import socket
import subprocess
import threading
import time

import redis

from tests.support import service_missing


def _reset(sock: socket.socket) -> None:
    """Tear a connection down at once (RST), waking any thread blocked on it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class TcpProxy:
    """Forward 127.0.0.1:<port> to `target` until cut."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode = "forward"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, *, blackhole: bool = False) -> None:
        """Drop every connection; from now on refuse new ones, or hold them unanswered."""
        with self._lock:
            self.mode = "blackhole" if blackhole else "refuse"
            self._drop_all()

    def restore(self) -> None:
        with self._lock:
            self.mode = "forward"
            self._drop_all()  # the held, unanswered ones

    def close(self) -> None:
        with self._lock:
            self.mode = "closed"
            self.listener.close()
            self._drop_all()

    def _drop_all(self) -> None:
        for sock in self._open:
            _reset(sock)
        self._open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self.mode == "blackhole":
                    self._open.add(client)
                    continue
                if self.mode != "forward":
                    _reset(client)
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _reset(client)
                    continue
                upstream.settimeout(None)
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        with self._lock:
            for sock in (source, sink):
                if sock in self._open:
                    self._open.discard(sock)
                    _reset(sock)


class RedisServer:
    """A redis-server of the test's own on `port`, keeping nothing on disk."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server", "not installed", "apt-get install -y redis-server")
        options = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                assert self.process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not answer"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Kill it outright, as a crash or a lost host would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
