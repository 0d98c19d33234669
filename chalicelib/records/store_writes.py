"""The record writes of ``store`` (PynamoDB): conditional puts, deletes and transactions,
each conditioned on the version it was read at, with the index upkeep DynamoDB needs.

Reached as ``store.create``, ``store.update`` … and loaded on the first write, so that a
cold start that only reads never imports PynamoDB and botocore (``store.__getattr__``).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.records import item_codec, item_layout, page_cursors
from chalicelib.records.models import (
    ALL_MODELS,
    RECORD_MODELS,
    AutoUpdateModel,
    BlueprintModel,
    ExternalAuthModel,
    LeaseModel,
    SubscriptionModel,
    UniqueKeyModel,
)
from chalicelib.records.store import (
    CHECK_QUEUE,
    PARENTS,
    ParentGone,
    Record,
    UniqueTaken,
    VersionConflict,
    ensure_bound,
    get,
    link_key,
    link_keys_of,
    unique_key,
)
from chalicelib.settings import Settings

_TRANSACTION_LIMIT = 100
_LOST_RACE = ("ConditionalCheckFailed", "TransactionConflict")
_UNIQUE_FIELDS = ("email", "username")

_models_bound: Settings | None = None


def bind_models() -> None:
    """Point every model at the tables the store is bound to (again after ``store.bind``)."""
    global _models_bound
    settings = ensure_bound()
    if _models_bound == settings:
        return
    for model in ALL_MODELS:
        base = getattr(model.Meta, "base_name", model.Meta.table_name)
        model.Meta.base_name = base  # type: ignore[attr-defined]
        model.Meta.table_name = settings.table_prefix + base
        model.Meta.region = settings.aws_region
        model.Meta.host = settings.dynamodb_endpoint
        model._connection = None
    _connection.cache_clear()
    _models_bound = settings


@lru_cache(maxsize=1)
def _connection() -> Connection:
    assert _models_bound is not None  # noqa: S101 - bind_models() ran first
    return Connection(region=_models_bound.aws_region, host=_models_bound.dynamodb_endpoint)


def connection() -> Connection:
    """The shared low-level connection (transactions; benchmarks count its calls)."""
    bind_models()
    return _connection()


def model_for(collection: str) -> type[Model]:
    bind_models()
    return RECORD_MODELS[collection]


def _empty_as_absent(model: type[Model]) -> list[str]:
    """Optional text attributes that key a sparse index: PocketBase's "" is stored absent."""
    return [
        name
        for name, attribute in model.get_attributes().items()
        if isinstance(attribute, UnicodeAttribute)
        and attribute.null
        and name not in item_layout.INTERNAL_ATTRIBUTES
    ]


_SPARSE_TEXTS = {name: _empty_as_absent(model) for name, model in RECORD_MODELS.items()}


def _to_record(collection: str, item: Model) -> Record:
    """What a just-written item reads back as (the same decoding as every read)."""
    return item_codec.decode(collection, item.serialize())


def _to_item(collection: str, record: Record) -> Model:
    model = RECORD_MODELS[collection]
    stored = item_codec.STORED_ATTRIBUTES[collection]
    attributes = {k: v for k, v in record.items() if k in stored}
    for name in _SPARSE_TEXTS[collection]:
        attributes[name] = attributes.get(name) or None
    if model is BlueprintModel:
        attributes["listing"] = None if record.get("private") else "public"
    if model is AutoUpdateModel:
        # Index keys cannot be empty: a record that never had a check is due at once.
        attributes["checkQueue"] = CHECK_QUEUE
        attributes["nextCheck"] = attributes.get("nextCheck") or record["created"]
    return model(**attributes)


class _Transaction:
    """Collects actions with a label each, so a cancelled transaction says what failed."""

    def __init__(self) -> None:
        self._checks: list[tuple[type[Model], str, Any, str]] = []
        self._deletes: list[tuple[Model, str]] = []
        self._saves: list[tuple[Model, str, bool]] = []

    def check(self, model: type[Model], key: str, condition: Any, label: str) -> None:
        self._checks.append((model, key, condition, label))

    def save(self, item: Model, label: str, must_be_new: bool = False) -> None:
        self._saves.append((item, label, must_be_new))

    def delete(self, item: Model, label: str) -> None:
        self._deletes.append((item, label))

    def commit(self) -> None:
        count = len(self._checks) + len(self._deletes) + len(self._saves)
        if count == 0:
            return
        if count > _TRANSACTION_LIMIT:
            raise ValueError(f"a transaction holds at most {_TRANSACTION_LIMIT} actions")
        if count == 1:
            self._commit_single()
            return
        # PynamoDB sends condition checks, then deletes, then puts; the labels follow the
        # same order so that DynamoDB's cancellation reasons line up with them.
        labels = [label for *_, label in self._checks]
        labels += [label for _, label in self._deletes] + [label for _, label, _ in self._saves]
        try:
            with TransactWrite(connection=connection()) as tx:
                for model, key, condition, _ in self._checks:
                    tx.condition_check(model, key, condition=condition)
                for item, _ in self._deletes:
                    tx.delete(item)
                for item, _, must_be_new in self._saves:
                    new = type(item)._hash_key_attribute().does_not_exist()
                    tx.save(item, condition=new if must_be_new else None)
        except TransactWriteError as error:
            for label, reason in zip(labels, error.cancellation_reasons or [], strict=False):
                # TransactionConflict: another transaction held the item; as retryable as
                # a failed version condition.
                if reason is not None and reason.code in _LOST_RACE:
                    if label.startswith("parent:") and reason.code != "TransactionConflict":
                        raise ParentGone(label.removeprefix("parent:")) from error
                    if label.startswith("unique:"):
                        raise UniqueTaken(label.removeprefix("unique:")) from error
                    raise VersionConflict(label) from error
            raise

    def _commit_single(self) -> None:
        """One item needs no transaction (which costs twice the write units): a plain
        conditional write gives the same guarantee."""
        try:
            if self._deletes:
                item, label = self._deletes[0]
                item.delete()
            else:
                item, label, must_be_new = self._saves[0]
                new = type(item)._hash_key_attribute().does_not_exist()
                item.save(condition=new if must_be_new else None)
        except (PutError, DeleteError) as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            if label.startswith("unique:"):
                raise UniqueTaken(label.removeprefix("unique:")) from error
            raise VersionConflict(label) from error


def _claim_uniques(tx: _Transaction, before: Record | None, after: Record) -> None:
    for field in _UNIQUE_FIELDS:
        old = (before or {}).get(field) or ""
        new = after.get(field) or ""
        if old.lower() == new.lower():
            continue
        if new:
            claim = UniqueKeyModel(unique_key(field, new), owner=after["id"])
            tx.save(claim, f"unique:{field}", must_be_new=True)
        if old:
            tx.delete(UniqueKeyModel(unique_key(field, old)), f"release:{field}")


def _sync_subscriptions(tx: _Transaction, before: Record | None, after: Record | None) -> None:
    old = set((before or {}).get("users") or [])
    new = set((after or {}).get("users") or [])
    owner_changed = before and after and before["owner"] != after["owner"]
    blueprint = (after or before or {})["id"]
    for user in sorted(old - new) if not owner_changed else sorted(old):
        tx.delete(SubscriptionModel(user, blueprint), "subscription")
    for user in sorted(new - old) if not owner_changed else sorted(new):
        tx.save(SubscriptionModel(user, blueprint, owner=after["owner"]), "subscription")


def _index_upkeep(
    tx: _Transaction, collection: str, before: Record | None, after: Record | None
) -> None:
    if collection == "users" and after is not None:
        _claim_uniques(tx, before, after)
    elif collection == "users" and before is not None:
        for field in _UNIQUE_FIELDS:
            if before.get(field):
                tx.delete(UniqueKeyModel(unique_key(field, before[field])), f"release:{field}")
        for key in link_keys_of(before["id"]):
            tx.delete(ExternalAuthModel(key), "release:externalAuth")
    elif collection == "blueprints":
        _sync_subscriptions(tx, before, after)


def _check_parents(
    tx: _Transaction, collection: str, record: Record, written: Set[tuple[str, str]] = frozenset()
) -> None:
    """``written``: parents the transaction also updates under the version read (a rollout's
    deployment); that condition already fails once a mark came in, and DynamoDB refuses
    a second operation on one item."""
    for field, parent in PARENTS.get(collection, {}).items():
        if (parent, record[field]) in written:
            continue
        model = RECORD_MODELS[parent]
        alive = model.id.exists() & model.deleting.does_not_exist()  # type: ignore[attr-defined]
        tx.check(model, record[field], alive, f"parent:{field}")


def create(collection: str, record: Record) -> Record:
    """Insert a new record; fails with VersionConflict if the id exists, UniqueTaken on
    a duplicate e-mail/username, ParentGone if a parent is gone or being deleted."""
    bind_models()
    tx = _Transaction()
    item = _to_item(collection, record)
    tx.save(item, f"record:{collection}", must_be_new=True)
    _check_parents(tx, collection, record)
    _index_upkeep(tx, collection, None, record)
    tx.commit()
    page_cursors.forget(collection, record)
    return _to_record(collection, item)


def update(collection: str, before: Record, after: Record) -> Record:
    """Replace ``before`` with ``after``, conditioned on the version we read."""
    bind_models()
    tx = _Transaction()
    item = _to_item(collection, after)
    item.version = before["version"]
    tx.save(item, f"record:{collection}")
    _index_upkeep(tx, collection, before, after)
    tx.commit()
    return _to_record(collection, item)


def write_together(
    creates: Sequence[tuple[str, Record]] = (),
    updates: Sequence[tuple[str, Record, Record]] = (),
    deletes: Sequence[tuple[str, Record]] = (),
) -> None:
    """Several record writes as one transaction: all happen or none, each conditioned on
    the version it was read at (creates: on the id being new, and on their parents as in
    ``create``). VersionConflict or ParentGone otherwise."""
    bind_models()
    tx = _Transaction()
    written = {(collection, after["id"]) for collection, _, after in updates}
    for collection, record in creates:
        tx.save(_to_item(collection, record), f"record:{collection}", must_be_new=True)
        _check_parents(tx, collection, record, written)
    for collection, before, after in updates:
        item = _to_item(collection, after)
        item.version = before["version"]
        tx.save(item, f"record:{collection}")
    for collection, record in deletes:
        item = _to_item(collection, record)
        item.version = record["version"]
        tx.delete(item, f"record:{collection}")
    tx.commit()
    for collection, record in [*creates, *deletes]:
        page_cursors.forget(collection, record)


def delete_in_order(records: list[tuple[str, Record]]) -> None:
    """Delete records, each conditioned on the version we read.

    When everything fits in one transaction it is atomic. A larger cascade runs in
    chunks in the given order (children before parents), so an interruption leaves only
    fewer children of a parent that still exists, and repeating the delete finishes it.
    """
    bind_models()
    chunk: list[tuple[str, Record]] = []
    budget = 0
    for collection, record in records:
        cost = 1 + _upkeep_cost(collection, record)
        if chunk and budget + cost > _TRANSACTION_LIMIT:
            _delete_chunk(chunk)
            chunk, budget = [], 0
        chunk.append((collection, record))
        budget += cost
    _delete_chunk(chunk)


def set_deleting(collection: str, record_id: str, stamp: str | None) -> Record | None:
    """Set (``stamp``) or clear (``None``) the deleting mark of a parent, with a new version
    and no version condition: the mark always lands, and every writer that read the record
    before it fails its own version condition. The record as it is now; None if gone."""
    bind_models()
    model = RECORD_MODELS[collection]
    mark = model.deleting.set(stamp) if stamp else model.deleting.remove()  # type: ignore[attr-defined]
    try:
        model._get_connection().update_item(
            record_id, actions=[mark, model.version.add(1)], condition=model.id.exists()
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return get(collection, record_id)


def _upkeep_cost(collection: str, record: Record) -> int:
    if collection == "users":
        links = len(link_keys_of(record["id"]))
        return links + sum(1 for f in _UNIQUE_FIELDS if record.get(f))
    if collection == "blueprints":
        return len(record.get("users") or [])
    return 0


def _delete_chunk(records: list[tuple[str, Record]]) -> None:
    tx = _Transaction()
    for collection, record in records:
        item = _to_item(collection, record)
        item.version = record["version"]
        tx.delete(item, f"record:{collection}")
        _index_upkeep(tx, collection, record, None)
    tx.commit()
    for collection, record in records:
        page_cursors.forget(collection, record)


def add_subscriber(blueprint: Record, user_id: str, limit: int, stamp: str) -> bool:
    """Append ``user_id`` to a blueprint's ``users`` and write its subscription row, in one
    transaction conditioned on the list itself (not yet a subscriber, not the owner, fewer
    than ``limit``) instead of on the version: concurrent subscribers do not fail each
    other. False if the condition failed (read the record to see why); VersionConflict if
    DynamoDB refused a simultaneous transaction on the item (retry)."""
    bind_models()
    model = BlueprintModel
    condition = (
        model.id.exists()
        & ~model.users.contains(user_id)
        & (model.owner != user_id)
        & (size(model.users) < limit)
    )
    actions = [model.users.set(model.users.append([user_id])), model.updated.set(stamp)]
    item = model(blueprint["id"])
    item.version = 0  # any number: PynamoDB then adds 1, and no condition on it is sent
    row = SubscriptionModel(user_id, blueprint["id"], owner=blueprint["owner"])
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.update(item, actions, condition=condition, add_version_condition=False)
            tx.save(row)
    except TransactWriteError as error:
        reasons = [r.code if r is not None else None for r in error.cancellation_reasons or []]
        if "ConditionalCheckFailed" in reasons:  # only the update has a condition
            return False
        if "TransactionConflict" in reasons:
            raise VersionConflict("blueprints") from error
        raise
    return True


def save_user_with_link(
    before: Record | None, after: Record, provider: str, provider_id: str, created: str
) -> Record:
    """Create (``before`` None) or update a user and link a provider account to it in one
    transaction: UniqueTaken("externalAuth") if the account got linked meanwhile."""
    bind_models()
    tx = _Transaction()
    item = _to_item("users", after)
    if before is not None:
        item.version = before["version"]
    tx.save(item, "record:users", must_be_new=before is None)
    _index_upkeep(tx, "users", before, after)
    link = ExternalAuthModel(
        link_key(provider, provider_id),
        user=after["id"],
        provider=provider,
        providerId=provider_id,
        created=created,
    )
    tx.save(link, "unique:externalAuth", must_be_new=True)
    tx.commit()
    return _to_record("users", item)


def _update_if(auto_update_id: str, actions: list[Any], condition: Any = None) -> bool:
    """Set attributes of an existing autoUpdate without its version; False if it is gone
    or ``condition`` fails."""
    bind_models()
    exists = AutoUpdateModel.id.exists()
    try:
        AutoUpdateModel._get_connection().update_item(
            auto_update_id,
            actions=actions,
            condition=exists if condition is None else exists & condition,
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_check(auto_update_id: str, status: dict[str, str]) -> bool:
    """Store a check's outcome (``lastCheck``, ``nextCheck``, ``lastTag``, ``lastError``,
    ``lastDigest``) without touching the owner's fields or the version: a concurrent edit
    by the owner must not fail because a check ran. False if the record is gone."""
    actions = [getattr(AutoUpdateModel, name).set(value) for name, value in status.items()]
    return _update_if(auto_update_id, actions)


def make_due(auto_update_id: str, now: str) -> bool:
    """Move an autoUpdate's next check to ``now`` if it was later; False if it is gone or
    already due (nothing else of the record changes)."""
    due = AutoUpdateModel.nextCheck
    return _update_if(auto_update_id, [due.set(now)], due > now)


def claim_webhook_call(auto_update_id: str, now: str, not_since: str) -> bool:
    """Record a webhook call unless another was recorded after ``not_since``."""
    last = AutoUpdateModel.lastWebhook
    return _update_if(auto_update_id, [last.set(now)], last.does_not_exist() | (last < not_since))


# ---- leases ------------------------------------------------------------------------------


def acquire_lease(key: str, holder: str, seconds: int) -> bool:
    """Take the lease ``key`` if it is free or expired; False if someone else holds it."""
    bind_models()
    now = datetime.now(UTC)
    lease = LeaseModel(key, holder=holder, expires=now + timedelta(seconds=seconds))
    try:
        lease.save(condition=LeaseModel.key.does_not_exist() | (LeaseModel.expires < now))
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release_lease(key: str, holder: str) -> None:
    """Give the lease back, if we still hold it (it may have expired and moved on)."""
    bind_models()
    try:
        LeaseModel(key).delete(condition=LeaseModel.holder == holder)
    except DeleteError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
