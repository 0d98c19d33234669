"""OAuth2 against the real PocketBase 0.22.26: ``auth-methods`` with providers enabled and
whole sign-ins, both servers pointed at the same local provider (tests/support/
oauth2_provider.py) through their settings (PocketBase: ``PATCH /api/settings`` with the
provider's ``authUrl``/``tokenUrl``/``userApiUrl``; ours: ``OAUTH2_*`` variables).

Random values (state, PKCE verifier and challenge, ids, tokens, dates) are compared by
format and by their relations (the challenge is S256 of the verifier, the consent URL
carries the state), everything else by value. Where we deliberately differ (our state
and verifier are longer because they are signed; Microsoft's ``mail`` is trusted only
with a single-tenant setting, so our server here runs with one) it is said at the step.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import urllib3
from local_server import LocalServer
from oauth2_provider import FLAVORS, Account, FakeProvider
from pocketbase_reference import PocketBaseReference

from chalicelib.auth.oauth2 import signin
from chalicelib.settings import load_settings

REDIRECT = "http://127.0.0.1:5173/oauth2-redirect"
CLIENTS = {flavor: (f"{flavor}-id", f"{flavor}-secret") for flavor in FLAVORS}
PB_SETTING = {"google": "googleAuth", "github": "githubAuth", "microsoft": "microsoftAuth"}
DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$")
RANDOM_PARAMS = ("state", "code_challenge")


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(CLIENTS) as fake:
        yield fake


def _pb_settings(provider: FakeProvider | None, enabled: bool) -> dict[str, Any]:
    settings = {}
    for flavor, key in PB_SETTING.items():
        client_id, secret = CLIENTS[flavor]
        entry: dict[str, Any] = {
            "enabled": enabled,
            "clientId": client_id,
            "clientSecret": secret,
            **dict.fromkeys(("authUrl", "tokenUrl", "userApiUrl"), ""),  # PATCH merges
        }
        if provider is not None:
            env = provider.endpoint_env(flavor)
            prefix = f"OAUTH2_{flavor.upper()}_"
            entry.update(
                authUrl=env[prefix + "AUTH_URL"],
                tokenUrl=env[prefix + "TOKEN_URL"],
                userApiUrl=env[prefix + "USERINFO_URL"],
            )
        settings[key] = entry
    return settings


@pytest.fixture(scope="module")
def reference(
    pocketbase: PocketBaseReference, provider: FakeProvider
) -> Iterator[PocketBaseReference]:
    """The session's PocketBase with the three providers on; off again afterwards, since the
    other differential tests expect no providers."""
    status, body = pocketbase.request(
        "PATCH", "/api/settings", token=pocketbase.admin_token, body=_pb_settings(provider, True)
    )
    assert status == 200, body
    yield pocketbase
    pocketbase.request(
        "PATCH", "/api/settings", token=pocketbase.admin_token, body=_pb_settings(None, False)
    )


@pytest.fixture(scope="module")
def ours(dynamodb_local_endpoint: str, provider: FakeProvider) -> Iterator[LocalServer]:
    env = {"ALLOW_SIGNUP": "true", "OAUTH2_MICROSOFT_TENANT": "one-click-test.example"}
    for flavor in FLAVORS:
        env.update(provider.endpoint_env(flavor))
    with LocalServer(dynamodb_local_endpoint, env) as server:
        yield server


def _entries(server: PocketBaseReference | LocalServer) -> list[dict[str, str]]:
    status, body = server.request("GET", "/api/collections/users/auth-methods")
    assert status == 200, body
    return list(body["authProviders"])


def _normalized(entry: dict[str, str]) -> dict[str, Any]:
    """The entry with random values checked for their relations and replaced by names."""
    digest = hashlib.sha256(entry["codeVerifier"].encode()).digest()
    assert entry["codeChallenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", entry["codeVerifier"])
    assert re.fullmatch(r"[A-Za-z0-9\-_]{30,64}", entry["state"])
    url = entry["authUrl"]
    for value, name in ((entry["state"], "<state>"), (entry["codeChallenge"], "<challenge>")):
        assert url.count(value) == 1
        url = url.replace(value, name)
    return {
        **entry,
        "state": "<state>",
        "codeVerifier": "<verifier>",
        "codeChallenge": "<challenge>",
        "authUrl": url,
    }


def test_auth_methods_with_providers_matches_pocketbase(
    reference: PocketBaseReference, ours: LocalServer, provider: FakeProvider
) -> None:
    theirs, mine = _entries(reference), _entries(ours)
    assert [list(e) for e in mine] == [list(e) for e in theirs]
    normalized = [_normalized(e) for e in theirs]
    assert [_normalized(e) for e in mine] == normalized
    assert normalized[0]["authUrl"] == (
        f"{provider.url('github')}/authorize?client_id=github-id&code_challenge=<challenge>"
        "&code_challenge_method=S256&response_type=code&scope=read%3Auser+user%3Aemail"
        "&state=<state>&redirect_uri="
    )


def test_default_endpoints_match_pocketbase(
    reference: PocketBaseReference, provider: FakeProvider
) -> None:
    """With no endpoint settings both use the providers' real URLs (PocketBase's read with
    its overrides removed for a moment; ours in-process from settings without them)."""
    token = reference.admin_token
    assert (
        reference.request("PATCH", "/api/settings", token=token, body=_pb_settings(None, True))[0]
        == 200
    )
    try:
        theirs = [_normalized(e) for e in _entries(reference)]
    finally:
        reference.request("PATCH", "/api/settings", token=token, body=_pb_settings(provider, True))
    env = {"JWT_SECRET": "s" * 40}
    for flavor, (client_id, secret) in CLIENTS.items():
        env[f"OAUTH2_{flavor.upper()}_CLIENT_ID"] = client_id
        env[f"OAUTH2_{flavor.upper()}_CLIENT_SECRET"] = secret
    mine = signin.provider_entries(load_settings(env), "k" * 40, now=1_000)
    assert [_normalized(e) for e in mine] == theirs


def _sign_in(
    server: PocketBaseReference | LocalServer, flavor: str, login_hint: str, **extra: Any
) -> tuple[int, Any]:
    entry = next(e for e in _entries(server) if e["name"] == flavor)
    url = entry["authUrl"] + quote(REDIRECT, safe="") + "&login_hint=" + login_hint
    response = urllib3.request("GET", url, redirect=False, timeout=5)
    back = parse_qs(urlsplit(response.headers["Location"]).query)
    assert back["state"] == [entry["state"]]
    body = {
        "provider": flavor,
        "code": back.get("code", [""])[0],
        "codeVerifier": entry["codeVerifier"],
        "redirectUrl": REDIRECT,
        **extra,
    }
    return server.request("POST", "/api/collections/users/auth-with-oauth2", body=body)


def _shape(answer: Any) -> Any:
    """Random values by format: ids, tokens and dates become names."""
    if isinstance(answer, dict):
        return {key: _shape_value(key, value) for key, value in answer.items()}
    return answer


def _shape_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return _shape(value)
    if key == "id" and isinstance(value, str) and re.fullmatch(r"[a-z0-9]{15}", value):
        return "<record id>"
    if key in ("created", "updated", "expiry") and isinstance(value, str) and DATE.match(value):
        return "<date>"
    if key in ("token", "accessToken", "refreshToken") and isinstance(value, str) and value:
        return "<token>"
    if key == "username" and isinstance(value, str) and re.fullmatch(r"users\d{5}", value):
        return "<generated username>"
    return value


@pytest.mark.parametrize(
    ("flavor", "verified"),
    [("google", True), ("google", False), ("github", True), ("microsoft", True)],
)
def test_sign_in_answers_like_pocketbase(
    reference: PocketBaseReference,
    ours: LocalServer,
    provider: FakeProvider,
    flavor: str,
    verified: bool,
) -> None:
    """New account, then the same account again. Not compared: Microsoft unverified (Graph
    has no such flag) and GitHub without a public e-mail (PocketBase then calls the real
    GitHub's ``/user/emails``, which it cannot be pointed elsewhere for)."""
    key = uuid.uuid4().hex[:10]
    provider.add(
        flavor,
        key,
        Account(
            id=int(key[:8], 16) if flavor == "github" else f"{flavor}-{key}",
            email=f"person-{key}@example.com",
            verified=verified,
            login=f"octo-{key}",
        ),
    )
    answers = []
    for server in (reference, ours):  # the same provider account signs in to each
        first = _sign_in(server, flavor, key)
        second = _sign_in(server, flavor, key)
        answers.append((first, second))
        assert first[0] == 200, first
        assert second[1]["record"]["id"] == first[1]["record"]["id"]
    (pb_first, pb_second), (my_first, my_second) = answers
    assert _shape(my_first[1]) == _shape(pb_first[1])
    assert _shape(my_second[1]) == _shape(pb_second[1])
    assert list(my_first[1]) == list(pb_first[1])
    assert list(my_first[1]["meta"]) == list(pb_first[1]["meta"])
    assert json.dumps(my_first[1]["meta"]["rawUser"]) == json.dumps(pb_first[1]["meta"]["rawUser"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"provider": "gitlab", "code": "c", "redirectUrl": REDIRECT},
        {"provider": "google", "redirectUrl": REDIRECT},
    ],
)
def test_invalid_requests_answer_like_pocketbase(
    reference: PocketBaseReference, ours: LocalServer, body: dict[str, Any]
) -> None:
    path = "/api/collections/users/auth-with-oauth2"
    assert ours.request("POST", path, body=body) == reference.request("POST", path, body=body)


def test_bad_code_answers_like_pocketbase(
    reference: PocketBaseReference, ours: LocalServer
) -> None:
    answers = []
    for server in (reference, ours):
        entry = next(e for e in _entries(server) if e["name"] == "google")
        body = {
            "provider": "google",
            "code": "not-a-code",
            "codeVerifier": entry["codeVerifier"],
            "redirectUrl": REDIRECT,
        }
        answers.append(server.request("POST", "/api/collections/users/auth-with-oauth2", body=body))
    assert (
        answers[0]
        == answers[1]
        == (
            400,
            {
                "code": 400,
                "message": "Something went wrong while processing your request.",
                "data": {},
            },
        )
    )
