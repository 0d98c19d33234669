"""A real OCI registry for tests and benchmarks: Debian's ``docker-registry`` (CNCF
distribution), installed by ``scripts/ensure-system-packages.sh``.

Why a real one: the registry client's auth challenges, digests and error answers must match
what a registry really sends, not what we believe it sends. Each registry runs on 127.0.0.1 on
a free port with a generated config and filesystem storage in its own temporary folder, in one
of three modes: anonymous, htpasswd Basic (bcrypt hashes), or token auth against our
:class:`TokenServer`.

Pushing uses plain HTTP from Python (:func:`push_image`): blob uploads, then a manifest PUT,
so the tests never need Docker. Authentication for pushes is passed in as a header (Basic, or a
push token issued directly by the token server), so no client auth logic is copied here.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from chalicelib.local.dynamodb_local import free_port

HOST = "127.0.0.1"
SERVICE = "oneclick-test-registry"
ISSUER = "oneclick-test-token-issuer"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
_START_SECONDS = 15.0
_LOG_TAIL_BYTES = 4000


class RegistryStartError(RuntimeError):
    """The registry binary is missing or did not come up; the message carries its log."""


def registry_binary() -> str | None:
    return shutil.which("docker-registry")


def registry_version() -> str:
    """``docker-registry --version``, e.g. ``... github.com/docker/distribution 2.8.2+ds1``."""
    binary = registry_binary()
    if binary is None:
        raise RegistryStartError("docker-registry is not installed")
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout.strip()


def htpasswd_auth(folder: Path, users: dict[str, str]) -> dict[str, Any]:
    """The ``auth`` config section for Basic auth; distribution only accepts bcrypt hashes."""
    import bcrypt

    path = folder / "htpasswd"
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return {"htpasswd": {"realm": "oneclick-test", "path": str(path)}}


class DockerRegistry:
    """One ``docker-registry serve`` child process; ``auth`` is the config's auth section."""

    def __init__(self, auth: dict[str, Any] | None = None) -> None:
        self.auth = auth
        self._dir = tempfile.TemporaryDirectory(prefix="oc-registry-")
        self.work_dir = Path(self._dir.name)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry field of a manifest that points here."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _write_config(self) -> Path:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.work_dir / "data")},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.auth:
            config["auth"] = self.auth
        path = self.work_dir / "config.yml"
        path.write_text(json.dumps(config))  # JSON is YAML, and needs no YAML writer
        return path

    def _log_tail(self) -> str:
        log = self.work_dir / "registry.log"
        return log.read_bytes()[-_LOG_TAIL_BYTES:].decode(errors="replace") if log.exists() else ""

    def start(self) -> Self:
        binary = registry_binary()
        if binary is None:
            raise RegistryStartError(
                "docker-registry is not installed: run scripts/ensure-system-packages.sh"
            )
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port(HOST)
            config = self._write_config()
            with open(self.work_dir / "registry.log", "wb") as log:
                self._process = subprocess.Popen(
                    [binary, "serve", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                return self
            self.stop(remove=False)
        raise RegistryStartError(f"docker-registry did not start:\n{self._log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=1):
                    return True
            except urllib.error.HTTPError:
                return True  # 401 from an auth-enabled registry: it is up
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self, remove: bool = True) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if remove:
            self._dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_registry(auth: dict[str, Any] | None = None) -> tuple[str, Callable[[], None]]:
    """Start a registry on a free loopback port; return its ``host:port`` and a stop function
    (for benchmarks that push many repositories and count the client's requests)."""
    registry = DockerRegistry(auth).start()
    return registry.host, registry.stop


def _request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _upload_blob(base: str, name: str, blob: bytes, headers: dict[str, str]) -> str:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    status, started, body = _request("POST", f"{base}/v2/{name}/blobs/uploads/", headers=headers)
    if status != 202:
        raise AssertionError(f"blob upload start answered {status}: {body[:300]!r}")
    location = urllib.parse.urljoin(base + "/", started["Location"])
    separator = "&" if "?" in location else "?"
    put_headers = {**headers, "Content-Type": "application/octet-stream"}
    url = f"{location}{separator}digest={urllib.parse.quote(digest)}"
    status, _, body = _request("PUT", url, body=blob, headers=put_headers)
    if status != 201:
        raise AssertionError(f"blob upload answered {status}: {body[:300]!r}")
    return digest


def push_image(base_url: str, name: str, tag: str, *, headers: dict[str, str] | None = None) -> str:
    """Push a tiny, unique single-layer image as ``name:tag``; return its manifest digest.

    Every call makes new content (a random layer and label), so pushing the same tag again
    moves it to a different digest, as a rebuilt ``latest`` does.
    """
    auth = dict(headers or {})
    layer = gzip.compress(secrets.token_bytes(64), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"nonce": secrets.token_hex(8)}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _upload_blob(base_url, name, config, auth),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": _upload_blob(base_url, name, layer, auth),
                }
            ],
        }
    ).encode()
    status, answer, body = _request(
        "PUT",
        f"{base_url}/v2/{name}/manifests/{tag}",
        body=manifest,
        headers={**auth, "Content-Type": MANIFEST_V2},
    )
    if status != 201:
        raise AssertionError(f"manifest PUT answered {status}: {body[:300]!r}")
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    if answer.get("Docker-Content-Digest") != digest:
        raise AssertionError(f"registry digest {answer.get('Docker-Content-Digest')} != {digest}")
    return digest


def basic_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class TokenServer:
    """A token service as the distribution token-auth spec describes it, on 127.0.0.1.

    It signs ES256 JWTs with a key whose self-signed certificate the registry trusts through
    ``rootcertbundle``. distribution 2.8 finds the signing key from the JWT header: ``x5c`` (a
    certificate chain up to a root; the default here), a ``jwk``, or ``kid`` equal to the libtrust
    fingerprint of a root's public key (``key_header="kid"``). A token with none is refused.

    ``users`` maps username to password; ``grants`` maps repository name to the usernames that
    may pull it (``"*"`` for anonymous pulls). ``token_field`` picks ``token`` or
    ``access_token`` in the answer, as real services use either. Every request is recorded.
    """

    def __init__(
        self,
        users: dict[str, str],
        grants: dict[str, set[str]],
        *,
        token_field: str = "token",
        expires_in: int = 300,
        key_header: str = "x5c",
    ) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.users = users
        self.grants = grants
        self.token_field = token_field
        self.expires_in = expires_in
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self._cert.public_bytes(serialization.Encoding.PEM)
        if key_header == "x5c":
            der = self._cert.public_bytes(serialization.Encoding.DER)
            self._key_header: dict[str, Any] = {"x5c": [base64.b64encode(der).decode()]}
        else:  # libtrust key id: base32 of the first 240 bits of SHA-256 over the SPKI DER
            spki = self._key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
            self._key_header = {"kid": ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))}
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def realm(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/token"

    def auth_config(self, folder: Path) -> dict[str, Any]:
        """The registry's ``auth`` config section that trusts this server."""
        bundle = folder / "token-root.pem"
        bundle.write_bytes(self.cert_pem)
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle),
            }
        }

    def issue(self, subject: str, name: str, actions: list[str]) -> str:
        """A token for ``actions`` on repository ``name`` (tests use it to push)."""
        import jwt

        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.expires_in,
            "jti": secrets.token_hex(8),
            "access": [{"type": "repository", "name": name, "actions": actions}] if name else [],
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers=self._key_header)

    def _user(self, authorization: str | None) -> str | None:
        """The authenticated username, ``""`` for anonymous, None for wrong credentials."""
        if not authorization:
            return ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        username, _, password = base64.b64decode(value).decode().partition(":")
        known = self.users.get(username)
        if known is None or not secrets.compare_digest(known, password):
            return None
        return username

    def _answer(self, query: dict[str, list[str]], authorization: str | None) -> tuple[int, Any]:
        user = self._user(authorization)
        with self._lock:
            self.requests.append({"query": query, "user": user})
        if user is None:
            return 401, {"details": "wrong username or password"}
        if query.get("service") != [SERVICE]:
            return 400, {"details": "unknown service"}
        name, actions = "", []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repository, _, wanted = rest.rpartition(":")
            allowed = self.grants.get(repository, set())
            if kind == "repository" and ("*" in allowed or (user and user in allowed)):
                name, actions = repository, [a for a in wanted.split(",") if a == "pull"]
        token = self.issue(user or "anonymous", name, actions)
        return 200, {self.token_field: token, "expires_in": self.expires_in}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                status, body = server._answer(
                    urllib.parse.parse_qs(url.query), self.headers.get("Authorization")
                )
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
