"""The local access log never shows a credential that came in the query string."""

from __future__ import annotations

from chalicelib.local.access_log import loggable_target

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImFiYyJ9.c2lnbmF0dXJl"


def test_credential_like_values_and_bare_tokens_are_redacted() -> None:
    shown = loggable_target("/ws/k8s/logs", f"token={JWT}&tailLines=10")
    assert JWT not in shown and "tailLines=10" in shown and "token=***" in shown
    assert JWT not in loggable_target("/api/x", JWT)  # a bare ?<jwt> is a name, no value
    assert loggable_target("/api/x", "page=2&perPage=30") == "/api/x?page=2&perPage=30"
    assert loggable_target("/api/x", "") == "/api/x"
