"""Who may see and change which record: PocketBase's API rules as plain Python.

The rules follow reference §1 with the §1.11 weak points closed: the users rule is
correlated (a blueprint owner sees the users subscribed to *their* blueprints, nothing
more), and writes are checked against the owner of every referenced record elsewhere
(``chalicelib.records.references``). Candidates for a list come from a Query on the
caller's own partition, so a list can never read another tenant's rows to begin with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.records import store
from chalicelib.records.schema import BLUEPRINTS, USERS, Collection
from chalicelib.records.store import Record


@dataclass
class Viewer:
    """The caller of one request; caches the lookups a rule needs more than once."""

    user: Record | None
    _subscribers: set[str] | None = field(default=None, repr=False)
    _read_ahead: dict[tuple[str, str], Record | None] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.user["id"] if self.user else ""

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def remember(self, collection: str, record_id: str, record: Record | None) -> None:
        """Keep a record read together with the caller's own (one request, not two)."""
        self._read_ahead[(collection, record_id)] = record

    def read_ahead(self, collection: str, record_id: str) -> tuple[bool, Record | None]:
        """(True, the record or None if it does not exist) if it was read ahead; once."""
        key = (collection, record_id)
        if key in self._read_ahead:
            return True, self._read_ahead.pop(key)
        return False, None

    def subscribers(self) -> set[str]:
        """Users subscribed to any of the caller's blueprints (one Query, then cached)."""
        if self._subscribers is None:
            self._subscribers = store.subscribers_of_owner(self.id) if self.user else set()
        return self._subscribers


ANONYMOUS = Viewer(None)


def owns(collection: Collection, record: Record, viewer: Viewer) -> bool:
    if not viewer.authenticated:
        return False
    if collection is USERS:
        return record["id"] == viewer.id
    assert collection.owner_field is not None  # noqa: S101 - every other collection has one
    return record.get(collection.owner_field) == viewer.id


def is_subscriber(record: Record, viewer: Viewer) -> bool:
    return viewer.authenticated and viewer.id in (record.get("users") or [])


def can_view(collection: Collection, record: Record, viewer: Viewer) -> bool:
    if not viewer.authenticated:
        return False
    if collection is USERS:
        return record["id"] == viewer.id or record["id"] in viewer.subscribers()
    if collection is BLUEPRINTS:
        return (
            not record.get("private")
            or owns(collection, record, viewer)
            or is_subscriber(record, viewer)
        )
    return owns(collection, record, viewer)


def list_candidates(
    collection: Collection,
    viewer: Viewer,
    attributes: Iterable[str] | None = None,
    where: dict[str, str | bool] | None = None,
) -> list[Record]:
    """Every record the caller may list, fetched by key or index only, with ``attributes``
    only (None: whole records; the users collection is always read whole). ``where`` lets
    DynamoDB drop records of the caller's own partition that cannot match; a hint: callers
    still apply their filter."""
    if not viewer.authenticated:
        return []
    if collection is USERS:
        others = store.batch_get("users", viewer.subscribers() - {viewer.id})
        return [viewer.user, *others.values()]  # type: ignore[list-item]
    if collection is BLUEPRINTS:
        public = store.query("blueprints", "listing", "public", attributes=attributes)
        found = {r["id"]: r for r in public}
        own = store.query("blueprints", "owner", viewer.id, attributes=attributes)
        found.update({r["id"]: r for r in own})
        subscribed = [i for i in store.subscribed_blueprint_ids(viewer.id) if i not in found]
        found.update(store.batch_get("blueprints", subscribed, attributes))
        return [r for r in found.values() if can_view(collection, r, viewer)]
    assert collection.owner_field is not None  # noqa: S101 - every other collection has one
    return store.query(
        collection.name, collection.owner_field, viewer.id, attributes=attributes, where=where
    )


def as_searched_by(collection: Collection, record: Record, viewer: Viewer) -> Record:
    """The record as filters and sorts may see it: a hidden e-mail is blank, so it cannot be
    guessed through ``filter=email~'a%'`` or ``sort=email``."""
    if collection is USERS and not (record.get("emailVisibility") or owns(USERS, record, viewer)):
        return dict(record, email="")
    return record
