"""The two halves of an OAuth2 sign-in: what ``auth-methods`` hands the client per provider
(state, PKCE verifier and challenge, the provider's consent URL), and
``auth-with-oauth2``, which checks what comes back, exchanges the code at the provider
and finds or creates the account.

Failures before the account step (missing fields, a verifier or state we did not issue, a
refused or unreachable provider) answer PocketBase 0.22.26's generic 400 and write
nothing; the account step answers "Failed to authenticate." (chalicelib.records.oauth2_accounts).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chalicelib.auth.oauth2 import credentials, providers, state, transport
from chalicelib.errors import BadRequest, Invalid, field_error
from chalicelib.records import oauth2_accounts, values
from chalicelib.records.store import Record
from chalicelib.settings import Settings

GENERIC = "Something went wrong while processing your request."
BAD_DATA = "An error occurred while loading the submitted data."
BLANK = ("validation_required", "Cannot be blank.")
MAX_FIELD_LENGTH = 4096
MAX_TOKEN_SECONDS = 10 * 365 * 86400


def provider_entries(settings: Settings, secret: str, now: int) -> list[dict[str, str]]:
    """One entry per enabled provider in PocketBase 0.22's ``authProviders`` shape; the
    consent URL ends in ``redirect_uri=`` for the client to append its own."""
    entries = []
    for provider in providers.enabled(settings):
        issued = state.issue(provider.name, secret, now)
        query = urlencode(
            {
                "client_id": provider.client.client_id,
                "code_challenge": issued.code_challenge,
                "code_challenge_method": state.METHOD,
                "response_type": "code",
                "scope": " ".join(provider.scopes),
                "state": issued.state,
            }
        )
        joiner = "&" if "?" in provider.auth_url else "?"
        entries.append(
            {
                "name": provider.name,
                "displayName": provider.display_name,
                "state": issued.state,
                "authUrl": f"{provider.auth_url}{joiner}{query}&redirect_uri=",
                "codeVerifier": issued.code_verifier,
                "codeChallenge": issued.code_challenge,
                "codeChallengeMethod": state.METHOD,
            }
        )
    return entries


def _checked(body: dict[str, Any], settings: Settings) -> tuple[providers.Provider, str, str]:
    """The provider, code and redirect URL, validated like PocketBase's form."""
    name, code = values.first_text(body, "provider"), values.first_text(body, "code")
    redirect_url = values.first_text(body, "redirectUrl", "redirectURL")
    errors = {
        field: field_error(*BLANK)
        for field, value in (("code", code), ("provider", name), ("redirectUrl", redirect_url))
        if not value
    }
    provider = providers.find(settings, name) if name else None
    if name and provider is None:
        message = f"{json.dumps(name[:100])} is missing or is not enabled."
        errors["provider"] = field_error("validation_invalid_provider", message)
    if errors:
        raise Invalid(GENERIC, errors)
    if len(code) > MAX_FIELD_LENGTH or len(redirect_url) > MAX_FIELD_LENGTH:
        raise BadRequest(GENERIC)
    assert provider is not None  # noqa: S101 - a missing provider was reported above
    return provider, code, redirect_url


def _expiry(token: dict[str, Any]) -> str:
    seconds = token.get("expires_in")
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        return ""
    lifetime = timedelta(seconds=min(seconds, MAX_TOKEN_SECONDS))
    return values.format_date(datetime.now(UTC) + lifetime)


def _exchange(
    provider: providers.Provider, code: str, verifier: str, redirect_url: str, settings: Settings
) -> dict[str, Any]:
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_url,
        "client_id": provider.client.client_id,
        "client_secret": credentials.client_secret(provider.client, settings.aws_region),
        "code_verifier": verifier,
    }
    token = transport.post_form(provider.token_url, fields, settings.oauth2_timeout_seconds)
    # GitHub reports a bad code as 200 with {"error": ...}; no access token is a failure.
    if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
        raise transport.ProviderError("no access token")
    if not token["access_token"]:
        raise transport.ProviderError("empty access token")
    return token


def authenticate(
    body: dict[str, Any], settings: Settings, secret: str, now: int
) -> tuple[Record, dict[str, Any]]:
    """The signed-in user and PocketBase's ``meta`` (the provider's view of the account)."""
    provider, code, redirect_url = _checked(body, settings)
    create_data = body.get("createData")
    if create_data is None:
        create_data = {}
    if not isinstance(create_data, dict):
        raise BadRequest(BAD_DATA)
    verifier = body.get("codeVerifier")
    echoed = body.get("state") if "state" in body else None
    if not isinstance(verifier, str) or not (echoed is None or isinstance(echoed, str)):
        raise BadRequest(GENERIC)
    if not state.check(provider.name, verifier, echoed, secret, now):
        raise BadRequest(GENERIC)
    try:
        token = _exchange(provider, code, verifier, redirect_url, settings)
        profile = providers.fetch_profile(
            provider, token["access_token"], settings.oauth2_timeout_seconds
        )
    except transport.ProviderError:
        raise BadRequest(GENERIC) from None
    user, is_new = oauth2_accounts.sign_in(
        oauth2_accounts.Account(provider.name, profile.id, profile.email, profile.username),
        create_data,
        settings.allow_signup,
    )
    refresh = token.get("refresh_token")
    meta = {
        "id": profile.id,
        "name": profile.name,
        "username": profile.username,
        "email": profile.email,
        "avatarUrl": profile.avatar_url,
        "accessToken": token["access_token"],
        "refreshToken": refresh if isinstance(refresh, str) else "",
        "expiry": _expiry(token),
        "rawUser": json.loads(json.dumps(profile.raw, sort_keys=True)),  # Go's map order
        "isNew": is_new,
    }
    return user, meta
