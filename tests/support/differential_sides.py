"""The two servers a differential test compares, with the ids, tokens and names each one
generated, and how users are created on each side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from local_server import LocalServer
from pocketbase_reference import PocketBaseReference

PASSWORD = "password123"
USERS = {
    "alice": ("alice@example.com", "Alice"),
    "bob": ("bob@example.com", "Bob"),
    "carol": ("carol@example.com", "Carol"),  # created on demand by the tests that need her
    "erin": ("erin@example.com", "Erin"),  # the same
}


@dataclass
class Side:
    """One server under comparison, with what the scenario learned about it.

    ``names`` maps every id, token or value this side generated to a placeholder name, so
    answers of both servers can be normalized to the same text (``<id:alice>``).
    """

    label: str
    server: PocketBaseReference | LocalServer
    vars: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def remember(self, name: str, value: str) -> None:
        self.vars[name] = value
        self.names[value] = name

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        return self.server.request(
            method, path, token=token, body=body, raw_body=raw_body, headers=headers
        )


def add_user(side: Side, who: str) -> None:
    """Create one of ``USERS`` the documented way for that side and log them in; the id and
    token are remembered as ``who`` and ``{who}_token``."""
    email, name = USERS[who]
    if isinstance(side.server, PocketBaseReference):
        side.remember(who, side.server.create_user(email, PASSWORD, name=name)["id"])
    else:
        side.remember(who, side.server.create_user(email, PASSWORD, name))
    _log_in(side, who)


def _log_in(side: Side, who: str) -> None:
    email, _ = USERS[who]
    status, answer = side.request(
        "POST",
        "/api/collections/users/auth-with-password",
        body={"identity": email, "password": PASSWORD},
    )
    assert status == 200, (side.label, who, status, answer)
    side.remember(f"{who}_token", answer["token"])
    side.remember(f"{who}_username", answer["record"]["username"])
    assert side.vars[who] == answer["record"]["id"]
