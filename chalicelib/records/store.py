"""The one place that talks to DynamoDB about records: reads here, writes in
``store_writes``, reached through this module.

Callers get and hand over plain ``dict`` records keyed by PocketBase field names. Index
upkeep that only exists because of DynamoDB — unique e-mail/username claims, blueprint
subscription rows, the sparse public-blueprint attribute — happens inside the same
transaction as the record write, so the rest of the code never sees it.

Every read is a GetItem, BatchGetItem or Query on a key or index; nothing scans. Reads go
through ``item_reads`` and know the tables from the generated ``item_layout``: they never
import PynamoDB's models, whose botocore import would cost a cold start ~120 ms that a
read does not need. The writes (PynamoDB) load on the first write (``__getattr__``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.records import item_codec, item_layout, item_reads
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.records.dynamodb_wire import WireClient

Record = dict[str, Any]

CHECK_QUEUE = "due"


def is_database_error(error: BaseException) -> bool:
    """Whether ``error`` is a failed DynamoDB call (a read's or one of PynamoDB's, both
    with ``cause_response_code``); callers outside records/ ask this, not PynamoDB.
    PynamoDB's errors are recognised without importing it: a process that has not loaded
    PynamoDB (a cold start that only reads) cannot have raised one."""
    if isinstance(error, item_reads.ReadError):
        return True
    pynamodb_errors = sys.modules.get("pynamodb.exceptions")
    return pynamodb_errors is not None and isinstance(
        error, pynamodb_errors.PynamoDBConnectionError
    )


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
    """Point reads at the configured tables (the models follow on their next write,
    ``store_writes.bind_models``); cheap, and repeated calls are no-ops."""
    global _bound
    if _bound == settings:
        return
    item_reads.client.cache_clear()
    _bound = settings


def ensure_bound() -> Settings:
    """The settings the store is bound to, bound on first use (``bind`` in tests)."""
    if _bound is None:
        bind(get_settings())
    assert _bound is not None  # noqa: S101 - bound just above
    return _bound


# ---- reads ---------------------------------------------------------------------------------
# Records are read through ``item_reads`` (wire-form items) and decoded by ``item_codec``;
# ``attributes`` names the attributes to read (a projection), None for whole records.

Attributes = Iterable[str] | None


def _reader() -> WireClient:
    settings = ensure_bound()
    return item_reads.client(settings.aws_region, settings.dynamodb_endpoint)


def table_name(base: str) -> str:
    """A table's name as deployed: the configured prefix and its base name."""
    return ensure_bound().table_prefix + base


def _table(collection: str) -> str:
    return table_name(item_layout.RECORD_TABLES[collection])


# Per collection: the attribute a record-holding index is partitioned by -> that index, and
# the keys-only twin to count and skip on where there is one (same keys, same order).
def _index(collection: str, by: str) -> str:
    return item_layout.INDEXES[item_layout.RECORD_TABLES[collection]][by]


def _positions(collection: str, by: str) -> str:
    base = item_layout.RECORD_TABLES[collection]
    return item_layout.POSITIONS[base].get(by) or _index(collection, by)


def _texts_of(base: str, index: str | None, key: tuple[str, str], attribute: str) -> list[str]:
    """One text attribute of every item in a partition of a table that holds no records
    (subscriptions, unique claims, provider links)."""
    pages = item_reads.query_pages(
        _reader(), table_name(base), index, key, forward=True, attributes=(attribute,)
    )
    return [item[attribute]["S"] for items, _, _ in pages for item in items]


def _text_at(base: str, key: tuple[str, str], attribute: str) -> str | None:
    item = item_reads.get_item(_reader(), table_name(base), {key[0]: key[1]}, (attribute,))
    return None if item is None else item[attribute]["S"]


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


_SUBSCRIPTIONS = item_layout.TABLES["SubscriptionModel"]
_UNIQUE_KEYS = item_layout.TABLES["UniqueKeyModel"]
_LINKS = item_layout.TABLES["ExternalAuthModel"]


def subscribed_blueprint_ids(user_id: str) -> list[str]:
    return _texts_of(_SUBSCRIPTIONS, None, ("user", user_id), "blueprint")


def subscribers_of_owner(owner_id: str) -> set[str]:
    """Users subscribed to any blueprint of ``owner_id`` (the users-collection view rule)."""
    index = item_layout.POSITIONS[_SUBSCRIPTIONS]["owner"]
    return set(_texts_of(_SUBSCRIPTIONS, index, ("owner", owner_id), "user"))


def unique_key(field: str, value: str) -> str:
    return f"users.{field}#{value.strip().lower()}"


def user_id_by(field: str, value: str) -> str | None:
    """Resolve a login identity (``email`` or ``username``) to a user id."""
    return _text_at(_UNIQUE_KEYS, ("key", unique_key(field, value)), "owner")


def pending_rollouts() -> list[Record]:
    """Rollouts whose cluster change is unconfirmed, oldest first (the reconciler's work)."""
    found = [r for kind in ("apply", "delete") for r in query("rollouts", "pendingKind", kind)]
    return sorted(found, key=lambda r: r["pendingSince"])


# ---- OAuth2 links ----------------------------------------------------------------------------


def link_key(provider: str, provider_id: str) -> str:
    return f"{provider}#{provider_id}"


def link_keys_of(user_id: str) -> list[str]:
    index = item_layout.POSITIONS[_LINKS]["user"]
    return _texts_of(_LINKS, index, ("user", user_id), "key")


def linked_user_id(provider: str, provider_id: str) -> str | None:
    """The user a provider account signs in as, if it was linked before."""
    return _text_at(_LINKS, ("key", link_key(provider, provider_id)), "user")


# ---- auto-update checks ----------------------------------------------------------------


def due_auto_updates(now: str) -> list[Record]:
    """AutoUpdates whose next check is at or before ``now``, oldest due first."""
    due = ("#due <= :due", {"#due": "nextCheck"}, {":due": {"S": now}})
    pages = _query(
        "autoUpdates",
        _index("autoUpdates", "checkQueue"),
        ("checkQueue", CHECK_QUEUE),
        False,
        condition=due,
    )
    return [record for records, _, _ in pages for record in records]


# ---- writes ----------------------------------------------------------------------------------


def __getattr__(name: str) -> Any:
    """``store.create`` and the other writes, from ``store_writes`` on first use: a cold
    start that only reads never imports PynamoDB."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from chalicelib.records import store_writes

    return getattr(store_writes, name)
