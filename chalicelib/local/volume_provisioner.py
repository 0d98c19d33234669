"""Storage for the local control plane: a default StorageClass whose claims get bound.

The control plane has no kubelet and no storage driver (kwok only pretends to run pods),
so a claim of an ordinary StorageClass would stay Pending forever and the frontend's volume
form would have nothing to offer. A real external provisioner watches for claims of its
class and creates a PersistentVolume pre-bound to each; kube-controller-manager's volume
binder then binds the pair. This module does exactly that and no more, in a thread of the
process that owns the control plane: once a second it lists the claims of its class that
wait for a volume and creates one (a ``hostPath`` nobody mounts, sized as asked), and it
deletes the volumes of its class whose claim is gone (reclaim policy ``Delete``). Each pass
is two list requests plus one request per claim or volume that changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("oneclick.local.volumes")

STORAGE_CLASS = "standard"
PROVISIONER = "oneclick.dev/local-static"
INGRESS_CLASS = "nginx"
INGRESS_CONTROLLER = "oneclick.dev/local-ingress"
HOST_PATH_ROOT = "/var/lib/oneclick-local-volumes"

Request = Callable[..., tuple[int, Any]]


def _default_class(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A cluster-wide class marked as the default of its kind (the annotation's group is
    the kind's, e.g. ``storageclass.kubernetes.io/is-default-class``)."""
    default = {f"{kind.lower()}.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "annotations": default},
        **fields,
    }


def storage_class() -> dict[str, Any]:
    """The cluster's default StorageClass, served by :class:`VolumeProvisioner`."""
    return _default_class(
        "storage.k8s.io/v1",
        "StorageClass",
        STORAGE_CLASS,
        provisioner=PROVISIONER,
        reclaimPolicy="Delete",
        volumeBindingMode="Immediate",
    )


def ingress_class() -> dict[str, Any]:
    """The default IngressClass, so the frontend's interface form can offer one. No
    controller serves it here: ingresses are accepted and stay without an address."""
    return _default_class(
        "networking.k8s.io/v1",
        "IngressClass",
        INGRESS_CLASS,
        spec={"controller": INGRESS_CONTROLLER},
    )


def volume_for(claim: dict[str, Any]) -> dict[str, Any]:
    """A PersistentVolume pre-bound to ``claim`` (by uid, so it cannot go to another)."""
    meta, spec = claim["metadata"], claim["spec"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": STORAGE_CLASS,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": f"{HOST_PATH_ROOT}/{meta['uid']}"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def _waiting(claim: dict[str, Any]) -> bool:
    spec = claim.get("spec", {})
    return (
        spec.get("storageClassName") == STORAGE_CLASS
        and not spec.get("volumeName")
        and claim.get("status", {}).get("phase") == "Pending"
        and "deletionTimestamp" not in claim["metadata"]
        and bool(spec.get("resources", {}).get("requests", {}).get("storage"))
    )


def _released(volume: dict[str, Any]) -> bool:
    return volume.get("spec", {}).get("storageClassName") == STORAGE_CLASS and volume.get(
        "status", {}
    ).get("phase") in {"Released", "Failed"}


class VolumeProvisioner:
    """The provisioning loop; ``request(method, path, body=None)`` is one admin call to the
    API server (``ControlPlane.request``) answering ``(status, decoded body)``."""

    def __init__(self, request: Request, period: float = 1.0) -> None:
        self._request = request
        self._period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="volume-provisioner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def sync(self) -> None:
        """One pass: a volume for every waiting claim, away with every released volume."""
        for claim in self._items("/api/v1/persistentvolumeclaims"):
            if _waiting(claim):
                status, body = self._request("POST", "/api/v1/persistentvolumes", volume_for(claim))
                if status >= 300 and status != 409:  # 409: made in an earlier pass
                    logger.warning("creating a volume failed: HTTP %s %s", status, body)
        for volume in self._items("/api/v1/persistentvolumes"):
            if _released(volume):
                self._request("DELETE", f"/api/v1/persistentvolumes/{volume['metadata']['name']}")

    def _items(self, path: str) -> list[dict[str, Any]]:
        status, body = self._request("GET", path)
        if status != 200 or not isinstance(body, dict):
            logger.warning("listing %s failed: HTTP %s", path, status)
            return []
        return list(body.get("items") or [])

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.sync()
            except OSError as error:  # the API server is restarting or gone: next pass
                logger.debug("volume provisioner pass failed: %s", error)
            except Exception:  # noqa: BLE001 - a bad pass must not end the thread: claims would wait forever
                logger.warning("volume provisioner pass failed", exc_info=True)
