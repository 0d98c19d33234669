"""One tenant's slow registry must not hold up another tenant's auto-update (issue 14).

Two tenants point 32 autoUpdates at a registry that answers with headers and then one byte
every 2 s (or never answers at all); two other tenants watch a healthy real registry (Debian's
docker-registry). The slow ones are first in the due queue, the worst order for the others.
One tick must record the healthy checks within about one registry timeout, before the slow
registry has finished a single answer, and end every slow check as a timeout that is due
again; the next tick, with the registry answering again, checks those.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from api_client import nginx_manifest, reset_settings
from auto_update_seed import seed_deployment
from docker_registry import DockerRegistry, push_image, registry_binary
from loopback_http import LoopbackServer
from prerequisites import require

pytestmark = pytest.mark.registry

TIMEOUT = 5  # REGISTRY_TIMEOUT_SECONDS for these ticks
DRIP = 2.0  # seconds between two bytes of a trickled answer: under the read timeout
HOLD = 40.0  # the longest a silent answer waits for the client to go away
MAX_REQUESTS = 100  # the slow registry answers 410 at once after this many requests
SLOW_OWNERS, SLOW_EACH = 2, 16
HEALTHY_OWNERS, HEALTHY_EACH = 2, 3
SLOW_DUE, HEALTHY_DUE = "2000-01-01 00:00:00.000Z", "2000-01-01 00:00:01.000Z"


class SlowRegistry(LoopbackServer):
    """Answers every GET (``/v2/``, tag lists) in its ``mode``: ``trickle`` sends the headers
    and then the body a byte every ``DRIP`` seconds, ``silent`` reads the request and answers
    nothing, ``healthy`` answers at once. Notes when each request came, and how each ended:
    ``finished`` (everything sent) or ``abandoned`` (the client went away first)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.arrivals: list[float] = []
        self.requests = self.active = self.finished = self.abandoned = 0
        self._lock = threading.Lock()
        self._start()

    def _count(self, **changes: int) -> int:
        with self._lock:
            for name, change in changes.items():
                setattr(self, name, getattr(self, name) + change)
            return self.requests

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name = self.path.partition("/tags/list")[0].removeprefix("/v2/")
                body = json.dumps({"name": name, "tags": ["1.0"]}).encode()
                registry.arrivals.append(time.monotonic())
                if registry._count(requests=1) > MAX_REQUESTS:
                    self._send(410, b"{}")
                    return
                registry._count(active=1)
                ended = "finished"
                try:
                    if registry.mode == "healthy":
                        self._send(200, body)
                    elif registry.mode == "trickle":
                        self._head(200, len(body))
                        for index in range(len(body)):
                            self.wfile.write(body[index : index + 1])
                            self.wfile.flush()
                            time.sleep(DRIP)
                    else:
                        self.connection.settimeout(HOLD)
                        if not self.rfile.read(1):
                            ended = "abandoned"
                except OSError:  # broken pipe, reset, or HOLD passed
                    ended = "abandoned" if registry.mode == "trickle" else "finished"
                finally:
                    registry._count(active=-1, **{ended: 1})

            def _head(self, status: int, length: int) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.flush()

            def _send(self, status: int, body: bytes) -> None:
                self._head(status, len(body))
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def wait_until_idle(self) -> None:
        """Every answer ends within ``HOLD`` seconds by construction."""
        limit = time.monotonic() + HOLD + 30
        while self.active:
            assert time.monotonic() < limit, "the slow registry still has answers open"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def healthy_registry() -> Iterator[DockerRegistry]:
    require(registry_binary() is not None, "docker-registry (Debian package) is not installed")
    with DockerRegistry() as registry:
        for index in range(HEALTHY_OWNERS * HEALTHY_EACH):
            for tag in ("1.0.0", "1.1.0"):
                push_image(registry.url, f"healthy/app{index}", tag)
        yield registry


@pytest.fixture(params=["trickle", "silent"])
def slow_registry(request: pytest.FixtureRequest) -> Iterator[SlowRegistry]:
    registry = SlowRegistry(request.param)
    yield registry
    registry.close()


@pytest.fixture
def settings(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_TIMEOUT_SECONDS", str(TIMEOUT))
    monkeypatch.setenv("AUTO_UPDATE_CONCURRENCY", "8")
    reset_settings()


def seed(owner: str, registry: str, repository: str, tag: str, due: str) -> str:
    """A project, a deployment running ``repository:tag`` and its autoUpdate (semver), as
    the API leaves them; returns the autoUpdate's id."""
    from chalicelib.records import store, values

    stamp = values.now()
    project = values.new_id()
    store.create(
        "projects",
        {
            "id": project,
            "created": stamp,
            "updated": stamp,
            "user": owner,
            "name": "p",
            "tags": "",
            "avatar": "",
        },
    )
    manifest = nginx_manifest(tag)
    manifest["spec"]["image"].update(registry=registry, repository=repository)
    return seed_deployment(owner, project, manifest, "", due)


class Recorded:
    """Each stored check outcome with when it was stored and how many answers the slow
    registry had finished by then."""

    def __init__(self, slow: SlowRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.records import store

        self.at: dict[str, float] = {}
        self.slow_answers_finished: dict[str, int] = {}
        original = store.record_check

        def spy(auto_update_id: str, status: dict[str, str]) -> bool:
            stored = original(auto_update_id, status)
            self.at[auto_update_id] = time.monotonic()
            self.slow_answers_finished[auto_update_id] = slow.finished
            return stored

        monkeypatch.setattr(store, "record_check", spy)


@pytest.mark.usefixtures("settings")
def test_a_slow_registry_does_not_delay_other_tenants_checks(
    healthy_registry: DockerRegistry,
    slow_registry: SlowRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.image_updates import tick
    from chalicelib.records import store, values

    slow = [
        seed(f"slowowner{o:06d}", slow_registry.host, f"slow/app{o}x{i}", "1.0", SLOW_DUE)
        for o in range(SLOW_OWNERS)
        for i in range(SLOW_EACH)
    ]
    healthy = [
        seed(
            f"goodowner{o:06d}", healthy_registry.host, f"healthy/app{index}", "1.1.0", HEALTHY_DUE
        )
        for o in range(HEALTHY_OWNERS)
        for index in range(o * HEALTHY_EACH, (o + 1) * HEALTHY_EACH)
    ]
    recorded = Recorded(slow_registry, monkeypatch)

    started = time.monotonic()
    report = tick.run()
    took = time.monotonic() - started

    assert (report.checked, report.errors, report.rolled_out) == (
        len(slow) + len(healthy),
        len(slow),
        [],
    )
    for auto_update_id in healthy:
        status = store.get("autoUpdates", auto_update_id)
        assert (status["lastError"], status["lastTag"]) == ("", "1.1.0"), status
        assert recorded.at[auto_update_id] - started < 3 * TIMEOUT
        # Recorded before the slow registry had finished sending any of its answers.
        assert recorded.slow_answers_finished[auto_update_id] == 0
    now = values.now()
    host = slow_registry.host
    words = (
        f"registry {host} timed out after {TIMEOUT}s; checking again on the next tick",
        f"registry {host} is not answering: ",
        f"Not checked: registry {host} timed out on another of your autoUpdates",
    )
    postponed = 0
    for auto_update_id in slow:
        status = store.get("autoUpdates", auto_update_id)
        assert status["lastError"].startswith(words), status["lastError"]
        assert recorded.at[auto_update_id] - started < 3 * TIMEOUT
        if status["lastError"].startswith(words[2]):
            postponed += 1
            assert status["nextCheck"] == SLOW_DUE  # keeps its place in the queue
        else:
            assert SLOW_DUE < status["nextCheck"] <= now  # due again at the next tick
    # More checks per slow owner than workers: some were postponed after their owner's timeout.
    assert postponed > 0
    assert took < 3 * TIMEOUT
    # 32 slow checks did not cost 32 requests (nor 32 timeouts): 4 (half the tick's workers)
    # at once, and the host was given up once those had stalled (a waiter may have slipped in
    # between two stalls, with moments left).
    first = slow_registry.arrivals[0]
    assert len([at for at in slow_registry.arrivals if at < first + TIMEOUT / 2]) == 4
    assert slow_registry.requests <= 2 * 4
    slow_registry.wait_until_idle()
    assert slow_registry.finished == 0  # the client left every slow answer before its end

    # The registry answers again: the next tick checks exactly the slow ones, and they pass.
    slow_registry.mode = "healthy"
    report = tick.run()
    assert (report.checked, report.errors) == (len(slow), 0), report
    for auto_update_id in slow:
        status = store.get("autoUpdates", auto_update_id)
        assert (status["lastError"], status["lastTag"]) == ("", "1.0"), status
