"""``expand``: relation paths resolved with one BatchGetItem per relation and level.

Like PocketBase, unknown paths are ignored silently (the frontend still asks projects for
``blueprint``), multi-relations expand to lists, at most six levels deep, and an expanded
record must pass its own collection's view rule.
"""

from __future__ import annotations

from typing import Any

from chalicelib.records import store
from chalicelib.records.access import Viewer, can_view
from chalicelib.records.item_codec import STORED_ATTRIBUTES
from chalicelib.records.schema import BLUEPRINTS, COLLECTIONS, USERS, Collection
from chalicelib.records.serialize import export
from chalicelib.records.store import Record

MAX_DEPTH = 6
Tree = dict[str, "Tree"]


def parse_expand(text: str, collection: Collection) -> Tree:
    """The expand tree, keeping only paths whose every step is a relation: like PocketBase,
    ``user.nope`` expands nothing rather than half of the path."""
    tree: Tree = {}
    for path in text.split(","):
        parts = [p.strip() for p in path.strip().split(".")]
        if not (0 < len(parts) <= MAX_DEPTH) or not _resolves(collection, parts):
            continue
        node = tree
        for part in parts:
            node = node.setdefault(part, {})
    return tree


def _resolves(collection: Collection, parts: list[str]) -> bool:
    for part in parts:
        field = collection.field(part)
        if field is None or field.target is None:
            return False
        collection = COLLECTIONS[field.target]
    return True


def shown_attributes(
    collection: Collection, fields: Tree | None, expand: Tree
) -> frozenset[str] | None:
    """The stored attributes an answer shows of a record at this level of ``?fields=``
    (None: all of them), and what the rules and the expand tree need of it: so
    ``?fields=id,name`` neither reads nor decompresses a manifest."""
    if not fields or "*" in fields:
        return None
    wanted = set(fields) | set(expand) | {"id", "created", collection.owner_field or "id"}
    if collection is BLUEPRINTS:
        wanted.update(("private", "users"))
    if collection is USERS:
        wanted.add("emailVisibility")
    return frozenset(wanted & STORED_ATTRIBUTES[collection.name])


_HIDDEN: Any = object()


def _fields_of(fields: Tree | None, name: str) -> Any:
    """What ``?fields=`` (the tree at the expanding record's level) shows of relation
    ``name``'s expansion: None for all of it, its tree, or ``_HIDDEN``."""
    if fields is None:
        return None
    if "expand" not in fields:
        return None if "*" in fields else _HIDDEN
    shown = fields["expand"]
    if not shown or "*" in shown and name not in shown:
        return None
    return (shown[name] or None) if name in shown else _HIDDEN


def expand_records(
    collection: Collection,
    records: list[Record],
    tree: Tree,
    viewer: Viewer,
    fields: Tree | None = None,
) -> dict[str, dict[str, Any]]:
    """Per record id, the ``expand`` object to attach (records without one are absent).
    Every relation of one level is read in the same BatchGetItem requests, with only the
    attributes ``fields`` (the ``?fields=`` tree at this level) shows; a relation it does
    not show is not read."""
    relations = []
    wanted: dict[str, set[str]] = {}
    projections: dict[str, frozenset[str] | None] = {}
    for name, subtree in tree.items():
        field = collection.field(name)
        shown = _fields_of(fields, name)
        if field is None or field.target is None or shown is _HIDDEN:
            continue  # parse_expand only keeps relation paths
        ids = {i for r in records for i in _ids(r.get(name))}
        if not ids:
            continue
        target = COLLECTIONS[field.target]
        relations.append((name, subtree, field, target, ids, shown))
        wanted.setdefault(target.name, set()).update(ids)
        attributes = shown_attributes(target, shown, subtree)
        if target.name in projections:
            before = projections[target.name]
            attributes = None if before is None or attributes is None else before | attributes
        projections[target.name] = attributes
    fetched = store.batch_get_many(wanted, projections) if wanted else {}
    result: dict[str, dict[str, Any]] = {}
    for name, subtree, field, target, ids, shown in relations:
        found = {
            i: r
            for i, r in fetched[target.name].items()
            if i in ids and can_view(target, r, viewer)
        }
        nested = (
            expand_records(target, list(found.values()), subtree, viewer, shown) if subtree else {}
        )
        exported = {i: export(target, r, viewer, nested.get(i)) for i, r in found.items()}
        for record in records:
            value = record.get(name)
            if field.multiple:
                items = [exported[i] for i in _ids(value) if i in exported]
                if items:
                    result.setdefault(record["id"], {})[name] = items
            elif value in exported:
                result.setdefault(record["id"], {})[name] = exported[value]
    return result


def _ids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if v]
    return [value] if value else []
