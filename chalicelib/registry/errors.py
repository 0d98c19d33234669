"""What went wrong talking to a registry, in words a user can act on."""

from __future__ import annotations

from typing import Literal

Kind = Literal[
    "not_found", "unauthorized", "credentials", "rate_limited", "timeout", "unavailable", "protocol"
]


class RegistryError(Exception):
    """A registry call failed. ``kind`` lets the caller decide (skip this tick, back off, tell
    the user to fix credentials); the message names the registry and never holds a secret."""

    def __init__(self, kind: Kind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.message = message
        self.status = status
