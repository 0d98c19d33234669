"""Many requests at once against a fleet of local servers: each call waits at a barrier,
then all go together, spread round-robin over the instances, as concurrent Lambda
invocations would be. Bounded: every call has its own HTTP timeout and the whole storm a
deadline."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from threading import Barrier
from typing import Any, TypeVar

from local_server import Fleet, LocalServer

T = TypeVar("T")
DEADLINE_SECONDS = 120


def storm(fleet: Fleet, calls: list[Callable[[LocalServer], T]]) -> list[T]:
    """Run ``calls[i]`` on instance ``i mod N``, all released at once; results in order."""
    barrier = Barrier(len(calls))

    def run(index: int) -> T:
        barrier.wait(timeout=DEADLINE_SECONDS)
        return calls[index](fleet[index])

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, i) for i in range(len(calls))]
        return [future.result(timeout=DEADLINE_SECONDS) for future in futures]


def statuses(replies: list[tuple[int, Any]]) -> Counter[int]:
    return Counter(status for status, _ in replies)


def report(name: str, fleet: Fleet, requests: int, outcome: dict[str, Any]) -> None:
    """The storm's one-line figure, shown with ``pytest -s``."""
    print(f"\n[storm] {name}: {requests} requests on {len(fleet)} instances -> {outcome}")


@dataclass
class FleetUser:
    id: str
    email: str
    password: str
    token: str


@contextmanager
def fleet_tables(fleet: Fleet) -> Iterator[None]:
    """This process bound to the fleet's tables (to create users fast, or read the records
    after a storm), and back to the test's own settings afterwards."""
    from api_client import reset_settings

    wanted = {
        "TABLE_PREFIX": fleet[0].env["TABLE_PREFIX"],
        "DYNAMODB_ENDPOINT": fleet[0].env["DYNAMODB_ENDPOINT"],
    }
    saved = {key: os.environ.get(key) for key in wanted}
    reset_settings(**wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


def make_fleet_users(fleet: Fleet, count: int, password: str = "storm-pass-123") -> list[FleetUser]:
    """``count`` users written straight into the fleet's tables, each signed in over HTTP."""
    import uuid

    from chalicelib.records.users import new_user

    made = []
    with fleet_tables(fleet):
        for n in range(count):
            email = f"storm{n}-{uuid.uuid4().hex[:6]}@example.com"
            body = {"email": email, "password": password, "passwordConfirm": password}
            made.append((new_user({**body, "name": f"Storm {n}"})["id"], email))
    users = []
    for n, (user_id, email) in enumerate(made):
        status, auth = fleet[n].request(
            "POST",
            "/api/collections/users/auth-with-password",
            {"identity": email, "password": password},
        )
        assert status == 200, auth
        users.append(FleetUser(user_id, email, password, auth["token"]))
    return users
