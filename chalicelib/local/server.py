"""The local HTTP server: the Chalice app on 127.0.0.1, plus an optional built frontend.

Requests under ``/api/`` and ``/pb/`` run through Chalice's own ``LocalGateway`` (the
API Gateway emulation ``chalice local`` uses), on a single worker thread because Chalice
keeps ``current_request`` on the app object, exactly one request at a time, as in a Lambda
instance. Everything else is the frontend: a file if it exists, else ``index.html`` (SPA
deep links). The live-stream websockets share the port (``chalicelib.local.websockets``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ForbiddenError, LocalGateway

from chalicelib.local.access_log import access_log
from chalicelib.local.websockets import LocalWebsockets

API_PREFIXES = ("/api/", "/pb/")
NOT_FOUND = {"code": 404, "message": "Not Found.", "data": {}}  # PocketBase's unknown route


def _json(body: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


class LocalApp:
    def __init__(self, chalice_app: Chalice, frontend: Path | None) -> None:
        self.gateway = LocalGateway(chalice_app, Config(chalice_stage="local"))
        self.frontend = frontend.resolve() if frontend else None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(API_PREFIXES) or request.path in ("/api", "/pb"):
            return await self._gateway(request)
        if self.frontend is not None and request.method in ("GET", "HEAD"):
            return self._static(request.path)
        return _json(NOT_FOUND, 404)

    async def _gateway(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        # No Accept header means any type (RFC 9110); Chalice would refuse a file otherwise.
        headers.setdefault("accept", "*/*")
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.executor,
                self.gateway.handle_request,
                request.method,
                request.path_qs,
                headers,
                body,
            )
        except ForbiddenError:
            return _json(NOT_FOUND, 404)  # API Gateway's "Missing Authentication Token"
        payload = result.get("body") or b""
        if result.get("isBase64Encoded"):
            payload = base64.b64decode(payload)
        response = web.Response(body=payload, status=result["statusCode"])
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = value
        for name, many in (result.get("multiValueHeaders") or {}).items():
            for value in many:
                response.headers.add(name, value)
        return response

    def _static(self, path: str) -> web.StreamResponse:
        assert self.frontend is not None
        candidate = (self.frontend / path.lstrip("/")).resolve()
        inside = candidate == self.frontend or self.frontend in candidate.parents
        if inside and candidate.is_file():
            return web.FileResponse(candidate)
        index = self.frontend / "index.html"
        if index.is_file():
            return web.FileResponse(index)
        return _json(NOT_FOUND, 404)


def build(chalice_app: Chalice, frontend: Path | None) -> web.Application:
    local = LocalApp(chalice_app, frontend)
    application = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[access_log])
    sockets = LocalWebsockets(chalice_app)
    sockets.add_routes(application)
    application.on_shutdown.append(lambda _app: sockets.close_sockets())
    application.on_cleanup.append(lambda _app: sockets.shutdown())
    application.router.add_route("*", "/{tail:.*}", local.handle)
    application.on_cleanup.append(lambda _app: _shutdown(local))
    return application


async def _shutdown(local: LocalApp) -> None:
    local.executor.shutdown(wait=False, cancel_futures=True)
