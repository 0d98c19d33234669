"""Reading an API Gateway request: body, query, caller. Bad input becomes a PocketBase-
shaped 400/413 here, before any domain code runs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Request

from chalicelib.auth.callers import viewer_from_authorization
from chalicelib.errors import BadRequest, PayloadTooLarge
from chalicelib.files.uploads import Upload
from chalicelib.records import field_picker
from chalicelib.records.access import Viewer
from chalicelib.records.schema import find_collection

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
BAD_FORMAT = "Failed to load the submitted data due to invalid formatting."
BAD_AUTH_FORMAT = "An error occurred while loading the submitted data."  # auth routes' wording
JSON_PAYLOAD_FIELD = "@jsonPayload"  # how the PocketBase JS SDK sends JSON next to files


def _raw(request: Request) -> bytes:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    return raw


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return number


def _json_object(raw: bytes, bad_format: str) -> dict[str, Any]:
    """Parse a JSON object; anything DynamoDB or a JSON reply could not carry back
    (NaN, infinities, lone surrogates, nesting deeper than Python recurses) is refused."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise BadRequest(bad_format) from None
    if not isinstance(data, dict):
        raise BadRequest(bad_format)
    return data


def _multipart(content_type: str, raw: bytes, bad_format: str) -> dict[str, Any]:
    from email.parser import BytesParser  # uploads only: the email package's policies
    from email.policy import HTTP

    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    # The parser is lenient (a body cut short still parses); PocketBase refuses it.
    if not message.is_multipart() or message.defects:
        raise BadRequest(bad_format)
    body: dict[str, Any] = {}
    files: dict[str, list[Upload]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):  # a nested multipart part: not a form field
            raise BadRequest(bad_format)
        # Browsers send UTF-8 file names raw; the parser keeps their bytes as surrogates.
        filename = (part.get_filename() or "").encode("utf-8", "surrogateescape")
        filename = filename.decode("utf-8", "replace")
        if filename:  # PocketBase reads a part without a file name as a plain value
            files.setdefault(name, []).append(Upload.received(filename, payload))
            continue
        text = payload.decode("utf-8", errors="replace")
        if name == JSON_PAYLOAD_FIELD:
            body.update(_json_object(text.encode(), bad_format))
        else:
            body[name] = text
    return body | files


def _form(raw: bytes, bad_format: str) -> dict[str, Any]:
    """``application/x-www-form-urlencoded``, read as PocketBase's binder reads it: a key
    given once is a string, a repeated key a list of strings."""
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(bad_format) from None
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


def body_of(
    request: Request, bad_format: str = BAD_FORMAT, urlencoded: bool = False
) -> dict[str, Any]:
    """The request body as a dict. Like PocketBase 0.22, a JSON body (the header may be
    missing) or multipart form data, and a urlencoded form where PocketBase binds one (its
    auth forms, not record writes); any other type is the same 400 as malformed JSON."""
    raw = _raw(request)
    content_type = (request.headers.get("content-type") or "").strip()
    media = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        return {}
    if media in ("", "application/json"):
        return _json_object(raw, bad_format)
    if media == "multipart/form-data":
        return _multipart(content_type, raw, bad_format)
    if urlencoded and media == "application/x-www-form-urlencoded":
        return _form(raw, bad_format)
    raise BadRequest(bad_format)


def query_of(request: Request) -> dict[str, str]:
    """The query string. A ``fields`` that cannot be picked is refused here, before the
    action runs: PocketBase refuses it only when answering, after a create had stored."""
    query = dict(request.query_params or {})
    field_picker.parse(query.get("fields", ""))
    return query


def viewer_of(request: Request) -> Viewer:
    return viewer_from_authorization(request.headers.get("authorization"))


def viewer_reading(request: Request, collection: str, record_id: str) -> Viewer:
    """The caller, with the record a by-id route is about read in the same request."""
    found = find_collection(collection)
    read_ahead = (found.name, record_id) if found is not None else None
    return viewer_from_authorization(request.headers.get("authorization"), read_ahead)


def source_address(request: Request) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")
