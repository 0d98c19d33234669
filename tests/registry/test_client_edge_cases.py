"""What docker-registry 2.8 cannot show: tag pagination through ``Link`` headers (it ignores
``n``), rate limits, flaky servers, slow answers, token expiry and odd answers. A scripted HTTP
server on 127.0.0.1 answers each route from a finite list, so every loop here is bounded."""

from __future__ import annotations

import email.utils
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from loopback_http import LoopbackServer

from chalicelib.errors import Invalid
from chalicelib.registry.client import RegistryClient, RegistryError
from chalicelib.registry.credentials import Credentials
from chalicelib.registry.reference import Repository

TAGS = "GET /v2/team/app/tags/list"
MANIFEST = "/v2/team/app/manifests/latest"
DIGEST = "sha256:" + "ab" * 32


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float


class ScriptedServer(LoopbackServer):
    """Answers ``"METHOD /path"`` (query ignored) from its script in order; an unscripted or
    exhausted route gets 410, which no client retries, so a bug cannot loop."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Answer]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._start()

    def script(self, route: str, *answers: Answer) -> None:
        self.routes.setdefault(route, []).extend(answers)

    def _next(self, method: str, raw_path: str, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.seen.append(Seen(method, raw_path, headers, time.monotonic()))
            queue = self.routes.get(f"{method} {urllib.parse.urlsplit(raw_path).path}")
            return queue.pop(0) if queue else Answer(410, body={"error": "unscripted"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                answer = server._next(self.command, self.path, dict(self.headers))
                time.sleep(answer.delay)
                body = answer.body
                if not isinstance(body, bytes):
                    body = b"" if body is None else json.dumps(body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _answer

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@pytest.fixture
def fake() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


def repo(server: ScriptedServer) -> Repository:
    return Repository(server.host, "team/app", "http")


def fast(**options: Any) -> RegistryClient:
    return RegistryClient(backoff=0.01, max_backoff=0.05, **options)


def page(*tags: str, link: str | None = None) -> Answer:
    return Answer(
        body={"name": "team/app", "tags": list(tags)}, headers={"Link": link} if link else {}
    )


def test_tags_follow_relative_and_absolute_next_links(fake: ScriptedServer):
    fake.script(
        TAGS,
        page("a", "b", link='</v2/team/app/tags/list?last=b&n=2>; rel="next"'),
        page("c", "d", link=f'<http://{fake.host}/v2/team/app/tags/list?last=d&n=2>; rel="next"'),
        page("d", "e", link='</v2/team/app/tags/list?last=b>; rel="prev"'),
    )
    client = fast(page_size=2)
    assert client.list_tags(repo(fake), None) == ["a", "b", "c", "d", "e"]
    assert [seen.path for seen in fake.seen] == [
        "/v2/team/app/tags/list?n=2",
        "/v2/team/app/tags/list?last=b&n=2",
        "/v2/team/app/tags/list?last=d&n=2",
    ]
    assert client.request_count == 3


def test_empty_repository_has_no_tags(fake: ScriptedServer):
    fake.script(TAGS, Answer(body={"name": "team/app", "tags": None}))
    assert fast().list_tags(repo(fake), None) == []


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ('<http://127.0.0.2:1/v2/team/app/tags/list?last=a>; rel="next"', "another host"),
        ('</v2/team/app/tags/list?n=1000>; rel="next"', "page loop"),
    ],
)
def test_suspicious_next_links_stop_the_listing(fake: ScriptedServer, link: str, words: str):
    fake.script(TAGS, page("a", link=link), page("b"))
    with pytest.raises(RegistryError, match=words) as caught:
        fast().list_tags(repo(fake), None)
    assert caught.value.kind == "protocol"
    assert len(fake.seen) == 1


def test_page_cap(fake: ScriptedServer):
    fake.script(
        TAGS,
        *(page(str(i), link=f'</v2/team/app/tags/list?last={i}>; rel="next"') for i in range(3)),
    )
    with pytest.raises(RegistryError, match="more than 2 pages of tags"):
        fast(max_pages=2).list_tags(repo(fake), None)
    assert len(fake.seen) == 2


def _in_one_second() -> str:
    return email.utils.formatdate(time.time() + 1.5, usegmt=True)


@pytest.mark.parametrize("retry_after", ["1", "date"])
def test_429_waits_as_long_as_retry_after_says(fake: ScriptedServer, retry_after: str):
    value = _in_one_second() if retry_after == "date" else retry_after
    fake.script(TAGS, Answer(429, {"Retry-After": value}), page("1.0"))
    client = fast()
    assert client.list_tags(repo(fake), None) == ["1.0"]
    assert client.request_count == 2
    # HTTP dates have whole seconds: 1.5 s ahead is at least 0.5 s of waiting
    assert fake.seen[1].at - fake.seen[0].at >= 0.5


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (429, "rate_limited", "rate-limited the request (429)"),
        (503, "unavailable", "failed with 503"),
    ],
)
def test_asking_to_wait_too_long_gives_up_at_once(
    fake: ScriptedServer, status: int, kind: str, words: str
):
    fake.script(TAGS, Answer(status, {"Retry-After": "3600"}), page("1.0"))
    with pytest.raises(RegistryError) as caught:
        fast().list_tags(repo(fake), None)
    assert caught.value.kind == kind
    assert str(caught.value) == f"registry {fake.host} {words} and asks to wait 3600s"
    assert len(fake.seen) == 1


def test_persistent_429_is_rate_limited(fake: ScriptedServer):
    fake.script(TAGS, *[Answer(429)] * 3)
    with pytest.raises(RegistryError) as caught:
        fast(max_retries=2).list_tags(repo(fake), None)
    assert caught.value.kind == "rate_limited"
    assert len(fake.seen) == 3


def test_5xx_then_success(fake: ScriptedServer):
    fake.script(TAGS, Answer(503), Answer(502, body=b"<html>bad gateway</html>"), page("v2"))
    client = fast()
    assert client.list_tags(repo(fake), None) == ["v2"]
    assert client.request_count == 3


def test_5xx_until_retries_run_out(fake: ScriptedServer):
    fake.script(TAGS, *[Answer(500)] * 3)
    client = fast(max_retries=2)
    with pytest.raises(RegistryError) as caught:
        client.list_tags(repo(fake), None)
    assert (caught.value.kind, caught.value.status) == ("unavailable", 500)
    assert str(caught.value) == f"registry {fake.host} failed with 500"
    assert client.request_count == 3


def test_slow_answer_times_out_without_retrying(fake: ScriptedServer):
    fake.script(TAGS, Answer(delay=1.5, body={"tags": ["late"]}), page("never"))
    client = fast(timeout=0.3)
    with pytest.raises(RegistryError) as caught:
        client.list_tags(repo(fake), None)
    assert caught.value.kind == "timeout"
    assert str(caught.value) == f"registry {fake.host} timed out after 0.3s"
    assert client.request_count == 1


def slow_pages(count: int, delay: float) -> list[Answer]:
    """Pages that each come well within the timeout, and each link to the next."""
    link = '</v2/team/app/tags/list?last={}>; rel="next"'
    return [
        Answer(delay=delay, body={"tags": [str(i)]}, headers={"Link": link.format(i)})
        for i in range(count)
    ]


def test_the_deadline_covers_every_page(fake: ScriptedServer):
    fake.script(TAGS, *slow_pages(20, 0.3))  # 6 s in all
    client = fast(timeout=1)
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        client.list_tags(repo(fake), None)
    assert str(caught.value) == f"registry {fake.host} timed out after 1s"
    assert time.monotonic() - started < 3
    assert 2 <= client.request_count <= 4


def test_a_lookup_cut_between_quick_pages_leaves_the_host_usable(fake: ScriptedServer):
    """Many quick pages are not a registry that stopped answering: with one slot per host,
    one stalled request would close the host for the run, a cut page must not."""
    fake.script(TAGS, *slow_pages(20, 0.2))
    fake.script("GET /v2/team/other/tags/list", page("2.0"))
    client = fast(timeout=1, per_host=1)
    with pytest.raises(RegistryError, match="timed out after 1s"):
        client.list_tags(repo(fake), None)
    assert client.list_tags(Repository(fake.host, "team/other", "http"), None) == ["2.0"]


def test_the_deadline_covers_the_auth_dance(fake: ScriptedServer):
    challenge = bearer(fake)
    challenge.delay = 0.4
    fake.script(TAGS, challenge, Answer(delay=0.4, body={"tags": ["1"]}))
    fake.script("GET /token", Answer(delay=0.4, body={"token": "t"}))
    client = fast(timeout=1)  # each answer is in time, the three are not
    with pytest.raises(RegistryError) as caught:
        client.list_tags(repo(fake), None)
    assert caught.value.kind == "timeout"
    assert [seen.path.partition("?")[0] for seen in fake.seen] == [
        "/v2/team/app/tags/list",
        "/token",
        "/v2/team/app/tags/list",
    ]


def test_the_deadline_covers_retries(fake: ScriptedServer):
    fake.script(TAGS, *[Answer(503, {"Retry-After": "1"})] * 10)
    client = fast(timeout=2, max_retries=10)
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        client.list_tags(repo(fake), None)
    # the last answer, once waiting again would pass the deadline
    assert (caught.value.kind, caught.value.status) == ("unavailable", 503)
    assert time.monotonic() - started < 3 * 2
    assert len(fake.seen) <= 3  # ten retries would take ten seconds


def test_digest_from_head(fake: ScriptedServer):
    fake.script(f"HEAD {MANIFEST}", Answer(headers={"Docker-Content-Digest": DIGEST}))
    assert fast().digest(repo(fake), "latest", None) == DIGEST
    accept = fake.seen[0].headers["Accept"]
    assert "application/vnd.oci.image.index.v1+json" in accept
    assert "application/vnd.docker.distribution.manifest.v2+json" in accept


def test_digest_without_the_header_is_the_hash_of_the_manifest(fake: ScriptedServer):
    manifest = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    fake.script(f"HEAD {MANIFEST}", Answer())
    fake.script(f"GET {MANIFEST}", Answer(body=manifest))
    expected = "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert fast().digest(repo(fake), "latest", None) == expected


def test_invalid_tag_is_refused_before_any_request(fake: ScriptedServer):
    with pytest.raises(Invalid, match="not a valid tag"):
        fast().digest(repo(fake), "../../etc", None)
    assert fake.seen == []


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Answer(400, body={"errors": []}), "answered 400 unexpectedly"),
        (Answer(body=b"not json"), "malformed tag list"),
        (Answer(body={"tags": [1, 2]}), "malformed tag list"),
    ],
)
def test_odd_answers_are_protocol_errors(fake: ScriptedServer, answer: Answer, words: str):
    fake.script(TAGS, answer)
    with pytest.raises(RegistryError, match=words) as caught:
        fast().list_tags(repo(fake), None)
    assert caught.value.kind == "protocol"


def bearer(server: ScriptedServer, realm_path: str = "/token?tenant=t1") -> Answer:
    challenge = (
        f'Bearer realm="http://{server.host}{realm_path}",service="fake.io",'
        'scope="repository:team/app:pull,push"'
    )
    return Answer(401, {"WWW-Authenticate": challenge}, {"errors": [{"code": "UNAUTHORIZED"}]})


def test_bearer_token_with_access_token_field_and_realm_query(fake: ScriptedServer):
    fake.script(TAGS, bearer(fake), page("1"))
    fake.script("GET /token", Answer(body={"access_token": "tok-1", "expires_in": 300}))
    fake.script(f"HEAD {MANIFEST}", Answer(headers={"Docker-Content-Digest": DIGEST}))
    creds = Credentials("robot$ci", "p@ss:word")
    client = fast()
    assert client.list_tags(repo(fake), creds) == ["1"]
    assert client.digest(repo(fake), "latest", creds) == DIGEST
    token_request = fake.seen[1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(token_request.path).query)
    assert query == {
        "tenant": ["t1"],
        "service": ["fake.io"],
        "scope": ["repository:team/app:pull"],
    }
    assert token_request.headers["Authorization"] == "Basic cm9ib3QkY2k6cEBzczp3b3Jk"
    assert fake.seen[2].headers["Authorization"] == "Bearer tok-1"
    assert fake.seen[3].headers["Authorization"] == "Bearer tok-1"  # no second challenge
    assert client.request_count == 4


def test_expired_token_is_fetched_again(fake: ScriptedServer):
    fake.script(TAGS, bearer(fake), page("1"))
    fake.script("GET /token", Answer(body={"token": "short", "expires_in": 1}))
    fake.script("GET /token", Answer(body={"token": "renewed", "expires_in": 300}))
    fake.script(f"HEAD {MANIFEST}", Answer(headers={"Docker-Content-Digest": DIGEST}))
    client = fast()
    client.list_tags(repo(fake), None)
    time.sleep(1.1)
    assert client.digest(repo(fake), "latest", None) == DIGEST
    assert [s.headers.get("Authorization") for s in fake.seen if s.method == "HEAD"] == [
        "Bearer renewed"
    ]
    assert "Authorization" not in fake.seen[1].headers  # anonymous token request


def test_a_rejected_cached_token_is_replaced_once(fake: ScriptedServer):
    fake.script(TAGS, bearer(fake), page("1"))
    fake.script("GET /token", Answer(body={"token": "first"}), Answer(body={"token": "second"}))
    fake.script(f"HEAD {MANIFEST}", bearer(fake), Answer(headers={"Docker-Content-Digest": DIGEST}))
    client = fast()
    client.list_tags(repo(fake), None)
    assert client.digest(repo(fake), "latest", None) == DIGEST
    heads = [s.headers.get("Authorization") for s in fake.seen if s.method == "HEAD"]
    assert heads == ["Bearer first", "Bearer second"]


def test_credentials_are_never_sent_to_a_plain_http_realm_elsewhere(fake: ScriptedServer):
    challenge = 'Bearer realm="http://auth.example.invalid/token",service="x"'
    fake.script(TAGS, Answer(401, {"WWW-Authenticate": challenge}))
    with pytest.raises(RegistryError, match="plain HTTP to auth.example.invalid") as caught:
        fast().list_tags(repo(fake), Credentials("u", "secret-pw"))
    assert "secret-pw" not in str(caught.value)
    assert len(fake.seen) == 1


def test_token_service_refusing_the_credentials(fake: ScriptedServer):
    fake.script(TAGS, bearer(fake))
    fake.script("GET /token", Answer(401, body={"details": "bad"}))
    with pytest.raises(RegistryError) as caught:
        fast().list_tags(repo(fake), Credentials("u", "wrong"))
    assert str(caught.value) == f"registry {fake.host} refused the credentials (401)"


def test_a_failed_lookup_is_shared_within_the_tick(fake: ScriptedServer):
    fake.script(TAGS, Answer(404, body={"errors": [{"code": "NAME_UNKNOWN"}]}), page("late"))
    client = fast()
    for _ in range(3):
        with pytest.raises(RegistryError, match="not found"):
            client.list_tags(repo(fake), None)
    assert client.request_count == 1
