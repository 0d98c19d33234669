"""The file route's HTTP side: who is asking, and PocketBase's response headers."""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote

from chalice.app import Request, Response

from chalicelib.auth.file_tokens import viewer_for_file
from chalicelib.files.names import INLINE_TYPES
from chalicelib.records.access import Viewer
from chalicelib.records.attachments import ServedFile

AUTH_COOKIE = "pb_auth"  # the frontend mirrors its auth store into it (exportToCookie)
# PocketBase's headers: a sandbox for anything a browser might render (SVG), no sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; media-src 'self'; "
    "style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
    # Private: unlike PocketBase's, these answers depend on who asks.
    "Cache-Control": "private, max-age=2592000, stale-while-revalidate=86400",
}


def _cookie_token(header: str | None) -> str | None:
    """The token in the ``pb_auth`` cookie (URL-encoded JSON ``{"token": ...}``), if any:
    an ``<img src>`` sends cookies but neither a header nor a query token."""
    if not header:
        return None
    try:
        morsel = SimpleCookie(header).get(AUTH_COOKIE)
        data = json.loads(unquote(morsel.value)) if morsel else None
    except (CookieError, ValueError):
        return None
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


def file_viewer(request: Request) -> Viewer:
    query = request.query_params or {}
    authorization = request.headers.get("authorization") or _cookie_token(
        request.headers.get("cookie")
    )
    return viewer_for_file(query.get("token"), authorization)


def file_response(served: ServedFile, query: dict[str, str]) -> Response:
    """PocketBase's headers; ``?download=1`` (or ``true``) asks for an attachment."""
    if served.link:
        headers = {"Location": served.link, "Cache-Control": "no-store"}
        return Response(body="", status_code=302, headers=headers)
    download = query.get("download", "").lower() in ("1", "true")
    inline = served.content_type in INLINE_TYPES and not download
    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Type": served.content_type,
        "Content-Disposition": f"{disposition}; filename={served.name}",
        **SECURITY_HEADERS,
    }
    return Response(body=served.content, status_code=200, headers=headers)
