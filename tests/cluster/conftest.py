"""The real Kubernetes control plane for cluster tests (see chalicelib/local/control_plane.py).

One control plane per test session: it takes a few seconds to start and ~0.6 GB of
memory, so tests share it and isolate themselves by namespace. The binaries come
from ``tools/kube/build.sh``, which is run here on first use (a no-op when they are
current). Under CI=true a missing Go toolchain, a failed build or a control plane
that does not come up FAILS the session's cluster tests; locally they are skipped
with the reason, like the other tiers in tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from prerequisites import require

from chalicelib.local.control_plane import (
    ControlPlane,
    ControlPlaneError,
    ensure_built,
    missing_binaries,
)


def _unavailable(why: str) -> None:
    require(False, f"Kubernetes control plane unavailable: {why}")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A started ControlPlane: ``.kubeconfig`` (admin), ``.kubeconfig_for(user)``,
    ``.pod_log_file`` (what kwok serves as every pod's log), ``.request(...)``."""
    if os.environ.get("KUBE_SKIP_BUILD") != "1":
        try:
            ensure_built()
        except (ControlPlaneError, OSError) as err:
            _unavailable(str(err))
    elif missing_binaries():
        _unavailable(f"missing binaries {missing_binaries()} and KUBE_SKIP_BUILD=1")
    cp = ControlPlane(keep_work_dir=os.environ.get("KUBE_KEEP_WORKDIR") == "1")
    try:
        cp.start()
    except ControlPlaneError as err:
        _unavailable(str(err))
    try:
        yield cp
    finally:
        cp.stop()
