"""moto's server in a process of its own.

moto keeps its state in module globals: a server thread inside the test process shares them
with every ``mock_aws()`` a test opens, and leaving that context resets them, so the
session's tables vanished under whichever test ran after one (CI's order, not a lone run).
A separate process has its own globals and is what the tests talk to over HTTP anyway."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.local.dynamodb_local import HOST, free_port, list_tables

START_SECONDS = 60


@contextmanager
def moto_server() -> Iterator[str]:
    """Start ``python -m moto.server`` on a free loopback port; yields its endpoint."""
    port = free_port()
    endpoint = f"http://{HOST}:{port}"
    process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        limit = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto's server exited with {process.returncode} at start")
            try:
                list_tables(endpoint)
                break
            except OSError:
                if time.monotonic() > limit:
                    message = f"moto's server did not answer in {START_SECONDS}s"
                    raise RuntimeError(message) from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
