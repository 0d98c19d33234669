"""The record API: PocketBase JSON, list parameters, rules, validation and bad input."""

from __future__ import annotations

import json
import re

import pytest
from api_client import MANIFEST, Api, make_deployment, make_project, make_rollout, records

DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z")
ID = re.compile(r"[a-z0-9]{15}")


def test_created_record_has_pocketbase_shape(api: Api, make_user) -> None:
    user = make_user()
    project = make_project(api, user)
    assert list(project) == sorted(project)
    assert set(project) == {
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
    }
    assert project["collectionId"] == "7kff2zw80a7rmbu" and project["collectionName"] == "projects"
    assert ID.fullmatch(project["id"]) and DATE.fullmatch(project["created"])
    assert project["avatar"] == "" and project["description"] == ""
    rollout = make_rollout(api, user, project, make_deployment(api, user, project))
    assert rollout["endDate"] == "" and rollout["hide"] is False
    assert rollout["manifest"] == MANIFEST  # the owner sees credentials as stored
    assert list(rollout["manifest"]) == sorted(MANIFEST)  # PocketBase sorts JSON keys
    assert list(rollout["manifest"]["spec"]["image"]) == sorted(MANIFEST["spec"]["image"])


def test_list_envelope_paging_sort_and_skip_total(api: Api, make_user) -> None:
    user = make_user()
    for name in ("one", "two", "three"):
        make_project(api, user, name)
    reply = api.get(records("projects") + "?page=1&perPage=2&sort=-created", token=user.token)
    assert reply.status == 200
    assert [i["name"] for i in reply.body["items"]] == ["three", "two"]
    assert {k: reply.body[k] for k in ("page", "perPage", "totalItems", "totalPages")} == {
        "page": 1,
        "perPage": 2,
        "totalItems": 3,
        "totalPages": 2,
    }
    second = api.get(
        records("projects") + "?page=2&perPage=2&sort=-created&skipTotal=1", token=user.token
    )
    assert [i["name"] for i in second.body["items"]] == ["one"]
    assert second.body["totalItems"] == -1 and second.body["totalPages"] == -1
    clamped = api.get(records("projects") + "?perPage=1000&page=0", token=user.token)
    assert clamped.body["perPage"] == 500 and clamped.body["page"] == 1
    by_name = api.get(records("projects") + "?sort=name", token=user.token)
    assert [i["name"] for i in by_name.body["items"]] == ["one", "three", "two"]


def test_filter_subset_and_unsupported_constructs(api: Api, make_user) -> None:
    user = make_user()
    for name, tags in (("alpha", "web"), ("beta", "db"), ("gamma", "web,db")):
        api.post(
            records("projects"), {"name": name, "user": user.id, "tags": tags}, token=user.token
        )
    query = "?filter=" + "(tags ~ 'web' %26%26 name != 'alpha') || name = \"beta\"".replace(
        " ", "%20"
    )
    reply = api.get(records("projects") + query + "&sort=name", token=user.token)
    assert reply.status == 200
    assert [i["name"] for i in reply.body["items"]] == ["beta", "gamma"]
    for bad in ("(name=", "name%20?=%20'a'", "user.name='x'", "@request.auth.id='x'", "nope='x'"):
        failed = api.get(records("projects") + "?filter=" + bad, token=user.token)
        assert failed.status == 400, bad
        assert failed.body["code"] == 400 and failed.body["data"] == {}
        assert failed.body["message"].startswith("Invalid filter")
    assert api.get(records("projects") + "?sort=nope", token=user.token).status == 400


def test_expand_fields_and_unknown_paths(api: Api, make_user) -> None:
    user = make_user()
    project = make_project(api, user)
    deployment = make_deployment(api, user, project)
    make_rollout(api, user, project, deployment)
    reply = api.get(
        records("rollouts") + "?expand=project,deployment.project,nope", token=user.token
    )
    item = reply.body["items"][0]
    assert item["expand"]["project"]["id"] == project["id"]
    assert item["expand"]["deployment"]["expand"]["project"]["name"] == "shop"
    plain = api.get(records("projects") + "?expand=blueprint", token=user.token)
    assert "expand" not in plain.body["items"][0]
    picked = api.get(
        records("rollouts") + "?expand=deployment&fields=id,expand.deployment.name",
        token=user.token,
    )
    assert picked.body["items"][0] == {"id": item["id"], "expand": {"deployment": {"name": "web"}}}
    view = api.get(records("deployments") + f"/{deployment['id']}?expand=project", token=user.token)
    assert view.body["expand"]["project"]["id"] == project["id"]


def test_other_users_records_are_invisible(api: Api, make_user) -> None:
    alice, bob = make_user(), make_user()
    project = make_project(api, alice)
    path = records("projects") + f"/{project['id']}"
    assert api.get(records("projects"), token=bob.token).body["items"] == []
    assert api.get(records("projects")).body["items"] == []
    for reply in (
        api.get(path, token=bob.token),
        api.patch(path, {"name": "x"}, token=bob.token),
        api.delete(path, token=bob.token),
        api.get(path),
    ):
        assert reply.status == 404
        assert reply.body == {
            "code": 404,
            "message": "The requested resource wasn't found.",
            "data": {},
        }
    assert api.get(path, token=alice.token).body["name"] == "shop"


def test_create_rules_and_validation(api: Api, make_user) -> None:
    alice, bob = make_user(), make_user()
    anonymous = api.post(records("projects"), {"name": "x", "user": alice.id})
    assert anonymous.status == 400
    assert anonymous.body == {"code": 400, "message": "Failed to create record.", "data": {}}
    foreign_owner = api.post(records("projects"), {"name": "x", "user": bob.id}, token=alice.token)
    assert foreign_owner.body == {"code": 400, "message": "Failed to create record.", "data": {}}
    missing = api.post(records("projects"), {"user": alice.id}, token=alice.token)
    assert missing.body["data"] == {
        "name": {"code": "validation_required", "message": "Missing required value."}
    }
    long = api.post(records("projects"), {"name": "x" * 21, "user": alice.id}, token=alice.token)
    assert long.body["data"]["name"]["code"] == "validation_max_text_constraint"
    assert long.body["message"] == "Failed to create record."
    wrong_type = api.post(
        records("projects"), {"name": {"a": 1}, "user": alice.id}, token=alice.token
    )
    assert wrong_type.status == 400 and "name" in wrong_type.body["data"]
    for manifest in (None, {}, []):
        reply = api.post(
            records("blueprints"),
            {"name": "b", "owner": alice.id, "manifest": manifest},
            token=alice.token,
        )
        assert reply.body["data"]["manifest"]["code"] == "validation_required"
    huge = {"spec": {"blob": "x" * (1024 * 1024)}}
    too_big = api.post(
        records("blueprints"), {"name": "b", "owner": alice.id, "manifest": huge}, token=alice.token
    )
    assert too_big.status == 400
    assert too_big.body["data"]["manifest"]["code"] == "validation_json_size_limit"
    bad_date = api.post(
        records("projects"), {"name": "x", "user": alice.id, "id": "short"}, token=alice.token
    )
    assert bad_date.body["data"]["id"]["code"] == "validation_length_invalid"


def test_update_is_patch_ignores_unknown_keys_and_keeps_owner(api: Api, make_user) -> None:
    alice, bob = make_user(), make_user()
    project = make_project(api, alice)
    deployment = make_deployment(api, alice, project)
    path = records("deployments") + f"/{deployment['id']}"
    body = {
        **deployment,
        "name": "renamed",
        "expand": {"project": project},
        "id": "x" * 15,
        "collectionId": "nope",
        "created": "2000-01-01 00:00:00.000Z",
    }
    reply = api.patch(path, body, token=alice.token)
    assert reply.status == 200
    assert reply.body["name"] == "renamed" and reply.body["id"] == deployment["id"]
    assert reply.body["created"] == deployment["created"]
    assert reply.body["updated"] > deployment["updated"]
    hijack = api.patch(path, {"user": bob.id}, token=alice.token)
    assert hijack.status == 400 and hijack.body["data"]["user"]["code"] == (
        "validation_owner_change"
    )
    assert api.get(path, token=alice.token).body["user"] == alice.id


def test_references_must_belong_to_the_caller(api: Api, make_user) -> None:
    alice, mallory = make_user(), make_user()
    victim_project = make_project(api, alice)
    victim_deployment = make_deployment(api, alice, victim_project)
    own_project = make_project(api, mallory, "mine")
    own_deployment = make_deployment(api, mallory, own_project)
    attempts = {
        "rollouts": {
            "manifest": MANIFEST,
            "project": victim_project["id"],
            "deployment": victim_deployment["id"],
        },
        "autoUpdates": {
            "interval": "5m",
            "project": victim_project["id"],
            "deployment": victim_deployment["id"],
        },
        "deployments": {"name": "x", "project": victim_project["id"]},
    }
    for collection, body in attempts.items():
        reply = api.post(records(collection), {**body, "user": mallory.id}, token=mallory.token)
        assert reply.status == 400, collection
        assert reply.body["data"]["project"]["code"] == "validation_missing_rel_records"
    mixed = api.post(
        records("rollouts"),
        {
            "manifest": MANIFEST,
            "user": mallory.id,
            "project": own_project["id"],
            "deployment": victim_deployment["id"],
        },
        token=mallory.token,
    )
    assert mixed.body["data"]["deployment"]["code"] == "validation_missing_rel_records"
    other_project = make_project(api, mallory, "other")
    mismatch = api.post(
        records("autoUpdates"),
        {
            "interval": "1h",
            "user": mallory.id,
            "project": other_project["id"],
            "deployment": own_deployment["id"],
        },
        token=mallory.token,
    )
    assert mismatch.body["data"]["deployment"]["code"] == "validation_invalid_relation"
    moved = api.patch(
        records("deployments") + f"/{own_deployment['id']}",
        {"project": victim_project["id"]},
        token=mallory.token,
    )
    assert moved.status == 400
    assert api.get(records("rollouts"), token=alice.token).body["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "raw", "headers", "status"),
    [
        ("POST", "/api/collections/projects/records", "{bad", {}, 400),
        ("POST", "/api/collections/projects/records", "[1, 2]", {}, 400),
        ("POST", "/api/collections/projects/records", "name=x", {"content-type": "text/csv"}, 400),
        ("GET", "/api/collections/nope/records", None, {}, 404),
        ("GET", "/api/collections/projects/records/..%2F..%2Fetc", None, {}, 404),
        ("GET", "/api/collections/projects/records/UPPERCASEIDXXXX", None, {}, 404),
        ("PATCH", "/api/collections/projects/records/aaaaaaaaaaaaaaa", "{}", {}, 404),
        ("GET", "/api/collections/projects/records?page=abc", None, {}, 400),
        ("GET", "/unknown", None, {}, 404),
    ],
)
def test_bad_input_gets_pocketbase_errors(
    api: Api, make_user, method, path, raw, headers, status
) -> None:
    user = make_user()
    reply = api.call(method, path, raw=raw, token=user.token, headers=headers)
    assert reply.status == status
    assert set(reply.body) == {"code", "message", "data"} and reply.body["code"] == status
    assert api.get(records("projects"), token=user.token).body["items"] == []


def test_oversized_body_is_413_and_changes_nothing(api: Api, make_user) -> None:
    user = make_user()
    raw = json.dumps({"name": "x", "user": user.id, "pad": "x" * (7 * 1024 * 1024)})
    reply = api.call("POST", records("projects"), raw=raw, token=user.token)
    assert reply.status == 413 and reply.body["code"] == 413
    assert api.get(records("projects"), token=user.token).body["items"] == []


def test_multipart_bodies_and_other_types(api: Api, make_user) -> None:
    user = make_user()
    boundary = "XyZ"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="@jsonPayload"\r\n\r\n'
        f'{{"name": "multi", "user": "{user.id}"}}\r\n--{boundary}\r\n'
        f'Content-Disposition: form-data; name="tags"\r\n\r\nx,y\r\n--{boundary}--\r\n'
    )
    reply = api.call(
        "POST",
        records("projects"),
        raw=multipart,
        token=user.token,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert reply.status == 200 and (reply.body["name"], reply.body["tags"]) == ("multi", "x,y")
    for content_type, raw in (
        ("application/x-www-form-urlencoded", f"name=formed&user={user.id}"),
        ("text/plain", json.dumps({"name": "plain", "user": user.id})),
    ):
        refused = api.call(
            "POST",
            records("projects"),
            raw=raw,
            token=user.token,
            headers={"content-type": content_type},
        )
        assert refused.status == 400 and refused.body["message"] == (
            "Failed to load the submitted data due to invalid formatting."
        )
    assert [p["name"] for p in api.get(records("projects"), token=user.token).body["items"]] == [
        "multi"
    ]


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": NaN}',
        '{"name": 1e400}',
        '{"name": "\\ud800"}',
        '{"name": ' + "[" * 100000 + "]" * 100000 + "}",
    ],
)
def test_json_that_cannot_round_trip_is_refused(api: Api, make_user, raw: str) -> None:
    user = make_user()
    reply = api.call("POST", records("projects"), raw=raw, token=user.token)
    assert reply.status == 400 and reply.body["data"] == {}
    assert api.get(records("projects"), token=user.token).body["items"] == []


def test_a_fields_modifier_that_is_not_one_is_refused_before_the_create(
    api: Api, make_user
) -> None:
    """PocketBase picks ``fields`` when answering: its create stores the record, then
    answers 400 for ``excerpt(0)``. Ours refuses first, and nothing is stored."""
    user = make_user()
    path = records("projects") + "?fields=name:excerpt(0)"
    reply = api.post(path, {"name": "n", "user": user.id}, token=user.token)
    assert reply.status == 400, reply.body
    assert reply.body == {
        "code": 400,
        "message": "Something went wrong while processing your request.",
        "data": {},
    }
    assert api.get(records("projects"), token=user.token).body["items"] == []
