"""Sign-in with Google, GitHub and Microsoft against a local provider that behaves like each
(tests/support/oauth2_provider.py): the consent redirect, the code exchange with PKCE, the
profile formats, and every way a sign-in can go wrong."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import urllib3
from api_client import Api, Reply, reset_settings
from oauth2_provider import FLAVORS, Account, FakeProvider

METHODS = "/api/collections/users/auth-methods"
OAUTH2 = "/api/collections/users/auth-with-oauth2"
LOGIN = "/api/collections/users/auth-with-password"
REFRESH = "/api/collections/users/auth-refresh"
REDIRECT = "http://127.0.0.1:5173/oauth2-redirect"
SOMETHING_WRONG = "Something went wrong while processing your request."
GENERIC = {"code": 400, "message": SOMETHING_WRONG, "data": {}}
FAILED = {"code": 400, "message": "Failed to authenticate.", "data": {}}
CLIENTS = {flavor: (f"{flavor}-client-id", f"{flavor}-client-secret") for flavor in FLAVORS}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(CLIENTS) as fake:
        yield fake


@pytest.fixture
def oauth(api: Api, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The API with all three providers enabled and pointed at the local provider."""
    provider.down = None
    for flavor in FLAVORS:
        for name, value in provider.endpoint_env(flavor).items():
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("OAUTH2_MICROSOFT_TENANT", "one-click-test.example")
    monkeypatch.setenv("OAUTH2_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("ALLOW_SIGNUP", "true")
    reset_settings()
    return api


def _person(provider: FakeProvider, flavor: str, **fields: Any) -> tuple[str, Account]:
    key = uuid.uuid4().hex[:10]
    fields.setdefault("email", f"{key}@example.com")
    identity = int(key[:8], 16) if flavor == "github" else f"{flavor}-{key}"
    account = Account(id=identity, login=f"octo-{key}", **fields)
    return key, provider.add(flavor, key, account)


def _entries(api: Api) -> dict[str, dict[str, str]]:
    reply = api.get(METHODS)
    assert reply.status == 200, reply.body
    return {entry["name"]: entry for entry in reply.body["authProviders"]}


def _consent(entry: dict[str, str], login_hint: str) -> dict[str, str]:
    """What the browser brings back to the redirect URL after the consent screen."""
    url = entry["authUrl"] + quote(REDIRECT, safe="") + "&login_hint=" + login_hint
    response = urllib3.request("GET", url, redirect=False, timeout=5)
    assert response.status == 302, response.data
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def _sign_in(api: Api, flavor: str, login_hint: str, **overrides: Any) -> Reply:
    """The SDK's flow: auth-methods, consent, the SDK's own state check, the code exchange."""
    entry = _entries(api)[flavor]
    back = _consent(entry, login_hint)
    assert back["state"] == entry["state"]
    body = {
        "provider": flavor,
        "code": back.get("code", ""),
        "codeVerifier": entry["codeVerifier"],
        "redirectUrl": REDIRECT,
        "state": back["state"],
        **overrides,
    }
    return api.post(OAUTH2, body)


def _linked(flavor: str, account: Account) -> str | None:
    from chalicelib.records import store

    return store.linked_user_id(flavor, str(account.id))


def _user_with_email(email: str) -> str | None:
    from chalicelib.records import store

    return store.user_id_by("email", email)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sign_up_then_link_by_verified_email_then_sign_in_again(
    oauth: Api, provider: FakeProvider, make_user, flavor: str
) -> None:
    key, account = _person(provider, flavor, name="Ada Lovelace")
    first = _sign_in(oauth, flavor, key)
    assert first.status == 200, first.body
    assert list(first.body) == ["meta", "record", "token"]
    meta, record = first.body["meta"], first.body["record"]
    assert meta["isNew"] is True and meta["id"] == str(account.id)
    assert meta["email"] == account.email and meta["name"] == "Ada Lovelace"
    assert meta["accessToken"] and meta["refreshToken"].startswith("refresh-")
    assert meta["expiry"].endswith("Z") and isinstance(meta["rawUser"], dict)
    assert set(meta) == {
        *("id", "name", "username", "email", "avatarUrl", "accessToken"),
        *("refreshToken", "expiry", "rawUser", "isNew"),
    }
    assert record["email"] == account.email and record["verified"] is True
    if flavor == "github":
        assert record["username"] == account.login and meta["username"] == account.login
        assert meta["avatarUrl"].endswith(f"/avatars/{account.id}.png")
    assert oauth.post(REFRESH, token=first.body["token"]).body["record"]["id"] == record["id"]
    assert _linked(flavor, account) == record["id"]

    existing = make_user("Existing")  # unverified, with a password its creator knows
    key2, _ = _person(provider, flavor, email=existing.email.upper())
    linked = _sign_in(oauth, flavor, key2)
    assert linked.status == 200, linked.body
    assert linked.body["record"]["id"] == existing.id and linked.body["meta"]["isNew"] is False
    assert linked.body["record"]["verified"] is True
    # The account was unverified: the pre-set password and old tokens no longer work.
    assert oauth.post(REFRESH, token=existing.token).status == 401
    stale = oauth.post(LOGIN, {"identity": existing.email, "password": existing.password})
    assert stale.status == 400

    again = _sign_in(oauth, flavor, key)
    assert again.status == 200 and again.body["meta"]["isNew"] is False
    assert again.body["record"]["id"] == record["id"]


def test_verified_user_keeps_password_when_linked(
    oauth: Api, provider: FakeProvider, make_user
) -> None:
    from chalicelib.records import store

    user = make_user()
    before = store.get("users", user.id)
    assert before is not None
    store.update("users", before, dict(before, verified=True))
    key, _ = _person(provider, "google", email=user.email)
    assert _sign_in(oauth, "google", key).body["record"]["id"] == user.id
    assert oauth.post(LOGIN, {"identity": user.email, "password": user.password}).status == 200


@pytest.mark.parametrize("flavor", ["google", "github"])
def test_unverified_email_never_links(
    oauth: Api, provider: FakeProvider, make_user, flavor: str
) -> None:
    victim = make_user("Victim")
    key, account = _person(provider, flavor, email=victim.email, verified=False)
    reply = _sign_in(oauth, flavor, key)
    assert reply.status == 200, reply.body
    assert reply.body["record"]["id"] != victim.id and reply.body["meta"]["isNew"] is True
    assert reply.body["meta"]["email"] == "" and reply.body["record"]["email"] == ""
    assert _user_with_email(victim.email) == victim.id
    assert oauth.post(LOGIN, {"identity": victim.email, "password": victim.password}).status == 200
    assert oauth.post(REFRESH, token=victim.token).status == 200


def test_github_public_email_is_not_trusted_without_a_verified_primary(
    oauth: Api, provider: FakeProvider, make_user
) -> None:
    victim = make_user()
    key, _ = _person(provider, "github", email="someone-else@example.com")
    provider.accounts["github"][key].extra_emails = [
        {"email": victim.email, "primary": False, "verified": True}
    ]
    reply = _sign_in(oauth, "github", key)
    assert reply.status == 200 and reply.body["record"]["id"] != victim.id
    assert reply.body["record"]["email"] == "someone-else@example.com"


def test_microsoft_multi_tenant_mail_is_not_trusted(
    oauth: Api, provider: FakeProvider, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTH2_MICROSOFT_TENANT", "common")
    reset_settings()
    victim = make_user()
    key, _ = _person(provider, "microsoft", email=victim.email)
    reply = _sign_in(oauth, "microsoft", key)
    assert reply.status == 200 and reply.body["record"]["id"] != victim.id
    assert reply.body["record"]["email"] == ""


def test_denied_consent_signs_nobody_in(oauth: Api, provider: FakeProvider) -> None:
    key, account = _person(provider, "google", consents=False)
    entry = _entries(oauth)["google"]
    back = _consent(entry, key)
    assert back["error"] == "access_denied" and "code" not in back
    body = {"provider": "google", "codeVerifier": entry["codeVerifier"], "redirectUrl": REDIRECT}
    missing = oauth.post(OAUTH2, {**body, "code": ""})
    assert missing.status == 400
    blank = {"code": "validation_required", "message": "Cannot be blank."}
    assert missing.body == {"code": 400, "message": SOMETHING_WRONG, "data": {"code": blank}}
    assert oauth.post(OAUTH2, {**body, "code": "made-up"}).body == GENERIC
    assert _linked("google", account) is None and _user_with_email(account.email) is None


def test_state_and_verifier_must_be_ours(oauth: Api, provider: FakeProvider) -> None:
    key, account = _person(provider, "google")
    entries = _entries(oauth)
    tampered = entries["google"]["state"][:-2] + "xx"
    assert _sign_in(oauth, "google", key, state=tampered).body == GENERIC
    token_calls = provider.requests.count("POST /google/token")
    forged = "a" * 43  # a well-formed PKCE verifier this server never issued
    assert _sign_in(oauth, "google", key, codeVerifier=forged).body == GENERIC
    other = entries["github"]  # issued, but for another provider
    reply = _sign_in(oauth, "google", key, codeVerifier=other["codeVerifier"], state=other["state"])
    assert reply.body == GENERIC
    assert provider.requests.count("POST /google/token") == token_calls
    assert _linked("google", account) is None and _user_with_email(account.email) is None


def test_expired_verifier_is_refused(oauth: Api, provider: FakeProvider, monkeypatch) -> None:
    from types import SimpleNamespace

    from chalicelib.auth import login
    from chalicelib.auth.oauth2 import state

    key, account = _person(provider, "google")
    entry = _entries(oauth)["google"]
    back = _consent(entry, key)
    later = time.time() + state.TTL_SECONDS + 5
    monkeypatch.setattr(login, "time", SimpleNamespace(time=lambda: later))  # the clock only
    body = {
        "provider": "google",
        "code": back["code"],
        "codeVerifier": entry["codeVerifier"],
        "redirectUrl": REDIRECT,
    }
    assert oauth.post(OAUTH2, body).body == GENERIC
    assert _linked("google", account) is None


def test_wrong_code_verifier_is_refused_by_the_provider(oauth: Api, provider: FakeProvider) -> None:
    key, account = _person(provider, "github")
    another = _entries(oauth)["github"]  # ours and valid, but not the one bound to the code
    reply = _sign_in(oauth, "github", key, codeVerifier=another["codeVerifier"], state=None)
    assert reply.body == GENERIC
    assert _linked("github", account) is None and _user_with_email(account.email) is None


@pytest.mark.parametrize("mode", ["hang", "error"])
def test_provider_down_fails_cleanly(
    oauth: Api, provider: FakeProvider, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    key, account = _person(provider, "microsoft")
    entry = _entries(oauth)["microsoft"]
    back = _consent(entry, key)
    provider.down = mode
    started = time.monotonic()
    body = {
        "provider": "microsoft",
        "code": back["code"],
        "codeVerifier": entry["codeVerifier"],
        "redirectUrl": REDIRECT,
    }
    reply = oauth.post(OAUTH2, body)
    provider.down = None
    assert reply.body == GENERIC
    assert time.monotonic() - started < 2.5  # OAUTH2_TIMEOUT_SECONDS=1, not the hang
    assert _linked("microsoft", account) is None
    assert "/microsoft/token" in caplog.text  # the failure is logged, its secrets are not
    for secret in (CLIENTS["microsoft"][1], back["code"], entry["codeVerifier"]):
        assert secret not in caplog.text


def test_disabled_or_unknown_provider(oauth: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OAUTH2_GITHUB_CLIENT_ID")
    monkeypatch.delenv("OAUTH2_GITHUB_CLIENT_SECRET")
    reset_settings()
    assert set(_entries(oauth)) == {"google", "microsoft"}
    body = {"code": "c", "codeVerifier": "v", "redirectUrl": REDIRECT}
    for name in ("github", "gitlab"):
        reply = oauth.post(OAUTH2, {**body, "provider": name})
        assert reply.status == 400
        assert reply.body["data"] == {
            "provider": {
                "code": "validation_invalid_provider",
                "message": f'"{name}" is missing or is not enabled.',
            }
        }
    empty = oauth.post(OAUTH2, {})
    assert set(empty.body["data"]) == {"code", "provider", "redirectUrl"}


def test_sign_up_closed_links_but_does_not_create(
    oauth: Api, provider: FakeProvider, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOW_SIGNUP", "false")
    reset_settings()
    key, stranger = _person(provider, "google")
    assert _sign_in(oauth, "google", key).body == FAILED
    assert _linked("google", stranger) is None and _user_with_email(stranger.email) is None
    member = make_user()
    key2, _ = _person(provider, "google", email=member.email)
    assert _sign_in(oauth, "google", key2).body["record"]["id"] == member.id


def test_create_data_and_taken_username(oauth: Api, provider: FakeProvider, make_user) -> None:
    holder = make_user()
    key, _ = _person(provider, "github")
    provider.accounts["github"][key].login = holder.record["username"]
    reply = _sign_in(oauth, "github", key, createData={"name": "Given", "verified": False})
    assert reply.status == 200, reply.body
    record = reply.body["record"]
    assert record["name"] == "Given" and record["verified"] is True
    assert record["username"].startswith(holder.record["username"])
    assert record["username"] != holder.record["username"]
    key2, account2 = _person(provider, "google")
    bad = _sign_in(oauth, "google", key2, createData={"username": "no spaces allowed"})
    assert bad.status == 400 and bad.body["message"] == "Failed to authenticate."
    assert bad.body["data"]["username"]["code"] == "validation_invalid_username"
    assert _linked("google", account2) is None


def test_deleting_the_user_removes_its_links(oauth: Api, provider: FakeProvider) -> None:
    key, account = _person(provider, "google")
    first = _sign_in(oauth, "google", key).body
    path = f"/api/collections/users/records/{first['record']['id']}"
    assert oauth.delete(path, token=first["token"]).status == 204
    assert _linked("google", account) is None
    again = _sign_in(oauth, "google", key)
    assert again.body["meta"]["isNew"] is True
    assert again.body["record"]["id"] != first["record"]["id"]


def test_auth_methods_lists_enabled_providers_in_both_shapes(oauth: Api) -> None:
    body = oauth.get(METHODS + "?fields=mfa,otp,password,oauth2").body
    legacy = body["authProviders"]
    assert [p["name"] for p in legacy] == ["github", "google", "microsoft"]
    assert [p["displayName"] for p in legacy] == ["GitHub", "Google", "Microsoft"]
    for entry in legacy:
        assert list(entry) == [
            *("name", "displayName", "state", "authUrl"),
            *("codeVerifier", "codeChallenge", "codeChallengeMethod"),
        ]
        digest = hashlib.sha256(entry["codeVerifier"].encode()).digest()
        assert entry["codeChallenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert 43 <= len(entry["codeVerifier"]) <= 128 and entry["codeChallengeMethod"] == "S256"
        assert entry["authUrl"].endswith("&redirect_uri=")
        query = parse_qs(urlsplit(entry["authUrl"]).query, keep_blank_values=True)
        assert query["client_id"] == [CLIENTS[entry["name"]][0]]
        assert query["state"] == [entry["state"]]
        assert query["code_challenge"] == [entry["codeChallenge"]]
        assert query["response_type"] == ["code"]
    assert parse_qs(urlsplit(legacy[1]["authUrl"]).query)["scope"] == [
        "https://www.googleapis.com/auth/userinfo.profile "
        "https://www.googleapis.com/auth/userinfo.email"
    ]
    assert body["oauth2"]["enabled"] is True
    for old, new in zip(legacy, body["oauth2"]["providers"], strict=True):
        assert new == {**old, "authURL": old["authUrl"]}
        assert list(new)[:5] == ["name", "displayName", "state", "authURL", "authUrl"]
    states = {entry["state"] for entry in legacy} | {p["state"] for p in _entries(oauth).values()}
    assert len(states) == 6  # fresh for every call and every provider
