"""Concurrent replacements of one record's file, on four instances sharing one files folder.

An upload stores its file first, then writes the record under the version it read, and
removes the file the record pointed to before only once that write succeeded; a write that
loses the race (409) removes its own file again (records.attachments ``files_saved``). So
after a storm of uploads (and clears) of one ``avatar``, the record names at most one file,
that file exists and is served with the bytes of the upload that named it, and the shared
``FILES_DIR`` holds nothing else for the record: no replaced file, no loser's file, no
``.part`` leftover. (The README allows an unreferenced file only after an interrupted
request; none is interrupted here.)"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_client import records
from fleet_state import is_pocketbase_error, scan
from local_server import Fleet, LocalServer
from storm import FleetUser, make_fleet_users, report, statuses, storm

pytestmark = [pytest.mark.concurrency, pytest.mark.dynamodb_local, pytest.mark.cluster]

UPLOADS = 16
# A 1x1 PNG; bytes after IEND keep it a PNG to the sniffer and make each upload distinct.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da6364f8cf500f00038601805a347d6b"
    "0000000049454e44ae426082"
)
BOUNDARY = "st0rmb0undary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _form(filename: str, content: bytes) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="avatar"; '
        f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
    )
    return head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def _upload(user: FleetUser, collection: str, record_id: str, n: int) -> Any:
    raw = _form(f"up{n}.png", PNG + f"upload-{n}".encode())
    path = f"{records(collection)}/{record_id}"
    return lambda server: server.request(
        "PATCH", path, token=user.token, raw_body=raw, headers=MULTIPART
    )


def _clear(user: FleetUser, collection: str, record_id: str) -> Any:
    path = f"{records(collection)}/{record_id}"
    return lambda server: server.request("PATCH", path, {"avatar": ""}, token=user.token)


def _files_of(fleet: Fleet, collection_id: str, record_id: str) -> list[str]:
    folder = Path(fleet[0].env["FILES_DIR"]) / collection_id / record_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _served(server: LocalServer, path: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": token, "Accept": "*/*"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _storm_one_avatar(
    fleet: Fleet,
    errors: Callable[[], list[str]],
    user: FleetUser,
    collection: str,
    record: dict[str, Any],
    clears: int,
) -> tuple[list[tuple[int, Any]], str]:
    """Storm the record's avatar; return the replies and what the record names now."""
    calls = [_upload(user, collection, record["id"], n) for n in range(UPLOADS)]
    calls += [_clear(user, collection, record["id"]) for _ in range(clears)]
    replies = storm(fleet, calls)
    counts = statuses(replies)
    report(
        f"{UPLOADS} uploads + {clears} clears of one {collection} avatar",
        fleet,
        len(calls),
        dict(counts),
    )
    assert errors() == []
    assert set(counts) <= {200, 409} and counts[200] >= 1, replies
    assert all(is_pocketbase_error(b, 409) for s, b in replies if s == 409), replies
    [stored] = scan(fleet, collection, id=record["id"])
    return replies, stored.get("avatar", "")


def _check_the_one_file(
    fleet: Fleet,
    user: FleetUser,
    collection: str,
    record: dict[str, Any],
    replies: list[tuple[int, Any]],
    name: str,
) -> None:
    """The record names ``name`` (or nothing): it alone is in the folder and it is served
    on every instance with the bytes of the upload whose 200 named it."""
    on_disk = _files_of(fleet, record["collectionId"], record["id"])
    assert on_disk == ([name] if name else []), on_disk
    if not name:
        return
    [index] = [n for n, (s, b) in enumerate(replies[:UPLOADS]) if s == 200 and b["avatar"] == name]
    path = f"/api/files/{record['collectionId']}/{record['id']}/{name}"
    for server in fleet.servers:
        assert _served(server, path, user.token) == (200, PNG + f"upload-{index}".encode())
    status, shown = fleet[1].request(
        "GET", f"{records(collection)}/{record['id']}", token=user.token
    )
    assert status == 200 and shown["avatar"] == name, shown


def test_concurrent_avatar_uploads_leave_one_served_file(
    fleet: Fleet, new_server_errors: Any
) -> None:
    """Invariant: 16 avatar uploads for one user at once on four instances (over an
    existing avatar) answer 200 or 409; the user names exactly one file, the one a 200
    answered with, it is served by every instance with that upload's bytes, and the
    user's folder holds exactly that file."""
    [user] = make_fleet_users(fleet, 1)
    record = {"id": user.id, "collectionId": _users_collection_id(fleet, user)}
    status, first = _upload(user, "users", user.id, 99)(fleet[0])
    assert status == 200 and first["avatar"], first
    replies, name = _storm_one_avatar(fleet, new_server_errors, user, "users", record, clears=0)
    assert name and name != first["avatar"]
    assert name in {b["avatar"] for s, b in replies if s == 200}
    _check_the_one_file(fleet, user, "users", record, replies, name)


def test_uploads_racing_clears_leave_at_most_one_file(fleet: Fleet, new_server_errors: Any) -> None:
    """Invariant: 16 uploads and 4 clears of one project's avatar at once on four
    instances answer 200 or 409 and leave the project naming at most one file; if one,
    it alone is in the project's folder and is served with its upload's bytes; if none,
    the folder is empty."""
    [user] = make_fleet_users(fleet, 1)
    status, project = fleet[0].request(
        "POST", records("projects"), {"name": "files", "user": user.id}, token=user.token
    )
    assert status == 200, project
    replies, name = _storm_one_avatar(fleet, new_server_errors, user, "projects", project, clears=4)
    _check_the_one_file(fleet, user, "projects", project, replies, name)
    print(f"[storm] the project ends {'with ' + name if name else 'without an avatar'}")


def _users_collection_id(fleet: Fleet, user: FleetUser) -> str:
    status, me = fleet[0].request("GET", f"{records('users')}/{user.id}", token=user.token)
    assert status == 200, me
    return str(me["collectionId"])
