"""``$connect``, the first message and ``$disconnect`` of the live-stream WebSockets.

The original had no authentication at all (upstream §4). Here a socket is refused unless
it brings a valid token: a ``token`` query parameter, a ``Sec-WebSocket-Protocol`` entry
(the only header a browser can set), or the ``pb_auth`` cookie the One-Click frontend
already writes, so the unchanged frontend works on the same origin. The first message is
checked for ownership exactly as the REST routes check it, then one worker is started.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import unquote

from chalicelib.auth import tokens
from chalicelib.auth.callers import viewer_from_authorization
from chalicelib.cluster.names import is_dns_label, is_dns_subdomain
from chalicelib.errors import ApiError, NotFound, Unauthorized
from chalicelib.records import store, stream_store
from chalicelib.records.access import Viewer
from chalicelib.rollouts.observe import owned_deployment, owned_project
from chalicelib.settings import get_settings
from chalicelib.streams import gateway
from chalicelib.streams.protocol import (
    DEPLOYMENTS,
    STREAMS,
    RequestRefused,
    StreamRequest,
    error_frame,
    parse_request,
)

log = logging.getLogger(__name__)

AUTH_COOKIE = "pb_auth"
ACCEPTED = {"statusCode": 200}
REFUSED = {"statusCode": 401}


def _header(headers: dict[str, Any] | None, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return ""


def _looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and all(value.split("."))


def _cookie_token(cookie_header: str) -> str | None:
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name != AUTH_COOKIE:
            continue
        try:
            data = json.loads(unquote(value))
        except ValueError:
            return None
        token = data.get("token") if isinstance(data, dict) else None
        return token if isinstance(token, str) and token else None
    return None


def credentials(
    headers: dict[str, Any] | None, query: dict[str, Any] | None
) -> tuple[str | None, str | None]:
    """The caller's token and the subprotocol to echo (a browser drops the socket unless
    the server selects one of the protocols it offered)."""
    offered = [
        p.strip() for p in _header(headers, "sec-websocket-protocol").split(",") if p.strip()
    ]
    in_protocol = next((p for p in offered if _looks_like_jwt(p)), None)
    echo = next((p for p in offered if p != in_protocol), in_protocol)
    token = (query or {}).get("token") or in_protocol
    if not token and _trusted_origin(headers):
        token = _cookie_token(_header(headers, "cookie"))
    return (str(token) if token else None), echo


def _trusted_origin(headers: dict[str, Any] | None) -> bool:
    """A browser sends the ``pb_auth`` cookie with a socket opened by any page of the same
    site, tenants' apps on sibling subdomains included (cross-site websocket hijacking).
    The cookie counts only from the frontend's origin: the socket's own host (same origin,
    the local run) or one of ``STREAM_ALLOWED_ORIGINS``."""
    origin = _header(headers, "origin").rstrip("/")
    if not origin:
        return False
    host = _header(headers, "host")
    same = bool(host) and origin.split("://", 1)[-1] == host
    return same or origin in get_settings().stream_allowed_origins


def connect(event: dict[str, Any]) -> dict[str, Any]:
    """Accept the socket only for a valid token; remember who it is."""
    context = event.get("requestContext") or {}
    query = event.get("queryStringParameters") or {}
    token, protocol = credentials(event.get("headers"), query)
    viewer = viewer_from_authorization(token)
    if not viewer.authenticated:
        return REFUSED
    settings = get_settings()
    hint = query.get("stream") if query.get("stream") in STREAMS else ""
    stream_store.put_connection(
        str(context["connectionId"]),
        viewer.id,
        tokens.session_of(viewer.user or {}),
        hint,
        gateway.management_endpoint(str(context.get("apiId")), str(context.get("stage"))),
        time.time(),
        settings.stream_connection_ttl_seconds,
    )
    if protocol:
        return {**ACCEPTED, "headers": {"Sec-WebSocket-Protocol": protocol}}
    return ACCEPTED


def disconnect(connection: str) -> None:
    stream_store.forget(connection)


def authorize(request: StreamRequest, known: dict[str, Any] | None) -> None:
    """The REST routes' ownership checks, for the connection's user as they are now (a
    worker repeats them, so a deleted project or user stops its streams), and the token the
    socket connected with must still be valid (a password change revokes it); names no
    Kubernetes object can have are 404."""
    user_id = str(known["user"]) if known else ""
    user = store.get("users", user_id) if user_id else None
    session = (known or {}).get("session")
    if user is not None and session and tokens.session_of(user) != session:
        raise Unauthorized()
    viewer = Viewer(user)
    if request.stream == DEPLOYMENTS and request.deployment:
        owned_deployment(request.project, request.deployment, viewer)
    else:
        owned_project(request.project, viewer)
    if not is_dns_label(request.project):
        raise NotFound()
    for name in (request.pod, request.name):
        if name and not is_dns_subdomain(name):
            raise NotFound()
    if request.container and not is_dns_label(request.container):
        raise NotFound()
    if request.kind and not request.kind.isalnum():
        raise NotFound()


def _refuse(endpoint: str, connection: str, frame: str) -> None:
    try:
        gateway.send(endpoint, connection, frame)
        gateway.close(endpoint, connection)
    except gateway.Gone:
        pass
    stream_store.forget(connection)


def message(connection: str, body: str) -> None:
    """Start the stream the first message asks for; later messages are ignored."""
    known = stream_store.get_connection(connection)
    if known is None:
        return  # expired or never accepted
    endpoint = known["endpoint"]
    if stream_store.get_subscription(connection) is not None:
        return
    try:
        request = parse_request(body, known["stream"])
    except RequestRefused as refused:
        _refuse(endpoint, connection, refused.frame)
        return
    try:
        authorize(request, known)
    except ApiError as err:
        _refuse(endpoint, connection, error_frame(request.stream, err.message))
        return
    settings = get_settings()
    lease = secrets.token_hex(8)
    subscribed = stream_store.subscribe(
        connection,
        request.stream,
        json.dumps(request.params()),
        endpoint,
        float(known["connected"]),
        lease,
        time.time() + settings.stream_window_seconds + settings.stream_check_seconds,
        settings.stream_connection_ttl_seconds,
    )
    if subscribed:
        gateway.start_worker({"connection": connection, "lease": lease})
