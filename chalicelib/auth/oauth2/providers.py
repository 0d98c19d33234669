"""Google, GitHub and Microsoft: their endpoints, scopes and profile formats.

Defaults are the endpoints PocketBase 0.22.26 uses; each can be overridden by settings (a
tests' local provider, a proxy). Only e-mail addresses the provider vouches for come out
of a profile: Google's ``verified_email``, GitHub's primary *verified* address from the
separate ``/user/emails`` call (the public ``/user`` e-mail is ignored), and Microsoft
Graph's ``mail`` only for a single-tenant app, because in the multi-tenant ``common`` and
``organizations`` endpoints any tenant's admin can set ``mail`` to any address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.auth.oauth2 import transport
from chalicelib.settings import OAuth2Client, Settings

MAX_ID_LENGTH = 255
_UNTRUSTED_TENANTS = {"common", "organizations"}
_MICROSOFT_LOGIN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"


@dataclass(frozen=True)
class Provider:
    name: str
    display_name: str
    scopes: tuple[str, ...]
    auth_url: str
    token_url: str
    userinfo_url: str
    emails_url: str | None
    client: OAuth2Client
    trusts_email: bool = True


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    username: str
    email: str  # "" unless verified by the provider
    avatar_url: str
    raw: dict[str, Any]


def _build(client: OAuth2Client, settings: Settings) -> Provider:
    if client.provider == "google":
        return Provider(
            name="google",
            display_name="Google",
            scopes=(
                "https://www.googleapis.com/auth/userinfo.profile",
                "https://www.googleapis.com/auth/userinfo.email",
            ),
            auth_url=client.auth_url or "https://accounts.google.com/o/oauth2/auth",
            token_url=client.token_url or "https://accounts.google.com/o/oauth2/token",
            userinfo_url=client.userinfo_url or "https://www.googleapis.com/oauth2/v1/userinfo",
            emails_url=None,
            client=client,
        )
    if client.provider == "github":
        return Provider(
            name="github",
            display_name="GitHub",
            scopes=("read:user", "user:email"),
            auth_url=client.auth_url or "https://github.com/login/oauth/authorize",
            token_url=client.token_url or "https://github.com/login/oauth/access_token",
            userinfo_url=client.userinfo_url or "https://api.github.com/user",
            emails_url=client.emails_url or "https://api.github.com/user/emails",
            client=client,
        )
    login = _MICROSOFT_LOGIN.format(tenant=settings.oauth2_microsoft_tenant)
    return Provider(
        name="microsoft",
        display_name="Microsoft",
        scopes=("User.Read",),
        auth_url=client.auth_url or f"{login}/authorize",
        token_url=client.token_url or f"{login}/token",
        userinfo_url=client.userinfo_url or "https://graph.microsoft.com/v1.0/me",
        emails_url=None,
        client=client,
        trusts_email=settings.oauth2_microsoft_tenant.lower() not in _UNTRUSTED_TENANTS,
    )


def enabled(settings: Settings) -> list[Provider]:
    """The configured providers, by name (PocketBase's order)."""
    return sorted((_build(c, settings) for c in settings.oauth2_clients), key=lambda p: p.name)


def find(settings: Settings, name: str) -> Provider | None:
    return next((p for p in enabled(settings) if p.name == name), None)


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise transport.ProviderError("profile is not a JSON object")
    return answer


def _github_email(provider: Provider, access_token: str, timeout: float) -> str:
    assert provider.emails_url is not None  # noqa: S101 - always set for GitHub
    emails = transport.get_json(provider.emails_url, access_token, timeout)
    if not isinstance(emails, list):
        raise transport.ProviderError("e-mail list is not a JSON array")
    for entry in emails:
        if not isinstance(entry, dict):
            continue
        if entry.get("primary") is True and entry.get("verified") is True:
            return _text(entry, "email")
    return ""


def fetch_profile(provider: Provider, access_token: str, timeout: float) -> Profile:
    """The signed-in account as the provider describes it; ProviderError if unusable."""
    raw = _object(transport.get_json(provider.userinfo_url, access_token, timeout))
    if provider.name == "google":
        verified = raw.get("verified_email") is True or raw.get("email_verified") is True
        account_id, username = raw.get("id") or raw.get("sub"), ""
        name, avatar = _text(raw, "name"), _text(raw, "picture")
        email = _text(raw, "email") if verified else ""
    elif provider.name == "github":
        account_id, username = raw.get("id"), _text(raw, "login")
        name, avatar = _text(raw, "name"), _text(raw, "avatar_url")
        email = _github_email(provider, access_token, timeout)
    else:
        account_id, username = raw.get("id"), ""
        name, avatar = _text(raw, "displayName"), ""
        email = _text(raw, "mail") if provider.trusts_email else ""
    if isinstance(account_id, bool) or not isinstance(account_id, str | int):
        raise transport.ProviderError("profile has no account id")
    text_id = str(account_id)
    if not 0 < len(text_id) <= MAX_ID_LENGTH:
        raise transport.ProviderError("profile has no usable account id")
    return Profile(text_id, name, username, email.strip(), avatar, raw)
