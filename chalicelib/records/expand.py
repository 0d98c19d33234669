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


def parse_paths(expand: str) -> Tree:
    tree: Tree = {}
    for path in expand.split(","):
        node = tree
        for part in [p.strip() for p in path.strip().split(".")][:MAX_DEPTH]:
            if not part:
                break
            node = node.setdefault(part, {})
    return tree


def expand_records(
    collection: Collection, records: list[Record], tree: Tree, viewer: Viewer
) -> dict[str, dict[str, Any]]:
    """Per record id, the ``expand`` object to attach (records without one are absent)."""
    result: dict[str, dict[str, Any]] = {}
    for name, subtree in tree.items():
        field = collection.field(name)
        if field is None or field.target is None:
            continue  # unknown or non-relation path: ignored, as in PocketBase
        target = COLLECTIONS[field.target]
        ids = [i for r in records for i in _ids(r.get(name))]
        if not ids:
            continue
        found = {
            i: r
            for i, r in store.batch_get(target.name, ids).items()
            if can_view(target, r, viewer)
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
