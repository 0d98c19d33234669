"""``?fields=``: the parts of an answer to keep, with value modifiers, as PocketBase 0.22
picks them (its JSON serializer).

A comma-separated list of dot paths into the answer's whole body (``token,record.email``
on an auth answer) or, for a list, into each of its items; ``*`` keeps every key of its
level; ``path:excerpt(max, withEllipsis?)`` replaces an HTML text with a plain-text
excerpt of at most ``max`` bytes. A path to nothing keeps nothing, and a value that is
not a string is kept as it is by a modifier.

Unlike PocketBase, which picks after the action ran (a create with a bad modifier stored
its record and answered 400), ``parse`` runs before it: a refused request changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.errors import BadRequest

Modifier = Callable[[Any], Any]
Picks = dict[str, Modifier | None]  # dot path -> the modifier of its value, if any

_MODIFIER_PARTS = re.compile(r"[(), ]+")
_GO_INTEGER = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)"
)
_INT64 = 2**63


def _split_top_level(text: str) -> list[str]:
    """Comma-separated parts, a comma inside parentheses or quotes not splitting."""
    parts, current, depth, quote = [], [], 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _go_int(text: str) -> int:
    """An integer as Go's ``cast.ToInt`` reads text (base prefixes, a leading 0 for octal,
    ``_`` separators, ``5.0`` as 5); 0 for anything else, as it answers."""
    trimmed = re.sub(r"(?<=\d)\.0+$", "", text)
    if not _GO_INTEGER.fullmatch(trimmed):
        return 0
    digits = trimmed.lstrip("+-")
    negative = trimmed.startswith("-")
    try:
        if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xXoObB":
            value = int(digits[1:], 8)
        else:
            value = int(digits, 0)
    except ValueError:  # misplaced separators, as Go refuses them
        return 0
    value = -value if negative else value
    return value if -_INT64 <= value < _INT64 else 0


def _go_bool(text: str) -> bool:
    return text in ("1", "t", "T", "TRUE", "true", "True")


def _excerpt(limit: int, ellipsis: bool) -> Modifier:
    def modify(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if limit < 0:
            raise BadRequest()  # PocketBase fails on it too, once there is a text to cut
        from chalicelib.records.plain_text import plain_text  # excerpts only: html.parser

        text = plain_text(value)
        raw = text.encode("utf-8")
        if len(raw) <= limit:
            return text
        # Cut at a byte, as PocketBase does; a split character's bytes become U+FFFD.
        cut = raw[:limit].decode("utf-8", errors="surrogateescape")
        cut = re.sub("[\udc80-\udcff]", "\ufffd", cut).strip()
        return cut + "..." if ellipsis else cut

    return modify


def _modifier(text: str) -> Modifier:
    parts = [part for part in _MODIFIER_PARTS.split(text) if part]
    if not parts or parts[0] != "excerpt" or not 2 <= len(parts) <= 3:
        raise BadRequest()
    args = parts[1:]
    if _go_int(args[0]) == 0:
        raise BadRequest()
    return _excerpt(_go_int(args[0]), len(args) == 2 and _go_bool(args[1]))


def parse(raw: str) -> Picks:
    """The paths of ``?fields=`` and their modifiers; 400 for a modifier that is not one."""
    picks: Picks = {}
    for part in _split_top_level(raw):
        path, has_modifier, modifier = part.partition(":")
        picks[path] = _modifier(modifier) if has_modifier else None
    return picks


def names(picks: Picks) -> dict[str, Any]:
    """The paths as a tree of names, to know what an answer shows (reads and expands)."""
    tree: dict[str, Any] = {}
    for path in picks:
        node = tree
        for part in path.split("."):
            if not part:
                break
            node = node.setdefault(part, {})
    return tree


def pick(data: Any, picks: Picks) -> Any:
    """What ``picks`` keeps of ``data`` (a new value; ``data`` is not changed)."""
    if isinstance(data, list):
        if not data or not isinstance(data[0], dict):
            return data
        return [pick(item, picks) for item in data]
    if not isinstance(data, dict) or not picks:
        return data
    wanted = dict(picks)
    if "*" in wanted:
        for key in data:
            if not any(f"{path}.".startswith(f"{key}.") for path in picks):
                wanted[key] = picks["*"]
    picked: dict[str, Any] = {}
    for key, value in data.items():
        prefix = f"{key}."
        matching = {p: m for p, m in wanted.items() if f"{p}.".startswith(prefix)}
        if not matching:
            continue
        final = [m for p, m in matching.items() if p == key]
        if final:
            picked[key] = final[-1](value) if final[-1] else value
            continue
        picked[key] = pick(value, {p[len(prefix) :]: m for p, m in matching.items()})
    return picked


def _sorted(value: Any) -> Any:
    """Keys sorted at every level: PocketBase re-marshals a picked answer through Go maps."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def pick_body(body: dict[str, Any], picks: Picks) -> dict[str, Any]:
    """A whole answer: an auth answer's ``{token, record}``, a single record."""
    return _sorted(pick(body, picks)) if picks else body  # type: ignore[no-any-return]


def pick_items(envelope: dict[str, Any], picks: Picks) -> dict[str, Any]:
    """A list answer: its paging fields stay, each item is picked."""
    if not picks:
        return envelope
    return _sorted({**envelope, "items": pick(envelope["items"], picks)})  # type: ignore[no-any-return]
