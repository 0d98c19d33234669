"""The registry client's time limits against servers that answer too slowly to trip any socket
timeout: a byte every 0.4 s (the client's read timeout is 1 s) in the TLS handshake, the status
line or the body, or no answer at all. Each lookup must end by its deadline, at most
``per_host`` requests go to one host at once, and a host that stopped answering is not asked
again by the same client.

The servers are raw TCP on 127.0.0.1: each connection sends a bounded number of bytes or waits a
bounded time, and notices when the client goes away, so a test can wait for that state."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.registry.client import RegistryClient, RegistryError
from chalicelib.registry.reference import Repository

TIMEOUT = 1.0  # the lookup deadline of these tests
DRIP = 0.4  # seconds between two trickled bytes: under the 1 s read timeout
HOLD = 30.0  # the longest a silent connection waits for the client to go away
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
TAGS = b'{"name":"team/app","tags":["1.0","1.1"]}'  # 40 bytes


class Gone(Exception):
    """The client closed the connection."""


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            raise Gone
        data += chunk


def trickle(conn: socket.socket, data: bytes) -> None:
    for index in range(len(data)):
        try:
            conn.sendall(data[index : index + 1])
        except OSError:
            raise Gone from None
        time.sleep(DRIP)


def trickled_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(JSON_HEAD)
    trickle(conn, TAGS)


def trickled_status_line(conn: socket.socket) -> None:
    read_request(conn)
    trickle(conn, JSON_HEAD + TAGS)


def trickled_tls_handshake(conn: socket.socket) -> None:
    conn.recv(4096)  # the ClientHello
    # A handshake record announcing 16,000 bytes: TLS waits for all of them, byte by byte.
    trickle(conn, b"\x16\x03\x03\x3e\x80" + b"\x02" * 40)


def silent(conn: socket.socket) -> None:
    """Read the request, answer nothing, and wait for the client to give up."""
    read_request(conn)
    conn.settimeout(HOLD)
    if not conn.recv(1):
        raise Gone


class AnswerAfterAPause:
    """Answers each request 0.3 s after it came; ``most`` is the most requests it held at
    once (counted before the answer goes out, which the client needs to free its slot)."""

    def __init__(self) -> None:
        self.waiting = self.most = 0
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        with self._lock:
            self.waiting += 1
            self.most = max(self.most, self.waiting)
        time.sleep(0.3)
        with self._lock:
            self.waiting -= 1
        conn.sendall(JSON_HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + TAGS)


class RawServer:
    """Runs ``behave`` on every connection; counts connections, those open now, and how
    many the client left before the behaviour was over (``abandoned``)."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.behave = behave
        self.connections = self.active = self.abandoned = self.finished = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self.active += 1
        ended = "finished"
        try:
            self.behave(conn)
        except (Gone, ConnectionError):
            ended = "abandoned"
        except TimeoutError:
            ended = "finished"  # held for HOLD seconds: the client never let go
        finally:
            conn.close()
            with self._lock:
                self.active -= 1
                setattr(self, ended, getattr(self, ended) + 1)

    def wait_until(self, what: str, condition: Callable[[RawServer], bool]) -> None:
        """Poll the server's counters (each behaviour ends within ~20 s by construction)."""
        limit = time.monotonic() + 60
        while not condition(self):
            assert time.monotonic() < limit, f"the server never saw {what}"
            time.sleep(0.05)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self._listener.close()
        self._accepting.join(timeout=10)


@pytest.fixture
def make_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def make(behave: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(behave))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def timed(lookup: Callable[[], object]) -> tuple[RegistryError, float]:
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        lookup()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("behave", "scheme"),
    [
        (trickled_body, "http"),
        (trickled_status_line, "http"),
        (trickled_tls_handshake, "https"),
        (silent, "http"),
    ],
    ids=["body", "status-line", "tls-handshake", "silent"],
)
def test_a_slow_answer_is_cut_at_the_deadline(
    make_server: Callable[..., RawServer], behave: Callable[[socket.socket], None], scheme: str
):
    server = make_server(behave)
    client = RegistryClient(timeout=TIMEOUT)
    error, took = timed(lambda: client.list_tags(Repository(server.host, "team/app", scheme), None))
    assert (error.kind, error.message) == ("timeout", f"registry {server.host} timed out after 1s")
    assert took < 3 * TIMEOUT  # the whole answer would take 16 s or more
    assert client.request_count == 1  # a timeout is not retried
    # The client went away: the server's next byte (or its wait) found the connection closed.
    server.wait_until("the client go away", lambda s: s.abandoned == 1)
    assert server.finished == 0


def test_the_deadline_covers_the_digest_too(make_server: Callable[..., RawServer]):
    server = make_server(trickled_body)
    client = RegistryClient(timeout=TIMEOUT)
    error, took = timed(
        lambda: client.digest(Repository(server.host, "team/app", "http"), "1", None)
    )
    assert error.kind == "timeout" and took < 3 * TIMEOUT


def test_no_more_than_per_host_requests_at_once(make_server: Callable[..., RawServer]):
    answers = AnswerAfterAPause()
    server = make_server(answers)
    client = RegistryClient(timeout=10, per_host=2)
    repos = [Repository(server.host, f"team/app{i}", "http") for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda repo: client.list_tags(repo, None), repos))
    assert results == [["1.0", "1.1"]] * 6  # waiting for a slot is not a failure
    assert (server.connections, answers.most) == (6, 2)


def test_a_host_that_stopped_answering_is_not_asked_again_in_the_run(
    make_server: Callable[..., RawServer],
):
    server = make_server(silent)
    client = RegistryClient(timeout=TIMEOUT, per_host=2)
    repos = [Repository(server.host, f"team/app{i}", "http") for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda repo: timed(lambda: client.list_tags(repo, None)), repos))
    assert [error.kind for error, _ in outcomes] == ["timeout"] * 6
    assert max(took for _, took in outcomes) < 3 * TIMEOUT
    server.wait_until("every connection closed", lambda s: s.active == 0 and s.connections >= 2)
    asked = server.connections
    # Two stalled in their slots; the others waited for one, and at most one waiter got in
    # between the two stalls, with moments left.
    assert asked in (2, 3)
    error, took = timed(
        lambda: client.list_tags(Repository(server.host, "team/late", "http"), None)
    )
    assert error.message == (
        f"registry {server.host} is not answering: 2 requests timed out after 1s in this run"
    )
    assert took < TIMEOUT / 2 and server.connections == asked
    # The next tick's client asks again.
    # (a longer deadline: on a loaded machine 1 s may pass before it even connects)
    error, _ = timed(lambda: RegistryClient(timeout=5 * TIMEOUT).list_tags(repos[0], None))
    assert error.kind == "timeout"
    server.wait_until("the next run's request", lambda s: s.connections == asked + 1)
