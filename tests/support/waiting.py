"""Bounded polling for tests that check what another process does (the operator, kwok,
the controllers, a tick): a test never reads such state once and hopes it is there yet.

On a loaded 2-core CI machine the operator may take many seconds to act, so the default
bound is generous; a test that times out names what it waited for and what it last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
DEFAULT_TIMEOUT = 120.0


def wait_for(
    what: str,
    fn: Callable[[], T | None],
    timeout: float = DEFAULT_TIMEOUT,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``fn`` until it returns something truthy; a Kubernetes 404 (the object does not
    exist yet) or an exception of ``retry_on`` counts as "not yet". Any other error fails at
    once: a 403 is a missing permission, not something to wait out. Fails after ``timeout``."""
    from kubernetes.client.rest import ApiException

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except ApiException as err:
            if err.status != 404:
                raise
            last = repr(err)
        except retry_on as err:
            last = repr(err)
        else:
            if last:
                return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def deleted(read: Callable[[], Any]) -> bool:
    """Whether the object ``read()`` returns is gone (404) or being deleted: a typed
    client object or a custom object's dict."""
    from kubernetes.client.rest import ApiException

    try:
        found = read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    if isinstance(found, dict):
        return bool(found.get("metadata", {}).get("deletionTimestamp"))
    return found.metadata.deletion_timestamp is not None
