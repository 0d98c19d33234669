"""What every benchmark script sets up the same way: test settings, the real DynamoDB
engine, the project's Kubernetes control plane (as the backend's least-privilege role),
and the example manifest. Imported before anything from chalicelib."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests" / "support"))
os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
    JWT_SECRET="b" * 40,
    BCRYPT_COST="4",
    TABLE_PREFIX=f"bench{uuid.uuid4().hex[:6]}-",
    LOCAL="true",
)
MANIFEST: dict[str, Any] = json.loads((ROOT / "infra" / "blueprints" / "nginx.json").read_text())


def count_dynamodb_calls() -> Counter[str]:
    """From now on, every DynamoDB API call this process makes is counted by operation
    (reads on the wire client and PynamoDB's or boto3's calls alike)."""
    import dynamodb_calls

    calls: Counter[str] = Counter()

    def counting(operation: str, params: dict[str, Any], send: Any) -> dict[str, Any]:
        calls[operation] += 1
        return send(params)  # type: ignore[no-any-return]

    dynamodb_calls.install(counting)
    return calls


@contextmanager
def database() -> Iterator[str]:
    """DynamoDB Local (moto's server if Java is missing); yields the engine's name."""
    from chalicelib.local.dynamodb_local import DynamoDBLocal, free_port, java_available

    if java_available():
        with DynamoDBLocal(None) as local:
            os.environ["DYNAMODB_ENDPOINT"] = local.endpoint
            yield "DynamoDB Local"
            return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    os.environ["DYNAMODB_ENDPOINT"] = f"http://127.0.0.1:{server._port}"
    try:
        yield "moto server (Java missing)"
    finally:
        server.stop()


@contextmanager
def cluster() -> Iterator[Any]:
    """The project's control plane (built on first use), as the backend's role; yields the
    plane for scripts that also act as its admin (pods, logs)."""
    from chalicelib.local.control_plane import ControlPlane, ensure_built

    ensure_built()
    with ControlPlane() as plane:
        os.environ["LOCAL_KUBECONFIG_FILE"] = str(plane.kubeconfig_for("one-click-backend"))
        yield plane
