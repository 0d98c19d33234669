"""Query parameters shared by list and view: page, perPage, sort, filter, skipTotal,
expand and fields, parsed and checked once."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BadRequest
from chalicelib.records import field_picker
from chalicelib.records.expand import Tree, parse_expand
from chalicelib.records.filter import Predicate, compile_filter
from chalicelib.records.schema import SYSTEM_FIELDS, Collection, FieldType

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class ListParams:
    page: int
    per_page: int
    sort: tuple[tuple[str, bool], ...]  # (field, descending); "@random" shuffles
    predicate: Predicate | None
    filter: str
    skip_total: bool
    expand: Tree
    fields: field_picker.Picks


def _int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name, "").strip()
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} value: must be a whole number.") from None


def parse_sort(text: str, collection: Collection) -> tuple[tuple[str, bool], ...]:
    sortable = {f.name for f in collection.fields if f.type is not FieldType.JSON}
    sortable.update(SYSTEM_FIELDS)
    sort = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        name = part.lstrip("+-")
        if name != "@random" and name not in sortable:
            raise BadRequest(f"Invalid sort field {name!r} for collection {collection.name!r}.")
        sort.append((name, descending))
    return tuple(sort)


def parse_list_params(query: dict[str, str], collection: Collection) -> ListParams:
    page = max(1, _int(query, "page", 1))
    per_page = _int(query, "perPage", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page <= 0 else min(per_page, MAX_PER_PAGE)
    text = query.get("filter", "")
    return ListParams(
        page=page,
        per_page=per_page,
        sort=parse_sort(query.get("sort", ""), collection),
        predicate=compile_filter(text, collection) if text.strip() else None,
        filter=text,
        skip_total=query.get("skipTotal", "").strip().lower() in ("1", "true"),
        expand=parse_expand(query.get("expand", ""), collection),
        fields=field_picker.parse(query.get("fields", "")),
    )


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, "" if value is None else str(value))


def order(records: list[dict[str, Any]], sort: tuple[tuple[str, bool], ...]) -> None:
    """Sort in place; without a sort, oldest first (PocketBase's insertion order)."""
    if any(name == "@random" for name, _ in sort):
        random.shuffle(records)
        return
    records.sort(key=lambda r: (r.get("created", ""), r["id"]))
    for name, descending in reversed(sort):
        records.sort(key=lambda r, n=name: _sort_key(r.get(n)), reverse=descending)
