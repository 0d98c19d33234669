"""The one place that talks to DynamoDB (through PynamoDB).

Callers get and hand over plain ``dict`` records keyed by PocketBase field names. Index
upkeep that only exists because of DynamoDB — unique e-mail/username claims, blueprint
subscription rows, the sparse public-blueprint attribute — happens here, inside the same
transaction as the record write, so the rest of the code never sees it.

Every read is a GetItem, BatchGetItem or Query on a key or index; nothing scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Set
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    PutError,
    PynamoDBConnectionError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import size
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.records import item_codec, item_reads, page_cursors
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
from chalicelib.settings import Settings, get_settings

Record = dict[str, Any]

_TRANSACTION_LIMIT = 100
_LOST_RACE = ("ConditionalCheckFailed", "TransactionConflict")
_UNIQUE_FIELDS = ("email", "username")
_CHECK_QUEUE = "due"


# Any failed DynamoDB call; callers outside records/ catch this name, not PynamoDB's.
DatabaseError = PynamoDBConnectionError


class UniqueTaken(Exception):
    """Another user already holds this e-mail or username."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class VersionConflict(Exception):
    """The record changed (or vanished) between our read and our write."""


class ParentGone(Exception):
    """A create named a parent (``field``) that is gone or being deleted."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


# The parents a record cannot outlive (field -> collection): its create commits only while
# each exists without a deleting mark, in the same transaction (see records.cascade).
PARENTS = {
    "deployments": {"project": "projects"},
    "rollouts": {"project": "projects", "deployment": "deployments"},
    "autoUpdates": {"project": "projects", "deployment": "deployments"},
}


_bound: Settings | None = None


def bind(settings: Settings) -> None:
    """Point every model at the configured tables; cheap, and repeated calls are no-ops."""
    global _bound
    if _bound == settings:
        return
    for model in ALL_MODELS:
        base = getattr(model.Meta, "base_name", model.Meta.table_name)
        model.Meta.base_name = base  # type: ignore[attr-defined]
        model.Meta.table_name = settings.table_prefix + base
        model.Meta.region = settings.aws_region
        model.Meta.host = settings.dynamodb_endpoint
        model._connection = None
    _connection.cache_clear()
    item_reads.client.cache_clear()
    _bound = settings


def ensure_bound() -> None:
    """Bind the models to the settings on first use (and after ``bind`` in tests)."""
    if _bound is None:
        bind(get_settings())


@lru_cache(maxsize=1)
def _connection() -> Connection:
    assert _bound is not None  # noqa: S101 - ensure_bound() ran first
    return Connection(region=_bound.aws_region, host=_bound.dynamodb_endpoint)


def connection() -> Connection:
    """The shared low-level connection (transactions; benchmarks count its calls)."""
    ensure_bound()
    return _connection()


def model_for(collection: str) -> type[Model]:
    ensure_bound()
    return RECORD_MODELS[collection]


def _empty_as_absent(model: type[Model]) -> list[str]:
    """Optional text attributes that key a sparse index: PocketBase's "" is stored absent."""
    return [
        name
        for name, attribute in model.get_attributes().items()
        if isinstance(attribute, UnicodeAttribute)
        and attribute.null
        and name not in item_codec.INTERNAL_ATTRIBUTES
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
        attributes["checkQueue"] = _CHECK_QUEUE
        attributes["nextCheck"] = attributes.get("nextCheck") or record["created"]
    return model(**attributes)


# ---- reads ---------------------------------------------------------------------------------
# Records are read through ``item_reads`` (wire-form items) and decoded by ``item_codec``;
# ``attributes`` names the attributes to read (a projection), None for whole records.

Attributes = Iterable[str] | None


def _reader() -> Any:
    ensure_bound()
    assert _bound is not None  # noqa: S101 - bound just above
    return item_reads.client(_bound.aws_region, _bound.dynamodb_endpoint)


def _table(collection: str) -> str:
    return model_for(collection).Meta.table_name


def _indexes_by_hash_key(model: type[Model], projection: str) -> dict[str, str]:
    return {
        index._hash_key_attribute().attr_name: name
        for name, index in model._indexes.items()
        if index.Meta.projection.projection_type == projection
    }


# Per collection: the attribute a record-holding index is partitioned by -> that index, and
# the keys-only twin to count and skip on where there is one (same keys, same order).
_INDEXES = {name: _indexes_by_hash_key(model, "ALL") for name, model in RECORD_MODELS.items()}
_POSITIONS = {name: _indexes_by_hash_key(m, "KEYS_ONLY") for name, m in RECORD_MODELS.items()}


def _index(collection: str, by: str) -> str:
    return _INDEXES[collection][by]


def _positions(collection: str, by: str) -> str:
    return _POSITIONS[collection].get(by) or _index(collection, by)


def get(collection: str, record_id: str, attributes: Attributes = None) -> Record | None:
    item = item_reads.get_item(_reader(), _table(collection), {"id": record_id}, attributes)
    return None if item is None else item_codec.decode(collection, item)


def batch_get_many(
    wanted: dict[str, Iterable[str]],
    attributes: dict[str, Attributes] | None = None,
    consistent: bool = False,
) -> dict[str, dict[str, Record]]:
    """Records of several collections in as few BatchGetItem requests as the keys allow:
    ``{collection: ids}`` to ``{collection: {id: record}}`` (missing ids are absent).
    Eventually consistent unless ``consistent`` (relations and pages do not need it)."""
    ids = {c: [i for i in dict.fromkeys(found) if i] for c, found in wanted.items()}
    ids = {c: found for c, found in ids.items() if found}
    result: dict[str, dict[str, Record]] = {c: {} for c in wanted}
    if not ids:
        return result
    tables = {_table(c): c for c in ids}
    projections = {_table(c): a for c, a in (attributes or {}).items() if c in ids}
    found_items = item_reads.batch_get(
        _reader(), {_table(c): found for c, found in ids.items()}, projections, consistent
    )
    for table, items in found_items.items():
        collection = tables[table]
        for item in items:
            record = item_codec.decode(collection, item)
            result[collection][record["id"]] = record
    return result


def batch_get(
    collection: str, ids: Iterable[str], attributes: Attributes = None
) -> dict[str, Record]:
    return batch_get_many({collection: ids}, {collection: attributes})[collection]


def _query(
    collection: str,
    index: str,
    key: tuple[str, str],
    newest_first: bool,
    **options: Any,
) -> Iterator[tuple[list[Record], int, dict[str, Any] | None]]:
    pages = item_reads.query_pages(
        _reader(), _table(collection), index, key, forward=not newest_first, **options
    )
    for items, count, last in pages:
        yield [item_codec.decode(collection, i) for i in items], count, last


def query(
    collection: str,
    by: str,
    value: str,
    newest_first: bool = True,
    attributes: Attributes = None,
    where: dict[str, str | bool] | None = None,
) -> list[Record]:
    """All records whose relation ``by`` (user, project, deployment, owner) equals ``value``
    (and, with ``where``, whose attributes equal those values)."""
    return list(
        stream(collection, by, value, newest_first=newest_first, attributes=attributes, where=where)
    )


def query_page(
    collection: str,
    by: str,
    value: str,
    *,
    newest_first: bool,
    offset: int,
    limit: int,
    attributes: Attributes = None,
    start: dict[str, Any] | None = None,
) -> tuple[list[Record], dict[str, Any] | None]:
    """Records ``offset`` to ``offset + limit`` of a relation in ``created`` order, reading
    only those, and the key to continue after them (None at the end). The earlier ones are
    skipped with ``Select=COUNT`` (positions, no data), unless ``start`` is the key the
    previous page ended at."""
    index = _index(collection, by)
    if start is None and offset:
        skipped = 0
        for count, last in _counted(collection, by, value, newest_first, limit=offset):
            skipped, start = skipped + count, last
        if skipped < offset or start is None:
            return [], None
    pages = list(
        _query(
            collection,
            index,
            (by, value),
            newest_first,
            limit=limit,
            start=start,
            attributes=attributes,
        )
    )
    records = [record for found, _, _ in pages for record in found]
    return records, pages[-1][2] if pages else None


def holds_any(collection: str, by: str, value: str) -> bool:
    """Whether a relation holds a record at all: one key read, whatever its size."""
    records, _ = query_page(
        collection, by, value, newest_first=False, offset=0, limit=1, attributes=("id",)
    )
    return bool(records)


def count(collection: str, by: str, value: str) -> int:
    """How many records a relation holds, counted by DynamoDB (``Select=COUNT``)."""
    return sum(n for n, _ in _counted(collection, by, value, True))


def _counted(
    collection: str, by: str, value: str, newest_first: bool, limit: int | None = None
) -> list[tuple[int, dict[str, Any] | None]]:
    """``Select=COUNT`` pages (count, last key) on the keys-only twin of the index, or on
    the index itself while the twin is missing or still being built (a table kept from
    before it existed gets it at start: ``tables.create_missing_tables``)."""
    key = (by, value)
    positions, index = _positions(collection, by), _index(collection, by)
    try:
        pages = list(_query(collection, positions, key, newest_first, limit=limit, count_only=True))
    except item_reads.ReadError as error:
        # DynamoDB: ValidationException (no such index, or still backfilling); moto says
        # ResourceNotFoundException. A missing table fails again below.
        unusable = ("ValidationException", "ResourceNotFoundException")
        if positions == index or error.cause_response_code not in unusable:
            raise
        pages = list(_query(collection, index, key, newest_first, limit=limit, count_only=True))
    return [(count, last) for _, count, last in pages]


def stream(
    collection: str,
    by: str,
    value: str,
    *,
    newest_first: bool,
    attributes: Attributes,
    chunk: int | None = None,
    where: dict[str, str | bool] | None = None,
) -> Iterator[Record]:
    """A relation's records in ``created`` order, read ``chunk`` at a time (DynamoDB's 1 MB
    pages without it) as consumed; ``where`` as for ``query``."""
    # A FilterExpression may not name the index's keys: the partition is already ``value``.
    where = {k: v for k, v in (where or {}).items() if k not in (by, "created")} or None
    pages = _query(
        collection,
        _index(collection, by),
        (by, value),
        newest_first,
        page_size=chunk,
        attributes=attributes,
        where=where,
    )
    for records, _, _ in pages:
        yield from records


def subscribed_blueprint_ids(user_id: str) -> list[str]:
    ensure_bound()
    return [row.blueprint for row in SubscriptionModel.query(user_id)]


def subscribers_of_owner(owner_id: str) -> set[str]:
    """Users subscribed to any blueprint of ``owner_id`` (the users-collection view rule)."""
    ensure_bound()
    return {row.user for row in SubscriptionModel.by_owner.query(owner_id)}


def user_id_by(field: str, value: str) -> str | None:
    """Resolve a login identity (``email`` or ``username``) to a user id."""
    ensure_bound()
    try:
        return UniqueKeyModel.get(_unique_key(field, value), consistent_read=True).owner
    except UniqueKeyModel.DoesNotExist:
        return None


# ---- writes --------------------------------------------------------------------------------


def _unique_key(field: str, value: str) -> str:
    return f"users.{field}#{value.strip().lower()}"


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
            claim = UniqueKeyModel(_unique_key(field, new), owner=after["id"])
            tx.save(claim, f"unique:{field}", must_be_new=True)
        if old:
            tx.delete(UniqueKeyModel(_unique_key(field, old)), f"release:{field}")


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
                tx.delete(UniqueKeyModel(_unique_key(field, before[field])), f"release:{field}")
        for key in _link_keys_of(before["id"]):
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
    ensure_bound()
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
    ensure_bound()
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
    ensure_bound()
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


def pending_rollouts() -> list[Record]:
    """Rollouts whose cluster change is unconfirmed, oldest first (the reconciler's work)."""
    found = [r for kind in ("apply", "delete") for r in query("rollouts", "pendingKind", kind)]
    return sorted(found, key=lambda r: r["pendingSince"])


def delete_in_order(records: list[tuple[str, Record]]) -> None:
    """Delete records, each conditioned on the version we read.

    When everything fits in one transaction it is atomic. A larger cascade runs in
    chunks in the given order (children before parents), so an interruption leaves only
    fewer children of a parent that still exists, and repeating the delete finishes it.
    """
    ensure_bound()
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
    ensure_bound()
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
        links = len(_link_keys_of(record["id"]))
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
    ensure_bound()
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


# ---- OAuth2 links ----------------------------------------------------------------------------


def _link_key(provider: str, provider_id: str) -> str:
    return f"{provider}#{provider_id}"


def _link_keys_of(user_id: str) -> list[str]:
    ensure_bound()
    return [row.key for row in ExternalAuthModel.by_user.query(user_id)]


def linked_user_id(provider: str, provider_id: str) -> str | None:
    """The user a provider account signs in as, if it was linked before."""
    ensure_bound()
    try:
        key = _link_key(provider, provider_id)
        return ExternalAuthModel.get(key, consistent_read=True).user
    except ExternalAuthModel.DoesNotExist:
        return None


def save_user_with_link(
    before: Record | None, after: Record, provider: str, provider_id: str, created: str
) -> Record:
    """Create (``before`` None) or update a user and link a provider account to it in one
    transaction: UniqueTaken("externalAuth") if the account got linked meanwhile."""
    ensure_bound()
    tx = _Transaction()
    item = _to_item("users", after)
    if before is not None:
        item.version = before["version"]
    tx.save(item, "record:users", must_be_new=before is None)
    _index_upkeep(tx, "users", before, after)
    link = ExternalAuthModel(
        _link_key(provider, provider_id),
        user=after["id"],
        provider=provider,
        providerId=provider_id,
        created=created,
    )
    tx.save(link, "unique:externalAuth", must_be_new=True)
    tx.commit()
    return _to_record("users", item)


# ---- auto-update checks ----------------------------------------------------------------


def due_auto_updates(now: str) -> list[Record]:
    """AutoUpdates whose next check is at or before ``now``, oldest due first."""
    due = ("#due <= :due", {"#due": "nextCheck"}, {":due": {"S": now}})
    pages = _query(
        "autoUpdates",
        _index("autoUpdates", "checkQueue"),
        ("checkQueue", _CHECK_QUEUE),
        False,
        condition=due,
    )
    return [record for records, _, _ in pages for record in records]


def _update_if(auto_update_id: str, actions: list[Any], condition: Any = None) -> bool:
    """Set attributes of an existing autoUpdate without its version; False if it is gone
    or ``condition`` fails."""
    ensure_bound()
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
    ensure_bound()
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
    ensure_bound()
    try:
        LeaseModel(key).delete(condition=LeaseModel.holder == holder)
    except DeleteError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
