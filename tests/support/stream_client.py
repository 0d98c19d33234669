"""A websocket client for the live streams (``/ws/k8s/...``): collects every text frame on
a background task, for tests that check what a subscriber received."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest


class StreamClient:
    """A websocket client collecting every text frame on a background task."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.closed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.data)
        self.closed.set()

    def text(self) -> str:
        return "".join(self.frames)

    def pushes(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames if f and '"keepalive"' not in f]

    async def until(self, what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
        return await until(what, check, timeout, lambda: f"frames: {self.frames[-10:]!r}")


async def until(
    what: str, check: Callable[[], Any], timeout: float = 30, seen: Callable[[], str] = str
) -> Any:
    """Poll ``check`` on the event loop until it answers something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; {seen()}")
