"""What reads cost: every list plan gives the same answers page by page, the index plans read
no more items than the page holds, and a by-id request reads the caller and the record in
one request (all counted where requests leave the process: tests/support/dynamodb_calls.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_client import Api, make_blueprint, make_project, records
from dynamodb_calls import observed

SORTS = ("", "created", "-created")


class Reads(Counter[str]):
    """Items DynamoDB returned, by operation (COUNT answers carry none), and the requests."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, Any]]] = []


@contextmanager
def items_read() -> Iterator[Reads]:
    seen = Reads()

    def counting(operation: str, params: dict[str, Any], send: Any) -> dict[str, Any]:
        reply = send(params)
        seen.sent.append((operation, params))
        seen[operation] += len(reply.get("Items", [])) + ("Item" in reply)
        seen[operation] += sum(len(v) for v in reply.get("Responses", {}).values())
        seen["requests"] += 1
        seen["COUNT"] += params.get("Select") == "COUNT"
        return reply

    with observed(counting):
        yield seen


def pages(api: Api, user: Any, collection: str, query: str, per_page: int) -> list[list[str]]:
    found, page = [], 1
    while True:
        reply = api.get(
            f"{records(collection)}?page={page}&perPage={per_page}&skipTotal=1&{query}",
            token=user.token,
        )
        assert reply.status == 200, reply.body
        found.append([item["id"] for item in reply.body["items"]])
        if len(reply.body["items"]) < per_page:
            return found
        page += 1


@pytest.mark.parametrize("sort", SORTS)
def test_index_pages_equal_the_in_memory_order(api: Api, make_user, sort: str) -> None:
    user, other = make_user(), make_user()
    mine = [make_project(api, user, f"p{i}")["id"] for i in range(11)]
    make_project(api, other, "theirs")
    by_index = pages(api, user, "projects", f"sort={sort}", 4)
    # A filter that keeps everything forces the in-memory plan: the oracle.
    in_memory = pages(api, user, "projects", f"sort={sort}&filter=name!='none'", 4)
    assert by_index == in_memory
    assert [len(p) for p in by_index] == [4, 4, 3]
    flat = [i for p in by_index for i in p]
    assert sorted(flat) == sorted(mine)
    expected = mine[::-1] if sort == "-created" else mine
    assert flat == expected


def test_totals_and_paging_edges_keep_pocketbase_answers(api: Api, make_user) -> None:
    user = make_user()
    for i in range(7):
        make_project(api, user, f"p{i}")
    path = records("projects")
    answers = {
        "?page=2&perPage=3&sort=-created": (2, 3, 7, 3, 3),
        "?page=3&perPage=3&sort=-created": (3, 3, 7, 3, 1),
        "?page=9&perPage=3": (9, 3, 7, 3, 0),
        "?perPage=0": (1, 30, 7, 1, 7),
        "?perPage=-1&page=-4": (1, 30, 7, 1, 7),
        "?perPage=100000": (1, 500, 7, 1, 7),
    }
    for query, (page, per_page, total, total_pages, count) in answers.items():
        body = api.get(path + query, token=user.token).body
        assert (
            body["page"],
            body["perPage"],
            body["totalItems"],
            body["totalPages"],
            len(body["items"]),
        ) == (page, per_page, total, total_pages, count), query
    assert api.get(path + "?perPage=abc", token=user.token).status == 400


def test_an_index_page_reads_only_its_items(api: Api, make_user) -> None:
    user = make_user()
    for i in range(25):
        make_project(api, user, f"p{i}")
    with items_read() as seen:
        body = api.get(
            records("projects") + "?page=4&perPage=5&sort=-created&skipTotal=1", token=user.token
        ).body
    assert len(body["items"]) == 5
    # The 5 page items through Query and the caller's record for the token; the 15 earlier
    # ones are skipped by a Select=COUNT answer that carries no items.
    assert (seen["Query"], seen["GetItem"]) == (5, 1)
    with items_read() as seen:
        body = api.get(records("projects") + "?page=1&perPage=5", token=user.token).body
    assert body["totalItems"] == 25 and seen["Query"] == 5


def test_fields_leave_manifests_unread(api: Api, make_user) -> None:
    user = make_user()
    blueprint = make_blueprint(api, user, "b", {"spec": {"image": {"password": "p"}}})
    reply = api.get(records("blueprints") + "?fields=id,name", token=user.token)
    assert reply.body["items"] == [{"id": blueprint["id"], "name": "b"}]


def test_blueprint_pages_merge_public_own_and_subscribed_exactly(api: Api, make_user) -> None:
    me, friend, stranger = make_user(), make_user(), make_user()

    def blueprint(owner: Any, name: str, private: bool) -> str:
        return str(make_blueprint(api, owner, name, private=private)["id"])

    visible = []
    for i in range(3):
        visible.append(blueprint(me, f"mine-public{i}", False))
        visible.append(blueprint(me, f"mine-private{i}", True))
        visible.append(blueprint(stranger, f"public{i}", False))
        blueprint(stranger, f"hidden{i}", True)
        shared = blueprint(friend, f"shared{i}", True)
        assert api.post(f"/pb/blueprints/shared/{shared}", token=me.token).status == 200
        visible.append(shared)
    for sort in SORTS:
        by_index = pages(api, me, "blueprints", f"sort={sort}", 5)
        in_memory = pages(api, me, "blueprints", f"sort={sort}&filter=name!='none'", 5)
        assert by_index == in_memory, sort
        flat = [i for p in by_index for i in p]
        assert len(flat) == len(set(flat)) and set(flat) == set(visible), sort
    body = api.get(records("blueprints") + "?perPage=5&page=2", token=me.token).body
    assert body["totalItems"] == len(visible) and len(body["items"]) == 5
    body = api.get(records("blueprints") + "?perPage=5&page=9", token=me.token).body
    assert body["totalItems"] == len(visible) and body["items"] == []


def test_filters_and_other_sorts_stay_correct(api: Api, make_user) -> None:
    user = make_user()
    for name in ("delta", "alpha", "charlie", "bravo"):
        make_project(api, user, name)
    body = api.get(
        records("projects") + "?sort=name&filter=name!='charlie'&perPage=2&page=1",
        token=user.token,
    ).body
    assert [i["name"] for i in body["items"]] == ["alpha", "bravo"]
    assert body["totalItems"] == 3
    body = api.get(records("projects") + "?sort=-name&perPage=2&page=2", token=user.token).body
    assert [i["name"] for i in body["items"]] == ["bravo", "alpha"]


def test_a_view_reads_the_caller_and_the_record_in_one_request(api: Api, make_user) -> None:
    user, other = make_user(), make_user()
    project = make_project(api, user)
    path = f"{records('projects')}/{project['id']}"
    with items_read() as seen:
        assert api.get(path, token=user.token).body["id"] == project["id"]
    assert seen["requests"] == 1 and seen["BatchGetItem"] == 2
    # The record read ahead is still subject to the rules, and a missing one is a 404.
    assert api.get(path, token=other.token).status == 404
    assert api.get(f"{records('projects')}/{'x' * 15}", token=user.token).status == 404
    with items_read() as seen:
        assert api.patch(path, {"name": "renamed"}, token=user.token).status == 200
    assert seen["BatchGetItem"] == 2 and seen["GetItem"] == 0


def test_a_revoked_token_reads_nothing_ahead(api: Api, make_user) -> None:
    user = make_user()
    project = make_project(api, user)
    old_token = user.token
    changed = api.patch(
        f"{records('users')}/{user.id}",
        {
            "oldPassword": user.password,
            "password": "another-pass1",
            "passwordConfirm": "another-pass1",
        },
        token=user.token,
    )
    assert changed.status == 200, changed.body
    assert api.get(f"{records('projects')}/{project['id']}", token=old_token).status == 404
    own = api.get(f"{records('users')}/{user.id}", token=old_token)
    assert own.status == 404


def test_sequential_pages_continue_where_the_previous_page_ended(api: Api, make_user) -> None:
    user, other = make_user(), make_user()
    mine = [make_project(api, user, f"p{i}")["id"] for i in range(7)]
    theirs = [make_project(api, other, f"q{i}")["id"] for i in range(4)]
    with items_read() as seen:
        assert [i for p in pages(api, user, "projects", "sort=created", 3) for i in p] == mine
    # Pages 2 and 3 started where 1 and 2 ended: no Select=COUNT to skip, 7 items read.
    assert seen["COUNT"] == 0 and seen["Query"] == 7
    # Another caller's page 2 never starts from this caller's cursor.
    second = api.get(records("projects") + "?page=2&perPage=3&sort=created", token=other.token)
    assert [i["id"] for i in second.body["items"]] == theirs[3:]
    # A page out of sequence is skipped to by counting, with the same answer.
    with items_read() as seen:
        third = api.get(
            records("projects") + "?page=3&perPage=2&sort=created&skipTotal=1", token=user.token
        )
    assert [i["id"] for i in third.body["items"]] == mine[4:6] and seen["COUNT"] == 1


def test_a_write_between_pages_keeps_offset_answers(api: Api, make_user) -> None:
    """A create or delete drops the partition's cursors: the next page is counted to again
    and answers as PocketBase's offset paging does (here: the record pushed off page 1
    comes again on page 2)."""
    user = make_user()
    older = [make_project(api, user, f"p{i}")["id"] for i in range(6)]
    path = records("projects") + "?perPage=3&sort=-created&skipTotal=1&page="
    first = [i["id"] for i in api.get(path + "1", token=user.token).body["items"]]
    newest = make_project(api, user, "newest")["id"]
    second = [i["id"] for i in api.get(path + "2", token=user.token).body["items"]]
    assert first == older[:2:-1] and second == older[3::-1][:3]
    assert api.delete(f"{records('projects')}/{newest}", token=user.token).status == 204
    api.get(path + "1", token=user.token)
    assert api.delete(f"{records('projects')}/{older[5]}", token=user.token).status == 204
    again = [i["id"] for i in api.get(path + "2", token=user.token).body["items"]]
    assert again == older[1::-1]


def test_huge_pages_answer_an_empty_page_as_pocketbase(api: Api, make_user) -> None:
    user = make_user()
    for i in range(3):
        make_project(api, user, f"p{i}")
    for page in (10**8, 2**40):
        reply = api.get(f"{records('projects')}?page={page}&perPage=500", token=user.token)
        assert reply.status == 200, reply.body
        assert reply.body["items"] == [] and reply.body["totalItems"] == 3


def test_an_unreachable_database_is_a_503_on_reads(
    api: Api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.local.dynamodb_local import free_port
    from chalicelib.records import store
    from chalicelib.settings import get_settings

    user = make_user()
    monkeypatch.setenv("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    store.bind(get_settings())
    try:
        listed = api.get(records("projects"), token=user.token)
        viewed = api.get(f"{records('projects')}/{'x' * 15}", token=user.token)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        store.bind(get_settings())
    assert (listed.status, viewed.status) == (503, 503), (listed.body, viewed.body)
    assert listed.body["code"] == 503


def test_tables_made_before_an_index_existed_get_it_at_start(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local database kept across upgrades: lists count on the full index until the
    start has added the keys-only one (asked for, not waited for)."""
    import boto3

    from chalicelib.records import store
    from chalicelib.records.tables import create_missing_tables, delete_all_tables
    from chalicelib.settings import get_settings

    monkeypatch.setenv("TABLE_PREFIX", f"old{uuid.uuid4().hex[:8]}-")
    get_settings.cache_clear()
    store.bind(get_settings())
    model = store.model_for("rollouts")  # bound to the prefix above
    client = boto3.client("dynamodb", endpoint_url=get_settings().dynamodb_endpoint)
    schema = model._get_schema()
    older = [i for i in schema["global_secondary_indexes"] if i["index_name"] != "by-user-keys"]
    client.create_table(
        TableName=model.Meta.table_name,
        KeySchema=schema["key_schema"],
        AttributeDefinitions=schema["attribute_definitions"],
        GlobalSecondaryIndexes=[
            {
                "IndexName": i["index_name"],
                "KeySchema": sorted(i["key_schema"], key=lambda k: k["KeyType"] != "HASH"),
                "Projection": i["projection"],
            }
            for i in older
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        # Before the start added it, counting and skipping use the full index.
        assert store.count("rollouts", "user", "u" * 15) == 0
        assert store.query_page(
            "rollouts", "user", "u" * 15, newest_first=True, offset=5, limit=5
        ) == ([], None)
        made = create_missing_tables()
        assert f"{model.Meta.table_name}.by-user-keys" in made
        described = client.describe_table(TableName=model.Meta.table_name)["Table"]
        assert "by-user-keys" in {i["IndexName"] for i in described["GlobalSecondaryIndexes"]}
        assert store.count("rollouts", "user", "u" * 15) == 0  # built or still building
        assert create_missing_tables() == []
    finally:
        delete_all_tables()
        monkeypatch.undo()
        get_settings.cache_clear()
        store.bind(get_settings())


def test_an_account_that_still_owns_records_is_refused_reading_one_key(api: Api, make_user) -> None:
    user = make_user()
    projects = [make_project(api, user, f"p{i}") for i in range(4)]
    with items_read() as seen:
        refused = api.delete(f"{records('users')}/{user.id}", token=user.token)
    assert refused.status == 400 and "still owns" in refused.body["message"]
    assert seen["Query"] == 1  # one key of one project, not all four
    for project in projects:
        assert api.delete(f"{records('projects')}/{project['id']}", token=user.token).status == 204
    assert api.delete(f"{records('users')}/{user.id}", token=user.token).status == 204


def test_plain_filter_terms_are_left_to_dynamodb(api: Api, make_user) -> None:
    user = make_user()
    names = ["alpha", "beta", "alpha", "gamma", "alpha"]
    for name in names:
        make_project(api, user, name)
    with items_read() as seen:
        body = api.get(
            records("projects") + "?filter=name%3D%27alpha%27%20%26%26%20tags~%27a%27&perPage=2",
            token=user.token,
        ).body
    assert body["totalItems"] == 3 and len(body["items"]) == 2
    assert {i["name"] for i in body["items"]} == {"alpha"}
    # DynamoDB sent only the 3 matches (then the page of 2 is read whole), not all 5.
    assert (seen["Query"], seen["BatchGetItem"]) == (3, 2)
    either = api.get(
        records("projects") + "?filter=name%3D%27beta%27%20||%20name%3D%27gamma%27",
        token=user.token,
    ).body
    assert sorted(i["name"] for i in either["items"]) == ["beta", "gamma"]


def test_expand_reads_only_what_fields_shows(api: Api, make_user) -> None:
    user = make_user()
    blueprint = make_blueprint(api, user, "bp", {"spec": {"image": {"tag": "1"}}})
    project = make_project(api, user)
    deployment = api.post(
        records("deployments"),
        {"name": "web", "user": user.id, "project": project["id"], "blueprint": blueprint["id"]},
        token=user.token,
    ).body
    base = records("deployments") + "?expand=blueprint,project"
    with items_read() as seen:
        named = api.get(base + "&fields=id,expand.blueprint.name", token=user.token).body
        hidden = api.get(base + "&fields=id,name", token=user.token).body
        whole = api.get(base, token=user.token).body
    sent = [params for operation, params in seen.sent if operation == "BatchGetItem"]
    assert named["items"] == [{"id": deployment["id"], "expand": {"blueprint": {"name": "bp"}}}]
    assert hidden["items"] == [{"id": deployment["id"], "name": "web"}]
    assert whole["items"][0]["expand"]["blueprint"]["manifest"] == blueprint["manifest"]
    # The first read the blueprint without its manifest, and not the project; the second
    # read no relation at all; the third read both whole.
    assert len(sent) == 2
    first = next(iter(sent[0]["RequestItems"].values()))
    assert len(sent[0]["RequestItems"]) == 1
    assert "manifest" not in first["ExpressionAttributeNames"].values()
    assert all("ProjectionExpression" not in e for e in sent[1]["RequestItems"].values())
    assert len(sent[1]["RequestItems"]) == 2
