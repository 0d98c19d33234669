"""Where an image lives: a rollout manifest's ``spec.image`` turned into a registry API host
and a repository name.

The original understood only Docker Hub and GHCR (by substring) and crashed on anything
unexpected. Here every registry host is accepted as written, Docker Hub's aliases map to its API
host with the ``library/`` prefix for official images, and malformed input is refused with a
message naming the field, before any request is sent.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import Invalid, field_error

DOCKER_HUB_HOST = "registry-1.docker.io"
_ALIASES = {
    "": DOCKER_HUB_HOST,
    "docker": DOCKER_HUB_HOST,
    "docker.io": DOCKER_HUB_HOST,
    "index.docker.io": DOCKER_HUB_HOST,
    "hub.docker.com": DOCKER_HUB_HOST,
    "registry.hub.docker.com": DOCKER_HUB_HOST,
    "ghcr": "ghcr.io",  # the original accepted anything containing "ghcr"
}
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT = re.compile(r"[0-9]{1,5}")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_MAX_NAME = 255


@dataclass(frozen=True)
class Repository:
    """A repository on a registry's API host (``host[:port]``); ``scheme`` is ``http`` only for
    loopback registries (local runs and tests), never for anything reachable from outside."""

    host: str
    name: str
    scheme: str = "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(message, {field: field_error("validation_invalid_image", message)})


def _string(spec_image: dict[str, Any], field: str) -> str:
    value = spec_image.get(field, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(field, f"spec.image.{field} must be a string")
    return value.strip()


def _split_port(host: str) -> tuple[str, str | None]:
    if host.startswith("["):
        address, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(host)
        return address, rest[1:] if rest else None
    name, colon, port = host.partition(":")
    return name, port if colon else None


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def internal_host(name: str) -> bool:
    """A literal loopback, private, link-local or reserved address (or ``localhost``): where
    a deployed function must not send requests a registry asks for (SSRF)."""
    if name.lower() == "localhost":
        return True
    address = _address(name.strip("[]"))
    return address is not None and not address.is_global


def _check_host(host: str) -> bool:
    """Validate ``host[:port]``; return whether it is a loopback host (plain HTTP allowed)."""
    try:
        name, port = _split_port(host)
    except ValueError:
        raise _invalid("registry", f"spec.image.registry {host!r} is not a host name") from None
    if port is not None and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
        raise _invalid("registry", f"spec.image.registry {host!r} has an invalid port")
    address = _address(name)
    if address is None:
        if not _HOSTNAME.fullmatch(name) or len(name) > 253:
            raise _invalid("registry", f"spec.image.registry {host!r} is not a host name")
        return name == "localhost"
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        # 169.254.169.254 is the instance metadata service, never a registry.
        raise _invalid("registry", f"spec.image.registry {host!r} is not a registry address")
    return address.is_loopback


def _split_registry(registry: str) -> tuple[str, str]:
    """``https://Host:443/prefix/`` -> (``host:443``, ``prefix``): a path written into the
    registry field belongs to the repository name, as the pulled image reference shows."""
    lowered = registry.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme):
            lowered = lowered[len(scheme) :]
    host, _, prefix = lowered.strip("/").partition("/")
    return host, prefix.strip("/")


def repository_from_image(spec_image: dict[str, Any]) -> Repository:
    """The repository a manifest's ``spec.image`` (``registry``, ``repository``) points to."""
    if not isinstance(spec_image, dict):
        raise _invalid("image", "spec.image must be an object")
    host, prefix = _split_registry(_string(spec_image, "registry"))
    repository = _string(spec_image, "repository").strip("/")
    if not repository:
        raise _invalid("repository", "spec.image.repository must not be empty")
    name = f"{prefix}/{repository}" if prefix else repository
    host = _ALIASES.get(host, host)
    loopback = _check_host(host)
    components = name.split("/")
    if len(name) > _MAX_NAME or not all(_COMPONENT.fullmatch(part) for part in components):
        raise _invalid(
            "repository",
            f"spec.image.repository {repository!r} is not a valid repository name: use lowercase"
            " letters, digits and the separators . _ - between path parts, with no tag or digest",
        )
    if host == DOCKER_HUB_HOST and len(components) == 1:
        name = f"library/{name}"
    return Repository(host=host, name=name, scheme="http" if loopback else "https")
