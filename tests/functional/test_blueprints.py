"""Blueprints: visibility, the share link, subscriber limits, credential redaction, and
the users rule that lets an owner see their subscribers."""

from __future__ import annotations

import pytest
from api_client import MANIFEST, Api, records


def make_blueprint(api: Api, owner, private: bool, name: str = "nginx") -> dict:
    reply = api.post(
        records("blueprints"),
        {
            "name": name,
            "description": "web server",
            "private": private,
            "manifest": MANIFEST,
            "owner": owner.id,
        },
        token=owner.token,
    )
    assert reply.status == 200, reply.body
    return reply.body


def test_public_and_private_visibility(api: Api, make_user) -> None:
    owner, other = make_user(), make_user()
    public = make_blueprint(api, owner, private=False, name="public")
    private = make_blueprint(api, owner, private=True, name="private")
    seen = {i["id"] for i in api.get(records("blueprints"), token=other.token).body["items"]}
    assert seen == {public["id"]}
    owner_seen = api.get(records("blueprints") + "?sort=name", token=owner.token).body["items"]
    assert [i["name"] for i in owner_seen] == ["private", "public"]
    assert api.get(records("blueprints") + f"/{private['id']}", token=other.token).status == 404
    assert api.get(records("blueprints")).body["items"] == []


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_share_link_subscribes_even_to_private(api: Api, make_user, prefix: str) -> None:
    owner, friend = make_user("Owner"), make_user("Friend")
    blueprint = make_blueprint(api, owner, private=True)
    path = f"{prefix}/pb/blueprints/shared/{blueprint['id']}"
    assert api.post(path).status == 401
    first = api.post(path, token="Bearer " + friend.token)
    assert first.status == 200 and first.body["users"] == [friend.id]
    again = api.post(path, token="Bearer " + friend.token)
    assert again.status == 200 and again.body["users"] == [friend.id]
    by_owner = api.post(path, token=owner.token)
    assert by_owner.body["users"] == [friend.id]
    listed = api.get(records("blueprints"), token=friend.token).body["items"]
    assert [i["id"] for i in listed] == [blueprint["id"]]
    assert (
        api.post(f"{prefix}/pb/blueprints/shared/aaaaaaaaaaaaaaa", token=friend.token).status == 404
    )


def test_credentials_are_blanked_for_everyone_but_the_owner(api: Api, make_user) -> None:
    owner, friend = make_user(), make_user()
    blueprint = make_blueprint(api, owner, private=False)
    theirs = api.get(f"/pb/blueprints/{blueprint['id']}", token=friend.token).body
    assert theirs["manifest"]["spec"]["image"]["password"] == ""
    assert theirs["manifest"]["spec"]["secrets"] == [{"name": "API_KEY", "value": ""}]
    assert theirs["manifest"]["spec"]["image"]["repository"] == "library/nginx"
    listed = api.get(records("blueprints"), token=friend.token).body["items"][0]
    assert listed["manifest"]["spec"]["image"]["password"] == ""
    mine = api.get(f"/api/pb/blueprints/{blueprint['id']}", token=owner.token).body
    assert mine["manifest"] == MANIFEST
    assert api.get(f"/pb/blueprints/{blueprint['id']}").status == 401


def test_subscriber_may_only_remove_themself(api: Api, make_user) -> None:
    owner, friend, other = make_user(), make_user(), make_user()
    blueprint = make_blueprint(api, owner, private=True)
    for user in (friend, other):
        api.post(f"/pb/blueprints/shared/{blueprint['id']}", token=user.token)
    path = records("blueprints") + f"/{blueprint['id']}"
    rename = api.patch(path, {"name": "pwned"}, token=friend.token)
    assert rename.status == 403
    kick = api.patch(path, {"users": [friend.id]}, token=friend.token)
    assert kick.status == 403
    assert api.delete(path, token=friend.token).status == 404
    leave = api.patch(path, {"users": [other.id]}, token=friend.token)
    assert leave.status == 200 and leave.body["users"] == [other.id]
    assert api.get(path, token=friend.token).status == 404
    assert api.get(path, token=owner.token).body["name"] == "nginx"


def test_owner_can_drop_but_not_add_subscribers(api: Api, make_user) -> None:
    owner, friend, stranger = make_user(), make_user(), make_user()
    blueprint = make_blueprint(api, owner, private=True)
    api.post(f"/pb/blueprints/shared/{blueprint['id']}", token=friend.token)
    path = records("blueprints") + f"/{blueprint['id']}"
    add = api.patch(path, {"users": [friend.id, stranger.id]}, token=owner.token)
    assert add.status == 400 and "users" in add.body["data"]
    drop = api.patch(path, {"users": []}, token=owner.token)
    assert drop.status == 200 and drop.body["users"] == []
    created = api.post(
        records("blueprints"),
        {"name": "n", "manifest": MANIFEST, "owner": owner.id, "users": [stranger.id]},
        token=owner.token,
    )
    assert created.status == 400 and "users" in created.body["data"]


def test_blueprint_limits(api: Api, make_user) -> None:
    owner = make_user()
    reply = api.post(
        records("blueprints"),
        {"name": "n", "description": "d" * 51, "manifest": MANIFEST, "owner": owner.id},
        token=owner.token,
    )
    assert reply.body["data"]["description"]["code"] == "validation_max_text_constraint"


def test_owner_sees_subscribers_but_not_the_reverse(api: Api, make_user) -> None:
    owner, friend, stranger = make_user("Owner"), make_user("Friend"), make_user("Stranger")
    blueprint = make_blueprint(api, owner, private=False)
    api.post(f"/pb/blueprints/shared/{blueprint['id']}", token=friend.token)
    users = api.get(records("users") + "?sort=name", token=owner.token).body["items"]
    assert [u["name"] for u in users] == ["Friend", "Owner"]
    friend_view = next(u for u in users if u["name"] == "Friend")
    assert "email" not in friend_view
    assert api.get(records("users") + f"/{owner.id}", token=friend.token).status == 404
    assert api.get(records("users") + f"/{stranger.id}", token=owner.token).status == 404
    expanded = api.get(records("blueprints") + "?expand=owner,users", token=owner.token)
    item = expanded.body["items"][0]
    assert item["expand"]["owner"]["id"] == owner.id
    assert [u["name"] for u in item["expand"]["users"]] == ["Friend"]
    as_friend = api.get(records("blueprints") + "?expand=owner,users", token=friend.token)
    assert as_friend.body["items"][0]["expand"] == {
        "users": [as_friend.body["items"][0]["expand"]["users"][0]]
    }


def test_deployment_may_reference_visible_blueprints_only(api: Api, make_user) -> None:
    owner, user = make_user(), make_user()
    hidden = make_blueprint(api, owner, private=True)
    public = make_blueprint(api, owner, private=False, name="pub")
    project = api.post(records("projects"), {"name": "p", "user": user.id}, token=user.token).body
    base = {"name": "d", "user": user.id, "project": project["id"]}
    denied = api.post(records("deployments"), {**base, "blueprint": hidden["id"]}, token=user.token)
    assert denied.body["data"]["blueprint"]["code"] == "validation_missing_rel_records"
    allowed = api.post(
        records("deployments"), {**base, "blueprint": public["id"]}, token=user.token
    )
    assert allowed.status == 200
