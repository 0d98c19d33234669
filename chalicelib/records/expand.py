"""``expand``: relation paths resolved with one BatchGetItem per relation and level.

Like PocketBase, unknown paths are ignored silently (the frontend still asks projects for
``blueprint``), multi-relations expand to lists, at most six levels deep, and an expanded
record must pass its own collection's view rule.
"""

from __future__ import annotations

from typing import Any

from chalicelib.records import store
from chalicelib.records.access import Viewer, can_view
from chalicelib.records.schema import COLLECTIONS, Collection
from chalicelib.records.serialize import export
from chalicelib.records.store import Record

MAX_DEPTH = 6
Tree = dict[str, "Tree"]


def parse_paths(text: str) -> Tree:
    """``a.b,a.c,d`` as a tree of names (also used for ``?fields=``)."""
    tree: Tree = {}
    for path in text.split(","):
        node = tree
        for part in [p.strip() for p in path.strip().split(".")][:MAX_DEPTH]:
            if not part:
                break
            node = node.setdefault(part, {})
    return tree


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


def expand_records(
    collection: Collection, records: list[Record], tree: Tree, viewer: Viewer
) -> dict[str, dict[str, Any]]:
    """Per record id, the ``expand`` object to attach (records without one are absent).
    Every relation of one level is read in the same BatchGetItem requests."""
    relations = []
    wanted: dict[str, set[str]] = {}
    for name, subtree in tree.items():
        field = collection.field(name)
        if field is None or field.target is None:
            continue  # parse_expand only keeps relation paths
        ids = {i for r in records for i in _ids(r.get(name))}
        if ids:
            relations.append((name, subtree, field, COLLECTIONS[field.target], ids))
            wanted.setdefault(field.target, set()).update(ids)
    fetched = store.batch_get_many(wanted) if wanted else {}
    result: dict[str, dict[str, Any]] = {}
    for name, subtree, field, target, ids in relations:
        found = {
            i: r
            for i, r in fetched[target.name].items()
            if i in ids and can_view(target, r, viewer)
        }
        nested = expand_records(target, list(found.values()), subtree, viewer) if subtree else {}
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
