"""The registry client against a real registry (Debian's docker-registry): images pushed over
HTTP from Python, then tags, digests, a moved tag, refusals and the three auth modes."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry import (
    DockerRegistry,
    TokenServer,
    basic_header,
    htpasswd_auth,
    push_image,
    registry_binary,
    registry_version,
    start_registry,
)
from prerequisites import require

from chalicelib.registry.client import RegistryClient, RegistryError
from chalicelib.registry.credentials import Credentials
from chalicelib.registry.reference import Repository, repository_from_image

pytestmark = pytest.mark.registry

USERS = {"alice": "alice-password-1", "bob": "bob-password-2"}
ALICE = Credentials("alice", USERS["alice"])


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    require(registry_binary() is not None, "docker-registry (Debian package) is not installed")


@pytest.fixture(scope="module")
def anonymous_registry() -> Iterator[DockerRegistry]:
    with DockerRegistry() as registry:
        yield registry


@pytest.fixture(scope="module")
def basic_registry() -> Iterator[DockerRegistry]:
    with (
        tempfile.TemporaryDirectory(prefix="oc-htpasswd-") as folder,
        DockerRegistry(htpasswd_auth(Path(folder), USERS)) as registry,
    ):
        yield registry


@pytest.fixture(scope="module")
def token_server() -> Iterator[TokenServer]:
    with TokenServer(USERS, {"public/app": {"*"}, "private/app": {"alice"}}) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(token_server: TokenServer) -> Iterator[DockerRegistry]:
    with (
        tempfile.TemporaryDirectory(prefix="oc-token-") as folder,
        DockerRegistry(token_server.auth_config(Path(folder))) as registry,
    ):
        yield registry


def repo_on(registry: DockerRegistry, name: str) -> Repository:
    return repository_from_image({"registry": registry.host, "repository": name, "tag": "x"})


def test_the_debian_registry_is_distribution_2(anonymous_registry: DockerRegistry):
    assert "github.com/docker/distribution 2." in registry_version()


def test_tags_and_digests_on_an_anonymous_registry(anonymous_registry: DockerRegistry):
    pushed = {tag: push_image(anonymous_registry.url, "team/web", tag) for tag in ("1.0", "1.1")}
    repo = repo_on(anonymous_registry, "team/web")
    assert repo.scheme == "http"
    client = RegistryClient()
    assert sorted(client.list_tags(repo, None)) == ["1.0", "1.1"]
    assert client.digest(repo, "1.0", None) == pushed["1.0"]
    assert client.digest(repo, "1.1", None) == pushed["1.1"]
    assert pushed["1.0"] != pushed["1.1"]
    assert client.digest(repo, "2.0", None) is None


def test_a_re_pushed_tag_shows_a_new_digest(anonymous_registry: DockerRegistry):
    repo = repo_on(anonymous_registry, "team/mutable")
    first = push_image(anonymous_registry.url, repo.name, "latest")
    assert RegistryClient().digest(repo, "latest", None) == first
    second = push_image(anonymous_registry.url, repo.name, "latest")
    assert second != first
    assert RegistryClient().digest(repo, "latest", None) == second


def test_unknown_repository_is_not_found(anonymous_registry: DockerRegistry):
    with pytest.raises(RegistryError) as caught:
        RegistryClient().list_tags(repo_on(anonymous_registry, "nobody/nothing"), None)
    assert caught.value.kind == "not_found"
    assert caught.value.status == 404
    assert str(caught.value) == (
        f"repository nobody/nothing not found on registry {anonymous_registry.host}"
    )


def test_identical_lookups_are_made_once_per_client(anonymous_registry: DockerRegistry):
    push_image(anonymous_registry.url, "team/shared", "3.0")
    repo = repo_on(anonymous_registry, "team/shared")
    client = RegistryClient()
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(client.list_tags(repo, None)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [["3.0"]] * 8
    assert client.request_count == 1
    client.digest(repo, "3.0", None)
    client.digest(repo, "3.0", None)
    assert client.request_count == 2
    assert RegistryClient().list_tags(repo, None) == ["3.0"]  # a new tick asks again


def test_basic_auth(basic_registry: DockerRegistry):
    auth = basic_header(ALICE.username, ALICE.password)
    digest = push_image(basic_registry.url, "team/api", "v1", headers=auth)
    repo = repo_on(basic_registry, "team/api")
    client = RegistryClient()
    assert client.list_tags(repo, ALICE) == ["v1"]
    assert client.request_count == 2  # the 401 challenge, then the same request with Basic
    assert client.digest(repo, "v1", ALICE) == digest
    assert client.request_count == 3  # the challenge is remembered: Basic is sent at once


def test_basic_auth_refusals(basic_registry: DockerRegistry):
    repo = repo_on(basic_registry, "team/api")
    with pytest.raises(RegistryError) as wrong:
        RegistryClient().list_tags(repo, Credentials("alice", "not-her-password"))
    assert wrong.value.kind == "unauthorized"
    assert str(wrong.value) == f"registry {basic_registry.host} refused the credentials (401)"
    assert "not-her-password" not in str(wrong.value)
    with pytest.raises(RegistryError) as anonymous:
        RegistryClient().digest(repo, "v1", None)
    assert anonymous.value.kind == "unauthorized"
    assert "refused anonymous access to team/api (401)" in str(anonymous.value)


def test_token_auth_for_a_private_repository(
    token_registry: DockerRegistry, token_server: TokenServer
):
    push_token = token_server.issue("alice", "private/app", ["pull", "push"])
    auth = {"Authorization": f"Bearer {push_token}"}
    pushed = {tag: push_image(token_registry.url, "private/app", tag, headers=auth) for tag in "ab"}
    repo = repo_on(token_registry, "private/app")
    client = RegistryClient()
    before = len(token_server.requests)
    assert sorted(client.list_tags(repo, ALICE)) == ["a", "b"]
    assert client.digest(repo, "a", ALICE) == pushed["a"]
    assert client.digest(repo, "b", ALICE) == pushed["b"]
    asked = token_server.requests[before:]
    assert len(asked) == 1, "one token serves every call on the repository"
    assert asked[0]["user"] == "alice"
    assert asked[0]["query"]["scope"] == ["repository:private/app:pull"]
    assert asked[0]["query"]["service"] == ["oneclick-test-registry"]
    # 401 + token + tags, then the two HEADs with the cached token
    assert client.request_count == 5


def test_token_auth_anonymous_pull_of_a_public_repository(
    token_registry: DockerRegistry, token_server: TokenServer
):
    push_token = token_server.issue("ci", "public/app", ["pull", "push"])
    digest = push_image(
        token_registry.url, "public/app", "1", headers={"Authorization": f"Bearer {push_token}"}
    )
    repo = repo_on(token_registry, "public/app")
    client = RegistryClient()
    assert client.digest(repo, "1", None) == digest
    assert token_server.requests[-1]["user"] == ""


def test_token_auth_refusals(token_registry: DockerRegistry, token_server: TokenServer):
    private = repo_on(token_registry, "private/app")
    with pytest.raises(RegistryError) as wrong:
        RegistryClient().list_tags(private, Credentials("alice", "wrong"))
    assert str(wrong.value) == f"registry {token_registry.host} refused the credentials (401)"
    with pytest.raises(RegistryError) as not_granted:
        RegistryClient().list_tags(private, Credentials("bob", USERS["bob"]))
    assert not_granted.value.kind == "unauthorized"  # a token without access: 401 again
    with pytest.raises(RegistryError) as anonymous:
        RegistryClient().list_tags(private, None)
    assert "refused anonymous access to private/app" in str(anonymous.value)


def test_tokens_signed_by_an_untrusted_key_are_refused_by_the_registry():
    """The registry really checks our signature: a token server whose certificate is not in
    ``rootcertbundle`` gets every token refused."""
    grants = {"team/app": {"alice"}}
    with (
        TokenServer(USERS, grants) as trusted,
        TokenServer(USERS, grants) as impostor,
        tempfile.TemporaryDirectory() as folder,
    ):
        config = impostor.auth_config(Path(folder))
        Path(config["token"]["rootcertbundle"]).write_bytes(trusted.cert_pem)
        with DockerRegistry(config) as registry:
            with pytest.raises(RegistryError) as caught:
                RegistryClient().list_tags(repo_on(registry, "team/app"), ALICE)
            assert caught.value.kind == "unauthorized"
            assert len(impostor.requests) == 1


@pytest.mark.parametrize("key_header", ["x5c", "kid"])
def test_access_token_field_and_both_signing_key_headers(key_header: str):
    with (
        TokenServer(
            USERS, {"team/app": {"bob"}}, token_field="access_token", key_header=key_header
        ) as server,
        tempfile.TemporaryDirectory() as folder,
        DockerRegistry(server.auth_config(Path(folder))) as registry,
    ):
        push_token = server.issue("bob", "team/app", ["pull", "push"])
        digest = push_image(
            registry.url, "team/app", "v9", headers={"Authorization": f"Bearer {push_token}"}
        )
        bob = Credentials("bob", USERS["bob"])
        assert RegistryClient().digest(repo_on(registry, "team/app"), "v9", bob) == digest


def test_start_registry_for_benchmarks():
    host, stop = start_registry()
    try:
        push_image(f"http://{host}", "bench/one", "t")
        repo = Repository(host, "bench/one", "http")
        assert RegistryClient().list_tags(repo, None) == ["t"]
    finally:
        stop()
    with pytest.raises(RegistryError) as caught:
        RegistryClient(max_retries=1, backoff=0.01).list_tags(repo, None)
    assert caught.value.kind == "unavailable"
