"""The stream worker: relays one subscription for a bounded window, then hands over.

A Lambda cannot hold a stream for the life of a socket (15-minute runs, 2-hour sockets,
upstream §4.4), so each invocation relays for ``STREAM_WINDOW_SECONDS``, saves where the
client is (a resourceVersion and what it was told, or the last log timestamp) and starts
its successor with a new lease in the same conditional write. Reader threads feed one
queue; only the main thread sends, so the saved cursor is always what the client got.
Every ``STREAM_CHECK_SECONDS`` the lease is renewed: when that fails the client left
(``$disconnect`` deleted the subscription) or another worker holds it, and this one stops.
Lambda may deliver one event twice: the first invocation claims the lease as its holder,
and a copy that finds a live holder ends at once ("superseded").
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.cluster import streams as cluster
from chalicelib.errors import ApiError
from chalicelib.records import stream_store
from chalicelib.settings import Settings, get_settings
from chalicelib.streams import gateway
from chalicelib.streams.connections import authorize
from chalicelib.streams.protocol import (
    EVENTS,
    FRAME_LIMIT,
    LOGS,
    LogCursor,
    StreamRequest,
    WatchCursor,
    error_frame,
    event_message,
    keepalive_frame,
    reconnect_frame,
    resource_message,
    split_log_line,
    split_text,
)

log = logging.getLogger(__name__)

REOPEN_PAUSE_SECONDS = 1.0
JOIN_SECONDS = 2.0
HOLDER_CHECKS = 3  # check periods a holder's claim outlives its last renewal


class _Stop(Exception):
    """The client left or another worker holds the lease."""


class Pump:
    def __init__(
        self,
        settings: Settings,
        subscription: dict[str, Any],
        lease: str,
        holder: str,
        known: dict[str, Any] | None,
    ) -> None:
        self.settings = settings
        self.known = known  # the connection: its user and session
        self.connection = str(subscription["connection"])
        self.endpoint = str(subscription["endpoint"])
        self.lease = lease
        self.holder = holder
        self.request = StreamRequest.from_params(json.loads(subscription["params"]))
        self.resume: dict[str, Any] = json.loads(subscription.get("resume") or "{}")
        now = time.time()
        self.started = time.monotonic()
        age_left = float(subscription["connected"]) + settings.stream_max_connection_seconds - now
        self.too_old = age_left <= settings.stream_window_seconds
        self.deadline = self.started + min(settings.stream_window_seconds, max(0.0, age_left))
        self.items: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.stopping = threading.Event()
        self.feeds: list[cluster.Feed] = []
        self.feeds_lock = threading.Lock()
        self.last_sent = time.monotonic()
        self.next_check = time.monotonic() + settings.stream_check_seconds
        self.watch_cursors = {
            kind: WatchCursor.load(data) for kind, data in self.resume.get("watch", {}).items()
        }
        self.log_cursor = LogCursor.load(self.resume.get("log") or {})

    # ---------------------------------------------------------------- sending

    def send(self, frame: str) -> None:
        try:
            gateway.send(self.endpoint, self.connection, frame)
        except gateway.Gone:
            raise _Stop("gone") from None
        self.last_sent = time.monotonic()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    # ---------------------------------------------------------------- readers

    def _opened(self, feed: cluster.Feed) -> cluster.Feed:
        with self.feeds_lock:
            self.feeds.append(feed)
        if self.stopping.is_set():
            feed.close()
        return feed

    def _read_watch(self, kind: str, url: str, selector: dict[str, str], version: str) -> None:
        while not self.stopping.is_set() and self.remaining() > 1:
            try:
                if not version:
                    items, version = cluster.list_objects(url, selector)
                    self.items.put(("relist", kind, items, version))
                feed = self._opened(
                    cluster.open_watch(url, selector, version, int(self.remaining()))
                )
                for event_type, obj in cluster.watch_events(feed):
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    self.items.put(("watch", kind, event_type, obj))
            except cluster.Expired:
                version = ""  # too old: list again and send the difference
            except ApiError as err:
                self.items.put(("unavailable", kind, err.message))
                return
            self.stopping.wait(REOPEN_PAUSE_SECONDS if not version else 0.05)

    def _read_log(self) -> None:
        request = self.request
        since = self.log_cursor.since_time()
        tail = None if since else request.tail_lines
        if tail is None and since is None:
            tail = self.settings.stream_log_tail_lines
        while not self.stopping.is_set() and self.remaining() > 1:
            try:
                feed = self._opened(
                    cluster.open_pod_log(
                        request.project,
                        request.pod,
                        request.container or None,
                        tail,
                        since,
                        self.remaining() + cluster.STREAM_GRACE_SECONDS,
                    )
                )
            except ApiError as err:
                self.items.put(("failed", f"Error getting logs: {err.message}"))
                return
            for raw in feed.lines():
                stamp, text = split_log_line(raw)
                self.items.put(("line", stamp, text))
                if stamp:
                    since, tail = stamp[:19] + "Z", None
            # The container ended (EOF): look again shortly, from where the log was; the
            # cursor drops the lines of that second that were already sent.
            self.stopping.wait(REOPEN_PAUSE_SECONDS)
            self.items.put(("reopened",))

    def _readers(self) -> list[Callable[[], None]]:
        request = self.request
        if request.stream == LOGS:
            return [self._read_log]
        if request.stream == EVENTS:
            selector = {
                "fieldSelector": f"involvedObject.kind={request.kind},"
                f"involvedObject.name={request.name}"
            }
            url = cluster.EVENTS.url(request.project)
            version = self._cursor("event").version
            return [lambda: self._read_watch("event", url, selector, version)]
        label = {"labelSelector": cluster.map_selector(request.project, request.deployment)}
        return [
            (
                lambda r=resource: self._read_watch(
                    r.kind, r.url(request.project), label, self._cursor(r.kind).version
                )
            )
            for resource in cluster.MAP_RESOURCES
        ]

    def _cursor(self, kind: str) -> WatchCursor:
        return self.watch_cursors.setdefault(kind, WatchCursor())

    # ---------------------------------------------------------------- relaying

    def _watch_frame(self, kind: str, event_type: str, obj: dict[str, Any]) -> str:
        if self.request.stream == EVENTS:
            return event_message(obj)
        return resource_message(kind, event_type, obj)

    def _handle(self, item: tuple[Any, ...]) -> None:
        what = item[0]
        if what == "watch":
            _, kind, event_type, obj = item
            cursor = self._cursor(kind)
            if event_type == "BOOKMARK":
                cursor.version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                return
            if event_type not in ("ADDED", "MODIFIED", "DELETED"):
                return
            self.send(self._watch_frame(kind, event_type, obj))
            cursor.note(event_type, obj)
        elif what == "relist":
            _, kind, items, version = item
            cursor = self._cursor(kind)
            for event_type, obj in cursor.relist(items):
                self.send(self._watch_frame(kind, event_type, obj))
                cursor.note(event_type, obj)
            cursor.version = version
        elif what == "line":
            self._send_lines(item)
        elif what == "reopened":
            self.log_cursor.rewind()
        elif what == "failed":
            self.send(item[1])
            raise _Stop("failed")
        elif what == "unavailable":
            log.warning("stream %s: %s not watchable: %s", self.connection, item[1], item[2])

    def _send_lines(self, first: tuple[Any, ...]) -> None:
        """Lines already queued go out together, up to one frame."""
        text, size = [], 0
        pending: tuple[Any, ...] | None = first
        while pending is not None:
            _, stamp, line = pending
            if self.log_cursor.admit(stamp):
                text.append(line)
                size += len(line)
            if size >= FRAME_LIMIT:
                break
            try:
                pending = self.items.get_nowait()
            except queue.Empty:
                break
            if pending[0] != "line":
                self._send_text("".join(text))
                text, size = [], 0
                self._handle(pending)
                pending = None
        self._send_text("".join(text))

    def _send_text(self, text: str) -> None:
        for frame in split_text(text):
            self.send(frame)

    def _check(self) -> None:
        now = time.monotonic()
        if now >= self.next_check:
            # The resume point goes along: a crashed worker's retry (Lambda retries async
            # invocations) repeats at most one check period of frames.
            until = time.time() + self.remaining() + self.settings.stream_check_seconds
            resume = self._resume_point()
            renewed = stream_store.renew_lease(
                self.connection, self.lease, self.holder, (until, holder_until()), resume=resume
            )
            if not renewed:
                raise _Stop("left")
            self._still_allowed()
            self.next_check = now + self.settings.stream_check_seconds
        if now - self.last_sent >= self.settings.stream_keepalive_seconds:
            self.send(keepalive_frame(self.request.stream))

    def _still_allowed(self) -> None:
        """The ownership and token checks again at every lease renewal: a deleted project or
        user, or a password change, ends its streams within one check period."""
        try:
            authorize(self.request, self.known)
        except ApiError as err:
            self.send(error_frame(self.request.stream, err.message))
            raise _Stop("refused") from None

    def _wait(self) -> float:
        return max(
            0.0,
            min(
                self.remaining(),
                self.next_check - time.monotonic(),
                self.last_sent + self.settings.stream_keepalive_seconds - time.monotonic(),
            ),
        )

    # ---------------------------------------------------------------- the run

    def run(self) -> str:
        threads = [threading.Thread(target=r, daemon=True) for r in self._readers()]
        for thread in threads:
            thread.start()
        try:
            while self.remaining() > 0:
                try:
                    item = self.items.get(timeout=self._wait())
                except queue.Empty:
                    pass
                else:
                    self._handle(item)
                self._check()
        except _Stop as stop:
            if str(stop) != "left":
                self.end_connection(None)
            return str(stop)
        finally:
            self._shut(threads)
        if self.too_old:
            self.end_connection(reconnect_frame(self.request.stream))
            return "expired"
        return self._hand_over()

    def _shut(self, threads: list[threading.Thread]) -> None:
        self.stopping.set()
        with self.feeds_lock:
            for feed in self.feeds:
                feed.close()
        for thread in threads:
            thread.join(JOIN_SECONDS)

    def end_connection(self, frame: str | None) -> None:
        try:
            if frame is not None:
                gateway.send(self.endpoint, self.connection, frame)
            gateway.close(self.endpoint, self.connection)
        except gateway.Gone:
            pass
        stream_store.forget(self.connection)

    def _resume_point(self) -> str:
        state: dict[str, Any] = {}
        if self.request.stream == LOGS:
            state["log"] = self.log_cursor.dump()
        else:
            state["watch"] = {kind: c.dump() for kind, c in self.watch_cursors.items()}
        return json.dumps(state, separators=(",", ":"))

    def _hand_over(self) -> str:
        successor = secrets.token_hex(8)
        settings = self.settings
        until = time.time() + settings.stream_window_seconds + settings.stream_check_seconds
        if not stream_store.renew_lease(
            self.connection,
            self.lease,
            self.holder,
            (until, 0.0),
            new_lease=successor,
            resume=self._resume_point(),
        ):
            return "left"
        gateway.start_worker({"connection": self.connection, "lease": successor})
        return "handed over"


def holder_until() -> float:
    """How long a holder's claim lasts without renewal: a few check periods, so a live
    worker always renews in time and a crashed one's retry (a minute later at the
    earliest) takes over."""
    return time.time() + HOLDER_CHECKS * get_settings().stream_check_seconds


def run(event: dict[str, Any]) -> str:
    """Relay the subscription ``event["connection"]`` while ``event["lease"]`` holds it."""
    connection, lease = str(event.get("connection") or ""), str(event.get("lease") or "")
    subscription = stream_store.get_subscription(connection) if connection else None
    if subscription is None or subscription.get("lease") != lease:
        return "superseded"
    holder = secrets.token_hex(8)
    if not stream_store.claim_lease(connection, lease, holder, holder_until()):
        return "superseded"  # a duplicate delivery of an event whose worker still runs
    known = stream_store.get_connection(connection)
    pump = Pump(get_settings(), subscription, lease, holder, known)
    try:
        authorize(pump.request, known)
    except ApiError as err:
        pump.end_connection(error_frame(pump.request.stream, err.message))
        return "refused"
    return pump.run()
