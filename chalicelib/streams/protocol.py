"""What goes over the live-stream sockets, as plain Python (upstream §4).

The first client message is parsed into a :class:`StreamRequest`; the kind of stream comes
from an explicit ``stream`` field, else the socket's path (local run) or ``stream`` query
parameter, else the keys the One-Click frontend sends. Pushed messages keep the original's
bytes where the frontend depends on them: compact JSON with sorted keys, escaped like Go's
``json.Marshal``, one object per frame. Cursors record what was *sent*, so a worker that
takes over resumes exactly after the last frame the client got.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.records import values

DEPLOYMENTS, LOGS, EVENTS = "deployments", "logs", "events"
STREAMS = (DEPLOYMENTS, LOGS, EVENTS)
FRAME_LIMIT = 32 * 1024  # API Gateway's WebSocket frame size
SECRET_CONTENT = ("data", "stringData")
RECONNECT = "The stream reached its time limit; reconnect to continue."

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_GO_ESCAPES["\u2029"] = "\\u2029"
_GO_ESCAPE = re.compile("[<>&\u2028\u2029]")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


def compact(value: Any) -> str:
    """JSON as Go's ``json.Marshal`` writes it (the events page splits on ``"}{"``)."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _GO_ESCAPE.sub(lambda m: _GO_ESCAPES[m.group(0)], text)


class RequestRefused(Exception):
    """The first message cannot start a stream; ``frame`` is what the client is told."""

    def __init__(self, frame: str) -> None:
        super().__init__(frame)
        self.frame = frame


def error_frame(stream: str, message: str) -> str:
    """An error in the stream's own style: JSON ``{"error"}``, plain text for logs."""
    return f"Error: {message}" if stream == LOGS else compact({"error": message})


@dataclass(frozen=True)
class StreamRequest:
    stream: str
    project: str
    deployment: str = ""
    pod: str = ""
    container: str = ""
    tail_lines: int | None = None
    kind: str = ""
    name: str = ""

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> StreamRequest:
        return cls(**params)


def stream_kind(message: dict[str, Any], hint: str) -> str | None:
    """Which stream a first message asks for (upstream §4.4)."""
    explicit = message.get("stream")
    if isinstance(explicit, str) and explicit in STREAMS:
        return explicit
    if hint in STREAMS:
        return hint
    if "podName" in message:
        return LOGS
    if "kind" in message:
        return EVENTS
    if "deploymentId" in message or "projectId" in message:
        return DEPLOYMENTS
    return None


def _tail_lines(message: dict[str, Any]) -> int | None:
    raw = message.get("tailLines")
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise RequestRefused(error_frame(LOGS, "tailLines must be a whole number >= 0"))
    return raw


def parse_request(body: str, hint: str) -> StreamRequest:
    """The stream a first message asks for, or RequestRefused with the original's reply."""
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        wording = "Unmarshal error" if hint == LOGS else "Invalid request format"
        raise RequestRefused(compact({"error": wording}))
    kind = stream_kind(message, hint)
    if kind == LOGS:
        project = values.first_text(message, "rolloutId", "projectId")
        pod = values.first_text(message, "podName")
        if not project or not pod:
            raise RequestRefused("Error: projectId and podName must not be empty")
        return StreamRequest(
            LOGS,
            project,
            pod=pod,
            container=values.first_text(message, "container"),
            tail_lines=_tail_lines(message),
        )
    if kind == EVENTS:
        project = values.first_text(message, "rolloutId", "projectId")
        object_kind, name = values.first_text(message, "kind"), values.first_text(message, "name")
        if not project or not object_kind or not name:
            raise RequestRefused(compact({"error": "Invalid request"}))
        return StreamRequest(EVENTS, project, kind=object_kind, name=name)
    if kind == DEPLOYMENTS:
        project = values.first_text(message, "projectId")
        if not project:
            raise RequestRefused(compact({"error": "Invalid request"}))
        return StreamRequest(
            DEPLOYMENTS, project, deployment=values.first_text(message, "deploymentId")
        )
    raise RequestRefused(compact({"error": "Invalid request format"}))


# ---------------------------------------------------------------------------- messages


def _fits(text: str) -> bool:
    return len(text.encode("utf-8")) <= FRAME_LIMIT


def _shown(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """The object as the map may see it: never a Secret's content, no apiVersion/kind
    (client-go's typed objects leave them empty), no managedFields (noise)."""
    shown = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if kind == "secret":
        for name in SECRET_CONTENT:
            shown.pop(name, None)
    metadata = dict(shown.get("metadata") or {})
    metadata.pop("managedFields", None)
    shown["metadata"] = metadata
    return shown


def _smaller(obj: dict[str, Any]) -> dict[str, Any]:
    """What the map reads (metadata labels/uid/ownerReferences, pod phase and container
    statuses), for an object too big for one frame."""
    metadata = obj.get("metadata") or {}
    keep = ("name", "namespace", "uid", "labels", "ownerReferences", "resourceVersion")
    status = obj.get("status") or {}
    return {
        "metadata": {k: metadata[k] for k in keep if k in metadata},
        "status": {k: status[k] for k in ("phase", "containerStatuses") if k in status},
    }


def resource_message(kind: str, event_type: str, obj: dict[str, Any]) -> str:
    """One resource-map push (upstream §4.1), always within one frame."""
    shown = _shown(obj, kind)
    metadata = shown["metadata"]

    def message(body: dict[str, Any]) -> str:
        return compact(
            {
                "kind": kind,
                "labels": metadata.get("labels"),
                "name": metadata.get("name", ""),
                "namespace": metadata.get("namespace", ""),
                "object": body,
                "status": event_type,
            }
        )

    text = message(shown)
    return text if _fits(text) else message(_smaller(shown))


def event_message(obj: dict[str, Any]) -> str:
    """One events push (upstream §4.3): ``{"message","reason","typus"}``."""
    return compact(
        {
            "message": str(obj.get("message") or ""),
            "reason": str(obj.get("reason") or ""),
            "typus": str(obj.get("type") or ""),
        }
    )


def keepalive_frame(stream: str) -> str:
    """A frame that resets API Gateway's idle timer and that the frontend shows nothing
    for: empty text for logs and events (they concatenate frames), and for the map a push
    whose labels match no project, which the map page drops."""
    if stream != DEPLOYMENTS:
        return ""
    empty: dict[str, Any] = {"metadata": {"labels": {}}}
    push = {"kind": "keepalive", "labels": {}, "name": "", "namespace": "", "status": ""}
    return compact({**push, "object": empty})


def reconnect_frame(stream: str) -> str:
    if stream == LOGS:
        return f"\n{RECONNECT}\n"
    return compact({"error": RECONNECT, "reconnect": True})


def split_text(text: str, limit: int = FRAME_LIMIT) -> list[str]:
    """Text cut into frames of at most ``limit`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    frames = []
    while data:
        cut = min(limit, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        frames.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    return frames


# ---------------------------------------------------------------------------- cursors


def _stamp_key(stamp: str) -> tuple[str, int] | None:
    match = _STAMP.match(stamp)
    if match is None:
        return None
    return match.group(1), int((match.group(2) or "0").ljust(9, "0"))


def split_log_line(raw: bytes) -> tuple[str, str]:
    """``(timestamp, text)`` of a line of a log read with ``timestamps=true``."""
    line = raw.decode("utf-8", errors="replace")
    stamp, _, text = line.partition(" ")
    if _stamp_key(stamp) is None:
        return "", line + "\n"
    return stamp, text + "\n"


@dataclass
class LogCursor:
    """The timestamp of the last line sent and how many sent lines carried it. A resumed
    log starts at that second (``sinceTime`` has second precision) and the cursor drops
    what was already sent, so a hand-over neither loses nor repeats a line."""

    stamp: str = ""
    same: int = 0
    _replayed: int = 0

    def since_time(self) -> str | None:
        key = _stamp_key(self.stamp)
        return f"{key[0]}Z" if key else None

    def admit(self, stamp: str) -> bool:
        """Whether a line is new; advances the cursor when it is."""
        key, last = _stamp_key(stamp), _stamp_key(self.stamp)
        if key is None:
            return True
        if last is not None and key < last:
            return False
        if last is not None and key == last:
            if self._replayed < self.same:
                self._replayed += 1
                return False
            self.same += 1
            self._replayed = self.same
            return True
        self.stamp, self.same, self._replayed = stamp, 1, 1
        return True

    def rewind(self) -> None:
        """The log was opened again from the cursor's second: its sent lines come again."""
        self._replayed = 0

    def dump(self) -> dict[str, Any]:
        return {"stamp": self.stamp, "same": self.same}

    @classmethod
    def load(cls, data: dict[str, Any]) -> LogCursor:
        return cls(str(data.get("stamp") or ""), int(data.get("same") or 0))


@dataclass
class WatchCursor:
    """The resourceVersion sent up to and what the client was told exists (uid → name,
    namespace, resourceVersion), so a relist after ``410 Gone`` sends only the difference."""

    version: str = ""
    seen: dict[str, list[str]] = field(default_factory=dict)

    def note(self, event_type: str, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        if uid and event_type == "DELETED":
            self.seen.pop(uid, None)
        elif uid:
            self.seen[uid] = [
                str(metadata.get("name") or ""),
                str(metadata.get("namespace") or ""),
                str(metadata.get("resourceVersion") or ""),
            ]
        self.version = str(metadata.get("resourceVersion") or self.version)

    def relist(self, items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """The events that bring the client from what it saw to ``items``."""
        changes: list[tuple[str, dict[str, Any]]] = []
        present = set()
        for obj in items:
            metadata = obj.get("metadata") or {}
            uid = str(metadata.get("uid") or "")
            present.add(uid)
            known = self.seen.get(uid)
            if known is None:
                changes.append(("ADDED", obj))
            elif known[2] != str(metadata.get("resourceVersion") or ""):
                changes.append(("MODIFIED", obj))
        for uid, (name, namespace, version) in list(self.seen.items()):
            if uid not in present:
                gone = {"uid": uid, "name": name, "namespace": namespace}
                changes.append(("DELETED", {"metadata": {**gone, "resourceVersion": version}}))
        return changes

    def dump(self) -> dict[str, Any]:
        return {"version": self.version, "seen": self.seen}

    @classmethod
    def load(cls, data: dict[str, Any]) -> WatchCursor:
        return cls(str(data.get("version") or ""), dict(data.get("seen") or {}))
