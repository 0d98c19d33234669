"""Which records a list page holds, read at the cost of the page.

Three plans, cheapest first (their costs are in README "Performance"):

- **Index order** (no filter, sort ``created``/``-created`` or none): the caller's
  partition of the owner index, read in index order — the page one ``Query`` with
  ``Limit``, starting where the previous page ended (``page_cursors``) or else after
  skipping the earlier pages with ``Select=COUNT`` (positions, no item data);
  ``totalItems`` one more ``Select=COUNT``.
- **Merged index order** (blueprints: public + own + subscribed, same query shape): the
  three sources streamed in ``created`` order with a few attributes each, merged and
  de-duplicated until the page is reached; only the page's records are read whole.
- **In memory** (a filter, another sort, ``@random``, and the users collection): every
  candidate is read with only the attributes the filter and sort need — DynamoDB already
  dropping those that fail the filter's plain ``field = value`` terms — then filtered,
  sorted and sliced here; only the page's records are read whole.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator

from chalicelib.records import access, field_picker, page_cursors, store
from chalicelib.records.access import Viewer
from chalicelib.records.expand import shown_attributes
from chalicelib.records.filter import referenced_names, required_equalities
from chalicelib.records.item_codec import STORED_ATTRIBUTES
from chalicelib.records.listing import ListParams, order
from chalicelib.records.schema import BLUEPRINTS, USERS, Collection
from chalicelib.records.store import Record

# What ordering needs of a record.
_POSITION = ("id", "created")
# Keys read per request while streaming a blueprint source, beyond the page's own end.
_MAX_CHUNK = 1000


def read_page(
    collection: Collection, params: ListParams, viewer: Viewer
) -> tuple[list[Record], int]:
    """The page's records in order and the number of matching records (-1 with
    ``skipTotal`` where counting would cost extra reads)."""
    if not viewer.authenticated:
        return [], 0
    newest_first = index_order(params)
    if newest_first is None or collection is USERS:
        return _in_memory(collection, params, viewer)
    if collection is BLUEPRINTS:
        return _merged_blueprints(params, viewer, newest_first)
    return _owner_partition(collection, params, viewer, newest_first)


def index_order(params: ListParams) -> bool | None:
    """True for newest first, False for oldest first, None if the index cannot serve it."""
    if params.predicate is not None:
        return None
    if params.sort == ():
        return False
    if len(params.sort) == 1 and params.sort[0][0] == "created":
        return params.sort[0][1]
    return None


def returned_attributes(collection: Collection, params: ListParams) -> frozenset[str] | None:
    """The stored attributes the answer shows of the page's records (None: all)."""
    return shown_attributes(collection, field_picker.names(params.fields), params.expand)


def _offset(params: ListParams) -> int:
    return (params.page - 1) * params.per_page


def _owner_partition(
    collection: Collection, params: ListParams, viewer: Viewer, newest_first: bool
) -> tuple[list[Record], int]:
    assert collection.owner_field is not None  # noqa: S101 - every other collection has one
    offset = _offset(params)
    where = (viewer.id, collection.name, collection.owner_field, newest_first)
    records, last = store.query_page(
        collection.name,
        collection.owner_field,
        viewer.id,
        newest_first=newest_first,
        offset=offset,
        limit=params.per_page,
        attributes=returned_attributes(collection, params),
        start=page_cursors.start_of((*where, offset)) if offset else None,
    )
    if last is not None and len(records) == params.per_page:
        page_cursors.remember((*where, offset + params.per_page), last)
    owner = collection.owner_field
    total = -1 if params.skip_total else store.count(collection.name, owner, viewer.id)
    return records, total


def _merged_blueprints(
    params: ListParams, viewer: Viewer, newest_first: bool
) -> tuple[list[Record], int]:
    """Each source holds only records the caller may see (public, own, subscribed); the
    page's records are checked again once read whole (the indexes may lag a change)."""
    subscribed = set(store.subscribed_blueprint_ids(viewer.id))
    start, end = _offset(params), _offset(params) + params.per_page
    # With a total to report every source is read to its end: in the largest requests.
    chunk = end if params.skip_total else _MAX_CHUNK
    sources = [
        store.stream(
            "blueprints", by, value, newest_first=newest_first, attributes=_POSITION, chunk=chunk
        )
        for by, value in (("listing", "public"), ("owner", viewer.id))
    ]
    position = _newest_first if newest_first else _oldest_first
    own_subscriptions = store.batch_get("blueprints", subscribed, _POSITION).values()
    sources.append(iter(sorted(own_subscriptions, key=position)))
    merged = _unique(heapq.merge(*sources, key=position))
    ids: list[str] = []
    seen = 0
    for record in merged:
        if start <= seen < end:
            ids.append(record["id"])
        seen += 1
        if seen >= end and params.skip_total:
            break  # without a total to report, nothing past the page is read
    return _whole(BLUEPRINTS, ids, params, viewer), -1 if params.skip_total else seen


def _in_memory(
    collection: Collection, params: ListParams, viewer: Viewer
) -> tuple[list[Record], int]:
    needed = None
    if collection is not USERS:
        needed = {*_POSITION, *referenced_names(params.filter), *(name for name, _ in params.sort)}
        needed.add(collection.owner_field or "id")
        if collection is BLUEPRINTS:
            needed.update(("owner", "private", "users"))  # the view rule
        needed &= STORED_ATTRIBUTES[collection.name]
    where = required_equalities(params.filter, collection) if params.predicate else None
    candidates = [
        access.as_searched_by(collection, r, viewer)
        for r in access.list_candidates(collection, viewer, needed, where)
    ]
    if params.predicate is not None:
        candidates = [r for r in candidates if params.predicate(r)]
    order(candidates, params.sort)
    start = _offset(params)
    page = candidates[start : start + params.per_page]
    if needed is not None:
        page = _whole(collection, [r["id"] for r in page], params, viewer)
    return page, len(candidates)


def _whole(
    collection: Collection, ids: list[str], params: ListParams, viewer: Viewer
) -> list[Record]:
    """The page's records read in full (or as far as the answer shows), in page order, and
    still visible to the caller as read now."""
    found = store.batch_get(collection.name, ids, returned_attributes(collection, params))
    records = (found[i] for i in ids if i in found)
    return [r for r in records if access.can_view(collection, r, viewer)]


@functools.total_ordering
class _Descending:
    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value


# Ties in ``created`` go by id ascending either way, as ``listing.order`` sorts them.
def _oldest_first(record: Record) -> tuple[str, str]:
    return (record["created"], record["id"])


def _newest_first(record: Record) -> tuple[_Descending, str]:
    return (_Descending(record["created"]), record["id"])


def _unique(records: Iterator[Record]) -> Iterator[Record]:
    """Drop repeats of a record that two sources hold (one's own public blueprints)."""
    seen: set[str] = set()
    for record in records:
        if record["id"] not in seen:
            seen.add(record["id"])
            yield record
