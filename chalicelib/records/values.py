"""Record ids and dates in PocketBase's wire formats.

Dates are kept as PocketBase strings (``YYYY-MM-DD HH:MM:SS.sssZ``) end to end: they sort
lexicographically in DynamoDB range keys exactly as they sort in time, and need no
conversion on the way out.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 15
_ID = re.compile(r"[a-z0-9]{15}")
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def first_text(body: dict[str, Any], *names: str) -> str:
    """The first of ``names`` holding a non-empty string in a client's JSON body (clients
    spell some keys two ways, e.g. ``redirectUrl``/``redirectURL``); "" when none does."""
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def format_date(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.strftime(_DATE_FORMAT)}.{moment.microsecond // 1000:03d}Z"


def now() -> str:
    return format_date(datetime.now(UTC))


def parse_date(value: str) -> datetime:
    """Accept PocketBase's format and RFC 3339 (``T`` separator, offsets, ``Z``)."""
    text = value.strip().replace("T", " ", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def normalize_date(value: str) -> str:
    """The PocketBase form of a client-supplied date; ``""`` stays empty. Raises ValueError."""
    if value.strip() == "":
        return ""
    return format_date(parse_date(value))


class SortedKeys(dict[str, Any]):
    """A JSON object whose keys, and its nested objects' keys, are already sorted: what the
    store decodes (``item_codec``), so a list does not sort every manifest again. Changing
    a value keeps the order; code that adds keys builds a plain ``dict`` instead."""


def sorted_object(pairs: list[tuple[str, Any]]) -> SortedKeys:
    """``json.loads``'s ``object_pairs_hook``: objects come out sorted and marked so."""
    return SortedKeys(sorted(pairs, key=itemgetter(0)))
