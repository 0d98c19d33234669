"""Auth routes: password login, refresh, methods, sign-up, throttling, token revocation."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from api_client import Api, reset_settings

LOGIN = "/api/collections/users/auth-with-password"
REFRESH = "/api/collections/users/auth-refresh"


def test_login_by_email_and_username_returns_pocketbase_shape(api: Api, make_user) -> None:
    user = make_user("Alice")
    reply = api.post(LOGIN, {"identity": user.record["username"], "password": user.password})
    assert reply.status == 200
    record = reply.body["record"]
    assert list(record) == sorted(record)
    assert set(record) == {
        "avatar",
        "collectionId",
        "collectionName",
        "created",
        "email",
        "emailVisibility",
        "id",
        "name",
        "updated",
        "username",
        "verified",
    }
    assert record["collectionId"] == "_pb_users_auth_" and record["name"] == "Alice"
    assert re.fullmatch(r"[a-z0-9]{15}", record["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z", record["created"])
    claims = jwt.decode(reply.body["token"], options={"verify_signature": False})
    assert claims["id"] == user.id and claims["type"] == "authRecord"
    assert claims["collectionId"] == "_pb_users_auth_" and claims["exp"] > time.time()
    assert "passwordHash" not in record and "tokenKey" not in record


@pytest.mark.parametrize(
    "body",
    [
        {"identity": "nobody@example.com", "password": "password123"},
        {"identity": "", "password": ""},
    ],
)
def test_login_failures_have_pocketbase_bodies(api: Api, make_user, body: dict) -> None:
    reply = api.post(LOGIN, body)
    assert reply.status == 400
    if body["identity"]:
        assert reply.body == {"code": 400, "message": "Failed to authenticate.", "data": {}}
    else:
        assert reply.body["data"]["identity"]["code"] == "validation_required"
        assert reply.body["data"]["password"]["code"] == "validation_required"


def test_wrong_password_is_throttled_after_limit(api: Api, make_user) -> None:
    user = make_user()
    for _ in range(5):
        assert api.post(LOGIN, {"identity": user.email, "password": "wrong-one"}).status == 400
    reply = api.post(LOGIN, {"identity": user.email, "password": user.password})
    assert reply.status == 429
    assert reply.body["code"] == 429 and "Too many" in reply.body["message"]


def test_success_resets_identity_counter(api: Api, make_user) -> None:
    user = make_user()
    for _ in range(4):
        api.post(LOGIN, {"identity": user.email, "password": "wrong-one"})
    assert api.post(LOGIN, {"identity": user.email, "password": user.password}).status == 200
    for _ in range(4):
        api.post(LOGIN, {"identity": user.email, "password": "wrong-one"})
    assert api.post(LOGIN, {"identity": user.email, "password": user.password}).status == 200


def test_the_identity_is_matched_without_case(api: Api, make_user) -> None:
    """A deliberate difference (README): e-mails and usernames are unique without case, so
    a login may spell them in any case; PocketBase 0.22 matches them exactly."""
    user = make_user()
    reply = api.post(LOGIN, {"identity": user.email.upper(), "password": user.password})
    assert reply.status == 200 and reply.body["record"]["id"] == user.id


@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer "])
def test_refresh_accepts_raw_and_bearer_tokens(api: Api, make_user, scheme: str) -> None:
    user = make_user()
    reply = api.post(REFRESH, token=scheme + user.token)
    assert reply.status == 200
    assert reply.body["record"]["id"] == user.id and reply.body["token"]


@pytest.mark.parametrize("token", [None, "garbage", "Bearer a.b.c"])
def test_refresh_without_valid_token_is_401(api: Api, token: str | None) -> None:
    reply = api.post(REFRESH, token=token)
    assert reply.status == 401
    assert reply.body == {
        "code": 401,
        "message": "The request requires valid record authorization token to be set.",
        "data": {},
    }


def test_forged_and_expired_tokens_are_guests(api: Api, make_user) -> None:
    user = make_user()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-secret", algorithm="HS256")
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 5},
        "test-secret-" + "x" * 40 + "irrelevant",
        algorithm="HS256",
    )
    for token in (forged, expired):
        assert api.post(REFRESH, token=token).status == 401
        listing = api.get("/api/collections/users/records", token=token)
        assert listing.status == 200 and listing.body["items"] == []


def test_password_change_revokes_old_tokens(api: Api, make_user) -> None:
    user = make_user()
    path = f"/api/collections/users/records/{user.id}"
    bad = api.patch(
        path,
        {"password": "newpassword1", "passwordConfirm": "newpassword1", "oldPassword": "wrong"},
        token=user.token,
    )
    assert bad.status == 400 and bad.body["data"]["oldPassword"]["code"] == (
        "validation_invalid_old_password"
    )
    ok = api.patch(
        path,
        {
            "password": "newpassword1",
            "passwordConfirm": "newpassword1",
            "oldPassword": user.password,
        },
        token=user.token,
    )
    assert ok.status == 200
    assert api.post(REFRESH, token=user.token).status == 401
    assert api.post(LOGIN, {"identity": user.email, "password": "newpassword1"}).status == 200


def test_auth_methods_answers_both_shapes(api: Api) -> None:
    reply = api.get("/api/collections/users/auth-methods?fields=mfa,otp,password,oauth2")
    assert reply.status == 200
    assert reply.body["authProviders"] == [] and reply.body["emailPassword"] is True
    assert reply.body["password"]["enabled"] is True
    assert reply.body["oauth2"] == {"enabled": False, "providers": []}


def test_auth_routes_only_for_users_collection(api: Api) -> None:
    reply = api.post("/api/collections/projects/auth-with-password", {"identity": "a"})
    assert reply.status == 400 and reply.body["message"] == "Unsupported collection type."
    assert api.post("/api/collections/nope/auth-refresh").status == 404
    malformed = api.call("POST", "/api/collections/users/auth-with-password", raw="{bad")
    assert malformed.body["message"] == "An error occurred while loading the submitted data."


def test_signup_is_off_by_default(api: Api) -> None:
    body = {"email": "new@example.com", "password": "password123", "passwordConfirm": "password123"}
    reply = api.post("/api/collections/users/records", body)
    assert reply.status == 403
    assert reply.body["message"] == "Only admins can perform this action."


def test_signup_when_enabled_validates_like_pocketbase(api: Api, monkeypatch) -> None:
    monkeypatch.setenv("ALLOW_SIGNUP", "true")
    reset_settings()
    path = "/api/collections/users/records"
    short = api.post(
        path, {"email": "a@example.com", "password": "short", "passwordConfirm": "other"}
    )
    assert short.status == 400
    assert short.body["data"]["password"]["code"] == "validation_length_out_of_range"
    assert short.body["data"]["passwordConfirm"]["code"] == "validation_values_mismatch"
    good = {
        "email": "A@example.com",
        "password": "password123",
        "passwordConfirm": "password123",
        "verified": True,
        "tokenKey": "x",
    }
    created = api.post(path, good)
    assert created.status == 200, created.body
    assert created.body["verified"] is False and "email" not in created.body
    assert re.fullmatch(r"users[1-9]{5}", created.body["username"])
    again = api.post(path, {**good, "email": "a@EXAMPLE.com"})
    assert again.status == 400
    assert again.body["data"]["email"]["code"] == "validation_invalid_email"
    login = api.post(LOGIN, {"identity": "a@example.com", "password": "password123"})
    assert login.status == 200


def test_user_profile_update_and_read_only_fields(api: Api, make_user) -> None:
    user, other = make_user(), make_user()
    path = f"/api/collections/users/records/{user.id}"
    reply = api.patch(path, {"name": "Renamed", "email": "x@example.com"}, token=user.token)
    assert reply.status == 400 and "email" in reply.body["data"]
    # Only an admin may verify an account or change an id (as PocketBase): 400, nothing stored.
    for locked in ({"verified": True}, {"id": "z" * 15}):
        reply = api.patch(path, {"name": "Renamed", **locked}, token=user.token)
        assert reply.status == 400 and list(reply.body["data"]) == list(locked), reply.body
    assert api.get(path, token=user.token).body["name"] == user.record["name"]
    reply = api.patch(path, {"name": "Renamed", "verified": False}, token=user.token)
    assert reply.status == 200 and reply.body["name"] == "Renamed"
    assert reply.body["verified"] is False
    taken = api.patch(path, {"username": other.record["username"]}, token=user.token)
    assert taken.status == 400
    assert taken.body["data"]["username"]["code"] == "validation_invalid_username"
    assert api.patch(path, {"name": "x"}, token=other.token).status == 404
