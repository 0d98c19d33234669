"""The HTTP side of registries: tags and manifest digests over the Docker Registry HTTP API v2
(OCI distribution spec), with the auth dance, pagination, retries and per-tick memoization.

Why it is written this way:
- One :class:`RegistryClient` lives for one tick. Many autoUpdates often watch the same image,
  so identical lookups are made once, even when the tick runs them on several threads.
- Auth follows the registry's ``WWW-Authenticate`` challenge (anonymous, Basic, or a Bearer
  token from the realm). The challenge is remembered per registry, so later repositories skip
  the 401 round trip, and tokens are cached for their ``expires_in``.
- Digests come from a ``HEAD`` of the manifest: it is what detects a moved mutable tag, and
  Docker Hub does not count ``HEAD`` against its pull rate limit.
- Failures are :class:`RegistryError` values in plain words; transient ones (429, 5xx,
  dropped connections) are retried with capped, jittered exponential backoff that honours
  ``Retry-After``; a timeout is not retried, so one slow registry cannot stall a tick.
- Credentials and tokens never reach logs or messages, are sent only over HTTPS (or to a
  loopback host), and urllib3 drops ``Authorization`` on a redirect to another host.
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import json
import logging
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, TypeVar

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from chalicelib.errors import Invalid, field_error
from chalicelib.registry.credentials import (
    Credentials,
    ecr_credentials,
    ecr_location,
    shared_ecr,
)
from chalicelib.registry.errors import RegistryError
from chalicelib.registry.reference import Repository, internal_host

__all__ = ["RegistryClient", "RegistryError"]

logger = logging.getLogger(__name__)

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_ACCEPT = ", ".join(MANIFEST_TYPES)
_MAX_BODY = 8 * 1024 * 1024
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}")
_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Challenge:
    """What a registry asked for in ``WWW-Authenticate``: ``basic`` or ``bearer`` (+ realm)."""

    scheme: str
    realm: str = ""
    service: str = ""


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: urllib3.HTTPHeaderDict
    body: bytes


def _parse_challenges(values: list[str]) -> _Challenge | None:
    """The Bearer challenge if any, else Basic; params may be quoted and hold commas."""
    found: dict[str, _Challenge] = {}
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        scheme = scheme.lower()
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
        if scheme == "bearer" and params.get("realm"):
            found["bearer"] = _Challenge("bearer", params["realm"], params.get("service", ""))
        elif scheme == "basic":
            found["basic"] = _Challenge("basic")
    return found.get("bearer") or found.get("basic")


def _next_link(header: str | None) -> str | None:
    for target, params in _LINK.findall(header or ""):
        rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', params)
        if any("next" in rel.split() for rel in rels):
            return target
    return None


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _header_digest(reply: _Reply) -> str | None:
    digest = reply.headers.get("Docker-Content-Digest", "").strip()
    return digest if _DIGEST.fullmatch(digest) else None


def _status_failure(host: str, status: int, retry_after: float | None) -> RegistryError:
    wait = "" if retry_after is None else f" and asks to wait {retry_after:.0f}s"
    if status == 429:
        message = f"registry {host} rate-limited the request (429){wait}"
        return RegistryError("rate_limited", message, 429)
    return RegistryError("unavailable", f"registry {host} failed with {status}{wait}", status)


def _host_name(host: str) -> str:
    """``host[:port]`` or ``[v6]:port`` without the port."""
    return urllib.parse.urlsplit(f"//{host}").hostname or host


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _require_private_channel(url: str, repo: Repository) -> None:
    """Credentials go only over HTTPS, or plain HTTP to this machine (local runs, tests)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or parts.hostname == "localhost":
        return
    try:
        if ipaddress.ip_address(parts.hostname or "").is_loopback:
            return
    except ValueError:
        pass
    raise RegistryError(
        "protocol", f"registry {repo.host} wants credentials sent over plain HTTP to {parts.netloc}"
    )


class RegistryClient:
    """Talks to any OCI registry for one tick. Thread-safe; ``request_count`` counts the HTTP
    requests actually sent (attempts included), for benchmarks."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        page_size: int = 1000,
        max_pages: int = 100,
    ) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.page_size = page_size
        self.max_pages = max_pages
        self.request_count = 0
        self._pool = urllib3.PoolManager(
            num_pools=64,
            maxsize=8,
            headers={"User-Agent": "one-click-serverless registry client"},
        )
        self._retries = urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=3, raise_on_redirect=True
        )
        self._lock = threading.Lock()
        self._memo: dict[tuple[Any, ...], Future[Any]] = {}
        self._challenges: dict[str, _Challenge] = {}
        self._tokens: dict[tuple[str, str, str, Credentials | None], tuple[str, float]] = {}
        self._token_locks: dict[tuple[str, str, str, Credentials | None], threading.Lock] = {}

    # -- public -----------------------------------------------------------------------------

    def list_tags(self, repo: Repository, creds: Credentials | None) -> list[str]:
        """Every tag of the repository, following ``Link: rel="next"`` pages."""
        return list(self._memoized(("tags", repo, creds), lambda: self._list_tags(repo, creds)))

    def digest(self, repo: Repository, tag: str, creds: Credentials | None) -> str | None:
        """The digest ``tag`` points to now, or None when the tag does not exist."""
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            message = f"image tag {tag!r} is not a valid tag"
            raise Invalid(message, {"tag": field_error("validation_invalid_tag", message)})
        return self._memoized(("digest", repo, tag, creds), lambda: self._digest(repo, tag, creds))

    # -- memoization ------------------------------------------------------------------------

    def _memoized(self, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
        """Run ``compute`` once per key for this client; concurrent callers wait for it and
        share its result or its error."""
        with self._lock:
            future = self._memo.get(key)
            owner = future is None
            if future is None:
                future = self._memo[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as error:
                future.set_exception(error)
                raise
        return future.result()

    # -- operations -------------------------------------------------------------------------

    def _list_tags(self, repo: Repository, creds: Credentials | None) -> list[str]:
        url = f"{repo.base_url}/v2/{repo.name}/tags/list?n={self.page_size}"
        tags: dict[str, None] = {}
        seen: set[str] = set()
        for _page in range(self.max_pages):
            seen.add(url)
            reply = self._authorized(repo, creds, "GET", url, {"Accept": "application/json"})
            if reply.status == 404:
                raise RegistryError(
                    "not_found", f"repository {repo.name} not found on registry {repo.host}", 404
                )
            self._expect_ok(repo, reply)
            for tag in self._tags_of(repo, reply.body):
                tags.setdefault(tag, None)
            target = _next_link(reply.headers.get("Link"))
            if target is None:
                return list(tags)
            here, url = urllib.parse.urlsplit(url), urllib.parse.urljoin(url, target)
            there = urllib.parse.urlsplit(url)
            if (here.scheme, here.netloc) != (there.scheme, there.netloc):
                raise RegistryError(
                    "protocol", f"registry {repo.host} sent a next page on another host"
                )
            if url in seen:
                raise RegistryError("protocol", f"registry {repo.host} sent a page loop")
        raise RegistryError(
            "protocol",
            f"repository {repo.name} on {repo.host} has more than {self.max_pages} pages of tags",
        )

    @staticmethod
    def _tags_of(repo: Repository, body: bytes) -> list[str]:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        tags = data.get("tags", ()) if isinstance(data, dict) else ()
        if tags is None:  # an empty repository answers "tags": null
            return []
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise RegistryError("protocol", f"registry {repo.host} sent a malformed tag list")
        return tags

    def _digest(self, repo: Repository, tag: str, creds: Credentials | None) -> str | None:
        url = f"{repo.base_url}/v2/{repo.name}/manifests/{tag}"
        head = self._manifest(repo, creds, "HEAD", url)
        if head is None:
            return None
        digest = _header_digest(head)
        if digest is None:  # a registry that omits the header: hash the manifest itself
            manifest = self._manifest(repo, creds, "GET", url)
            if manifest is None:
                return None
            digest = _header_digest(manifest) or "sha256:" + sha256(manifest.body).hexdigest()
        return digest

    def _manifest(
        self, repo: Repository, creds: Credentials | None, method: str, url: str
    ) -> _Reply | None:
        reply = self._authorized(repo, creds, method, url, {"Accept": _ACCEPT})
        if reply.status == 404:
            return None
        self._expect_ok(repo, reply)
        return reply

    @staticmethod
    def _expect_ok(repo: Repository, reply: _Reply) -> None:
        if reply.status != 200:
            raise RegistryError(
                "protocol",
                f"registry {repo.host} answered {reply.status} unexpectedly",
                reply.status,
            )

    # -- auth -------------------------------------------------------------------------------

    def _authorized(
        self,
        repo: Repository,
        creds: Credentials | None,
        method: str,
        url: str,
        headers: dict[str, str],
    ) -> _Reply:
        """Send with the auth the registry asked for last time; on a 401, answer the new
        challenge once. A 401/403 after that is a refusal, worded for the caller."""
        if creds is None and (ecr := ecr_location(repo)) is not None and shared_ecr(repo):
            creds = ecr_credentials(*ecr)
        with self._lock:
            known = self._challenges.get(repo.base_url)
        sent = self._auth_header(repo, creds, known, fresh=False) if known else None
        reply = self._send(method, url, {**headers, **({"Authorization": sent} if sent else {})})
        if reply.status == 401:
            challenge = _parse_challenges(reply.headers.getlist("WWW-Authenticate"))
            if challenge is not None:
                with self._lock:
                    self._challenges[repo.base_url] = challenge
                header = self._auth_header(repo, creds, challenge, fresh=sent is not None)
                if header is not None:
                    reply = self._send(method, url, {**headers, "Authorization": header})
        if reply.status in (401, 403):
            raise self._refused(repo, creds, reply.status)
        return reply

    @staticmethod
    def _refused(repo: Repository, creds: Credentials | None, status: int) -> RegistryError:
        if creds is None:
            return RegistryError(
                "unauthorized",
                f"registry {repo.host} refused anonymous access to {repo.name} ({status}): "
                "the repository is private or does not exist",
                status,
            )
        return RegistryError(
            "unauthorized", f"registry {repo.host} refused the credentials ({status})", status
        )

    def _auth_header(
        self, repo: Repository, creds: Credentials | None, challenge: _Challenge, *, fresh: bool
    ) -> str | None:
        """The ``Authorization`` value for a challenge; None when we have nothing to offer."""
        if challenge.scheme == "bearer":
            return "Bearer " + self._token(repo, creds, challenge, fresh=fresh)
        if creds is None:
            return None
        _require_private_channel(repo.base_url, repo)
        return _basic(creds)

    def _token(
        self, repo: Repository, creds: Credentials | None, challenge: _Challenge, *, fresh: bool
    ) -> str:
        scope = f"repository:{repo.name}:pull"
        key = (challenge.realm, challenge.service, scope, creds)
        with self._lock:
            lock = self._token_locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._tokens.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._fetch_token(repo, creds, challenge, scope)
            self._tokens[key] = (token, time.monotonic() + lifetime)
            return token

    def _fetch_token(
        self, repo: Repository, creds: Credentials | None, challenge: _Challenge, scope: str
    ) -> tuple[str, float]:
        realm = urllib.parse.urlsplit(challenge.realm)
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryError("protocol", f"registry {repo.host} sent an unusable token realm")
        if internal_host(realm.hostname or "") and not internal_host(_host_name(repo.host)):
            # a public registry must not make us call into our own network (SSRF)
            raise RegistryError(
                "protocol", f"registry {repo.host} sent a token realm on an internal address"
            )
        if creds is not None:
            _require_private_channel(challenge.realm, repo)
        query = {"scope": scope, **({"service": challenge.service} if challenge.service else {})}
        url = urllib.parse.urlunsplit(
            realm._replace(
                query="&".join(filter(None, [realm.query, urllib.parse.urlencode(query)]))
            )
        )
        headers = {"Authorization": _basic(creds)} if creds else {}
        reply = self._send("GET", url, headers, host=realm.netloc)
        if reply.status in (401, 403):
            raise self._refused(repo, creds, reply.status)
        if reply.status != 200:
            raise RegistryError(
                "unavailable",
                f"the token service of registry {repo.host} answered {reply.status}",
                reply.status,
            )
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(
                "protocol", f"the token service of registry {repo.host} sent no token"
            )
        expires_in = data.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 60.0
        return token, max(1.0, lifetime - min(30.0, lifetime / 4))

    # -- transport --------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, headers: dict[str, str], *, host: str | None = None
    ) -> _Reply:
        """One logical request: retried on 429, 5xx and dropped connections, never on
        timeouts, and never when ``Retry-After`` asks for more than ``max_retry_after``."""
        host = host or urllib.parse.urlsplit(url).netloc
        path = urllib.parse.urlsplit(url).path
        attempt = 0
        while True:
            with self._lock:
                self.request_count += 1
            try:
                reply = self._once(method, url, headers)
            except RegistryError as error:
                if error.kind != "unavailable":
                    raise
                failure, wait = error, self._backoff(attempt)
            else:
                if reply.status != 429 and reply.status < 500:
                    return reply
                asked = _retry_after(reply.headers.get("Retry-After"))
                failure = _status_failure(host, reply.status, asked)
                if asked is not None and asked > self.max_retry_after:
                    raise failure  # waiting that long belongs to a later tick
                wait = self._backoff(attempt) if asked is None else asked
            if attempt >= self.max_retries:
                raise failure
            logger.info("retrying %s %s%s in %.1fs: %s", method, host, path, wait, failure)
            time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto

    def _once(self, method: str, url: str, headers: dict[str, str]) -> _Reply:
        host = urllib.parse.urlsplit(url).netloc
        try:
            response = self._pool.request(
                method,
                url,
                headers=headers,
                preload_content=False,
                retries=self._retries,
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
            )
            try:
                body = response.read(_MAX_BODY + 1) if method != "HEAD" else b""
                if len(body) > _MAX_BODY:
                    raise RegistryError("protocol", f"registry {host} sent an oversized answer")
                return _Reply(response.status, response.headers, body)
            finally:
                response.release_conn()
        except MaxRetryError as error:
            raise self._transport_error(host, error.reason or error) from None
        except HTTPError as error:
            raise self._transport_error(host, error) from None

    def _transport_error(self, host: str, error: Exception) -> RegistryError:
        # urllib3 makes NewConnectionError (refused, DNS) a ConnectTimeoutError for history.
        if isinstance(error, Urllib3Timeout) and not isinstance(error, NewConnectionError):
            return RegistryError("timeout", f"registry {host} timed out after {self.timeout:g}s")
        if isinstance(error, SSLError):
            return RegistryError("protocol", f"TLS with registry {host} failed")
        if "redirect" in str(error).lower():
            return RegistryError("protocol", f"registry {host} redirected too often")
        return RegistryError("unavailable", f"could not reach registry {host}")
