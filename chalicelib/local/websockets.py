"""API Gateway's WebSocket side and Lambda's async invoke, emulated on the local server.

``/ws/k8s/{stream}`` sockets run the app's own ``$connect``/``$default``/``$disconnect``
handlers with API Gateway-shaped events; the app answers through boto3's
``apigatewaymanagementapi``, whose ``POST/GET/DELETE /@connections/{id}`` calls this module
serves on the same port; and ``/2015-03-31/functions/{name}/invocations`` runs a Chalice
``@app.lambda_function`` on a worker thread, as Lambda's ``InvocationType=Event`` would. So
the app code is the same locally and on AWS. Both internal APIs answer loopback callers only,
and the number of workers is bounded.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from chalice.app import Chalice

log = logging.getLogger(__name__)

STREAM_PATH = "/ws/k8s/{stream}"
MESSAGE_LIMIT = 128 * 1024  # API Gateway's message payload limit, both directions
MAX_WORKERS = 256  # concurrently running stream workers (Lambda's concurrency, locally)
MAX_WAITING = 256  # invocations queued behind them before the local "Lambda" throttles
LOOPBACK = ("127.0.0.1", "::1")
API_ID, STAGE = "local", "local"


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"message": message}),
        content_type="application/json",
        headers={"x-amzn-ErrorType": kind},
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class _Socket:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.connected = time.time()
        self.last_active = self.connected
        self.source = request.remote or ""
        self.agent = request.headers.get("User-Agent", "")


class LocalWebsockets:
    def __init__(self, chalice_app: Chalice) -> None:
        self.app = chalice_app
        self.sockets: dict[str, _Socket] = {}
        self.events = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ws-event")
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)
        self.pending = threading.BoundedSemaphore(MAX_WORKERS + MAX_WAITING)

    def add_routes(self, application: web.Application) -> None:
        application.router.add_get(STREAM_PATH, self.socket)
        application.router.add_route("*", "/@connections/{connection}", self.management)
        application.router.add_post("/2015-03-31/functions/{function}/invocations", self.invoke)

    # ------------------------------------------------------------------ handlers of the app

    def _handler(self, route_key: str) -> Any:
        config = self.app.websocket_handlers[route_key]
        module, _, name = config.handler_string.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def _function(self, name: str) -> Any | None:
        for function in self.app.pure_lambda_functions:
            if name == function.name or name.endswith("-" + function.name):
                module, _, attribute = function.handler_string.rpartition(".")
                return getattr(importlib.import_module(module), attribute)
        return None

    async def _run(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        handler = self._handler(route_key)
        answer = await loop.run_in_executor(self.events, handler, event, None)
        return answer if isinstance(answer, dict) else {"statusCode": 200}

    def _event(self, route_key: str, connection: str, host: str) -> dict[str, Any]:
        kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
        now_ms = int(time.time() * 1000)
        return {
            "requestContext": {
                "routeKey": route_key,
                "eventType": kind,
                "connectionId": connection,
                "apiId": API_ID,
                "stage": STAGE,
                "domainName": host,
                "requestTimeEpoch": now_ms,
                "connectedAt": now_ms,
            },
            "isBase64Encoded": False,
        }

    # ------------------------------------------------------------------ the sockets

    async def socket(self, request: web.Request) -> web.StreamResponse:
        connection = secrets.token_urlsafe(12)
        query = dict(request.query)
        query.setdefault("stream", request.match_info["stream"])
        event = self._event("$connect", connection, request.host)
        event["headers"] = dict(request.headers)
        event["multiValueHeaders"] = {k: request.headers.getall(k) for k in request.headers}
        event["queryStringParameters"] = query
        answer = await self._run("$connect", event)
        status = int(answer.get("statusCode") or 200)
        if status >= 300:
            return web.Response(status=status, text=str(answer.get("body") or "Unauthorized"))
        protocol = (answer.get("headers") or {}).get("Sec-WebSocket-Protocol")
        offered = (protocol,) if protocol else ()
        ws = web.WebSocketResponse(protocols=offered, max_msg_size=MESSAGE_LIMIT)
        await ws.prepare(request)
        state = _Socket(ws, request)
        self.sockets[connection] = state
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                state.last_active = time.time()
                body = message.data if message.type == WSMsgType.TEXT else message.data.decode()
                event = self._event("$default", connection, request.host)
                event["body"] = body
                await self._run("$default", event)
        finally:
            self.sockets.pop(connection, None)
            await self._run("$disconnect", self._event("$disconnect", connection, request.host))
        return ws

    # ------------------------------------------------------------------ management API

    async def management(self, request: web.Request) -> web.Response:
        if request.remote not in LOOPBACK:
            return _error(403, "ForbiddenException", "Forbidden")
        state = self.sockets.get(request.match_info["connection"])
        if state is None or state.ws.closed:
            return _error(410, "GoneException", "The connection is gone.")
        if request.method == "POST":
            data = await request.read()
            if len(data) > MESSAGE_LIMIT:
                return _error(413, "PayloadTooLargeException", "Message too long")
            try:
                await state.ws.send_str(data.decode("utf-8"))
            except UnicodeDecodeError:
                await state.ws.send_bytes(data)
            except ConnectionError:
                return _error(410, "GoneException", "The connection is gone.")
            state.last_active = time.time()
            return web.Response(status=200)
        if request.method == "DELETE":
            await state.ws.close()
            return web.Response(status=204)
        if request.method == "GET":
            return web.json_response(
                {
                    "ConnectedAt": _iso(state.connected),
                    "LastActiveAt": _iso(state.last_active),
                    "Identity": {"SourceIp": state.source, "UserAgent": state.agent},
                }
            )
        return _error(405, "MethodNotAllowedException", "Method not allowed")

    # ------------------------------------------------------------------ Lambda invoke

    async def invoke(self, request: web.Request) -> web.Response:
        if request.remote not in LOOPBACK:
            return _error(403, "AccessDeniedException", "Forbidden")
        function = self._function(request.match_info["function"])
        if function is None:
            return _error(404, "ResourceNotFoundException", "Function not found")
        payload = json.loads(await request.read() or b"{}")
        if request.headers.get("X-Amz-Invocation-Type") != "Event":
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.events, function, payload, None)
            return web.json_response(result)
        if not self.pending.acquire(blocking=False):
            return _error(429, "TooManyRequestsException", "Rate exceeded")
        threading.Thread(
            target=self._work, args=(function, payload), daemon=True, name="stream-worker"
        ).start()
        return web.Response(status=202)

    def _work(self, function: Any, payload: dict[str, Any]) -> None:
        """One async invocation; daemon threads so stopping the server never waits on a
        worker's window."""
        try:
            with self.slots:
                function(payload, None)
        except Exception:
            log.exception("stream worker failed")
        finally:
            self.pending.release()

    async def close_sockets(self) -> None:
        """On shutdown, before cleanup: each closed socket still runs ``$disconnect``."""
        for state in list(self.sockets.values()):
            await state.ws.close()

    async def shutdown(self) -> None:
        self.events.shutdown(wait=False, cancel_futures=True)
