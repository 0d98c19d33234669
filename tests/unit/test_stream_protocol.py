"""The live-stream protocol as plain Python: first messages, pushes, frames and cursors."""

from __future__ import annotations

import json

import pytest

from chalicelib.streams.connections import credentials
from chalicelib.streams.protocol import (
    FRAME_LIMIT,
    LogCursor,
    RequestRefused,
    StreamRequest,
    WatchCursor,
    compact,
    event_message,
    keepalive_frame,
    parse_request,
    resource_message,
    split_log_line,
    split_text,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImEifQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("body", "hint", "expected"),
    [
        ('{"rolloutId":"p1","podName":"web-1"}', "", StreamRequest("logs", "p1", pod="web-1")),
        (
            '{"rolloutId":"p1","kind":"Pod","name":"web-1"}',
            "",
            StreamRequest("events", "p1", kind="Pod", name="web-1"),
        ),
        (
            '{"deploymentId":"d1","projectId":"p1"}',
            "",
            StreamRequest("deployments", "p1", deployment="d1"),
        ),
        ('{"deploymentId":"","projectId":"p1"}', "", StreamRequest("deployments", "p1")),
        (
            '{"stream":"logs","projectId":"p1","podName":"w","container":"c","tailLines":5}',
            "events",
            StreamRequest("logs", "p1", pod="w", container="c", tail_lines=5),
        ),
        ('{"projectId":"p1","podName":"w"}', "logs", StreamRequest("logs", "p1", pod="w")),
    ],
)
def test_first_messages_choose_the_stream(body: str, hint: str, expected: StreamRequest) -> None:
    assert parse_request(body, hint) == expected
    assert StreamRequest.from_params(expected.params()) == expected


@pytest.mark.parametrize(
    ("body", "hint", "frame"),
    [
        ('{"deploymentId":"","projectId":""}', "deployments", '{"error":"Invalid request"}'),
        ("not json", "deployments", '{"error":"Invalid request format"}'),
        ("not json", "logs", '{"error":"Unmarshal error"}'),
        (
            '{"rolloutId":"p","podName":""}',
            "logs",
            "Error: projectId and podName must not be empty",
        ),
        ('{"rolloutId":"p","kind":"Pod","name":""}', "", '{"error":"Invalid request"}'),
        ("{}", "", '{"error":"Invalid request format"}'),
        ('{"rolloutId":"p","podName":"w","tailLines":-1}', "", None),
    ],
)
def test_refused_first_messages_get_the_originals_answers(
    body: str, hint: str, frame: str | None
) -> None:
    with pytest.raises(RequestRefused) as refused:
        parse_request(body, hint)
    if frame is not None:
        assert refused.value.frame == frame


def test_events_are_compact_sorted_and_escaped_like_go() -> None:
    frame = event_message({"message": 'Pulling "x" <a&b>', "reason": "Pulling", "type": "Normal"})
    escaped = '"Pulling \\"x\\" \\u003ca\\u0026b\\u003e"'
    assert frame == '{"message":' + escaped + ',"reason":"Pulling","typus":"Normal"}'
    assert compact({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_secret_content_never_leaves_and_big_objects_fit_one_frame() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "p", "uid": "u1", "labels": {"a": "b"}},
        "data": {"PASSWORD": "aHVudGVyMg=="},
        "stringData": {"PASSWORD": "hunter2"},
        "type": "Opaque",
    }
    pushed = json.loads(resource_message("secret", "ADDED", secret))
    assert pushed == {
        "kind": "secret",
        "labels": {"a": "b"},
        "name": "s",
        "namespace": "p",
        "object": {"metadata": secret["metadata"], "type": "Opaque"},
        "status": "ADDED",
    }
    big = {
        "metadata": {"name": "p", "uid": "u", "labels": {}, "managedFields": [{"x": "y" * 50000}]},
        "spec": {"containers": [{"name": "c", "args": ["z" * 40000]}]},
        "status": {"phase": "Running"},
    }
    frame = resource_message("pod", "MODIFIED", big)
    assert len(frame.encode()) <= FRAME_LIMIT
    assert json.loads(frame)["object"] == {
        "metadata": {"name": "p", "uid": "u", "labels": {}},
        "status": {"phase": "Running"},
    }
    keepalive = json.loads(keepalive_frame("deployments"))
    assert keepalive["object"]["metadata"]["labels"] == {}
    assert keepalive_frame("logs") == keepalive_frame("events") == ""


def test_text_splits_into_frames_on_character_boundaries() -> None:
    text = "é" * 40000  # 80,000 bytes
    frames = split_text(text)
    assert "".join(frames) == text
    assert all(len(f.encode()) <= FRAME_LIMIT for f in frames)
    assert len(frames) == 3
    assert split_text("") == []


def test_log_cursor_resumes_without_loss_or_repeat() -> None:
    lines = [
        b"2026-01-01T00:00:01.5Z one",
        b"2026-01-01T00:00:02.000000001Z two",
        b"2026-01-01T00:00:02.000000001Z two-again",
        b"2026-01-01T00:00:02.7Z three",
    ]
    first = LogCursor()
    sent = [split_log_line(raw)[1] for raw in lines[:3] if first.admit(split_log_line(raw)[0])]
    assert sent == ["one\n", "two\n", "two-again\n"]
    assert first.since_time() == "2026-01-01T00:00:02Z"
    # The next worker reads again from that second: only unsent lines pass.
    second = LogCursor.load(json.loads(json.dumps(first.dump())))
    again = [split_log_line(raw) for raw in lines[1:]]
    assert [text for stamp, text in again if second.admit(stamp)] == ["three\n"]
    # Within one worker, a reopened log repeats the last second; rewind drops it again.
    second.rewind()
    assert not second.admit("2026-01-01T00:00:02.7Z")
    assert second.admit("2026-01-01T00:00:03Z")


def test_watch_cursor_relist_sends_only_the_difference() -> None:
    cursor = WatchCursor()

    def obj(uid: str, version: str) -> dict:
        return {"metadata": {"uid": uid, "name": uid, "namespace": "p", "resourceVersion": version}}

    for item in (obj("a", "1"), obj("b", "2"), obj("c", "3")):
        cursor.note("ADDED", item)
    cursor = WatchCursor.load(json.loads(json.dumps(cursor.dump())))
    changes = cursor.relist([obj("a", "1"), obj("b", "9"), obj("d", "10")])
    assert [(t, o["metadata"]["uid"]) for t, o in changes] == [
        ("MODIFIED", "b"),
        ("ADDED", "d"),
        ("DELETED", "c"),
    ]
    assert cursor.version == "3"


def test_credentials_from_query_protocol_or_the_frontends_cookie() -> None:
    assert credentials({}, {"token": JWT}) == (JWT, None)
    assert credentials({"Sec-WebSocket-Protocol": f"pb-auth, {JWT}"}, None) == (JWT, "pb-auth")
    assert credentials({"sec-websocket-protocol": JWT}, None) == (JWT, JWT)
    cookie = "pb_auth=%7B%22token%22%3A%22" + JWT + "%22%2C%22model%22%3A%7B%7D%7D; other=1"
    same_origin = {"Cookie": cookie, "Host": "oc.example.com", "Origin": "https://oc.example.com"}
    assert credentials(same_origin, {}) == (JWT, None)
    assert credentials({"Cookie": cookie}, {}) == (None, None)  # no Origin: not a browser page
    foreign = {**same_origin, "Origin": "https://tenant.example.com"}
    assert credentials(foreign, {}) == (None, None)  # a sibling subdomain's page
    assert credentials({**same_origin, "Cookie": "pb_auth=garbage"}, {}) == (None, None)
    assert credentials({}, {}) == (None, None)


def test_stream_settings_stay_inside_lambda_and_api_gateway_limits() -> None:
    from chalicelib.errors import ConfigError
    from chalicelib.settings import load_settings

    base = {"JWT_SECRET": "s" * 40}
    settings = load_settings(base)
    assert (settings.stream_window_seconds, settings.stream_keepalive_seconds) == (840, 300)
    assert settings.stream_max_connection_seconds < 7200 < settings.stream_connection_ttl_seconds
    for env, name in (
        ({"STREAM_WINDOW_SECONDS": "900"}, "STREAM_WINDOW_SECONDS"),
        ({"STREAM_KEEPALIVE_SECONDS": "600"}, "STREAM_KEEPALIVE_SECONDS"),
        ({"STREAM_MAX_CONNECTION_SECONDS": "7200"}, "STREAM_MAX_CONNECTION_SECONDS"),
        ({"STREAM_WINDOW_SECONDS": "5", "STREAM_CHECK_SECONDS": "5"}, "STREAM_CHECK_SECONDS"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, **env})
