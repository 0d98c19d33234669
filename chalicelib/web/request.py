"""Reading an API Gateway request: body, query, caller. Bad input becomes a PocketBase-
shaped 400/413/415 here, before any domain code runs."""

from __future__ import annotations

import json
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from chalice.app import Request

from chalicelib.auth.login import viewer_from_authorization
from chalicelib.errors import ApiError, BadRequest, PayloadTooLarge
from chalicelib.records.access import Viewer

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
BAD_FORMAT = "Failed to load the submitted data due to invalid formatting."
FILES_NOT_YET = "File uploads are not supported by this server yet."
JSON_PAYLOAD_FIELD = "@jsonPayload"  # how the PocketBase JS SDK sends JSON next to files


class UnsupportedMediaType(ApiError):
    status = 415
    default_message = "Unsupported Content-Type: send application/json or form data."


def _raw(request: Request) -> bytes:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(BAD_FORMAT) from None
    if not isinstance(data, dict):
        raise BadRequest(BAD_FORMAT)
    return data


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message: Message = BytesParser(policy=HTTP).parsebytes(header + raw)
    if not message.is_multipart():
        raise BadRequest(BAD_FORMAT)
    body: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        if part.get_filename() is not None:
            raise BadRequest(FILES_NOT_YET)
        text = part.get_payload(decode=True).decode("utf-8", errors="replace")
        if name == JSON_PAYLOAD_FIELD:
            body.update(_json_object(text.encode()))
        else:
            body[name] = text
    return body


def body_of(request: Request) -> dict[str, Any]:
    raw = _raw(request)
    content_type = (request.headers.get("content-type") or "").strip()
    media = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        return {}
    if media in ("", "application/json", "text/plain") or media.endswith("+json"):
        return _json_object(raw)
    if media == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    if media == "multipart/form-data":
        return _multipart(content_type, raw)
    raise UnsupportedMediaType()


def query_of(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


def viewer_of(request: Request) -> Viewer:
    return viewer_from_authorization(request.headers.get("authorization"))


def source_address(request: Request) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")
