"""A real, throw-away Kubernetes control plane on 127.0.0.1 for tests and the local run.

The backend's value is what it does to a cluster, so its cluster code is tested
against a real kube-apiserver (with etcd, RBAC, garbage collection, the
aggregation layer) instead of a fake. There is no Docker here, so the pieces are
plain processes built from Go modules by ``tools/kube/build.sh`` into
``.cache/kube-bin/``:

* etcd and kube-apiserver (secure port only, client-certificate auth, RBAC);
* kube-controller-manager (Deployments -> ReplicaSets -> Pods, garbage
  collection of owned objects, namespace deletion, HPAs);
* kube-scheduler and kwok (fake nodes: pods are scheduled, reach Running, and
  kwok emulates container logs and the kubelet resource metrics);
* the real One-Click operator, built from its unchanged sources with the Rollout
  CRD it ships, and ``oneclick-metrics`` (ours: serves ``metrics.k8s.io``
  through an APIService from kwok's emulated kubelet metrics);
* a default StorageClass whose claims get bound and an IngressClass
  (``volume_provisioner``, a thread of this process).

Only the standard library is used (plus the ``openssl`` command for the
certificates), so starting a cluster never depends on the app's Python
packages. Every server binds to 127.0.0.1 on free ports; ``stop()`` kills every
process group it started, and the class is a context manager.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chalicelib.local import volume_provisioner
from chalicelib.local.volume_provisioner import VolumeProvisioner

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN_DIR = REPO_ROOT / ".cache" / "kube-bin"
BUILD_SCRIPT = REPO_ROOT / "tools" / "kube" / "build.sh"
RBAC_DIR = REPO_ROOT / "infra" / "rbac"

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "one-click-operator",
    "oneclick-metrics",
)

NODE_NAME = "kwok-node-0"
METRICS_SERVICE = ("kube-system", "oneclick-metrics")

# Default container log that kwok serves for every pod (kwok "ClusterLogs").
DEFAULT_POD_LOG = (
    '127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 615 "-" "kube-probe/1.36"',
    "nginx: worker process started",
)


def cri_log_line(message: str, stream: str = "stdout", when: float | None = None) -> str:
    """One line in the CRI container-log format kwok (like the kubelet) reads and serves."""
    ts = time.time() if when is None else when
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"
    return f"{stamp} {stream} F {message}\n"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or made ready."""


def missing_binaries(bin_dir: Path = DEFAULT_BIN_DIR) -> list[str]:
    """Names of the required binaries that are not in ``bin_dir``."""
    return [b for b in BINARIES if not os.access(bin_dir / b, os.X_OK)]


def ensure_built(bin_dir: Path = DEFAULT_BIN_DIR, log: Path | None = None) -> None:
    """Run ``tools/kube/build.sh`` (a no-op when the binaries are current).

    Raises ControlPlaneError with the tail of the build output when it fails,
    so a broken build is reported instead of silently skipping cluster tests.
    """
    env = dict(os.environ, KUBE_BIN_DIR=str(bin_dir))
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if log is not None:
        log.write_text(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise ControlPlaneError(f"tools/kube/build.sh failed (exit {proc.returncode}):\n{tail}")
    missing = missing_binaries(bin_dir)
    if missing:
        raise ControlPlaneError(f"build.sh succeeded but binaries are missing: {missing}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the starting process dies.

    stop() is the normal path; this covers a test run killed by a timeout or
    SIGKILL, which would otherwise leave etcd and the API server running.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _PKI:
    """Certificates and keys made with the ``openssl`` command.

    EC P-256 keys: generating them takes milliseconds, where RSA would add
    seconds to every start.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        if shutil.which("openssl") is None:
            raise ControlPlaneError(
                "the openssl command is required to make the cluster certificates"
            )

    def _run(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ControlPlaneError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")

    def key(self, name: str) -> Path:
        path = self.dir / f"{name}.key"
        self._run(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
        )
        return path

    def ca(self, name: str, cn: str) -> tuple[Path, Path]:
        key = self.key(name)
        crt = self.dir / f"{name}.crt"
        self._run(
            "req",
            "-x509",
            "-new",
            "-key",
            str(key),
            "-out",
            str(crt),
            "-days",
            "3650",
            "-subj",
            f"/CN={cn}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )
        return crt, key

    def cert(
        self,
        name: str,
        ca: tuple[Path, Path],
        cn: str,
        orgs: Iterable[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> tuple[Path, Path]:
        key = self.key(name)
        csr = self.dir / f"{name}.csr"
        crt = self.dir / f"{name}.crt"
        subj = f"/CN={cn}" + "".join(f"/O={o}" for o in orgs)
        self._run("req", "-new", "-key", str(key), "-out", str(csr), "-subj", subj)
        usages = (["serverAuth"] if server else []) + (["clientAuth"] if client else [])
        ext = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={','.join(usages)}",
        ]
        if server:
            ext.append(
                "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
            )
        extfile = self.dir / f"{name}.ext"
        extfile.write_text("\n".join(ext) + "\n")
        self._run(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca[0]),
            "-CAkey",
            str(ca[1]),
            "-CAcreateserial",
            "-out",
            str(crt),
            "-days",
            "3650",
            "-extfile",
            str(extfile),
        )
        return crt, key


class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok + operator + metrics.

    Usage::

        with ControlPlane() as cp:
            cp.kubeconfig  # admin kubeconfig (system:masters) for tests and the local run

    ``start()`` returns once the API server is ready, the Rollout CRD is
    established, the fake node is Ready and ``metrics.k8s.io`` is available.
    """

    def __init__(
        self,
        bin_dir: Path | str = DEFAULT_BIN_DIR,
        work_dir: Path | str | None = None,
        crd_dir: Path | str | None = None,
        rbac_dir: Path | str = RBAC_DIR,
        keep_work_dir: bool = False,
        pod_log: Iterable[str] = DEFAULT_POD_LOG,
        verbosity: int = 0,
    ) -> None:
        self.bin_dir = Path(bin_dir)
        self._own_work_dir = work_dir is None
        self.work_dir = (
            Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="oneclick-kube-"))
        )
        # The CRD the operator ships, copied next to the binaries by the build.
        self.crd_dir = Path(crd_dir) if crd_dir else self.bin_dir / "crd"
        self.rbac_dir = Path(rbac_dir)
        self.keep_work_dir = keep_work_dir
        self.verbosity = verbosity
        self.log_dir = self.work_dir / "logs"
        self.pki_dir = self.work_dir / "pki"
        #: File kwok streams as every pod's container log (CRI format); see append_pod_log().
        self.pod_log_file = self.work_dir / "pod.log"
        self._pod_log_text = "".join(cri_log_line(m) for m in pod_log)
        self.kubeconfig = self.work_dir / "admin.kubeconfig"
        self.ports: dict[str, int] = {}
        self.api_url = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._pki: _PKI | None = None
        self._ca: tuple[Path, Path] | None = None
        self.timings: dict[str, float] = {}
        self._volumes: VolumeProvisioner | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> ControlPlane:
        """Start every component and wait until the cluster is usable.

        On any failure everything already started is stopped again and a
        ControlPlaneError carries the tail of the failing component's log.
        """
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise ControlPlaneError(
                f"missing binaries in {self.bin_dir}: {', '.join(missing)} "
                "(run: bash tools/kube/build.sh)"
            )
        t0 = time.monotonic()
        deadline = t0 + timeout
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.pod_log_file.write_text(self._pod_log_text)
            self._make_pki()
            self.timings["pki"] = time.monotonic() - t0
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig(self.kubeconfig, self._admin_cert)
            # The controllers retry until the API server answers, so starting
            # them now overlaps their start-up with the API server's.
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self._wait(
                lambda: self._get_ok("/readyz"),
                deadline,
                "kube-apiserver /readyz",
                "kube-apiserver",
            )
            self.timings["apiserver_ready"] = time.monotonic() - t0
            self._start_metrics()
            self._apply_dir(self.crd_dir)
            self._wait(
                self._crds_established, deadline, "Rollout CRD established", "kube-apiserver"
            )
            self._start_operator()
            self._apply_dir(self.rbac_dir)
            self._start_storage()
            self._create_node()
            self._register_metrics_api()
            self._wait(self._node_ready, deadline, f"node {NODE_NAME} Ready", "kwok")
            self._wait(
                self._metrics_available,
                deadline,
                "APIService v1beta1.metrics.k8s.io Available",
                "oneclick-metrics",
            )
            self._wait(
                self._default_sa_exists,
                deadline,
                "default ServiceAccount",
                "kube-controller-manager",
            )
            self.timings["ready"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process group started here (TERM, then KILL), remove the work dir."""
        if self._volumes is not None:
            self._volumes.stop()
            self._volumes = None
        procs = list(self._procs.items())[::-1]
        for _, proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for _, proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _, proc in procs:
            # KILL the whole group: also ends any child a component left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._procs.clear()
        if self._own_work_dir and not self.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # ------------------------------------------------------------------ helpers for callers

    def pids(self) -> dict[str, int]:
        """Process ids of the running components."""
        return {name: p.pid for name, p in self._procs.items() if p.poll() is None}

    def rss_bytes(self) -> int:
        """Resident memory of all components together (from /proc)."""
        total = 0
        for pid in self.pids().values():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def append_pod_log(self, *messages: str, stream: str = "stdout") -> None:
        """Make every pod "log" these lines now (followers of a pod's log receive them)."""
        with self.pod_log_file.open("a") as f:
            f.write("".join(cri_log_line(m, stream) for m in messages))

    def log_tail(self, component: str, lines: int = 40) -> str:
        """Last lines of a component's log, for error messages."""
        path = self.log_dir / f"{component}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kubeconfig_for(self, user: str, groups: Iterable[str] = ()) -> Path:
        """A kubeconfig for a client-certificate user, to test RBAC with a non-admin identity."""
        assert self._pki is not None and self._ca is not None, "start() first"
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
        cert = self._pki.cert(f"user-{safe}", self._ca, user, orgs=list(groups), client=True)
        path = self.work_dir / f"{safe}.kubeconfig"
        self._write_kubeconfig(path, cert, user=user)
        return path

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """One admin request to the API server; returns (status, decoded JSON or text)."""
        data: bytes | None = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=10) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    # ------------------------------------------------------------------ start-up steps

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
            ctx.load_cert_chain(str(self._admin_cert[0]), str(self._admin_cert[1]))
            self._ssl = ctx
        return self._ssl

    def _make_pki(self) -> None:
        pki = self._pki = _PKI(self.pki_dir)
        self._ca = pki.ca("ca", "oneclick-test-ca")
        self._front_proxy_ca = pki.ca("front-proxy-ca", "oneclick-front-proxy-ca")
        self._serving = pki.cert("apiserver", self._ca, "kube-apiserver", server=True)
        self._admin_cert = pki.cert(
            "admin", self._ca, "oneclick-admin", orgs=["system:masters"], client=True
        )
        self._front_proxy_client = pki.cert(
            "front-proxy-client", self._front_proxy_ca, "front-proxy-client", client=True
        )
        self._sa_key = pki.key("sa")
        self._sa_pub = self.pki_dir / "sa.pub"
        pki._run("pkey", "-in", str(self._sa_key), "-pubout", "-out", str(self._sa_pub))

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            self._procs[name] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.work_dir),
                start_new_session=True,  # own process group, so stop() reaches every child
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.ports["etcd"] = client
        self._spawn(
            "etcd",
            [
                self._bin("etcd"),
                "--name=default",
                f"--data-dir={self.work_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",  # throw-away cluster: speed over durability
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self) -> None:
        port = free_port()
        self.ports["kube-apiserver"] = port
        self.api_url = f"https://127.0.0.1:{port}"
        pki = self.pki_dir
        self._spawn(
            "kube-apiserver",
            [
                self._bin("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={self._serving[0]}",
                f"--tls-private-key-file={self._serving[1]}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={self._sa_pub}",
                f"--service-account-signing-key-file={self._sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",  # 127.0.0.1 is not a valid endpoint address
                "--allow-privileged=true",
                f"--requestheader-client-ca-file={self._front_proxy_ca[0]}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={self._front_proxy_client[0]}",
                f"--proxy-client-key-file={self._front_proxy_client[1]}",
                "--profiling=false",
                "--shutdown-delay-duration=0s",
                f"--v={self.verbosity}",
            ],
        )

    def _write_kubeconfig(self, path: Path, cert: tuple[Path, Path], user: str = "admin") -> None:
        # JSON is valid YAML, and every kubeconfig loader reads it.
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "oneclick-local",
                    "cluster": {
                        "server": self.api_url,
                        "certificate-authority-data": _b64(self.pki_dir / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(cert[0]),
                        "client-key-data": _b64(cert[1]),
                    },
                }
            ],
            "contexts": [
                {"name": "oneclick-local", "context": {"cluster": "oneclick-local", "user": user}}
            ],
            "current-context": "oneclick-local",
        }
        path.write_text(json.dumps(cfg, indent=2))
        path.chmod(0o600)

    def _start_controller_manager(self) -> None:
        port = free_port()
        self.ports["kube-controller-manager"] = port
        self._spawn(
            "kube-controller-manager",
            [
                self._bin("kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                f"--service-account-private-key-file={self._sa_key}",
                f"--root-ca-file={self.pki_dir / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
                "--horizontal-pod-autoscaler-sync-period=5s",
                "--profiling=false",
                f"--v={self.verbosity}",
            ],
        )

    def _start_scheduler(self) -> None:
        port = free_port()
        self.ports["kube-scheduler"] = port
        self._spawn(
            "kube-scheduler",
            [
                self._bin("kube-scheduler"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                "--profiling=false",
                f"--v={self.verbosity}",
            ],
        )

    def _kwok_config(self) -> Path:
        """kwok's own objects: every pod logs pod_log_file; usage from annotations or defaults."""
        path = self.work_dir / "kwok-oneclick.yaml"
        path.write_text(
            "apiVersion: kwok.x-k8s.io/v1alpha1\n"
            "kind: ClusterLogs\n"
            "metadata:\n"
            "  name: oneclick-logs\n"
            "spec:\n"
            "  logs:\n"
            f"  - logsFile: {json.dumps(str(self.pod_log_file))}\n"
            "    follow: true\n"
            "---\n"
            "apiVersion: kwok.x-k8s.io/v1alpha1\n"
            "kind: ClusterResourceUsage\n"
            "metadata:\n"
            "  name: oneclick-usage\n"
            "spec:\n"
            "  usages:\n"
            "  - usage:\n"
            "      cpu:\n"
            "        expression: |\n"
            '          "kwok.x-k8s.io/usage-cpu" in pod.metadata.annotations\n'
            '          ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-cpu"])\n'
            '          : Quantity("5m")\n'
            "      memory:\n"
            "        expression: |\n"
            '          "kwok.x-k8s.io/usage-memory" in pod.metadata.annotations\n'
            '          ? Quantity(pod.metadata.annotations["kwok.x-k8s.io/usage-memory"])\n'
            '          : Quantity("24Mi")\n'
        )
        return path

    def _start_kwok(self) -> None:
        port = free_port()
        self.ports["kwok"] = port
        stages = sorted((self.bin_dir / "kwok-stages").glob("*.yaml"))
        if not stages:
            raise ControlPlaneError(
                f"no kwok stages in {self.bin_dir / 'kwok-stages'} (run tools/kube/build.sh)"
            )
        configs = [*stages, self._kwok_config()]
        self._spawn(
            "kwok",
            [
                self._bin("kwok"),
                f"--kubeconfig={self.kubeconfig}",
                *[f"--config={c}" for c in configs],
                "--manage-all-nodes=true",
                f"--tls-cert-file={self._serving[0]}",
                f"--tls-private-key-file={self._serving[1]}",
                "--node-ip=127.0.0.1",
                f"--node-port={port}",
                f"--server-address=127.0.0.1:{port}",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.1/16",
                f"--v={'DEBUG' if self.verbosity > 2 else 'INFO'}",
            ],
        )

    def _start_metrics(self) -> None:
        port = free_port()
        self.ports["oneclick-metrics"] = port
        self._spawn(
            "oneclick-metrics",
            [
                self._bin("oneclick-metrics"),
                f"--kubeconfig={self.kubeconfig}",
                f"--listen=127.0.0.1:{port}",
                f"--kwok-url=https://127.0.0.1:{self.ports['kwok']}",
            ],
        )

    def _start_operator(self) -> None:
        # Its metrics and probe servers would bind every interface: "0" turns them off.
        self._spawn(
            "one-click-operator",
            [
                self._bin("one-click-operator"),
                f"--kubeconfig={self.kubeconfig}",
                "--metrics-bind-address=0",
                "--health-probe-bind-address=0",
                f"--zap-log-level={'debug' if self.verbosity > 2 else 'info'}",
            ],
        )

    # ------------------------------------------------------------------ API objects

    # kind -> (API path prefix, namespaced, plural)
    _KINDS: dict[str, tuple[str, bool, str]] = {
        "CustomResourceDefinition": (
            "/apis/apiextensions.k8s.io/v1",
            False,
            "customresourcedefinitions",
        ),
        "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", False, "clusterroles"),
        "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", False, "clusterrolebindings"),
        "Role": ("/apis/rbac.authorization.k8s.io/v1", True, "roles"),
        "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", True, "rolebindings"),
        "Namespace": ("/api/v1", False, "namespaces"),
        "ServiceAccount": ("/api/v1", True, "serviceaccounts"),
        "Service": ("/api/v1", True, "services"),
        "Node": ("/api/v1", False, "nodes"),
        "APIService": ("/apis/apiregistration.k8s.io/v1", False, "apiservices"),
        "StorageClass": ("/apis/storage.k8s.io/v1", False, "storageclasses"),
        "IngressClass": ("/apis/networking.k8s.io/v1", False, "ingressclasses"),
    }

    def create(
        self, obj: dict[str, Any] | str, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """Create one object (a dict, or one YAML document as text); AlreadyExists is fine."""
        if isinstance(obj, str):
            kind_m = re.search(r"^kind:\s*(\S+)", obj, re.M)
            if not kind_m:
                raise ControlPlaneError("YAML document without a top-level kind")
            kind = kind_m.group(1).strip("'\"")
            ns_m = re.search(r"^  namespace:\s*(\S+)", obj, re.M)
            namespace = ns_m.group(1).strip("'\"") if ns_m else "default"
            content_type = "application/yaml"
        else:
            kind = obj["kind"]
            namespace = obj.get("metadata", {}).get("namespace", "default")
        if kind not in self._KINDS:
            raise ControlPlaneError(f"control_plane cannot create kind {kind!r}")
        prefix, namespaced, plural = self._KINDS[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
        status, body = self.request("POST", path, obj, content_type=content_type)
        if status == 409:
            return body if isinstance(body, dict) else {}
        if status >= 300:
            raise ControlPlaneError(f"creating {kind} failed: HTTP {status}: {body}")
        return body

    def _apply_dir(self, directory: Path) -> None:
        """Create every object of every *.yaml file (documents split on '---' lines)."""
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.y*ml")):
            for doc in re.split(r"^---\s*$", path.read_text(), flags=re.M):
                if re.search(r"^kind:", doc, re.M):
                    try:
                        self.create(doc)
                    except ControlPlaneError as err:
                        raise ControlPlaneError(f"{path}: {err}") from None

    def _start_storage(self) -> None:
        """The default StorageClass with its provisioner loop, and the IngressClass."""
        self.create(volume_provisioner.storage_class())
        self.create(volume_provisioner.ingress_class())
        self._volumes = VolumeProvisioner(self.request)
        self._volumes.start()

    def _create_node(self) -> None:
        self.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE_NAME,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": NODE_NAME,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/role": "agent",
                        "node-role.kubernetes.io/agent": "",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                },
            }
        )

    def _register_metrics_api(self) -> None:
        ns, name = METRICS_SERVICE
        port = self.ports["oneclick-metrics"]
        # An ExternalName Service lets the aggregator dial 127.0.0.1 directly:
        # Endpoints may not hold loopback addresses, and there is no kube-proxy.
        self.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "localhost",
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
                },
            }
        )
        self.create(
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": "v1beta1.metrics.k8s.io"},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "insecureSkipTLSVerify": True,  # self-signed serving cert on loopback
                    "service": {"namespace": ns, "name": name, "port": port},
                },
            }
        )

    # ------------------------------------------------------------------ readiness

    def _get_ok(self, path: str) -> bool:
        try:
            status, _ = self.request("GET", path)
        except (OSError, ssl.SSLError):
            return False
        return status == 200

    def _condition_true(self, path: str, cond: str) -> bool:
        try:
            status, body = self.request("GET", path)
        except OSError:
            return False
        if status != 200 or not isinstance(body, dict):
            return False
        for c in body.get("status", {}).get("conditions", []) or []:
            if c.get("type") == cond and c.get("status") == "True":
                return True
        return False

    def _crds_established(self) -> bool:
        names = []
        for path in sorted(self.crd_dir.glob("*.y*ml")):
            for m in re.finditer(r"^  name:\s*(\S+)", path.read_text(), re.M):
                names.append(m.group(1))
                break
        return all(
            self._condition_true(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{n}", "Established"
            )
            for n in names
        )

    def _node_ready(self) -> bool:
        return self._condition_true(f"/api/v1/nodes/{NODE_NAME}", "Ready")

    def _metrics_available(self) -> bool:
        return self._condition_true(
            "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", "Available"
        )

    def _default_sa_exists(self) -> bool:
        return self._get_ok("/api/v1/namespaces/default/serviceaccounts/default")

    def _wait(self, check: Callable[[], bool], deadline: float, what: str, component: str) -> None:
        delay = 0.05
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise ControlPlaneError(
                        f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                        + self.log_tail(name)
                    )
            if check():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"timed out waiting for {what}:\n{self.log_tail(component)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


def main() -> None:
    """``python -m chalicelib.local.control_plane``: build, start, print the kubeconfig, wait."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-build", action="store_true", help="do not run tools/kube/build.sh first"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work dir (logs, etcd data) after stop"
    )
    args = parser.parse_args()
    if not args.no_build:
        ensure_built()

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the cluster cleanly too

    # Explicit handlers: a shell's background job inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    cp = ControlPlane(keep_work_dir=args.keep)
    cp.start()
    print(
        f"control plane ready in {cp.timings['ready']:.1f}s; RSS {cp.rss_bytes() / 2**20:.0f} MiB"
    )
    print(f"export KUBECONFIG={cp.kubeconfig}")
    print(f"logs: {cp.log_dir}  (Ctrl-C stops everything)")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cp.stop()


if __name__ == "__main__":
    main()
