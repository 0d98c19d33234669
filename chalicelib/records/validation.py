"""Turning a request body into field values, the way PocketBase 0.22 casts and checks them.

Only schema fields are read (unknown keys such as ``id``, ``expand`` or ``collectionId`` in a
PATCH body are ignored, as the frontend relies on); system-managed fields are not writable
and file fields follow ``records.attachments``. Every failure is collected per field and
raised once as ``Invalid``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.errors import FieldErrors, Invalid, field_error
from chalicelib.records import values
from chalicelib.records.attachments import LIMIT_CODES, file_value
from chalicelib.records.schema import Collection, Field, FieldType

# PocketBase 0.22's codes and messages, so the frontend shows the familiar texts.
REQUIRED = ("validation_required", "Missing required value.")
INVALID_VALUE = ("validation_invalid_value", "Invalid value.")
INVALID_EMAIL = ("validation_is_email", "Must be a valid email address.")
INVALID_DATE = ("validation_invalid_date", "Must be a valid date.")
MISSING_RELATION = (
    "validation_missing_rel_records",
    "Failed to find all relation records with the provided ids.",
)
MAX_SUBSCRIBERS = 90
MAX_JSON_DEPTH = 64
# PocketBase leaves most text unbounded; a DynamoDB item holds 400 KB in all.
DEFAULT_TEXT_LIMIT = 10_000
JSON_TOO_DEEP = ("validation_json_too_deep", f"JSON may nest at most {MAX_JSON_DEPTH} levels.")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def too_long(limit: int) -> tuple[str, str]:
    return ("validation_max_text_constraint", f"Must be less than {limit} character(s).")


def too_many(limit: int) -> tuple[str, str]:
    return ("validation_too_many_values", f"Select no more than {limit}.")


def json_too_big(limit: int) -> tuple[str, str]:
    return ("validation_json_size_limit", f"The maximum allowed JSON size is {limit} bytes.")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(INVALID_VALUE)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise ValueError(INVALID_VALUE)


def _relation(value: Any, field: Field) -> str | list[str]:
    if value is None or value == "":
        ids: list[Any] = []
    elif isinstance(value, list):
        ids = value
    else:
        ids = [value]
    if not all(isinstance(i, str) for i in ids):
        raise ValueError(INVALID_VALUE)
    unique = [i for i in dict.fromkeys(ids) if i]
    if not field.multiple:
        return unique[-1] if unique else ""
    return unique


def _cast(field: Field, value: Any) -> Any:
    match field.type:
        case FieldType.TEXT:
            return _text(value)
        case FieldType.EMAIL:
            text = _text(value).strip()
            if text and not _EMAIL.match(text):
                raise ValueError(INVALID_EMAIL)
            return text
        case FieldType.BOOL:
            return _bool(value)
        case FieldType.DATE:
            try:
                return values.normalize_date(_text(value))
            except ValueError:
                raise ValueError(INVALID_DATE) from None
        case FieldType.JSON:
            if isinstance(value, str) and value.strip() != "":
                # Form bodies carry JSON as text; PocketBase parses it the same way.
                try:
                    value = json.loads(value, parse_constant=_no_constant)
                except (ValueError, RecursionError):
                    raise ValueError(INVALID_VALUE) from None
            if _depth(value) > MAX_JSON_DEPTH:
                raise ValueError(JSON_TOO_DEEP)
            return None if value == "" else value
        case FieldType.RELATION:
            return _relation(value, field)
    raise AssertionError(field.type)  # pragma: no cover - every FieldType is matched above


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, level: int = 0) -> int:
    """Nesting depth, stopping early: deep values are refused before anything recurses on
    them (serializing, sorting keys, redacting)."""
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _limits(field: Field, value: Any) -> tuple[str, str] | None:
    limit = field.max_length or (DEFAULT_TEXT_LIMIT if field.type is FieldType.TEXT else None)
    if limit is not None and isinstance(value, str) and len(value) > limit:
        return too_long(limit)
    if field.type is FieldType.JSON and value is not None:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if size > field.max_json_bytes:
            return json_too_big(field.max_json_bytes)
    if field.multiple and isinstance(value, list) and len(value) > MAX_SUBSCRIBERS:
        return too_many(MAX_SUBSCRIBERS)
    return None


def apply_body(
    collection: Collection,
    current: dict[str, Any],
    body: dict[str, Any],
    writable: set[str] | None = None,
) -> tuple[dict[str, Any], FieldErrors]:
    """Cast the body's schema fields onto ``current`` (PATCH semantics).

    Returns the resulting record and the per-field errors found while casting; required
    fields and limits are checked on the result by ``check_record``.
    """
    result = dict(current)
    errors: FieldErrors = {}
    for field in collection.fields:
        if writable is not None and field.name not in writable:
            continue
        if field.type is FieldType.FILE:
            result[field.name], problem = file_value(field, current[field.name], body)
            if problem:
                errors[field.name] = problem
            continue
        if field.name not in body or field.read_only:
            continue
        try:
            result[field.name] = _cast(field, body[field.name])
        except ValueError as error:
            code, message = error.args[0]
            errors[field.name] = field_error(code, message)
    return result, errors


def check_record(collection: Collection, record: dict[str, Any], errors: FieldErrors) -> None:
    """Required values and limits; raises ``Invalid`` with every problem at once."""
    for field in collection.fields:
        if field.name in errors or field.type is FieldType.FILE:
            continue
        value = record.get(field.name)
        if field.required and _is_empty(value):
            errors[field.name] = field_error(*REQUIRED)
            continue
        problem = _limits(field, value)
        if problem:
            errors[field.name] = field_error(*problem)
    if errors:
        raise Invalid(failure_message(record, errors), errors)


def failure_message(record: dict[str, Any], errors: FieldErrors) -> str:
    if not record.get("version"):
        return "Failed to create record."
    # PocketBase checks uploads in a later step of an update, with its generic message.
    if any(e["code"] in LIMIT_CODES for e in errors.values()):
        return "Something went wrong while processing your request."
    return "Failed to update record."


def empty_record(collection: Collection) -> dict[str, Any]:
    """A record with every field at PocketBase's empty value."""
    empty: dict[str, Any] = {}
    for field in collection.fields:
        if field.type is FieldType.BOOL:
            empty[field.name] = False
        elif field.type is FieldType.JSON:
            empty[field.name] = None
        elif field.multiple:
            empty[field.name] = []
        else:
            empty[field.name] = ""
    return empty
