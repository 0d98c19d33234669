"""Defects found in review: each once produced a leak, a stranded workload or a 500."""

from __future__ import annotations

import json

import jwt
import pytest
from api_client import MANIFEST, Api, make_deployment, make_project, make_rollout, records


def test_cronjob_registry_passwords_are_blanked_for_non_owners(api: Api, make_user) -> None:
    owner, other = make_user(), make_user()
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["spec"]["cronjobs"] = [
        {
            "name": "c",
            "image": {"registry": "r", "repository": "x", "tag": "1", "password": "CRONPW"},
        }
    ]
    blueprint = api.post(
        records("blueprints"),
        {"name": "b", "manifest": manifest, "owner": owner.id},
        token=owner.token,
    ).body
    seen = api.get(records("blueprints") + f"/{blueprint['id']}", token=other.token).body
    assert seen["manifest"]["spec"]["cronjobs"][0]["image"]["password"] == ""
    assert "CRONPW" not in json.dumps(api.get(records("blueprints"), token=other.token).body)
    mine = api.get(records("blueprints") + f"/{blueprint['id']}", token=owner.token).body
    assert mine["manifest"]["spec"]["cronjobs"][0]["image"]["password"] == "CRONPW"


def test_odd_manifest_shapes_cannot_break_lists(api: Api, make_user) -> None:
    owner, other = make_user(), make_user()
    odd = {"spec": {"secrets": 5, "image": "x", "cronjobs": [1, {"image": 2}]}}
    assert (
        api.post(
            records("blueprints"),
            {"name": "odd", "manifest": odd, "owner": owner.id},
            token=owner.token,
        ).status
        == 200
    )
    assert api.get(records("blueprints"), token=other.token).status == 200


@pytest.mark.parametrize(
    "manifest",
    [
        {"spec": {"a": json.loads("[" * 100 + "]" * 100)}},
        "NaN",
        '{"x": Infinity}',
        "[" * 100000 + "]" * 100000,
    ],
)
def test_json_fields_refuse_deep_or_non_json_values(api: Api, make_user, manifest) -> None:
    owner = make_user()
    reply = api.post(
        records("blueprints"),
        {"name": "b", "manifest": manifest, "owner": owner.id},
        token=owner.token,
    )
    assert reply.status == 400 and "manifest" in reply.body["data"]
    assert api.get(records("blueprints"), token=owner.token).body["items"] == []


def test_hidden_emails_cannot_be_guessed_through_filter_or_sort(api: Api, make_user) -> None:
    owner, friend = make_user(), make_user()
    blueprint = api.post(
        records("blueprints"),
        {"name": "b", "manifest": MANIFEST, "owner": owner.id},
        token=owner.token,
    ).body
    api.post(f"/pb/blueprints/shared/{blueprint['id']}", token=friend.token)
    listed = api.get(records("users"), token=owner.token).body["items"]
    assert {u["id"] for u in listed} == {owner.id, friend.id}
    guess = api.get(records("users") + f"?filter=email='{friend.email}'", token=owner.token)
    assert guess.status == 200 and guess.body["items"] == []
    prefix = api.get(records("users") + f"?filter=email~'{friend.email[0]}%25'", token=owner.token)
    assert friend.id not in {u["id"] for u in prefix.body["items"]}
    own = api.get(records("users") + f"?filter=email='{owner.email}'", token=owner.token)
    assert [u["id"] for u in own.body["items"]] == [owner.id]


def test_rollouts_and_deployments_cannot_move(api: Api, make_user) -> None:
    user = make_user()
    project = make_project(api, user)
    other_project = make_project(api, user, "other")
    deployment = make_deployment(api, user, project)
    other = make_deployment(api, user, project)
    rollout = make_rollout(api, user, project, deployment)
    moved = api.patch(
        records("rollouts") + f"/{rollout['id']}", {"deployment": other["id"]}, token=user.token
    )
    assert moved.status == 400 and moved.body["data"]["deployment"]["code"] == (
        "validation_immutable"
    )
    moved = api.patch(
        records("deployments") + f"/{deployment['id']}",
        {"project": other_project["id"]},
        token=user.token,
    )
    assert moved.status == 400 and moved.body["data"]["project"]["code"] == ("validation_immutable")
    same = api.patch(
        records("deployments") + f"/{deployment['id']}",
        {**deployment, "name": "renamed"},
        token=user.token,
    )
    assert same.status == 200


def test_oversized_ids_and_values_are_400s_not_500s(api: Api, make_user) -> None:
    user = make_user()
    forged = jwt.encode(
        {
            "id": "a" * 3000,
            "type": "authRecord",
            "collectionId": "_pb_users_auth_",
            "exp": 4102444800,
        },
        "x" * 32,
    )
    assert api.get(records("projects"), token=forged).body["items"] == []
    reply = api.post(
        records("deployments"),
        {"name": "d", "user": user.id, "project": "p" * 3000},
        token=user.token,
    )
    assert reply.status == 400 and "project" in reply.body["data"]
    reply = api.post(records("projects"), {"name": "n", "user": "u" * 3000}, token=user.token)
    assert reply.status == 400 and "user" in reply.body["data"]
    login = api.post(
        "/api/collections/users/auth-with-password", {"identity": "a" * 3000, "password": "x"}
    )
    assert login.status == 400
    long = api.post(
        records("projects"),
        {"name": "n", "user": user.id, "description": "d" * 500_000},
        token=user.token,
    )
    assert long.status == 400
    assert long.body["data"]["description"]["code"] == "validation_max_text_constraint"


@pytest.mark.parametrize(
    ("collection", "fields"),
    [("rollouts", {"manifest": MANIFEST}), ("autoUpdates", {"interval": "1h"})],
)
def test_an_oversized_deployment_beside_a_real_project_is_a_400(
    api: Api, make_user, collection: str, fields: dict
) -> None:
    """The fuzz tier's 500: with the project found, the deployment-in-project check read
    the refused deployment id too, and DynamoDB refuses a key of 3,000 bytes."""
    user = make_user()
    project = make_project(api, user)
    body = {**fields, "user": user.id, "project": project["id"], "deployment": "d" * 3000}
    reply = api.post(records(collection), body, token=user.token)
    assert reply.status == 400, reply.body
    assert reply.body["data"]["deployment"]["code"] == "validation_missing_rel_records"
    assert api.get(records(collection), token=user.token).body["items"] == []


def test_password_limit_counts_bytes(api: Api, make_user) -> None:
    user = make_user()
    reply = api.patch(
        records("users") + f"/{user.id}",
        {"oldPassword": user.password, "password": "é" * 40, "passwordConfirm": "é" * 40},
        token=user.token,
    )
    assert reply.status == 400
    assert reply.body["data"]["password"]["code"] == "validation_length_out_of_range"


def test_nested_multipart_part_is_a_400(api: Api, make_user) -> None:
    user = make_user()
    body = (
        '--B\r\nContent-Disposition: form-data; name="name"\r\n'
        "Content-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\nx\r\n--C--\r\n--B--\r\n"
    )
    reply = api.call(
        "POST",
        records("projects"),
        raw=body,
        token=user.token,
        headers={"content-type": "multipart/form-data; boundary=B"},
    )
    assert reply.status == 400


def test_share_link_respects_the_subscriber_limit(api: Api, make_user) -> None:
    from chalicelib.records import store, values
    from chalicelib.records.validation import MAX_SUBSCRIBERS

    owner, late = make_user(), make_user()
    blueprint = api.post(
        records("blueprints"),
        {"name": "b", "manifest": MANIFEST, "owner": owner.id},
        token=owner.token,
    ).body
    stored = store.get("blueprints", blueprint["id"])
    store.update(
        "blueprints", stored, dict(stored, users=[values.new_id() for _ in range(MAX_SUBSCRIBERS)])
    )
    reply = api.post(f"/pb/blueprints/shared/{blueprint['id']}", token=late.token)
    assert reply.status == 400 and str(MAX_SUBSCRIBERS) in reply.body["message"]
    assert (
        api.delete(records("blueprints") + f"/{blueprint['id']}", token=owner.token).status == 204
    )


def test_old_password_guesses_are_throttled_like_logins(api: Api, make_user) -> None:
    """A stolen token must not allow unlimited guesses of the account's password."""
    user = make_user()
    path = records("users") + f"/{user.id}"
    change = {"password": "newpassword1", "passwordConfirm": "newpassword1"}
    for _ in range(5):
        wrong = api.patch(path, {**change, "oldPassword": "guess"}, token=user.token)
        assert wrong.status == 400 and "oldPassword" in wrong.body["data"]
    right = api.patch(path, {**change, "oldPassword": user.password}, token=user.token)
    assert right.status == 429
    # The guesses count on the account's shared counter, but the owner signing in from a
    # client that has not been failing is not locked out by them (auth/throttle.py).
    login = api.post(
        "/api/collections/users/auth-with-password",
        {"identity": user.email, "password": user.password},
    )
    assert login.status == 200
