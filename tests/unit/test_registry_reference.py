"""How a manifest's spec.image becomes a registry host and repository, and which inputs are
refused before any request is sent."""

from __future__ import annotations

import pytest

from chalicelib.errors import Invalid
from chalicelib.registry.credentials import Credentials, credentials_from_image, ecr_location
from chalicelib.registry.reference import Repository, repository_from_image

HUB = "registry-1.docker.io"


@pytest.mark.parametrize(
    ("registry", "repository", "expected"),
    [
        ("docker.io", "nginx", Repository(HUB, "library/nginx")),
        ("docker.io", "library/nginx", Repository(HUB, "library/nginx")),
        ("docker", "bitnami/redis", Repository(HUB, "bitnami/redis")),
        ("index.docker.io", "alpine", Repository(HUB, "library/alpine")),
        ("", "alpine", Repository(HUB, "library/alpine")),
        (None, "alpine", Repository(HUB, "library/alpine")),
        ("Docker.IO", "grafana/grafana", Repository(HUB, "grafana/grafana")),
        ("ghcr.io", "janlauber/one-click", Repository("ghcr.io", "janlauber/one-click")),
        ("ghcr", "org/app", Repository("ghcr.io", "org/app")),
        ("ghcr.io/janlauber", "one-click", Repository("ghcr.io", "janlauber/one-click")),
        ("https://ghcr.io/", "org/app", Repository("ghcr.io", "org/app")),
        ("quay.io", "prometheus/node-exporter", Repository("quay.io", "prometheus/node-exporter")),
        (
            "registry.gitlab.com",
            "group/sub.group/my_app",
            Repository("registry.gitlab.com", "group/sub.group/my_app"),
        ),
        ("harbor.example.com", "project/app", Repository("harbor.example.com", "project/app")),
        (
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
            "team/service",
            Repository("123456789012.dkr.ecr.eu-central-1.amazonaws.com", "team/service"),
        ),
        ("registry.local:5000", "app", Repository("registry.local:5000", "app")),
        ("127.0.0.1:5000", "team/app", Repository("127.0.0.1:5000", "team/app", "http")),
        ("localhost:5000", "app", Repository("localhost:5000", "app", "http")),
        ("[::1]:5000", "app", Repository("[::1]:5000", "app", "http")),
        ("10.0.0.5:5000", "app", Repository("10.0.0.5:5000", "app")),
        ("http://registry.example.com", "app", Repository("registry.example.com", "app")),
        (" docker.io ", " nginx ", Repository(HUB, "library/nginx")),
    ],
)
def test_repository_from_image(registry: str | None, repository: str, expected: Repository):
    image = {"registry": registry, "repository": repository, "tag": "latest"}
    assert repository_from_image(image) == expected


@pytest.mark.parametrize(
    ("image", "field", "words"),
    [
        ({"registry": 5, "repository": "app"}, "registry", "must be a string"),
        ({"registry": "docker.io", "repository": ["app"]}, "repository", "must be a string"),
        ({"registry": "docker.io", "repository": ""}, "repository", "must not be empty"),
        ({"registry": "docker.io"}, "repository", "must not be empty"),
        ({"registry": "docker.io", "repository": "MyOrg/App"}, "repository", "not a valid"),
        ({"registry": "docker.io", "repository": "nginx:1.25"}, "repository", "not a valid"),
        ({"registry": "docker.io", "repository": "a//b"}, "repository", "not a valid"),
        ({"registry": "docker.io", "repository": "x" * 256}, "repository", "not a valid"),
        ({"registry": "bad host!", "repository": "app"}, "registry", "not a host name"),
        ({"registry": "-bad.example.com", "repository": "app"}, "registry", "not a host name"),
        ({"registry": "example.com:0", "repository": "app"}, "registry", "invalid port"),
        ({"registry": "example.com:99999", "repository": "app"}, "registry", "invalid port"),
        ({"registry": "example.com:http", "repository": "app"}, "registry", "invalid port"),
        ({"registry": "[::1", "repository": "app"}, "registry", "not a host name"),
        ({"registry": "169.254.169.254", "repository": "app"}, "registry", "not a registry"),
        ({"registry": "0.0.0.0:5000", "repository": "app"}, "registry", "not a registry"),
    ],
)
def test_bad_image_is_refused_with_the_field(image: dict, field: str, words: str):
    with pytest.raises(Invalid) as caught:
        repository_from_image(image)
    assert words in caught.value.message
    assert set(caught.value.data) == {field}
    assert caught.value.status == 400


def test_spec_image_must_be_an_object():
    with pytest.raises(Invalid, match="must be an object"):
        repository_from_image("nginx")  # type: ignore[arg-type]


def test_ecr_location_only_for_ecr_hosts():
    ecr = repository_from_image(
        {"registry": "123456789012.dkr.ecr.eu-central-1.amazonaws.com", "repository": "app"}
    )
    assert ecr_location(ecr) == ("123456789012", "eu-central-1")
    fips = Repository("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", "app")
    assert ecr_location(fips) == ("123456789012", "us-east-1")
    assert ecr_location(Repository("ghcr.io", "org/app")) is None
    assert ecr_location(Repository("123456789012.dkr.ecr.x.amazonaws.com.evil.io", "a")) is None


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({"username": "bob", "password": "pw"}, Credentials("bob", "pw")),
        ({"username": "", "password": ""}, None),
        ({}, None),
        ({"username": None, "password": None}, None),
    ],
)
def test_credentials_from_image(image: dict, expected: Credentials | None):
    assert credentials_from_image(image) == expected


@pytest.mark.parametrize(
    ("image", "field"),
    [
        ({"username": "bob", "password": ""}, "password"),
        ({"username": "", "password": "pw"}, "username"),
        ({"username": 1, "password": "pw"}, "username"),
        ({"username": "bob", "password": {"x": 1}}, "password"),
    ],
)
def test_half_or_malformed_credentials_are_refused(image: dict, field: str):
    with pytest.raises(Invalid) as caught:
        credentials_from_image(image)
    assert set(caught.value.data) == {field}


def test_credentials_repr_hides_the_password():
    shown = repr(Credentials("bob", "hunter2-secret"))
    assert "bob" in shown
    assert "hunter2-secret" not in shown


@pytest.mark.parametrize(
    ("host", "internal"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("10.0.0.5", True),
        ("192.168.1.2", True),
        ("169.254.169.254", True),
        ("[::1]", True),
        ("fd00::1", True),
        ("8.8.8.8", False),
        ("ghcr.io", False),
        ("auth.docker.io", False),
    ],
)
def test_internal_hosts_that_a_public_registry_may_not_send_us_to(
    host: str, internal: bool
) -> None:
    from chalicelib.registry.reference import internal_host

    assert internal_host(host) is internal


def test_the_functions_own_ecr_login_only_for_the_shared_prefix() -> None:
    from api_client import reset_settings

    from chalicelib.registry.credentials import shared_ecr

    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    try:
        reset_settings(ECR_SHARED_REPOSITORY_PREFIX="")
        assert not shared_ecr(Repository(ecr, "shared/base"))
        reset_settings(ECR_SHARED_REPOSITORY_PREFIX="shared/")
        assert shared_ecr(Repository(ecr, "shared/base"))
        assert not shared_ecr(Repository(ecr, "tenant-b/private"))
    finally:
        reset_settings(ECR_SHARED_REPOSITORY_PREFIX="")
