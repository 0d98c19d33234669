"""A small OAuth2 provider on 127.0.0.1 that behaves like Google, GitHub and Microsoft.

Each provider lives under its own path prefix (``/google``, ``/github``, ``/microsoft``):
- ``GET {prefix}/authorize`` plays the browser's consent step for the account named by
  ``login_hint`` and redirects (302) to ``redirect_uri`` with ``code`` and ``state``, or
  with ``error=access_denied`` if that account refuses consent. The code remembers the
  PKCE challenge, client id and redirect URI it was issued for.
- ``POST {prefix}/token`` redeems a code once: client id and secret (in the form or as
  HTTP Basic auth), redirect URI and
  ``code_verifier`` (S256 of it must equal the challenge) must match. Refusals look like
  the real ones: Google and Microsoft answer 400 ``{"error": "invalid_grant"}``, GitHub
  answers 200 ``{"error": "bad_verification_code"}``.
- The profile endpoint answers in the provider's own format (Google's v1 userinfo,
  GitHub's ``/user`` with a numeric id, Microsoft Graph's ``/me``), and GitHub's separate
  ``/user/emails`` lists the addresses with ``primary`` and ``verified`` flags.
- ``down`` makes every endpoint hang past the caller's timeout (bounded) or answer 503.

The serving loop is bounded in requests and time; the server binds loopback only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

FLAVORS = ("google", "github", "microsoft")
PROFILE_PATHS = {
    "google": "/oauth2/v1/userinfo",
    "github": "/user",
    "microsoft": "/v1.0/me",
}
MAX_REQUESTS = 2000
MAX_SECONDS = 600.0
HANG_SECONDS = 3.0


@dataclass
class Account:
    """One person at the provider."""

    id: str | int
    email: str
    verified: bool = True
    name: str = "Test Person"
    login: str = ""
    consents: bool = True
    extra_emails: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Grant:
    flavor: str
    account: Account
    client_id: str
    redirect_uri: str
    challenge: str
    used: bool = False


class FakeProvider:
    """Start with ``with FakeProvider(secrets) as provider:``; ``provider.url(flavor)`` is
    the base every endpoint setting of that flavor points under."""

    def __init__(self, clients: dict[str, tuple[str, str]]) -> None:
        self.clients = clients  # flavor -> (client id, client secret)
        self.accounts: dict[str, dict[str, Account]] = {f: {} for f in FLAVORS}
        self.down: str | None = None  # None, "hang" or "error"
        self.requests: list[str] = []  # method and path of each request, for assertions
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[str, Account]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                provider._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                provider._handle(self, "POST")

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.timeout = 0.1
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None
        deadline = time.monotonic() + MAX_SECONDS
        while (
            not self._stop.is_set()
            and len(self.requests) < MAX_REQUESTS
            and time.monotonic() < deadline
        ):
            self._server.handle_request()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, flavor: str) -> str:
        return f"{self.base}/{flavor}"

    def endpoint_env(self, flavor: str) -> dict[str, str]:
        """The settings that point our server at this provider."""
        prefix = f"OAUTH2_{flavor.upper()}_"
        client_id, secret = self.clients[flavor]
        env = {
            prefix + "CLIENT_ID": client_id,
            prefix + "CLIENT_SECRET": secret,
            prefix + "AUTH_URL": f"{self.url(flavor)}/authorize",
            prefix + "TOKEN_URL": f"{self.url(flavor)}/token",
            prefix + "USERINFO_URL": self.url(flavor) + PROFILE_PATHS[flavor],
        }
        if flavor == "github":
            env[prefix + "EMAILS_URL"] = f"{self.url(flavor)}/user/emails"
        return env

    def add(self, flavor: str, key: str, account: Account) -> Account:
        self.accounts[flavor][key] = account
        return account

    # -- requests ---------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        with self._lock:
            self.requests.append(f"{method} {parts.path}")
        if self.down == "hang":
            time.sleep(HANG_SECONDS)
        if self.down is not None:
            self._reply(request, 503, {"error": "temporarily_unavailable"})
            return
        flavor, _, rest = parts.path.lstrip("/").partition("/")
        rest = "/" + rest
        if flavor not in FLAVORS:
            self._reply(request, 404, {"error": "not_found"})
        elif method == "GET" and rest == "/authorize":
            self._authorize(request, flavor, parse_qs(parts.query))
        elif method == "POST" and rest == "/token":
            length = int(request.headers.get("Content-Length") or 0)
            form = parse_qs(request.rfile.read(length).decode())
            fields = {k: v[0] for k, v in form.items()}
            basic = request.headers.get("Authorization") or ""
            if basic.startswith("Basic "):  # client_secret_basic, as Go's oauth2 tries first
                decoded = base64.b64decode(basic[6:]).decode()
                fields["client_id"], _, fields["client_secret"] = decoded.partition(":")
            self._token(request, flavor, fields)
        elif method == "GET" and rest == PROFILE_PATHS[flavor]:
            self._profile(request, flavor)
        elif method == "GET" and flavor == "github" and rest == "/user/emails":
            self._emails(request)
        else:
            self._reply(request, 404, {"error": "not_found"})

    def _reply(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)

    def _authorize(
        self, request: BaseHTTPRequestHandler, flavor: str, query: dict[str, list[str]]
    ) -> None:
        one = {k: v[0] for k, v in query.items()}
        account = self.accounts[flavor].get(one.get("login_hint", ""))
        redirect = one.get("redirect_uri", "")
        if (
            account is None
            or one.get("client_id") != self.clients[flavor][0]
            or one.get("response_type") != "code"
            or not redirect
        ):
            self._reply(request, 400, {"error": "invalid_request"})
            return
        back: dict[str, str] = {"state": one.get("state", "")}
        if not account.consents:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            with self._lock:
                self._grants[code] = _Grant(
                    flavor, account, one["client_id"], redirect, one.get("code_challenge", "")
                )
            back["code"] = code
        joiner = "&" if "?" in redirect else "?"
        self._reply(request, 302, {}, {"Location": redirect + joiner + urlencode(back)})

    def _token(self, request: BaseHTTPRequestHandler, flavor: str, form: dict[str, str]) -> None:
        client_id, client_secret = self.clients[flavor]
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            good = (
                grant is not None
                and not grant.used
                and grant.flavor == flavor
                and form.get("grant_type") == "authorization_code"
                and form.get("client_id") == client_id == grant.client_id
                and form.get("client_secret") == client_secret
                and form.get("redirect_uri") == grant.redirect_uri
                and challenge == grant.challenge
            )
            if grant is not None:
                grant.used = True  # a code is single-use even when redeemed wrongly
            if good:
                assert grant is not None
                token = secrets.token_urlsafe(24)
                self._tokens[token] = (flavor, grant.account)
        if not good:
            if flavor == "github":
                self._reply(request, 200, {"error": "bad_verification_code"})
            else:
                self._reply(request, 400, {"error": "invalid_grant"})
            return
        self._reply(
            request,
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 3599,
                "refresh_token": f"refresh-{token}",
                "scope": "profile email",
            },
        )

    def _bearer(self, request: BaseHTTPRequestHandler, flavor: str) -> Account | None:
        header = request.headers.get("Authorization") or ""
        found = self._tokens.get(header.removeprefix("Bearer "))
        if not header.startswith("Bearer ") or found is None or found[0] != flavor:
            self._reply(request, 401, {"error": "invalid_token"})
            return None
        return found[1]

    def _profile(self, request: BaseHTTPRequestHandler, flavor: str) -> None:
        account = self._bearer(request, flavor)
        if account is None:
            return
        if flavor == "google":
            body: dict[str, Any] = {
                "id": str(account.id),
                "email": account.email,
                "verified_email": account.verified,
                "name": account.name,
                "picture": f"{self.base}/avatars/{account.id}.png",
            }
        elif flavor == "github":
            body = {
                "login": account.login,
                "id": account.id,
                "name": account.name,
                "email": account.email,  # the public address: GitHub does not say if verified
                "avatar_url": f"{self.base}/avatars/{account.id}.png",
            }
        else:
            body = {
                "id": str(account.id),
                "displayName": account.name,
                "mail": account.email,
                "userPrincipalName": account.email,
            }
        self._reply(request, 200, body)

    def _emails(self, request: BaseHTTPRequestHandler) -> None:
        account = self._bearer(request, "github")
        if account is None:
            return
        primary = {
            "email": account.email,
            "primary": True,
            "verified": account.verified,
            "visibility": "private",
        }
        self._reply(request, 200, [*account.extra_emails, primary])
