"""The HTTP side of registries: tags and manifest digests over the Docker Registry HTTP API v2
(OCI distribution spec), with the auth dance, pagination, retries, per-tick memoization and
time limits that one slow registry cannot stretch.

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
  ``Retry-After``; a timeout is not retried.
- Each lookup (a repository's tags, a tag's digest) must be over ``timeout`` seconds after it
  started: waiting for a request slot, retries and their backoff, the token, every page and
  every body included. Socket timeouts cannot promise that, since they bound each read and a
  server sending a byte every few seconds satisfies every one; so each request also runs under
  a cutoff that shuts its socket down at the deadline, wherever it blocks (TLS handshake,
  headers, body).
- At most ``per_host`` requests go to one host at once (waiting for a slot counts against the
  deadline), and a host that kept ``per_host`` requests waiting for their answer until the
  deadline cut them is not asked again by this client: a registry that stopped answering
  costs one deadline per tick, not one per autoUpdate.
- Credentials and tokens never reach logs or messages, are sent only over HTTPS (or to a
  loopback host), and urllib3 drops ``Authorization`` on a redirect to another host.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import ipaddress
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, TypeVar

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
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
# A request that had been waiting for its answer for this share of the deadline or more when
# the deadline cut it shows a host that stopped answering (not a lookup with many quick pages).
_STALL_SHARE = 0.5
_sending = threading.local()  # .cutoff: the _Cutoff of the request this thread is sending


class _Deadline:
    """When one lookup must be over, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()


class _Cutoff:
    """Shuts down the sockets of one request when its lookup's deadline passes.

    The shutdown wakes a read blocked anywhere (TLS handshake, status line, headers, body),
    which no socket timeout does for a server that trickles. The cutoff shuts down its own
    duplicate of each descriptor, so it never acts on a number that the request has closed in
    the meantime and the system has given to another socket."""

    def __init__(self) -> None:
        self.fired = False
        self._copies: list[socket.socket] = []
        self._closed = False
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        try:
            copy = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:  # already closed: urllib3 connects anew, and watches that socket
            return
        with self._lock:
            if not self._closed:
                self._copies.append(copy)
                if self.fired:
                    _shut(copy)
                return
        copy.close()

    def fire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.fired = True
            for copy in self._copies:
                _shut(copy)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            copies, self._copies = self._copies, []
        for copy in copies:
            copy.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer may have closed it already
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket) -> None:
    cutoff = getattr(_sending, "cutoff", None)
    if cutoff is not None:
        cutoff.watch(sock)


class _CutoffConnection(HTTPConnection):
    """Hands every socket a request uses to the sending thread's cutoff: a new one as soon as
    it is connected (before any TLS byte), a kept-alive one when it is reused."""

    def _new_conn(self) -> socket.socket:  # urllib3's one place that opens the socket
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _watch(self.sock)
        super().request(*args, **kwargs)


class _CutoffHTTPSConnection(_CutoffConnection, HTTPSConnection):
    pass


class _CutoffPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _CutoffConnection


class _CutoffHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _CutoffHTTPSConnection


@dataclass
class _Host:
    """One host during this client's life: requests in flight, and requests that stalled
    (cut by the deadline after waiting ``_STALL_SHARE`` of it or more)."""

    busy: int = 0
    stalled: int = 0


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
    requests actually sent (attempts included), for benchmarks. ``timeout`` is the time limit
    of one lookup, ``per_host`` the requests sent to one host at once."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        per_host: int = 4,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        page_size: int = 1000,
        max_pages: int = 100,
    ) -> None:
        self.timeout = timeout
        self.per_host = per_host
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
        self._pool.pool_classes_by_scheme = {"http": _CutoffPool, "https": _CutoffHTTPSPool}
        self._retries = urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=3, raise_on_redirect=True
        )
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)
        self._hosts: dict[str, _Host] = {}
        self._memo: dict[tuple[Any, ...], Future[Any]] = {}
        self._challenges: dict[str, _Challenge] = {}
        self._tokens: dict[tuple[str, str, str, Credentials | None], tuple[str, float]] = {}
        self._token_locks: dict[tuple[str, str, str, Credentials | None], threading.Lock] = {}

    # -- public -----------------------------------------------------------------------------

    def list_tags(self, repo: Repository, creds: Credentials | None) -> list[str]:
        """Every tag of the repository, following ``Link: rel="next"`` pages."""
        deadline = _Deadline(self.timeout)
        return list(
            self._memoized(("tags", repo, creds), lambda: self._list_tags(repo, creds, deadline))
        )

    def digest(self, repo: Repository, tag: str, creds: Credentials | None) -> str | None:
        """The digest ``tag`` points to now, or None when the tag does not exist."""
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            message = f"image tag {tag!r} is not a valid tag"
            raise Invalid(message, {"tag": field_error("validation_invalid_tag", message)})
        deadline = _Deadline(self.timeout)
        return self._memoized(
            ("digest", repo, tag, creds), lambda: self._digest(repo, tag, creds, deadline)
        )

    # -- memoization ------------------------------------------------------------------------

    def _memoized(self, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
        """Run ``compute`` once per key for this client; concurrent callers wait for it and
        share its result or its error (its deadline, which began first, bounds their wait)."""
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

    def _list_tags(
        self, repo: Repository, creds: Credentials | None, deadline: _Deadline
    ) -> list[str]:
        url = f"{repo.base_url}/v2/{repo.name}/tags/list?n={self.page_size}"
        tags: dict[str, None] = {}
        seen: set[str] = set()
        for _page in range(self.max_pages):
            seen.add(url)
            headers = {"Accept": "application/json"}
            reply = self._authorized(repo, creds, "GET", url, headers, deadline)
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

    def _digest(
        self, repo: Repository, tag: str, creds: Credentials | None, deadline: _Deadline
    ) -> str | None:
        url = f"{repo.base_url}/v2/{repo.name}/manifests/{tag}"
        head = self._manifest(repo, creds, "HEAD", url, deadline)
        if head is None:
            return None
        digest = _header_digest(head)
        if digest is None:  # a registry that omits the header: hash the manifest itself
            manifest = self._manifest(repo, creds, "GET", url, deadline)
            if manifest is None:
                return None
            digest = _header_digest(manifest) or "sha256:" + sha256(manifest.body).hexdigest()
        return digest

    def _manifest(
        self,
        repo: Repository,
        creds: Credentials | None,
        method: str,
        url: str,
        deadline: _Deadline,
    ) -> _Reply | None:
        reply = self._authorized(repo, creds, method, url, {"Accept": _ACCEPT}, deadline)
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
        deadline: _Deadline,
    ) -> _Reply:
        """Send with the auth the registry asked for last time; on a 401, answer the new
        challenge once. A 401/403 after that is a refusal, worded for the caller."""
        if creds is None and (ecr := ecr_location(repo)) is not None and shared_ecr(repo):
            creds = ecr_credentials(*ecr)
        with self._lock:
            known = self._challenges.get(repo.base_url)
        sent = self._auth_header(repo, creds, known, deadline, fresh=False) if known else None
        auth = {"Authorization": sent} if sent else {}
        reply = self._send(method, url, {**headers, **auth}, deadline)
        if reply.status == 401:
            challenge = _parse_challenges(reply.headers.getlist("WWW-Authenticate"))
            if challenge is not None:
                with self._lock:
                    self._challenges[repo.base_url] = challenge
                header = self._auth_header(repo, creds, challenge, deadline, fresh=sent is not None)
                if header is not None:
                    reply = self._send(method, url, {**headers, "Authorization": header}, deadline)
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
        self,
        repo: Repository,
        creds: Credentials | None,
        challenge: _Challenge,
        deadline: _Deadline,
        *,
        fresh: bool,
    ) -> str | None:
        """The ``Authorization`` value for a challenge; None when we have nothing to offer."""
        if challenge.scheme == "bearer":
            return "Bearer " + self._token(repo, creds, challenge, deadline, fresh=fresh)
        if creds is None:
            return None
        _require_private_channel(repo.base_url, repo)
        return _basic(creds)

    def _token(
        self,
        repo: Repository,
        creds: Credentials | None,
        challenge: _Challenge,
        deadline: _Deadline,
        *,
        fresh: bool,
    ) -> str:
        scope = f"repository:{repo.name}:pull"
        key = (challenge.realm, challenge.service, scope, creds)
        with self._lock:
            lock = self._token_locks.setdefault(key, threading.Lock())
        # another lookup may be fetching this token from a slow token service
        if not lock.acquire(timeout=max(0.0, deadline.left())):
            raise self._timed_out(repo.host)
        try:
            cached = self._tokens.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._fetch_token(repo, creds, challenge, scope, deadline)
            self._tokens[key] = (token, time.monotonic() + lifetime)
            return token
        finally:
            lock.release()

    def _fetch_token(
        self,
        repo: Repository,
        creds: Credentials | None,
        challenge: _Challenge,
        scope: str,
        deadline: _Deadline,
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
        reply = self._send("GET", url, headers, deadline, host=realm.netloc)
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
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        deadline: _Deadline,
        *,
        host: str | None = None,
    ) -> _Reply:
        """One logical request: retried on 429, 5xx and dropped connections, never on
        timeouts, and never when the wait (``Retry-After`` or backoff) would pass
        ``max_retry_after`` or the lookup's deadline."""
        host = host or urllib.parse.urlsplit(url).netloc
        path = urllib.parse.urlsplit(url).path
        attempt = 0
        while True:
            try:
                reply = self._once(method, url, headers, deadline)
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
            if attempt >= self.max_retries or wait >= deadline.left():
                raise failure
            logger.info("retrying %s %s%s in %.1fs: %s", method, host, path, wait, failure)
            time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto

    @contextlib.contextmanager
    def _slot(self, host: str, deadline: _Deadline) -> Iterator[_Host]:
        """One of the ``per_host`` request slots of ``host``, waited for until the deadline;
        none for a host that stopped answering in this client's life."""
        with self._slot_freed:
            state = self._hosts.setdefault(host, _Host())
            while True:
                if state.stalled >= self.per_host:
                    raise RegistryError(
                        "timeout",
                        f"registry {host} is not answering: {state.stalled} requests timed out "
                        f"after {self.timeout:g}s in this run",
                    )
                left = deadline.left()
                if left <= 0:
                    raise self._timed_out(host)
                if state.busy < self.per_host:
                    break
                self._slot_freed.wait(left)
            state.busy += 1
        try:
            yield state
        finally:
            with self._slot_freed:
                state.busy -= 1
                self._slot_freed.notify_all()

    def _once(self, method: str, url: str, headers: dict[str, str], deadline: _Deadline) -> _Reply:
        """One HTTP request in a slot of its host, cut off at the deadline."""
        host = urllib.parse.urlsplit(url).netloc
        with self._slot(host, deadline) as state:
            with self._lock:
                self.request_count += 1
            left, started = deadline.left(), time.monotonic()
            cutoff = _Cutoff()
            timer = threading.Timer(left, cutoff.fire)
            timer.daemon = True
            _sending.cutoff = cutoff
            timer.start()
            try:
                reply = self._exchange(method, url, headers, left, cutoff)
            except (MaxRetryError, HTTPError) as error:
                reason = (error.reason or error) if isinstance(error, MaxRetryError) else error
                # urllib3 makes NewConnectionError (refused, DNS) a timeout for history
                timed_out = isinstance(reason, Urllib3Timeout) and not isinstance(
                    reason, NewConnectionError
                )
                if not (cutoff.fired or timed_out):
                    raise self._transport_error(host, reason) from None
            else:
                if not cutoff.fired:  # a cut can also end a body delimited by the connection
                    return reply
            finally:
                _sending.cutoff = None
                timer.cancel()
                cutoff.close()
            if time.monotonic() - started >= self.timeout * _STALL_SHARE:
                with self._lock:
                    state.stalled += 1
            raise self._timed_out(host)

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], left: float, cutoff: _Cutoff
    ) -> _Reply:
        host = urllib.parse.urlsplit(url).netloc
        response = self._pool.request(
            method,
            url,
            headers=headers,
            preload_content=False,
            retries=self._retries,
            timeout=urllib3.Timeout(connect=left, read=left),
        )
        try:
            body = response.read(_MAX_BODY + 1) if method != "HEAD" else b""
        finally:
            if cutoff.fired:
                response.close()  # its socket is shut down: never back into the pool
            response.release_conn()
        if len(body) > _MAX_BODY:
            raise RegistryError("protocol", f"registry {host} sent an oversized answer")
        return _Reply(response.status, response.headers, body)

    def _timed_out(self, host: str) -> RegistryError:
        return RegistryError("timeout", f"registry {host} timed out after {self.timeout:g}s")

    def _transport_error(self, host: str, error: Exception) -> RegistryError:
        if isinstance(error, SSLError):
            return RegistryError("protocol", f"TLS with registry {host} failed")
        if "redirect" in str(error).lower():
            return RegistryError("protocol", f"registry {host} redirected too often")
        return RegistryError("unavailable", f"could not reach registry {host}")
