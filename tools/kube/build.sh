#!/usr/bin/env bash
# Build the Kubernetes control plane used by the cluster tests and the local run
# (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, the real
# One-Click operator and our metrics.k8s.io server) from Go modules, into
# .cache/kube-bin/ (ignored), with the Rollout CRD the operator ships. A second
# run with unchanged inputs reuses the
# binaries and returns at once. Any piece that fails to build fails the script.
#
# Why Go modules: no registry here ships Kubernetes binaries and there is no
# Docker; the Go module proxy does serve every module they are built from.
#
# Environment:
#   KUBE_BIN_DIR   output folder (default: <repo>/.cache/kube-bin)
#   ONECLICK_OPERATOR_SRC  the operator's sources, unchanged (default:
#                  <repo>/../shared/upstream/one-click-operator); read only: they
#                  are copied into the build folder and built from their own go.mod
#   GOCACHE, GOMODCACHE  Go's own caches; the defaults are Go's per-user ones,
#                  so fresh clones on the same machine (CI) reuse compiled
#                  packages. Set them to project folders to build in isolation.
#   KUBE_BUILD_P   parallel compile jobs (default: number of CPUs)
#   KUBE_FORCE_BUILD=1  rebuild even when the stamp matches
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${KUBE_BIN_DIR:-$ROOT/.cache/kube-bin}"
OPERATOR_SRC="${ONECLICK_OPERATOR_SRC:-$ROOT/../shared/upstream/one-click-operator}"

die() { echo "tools/kube/build.sh: ERROR: $*" >&2; exit 1; }
# Any other failing command (set -e) is reported too, never a silent exit.
trap 'echo "tools/kube/build.sh: ERROR: line $LINENO: $BASH_COMMAND failed" >&2' ERR

# Go's official tarball location, for shells whose PATH lacks it.
command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || die "Go is not installed (need go >= 1.26, see tools/kube/README.md)"
GOVER="$(go env GOVERSION)"
[[ -f "$OPERATOR_SRC/go.mod" && -f "$OPERATOR_SRC/config/crd/bases/one-click.dev_rollouts.yaml" ]] \
  || die "the One-Click operator's sources are not at $OPERATOR_SRC (set ONECLICK_OPERATOR_SRC)"

# Everything that decides what the binaries are goes into the stamp.
stamp="$( {
  echo "$GOVER $(go env GOOS GOARCH)"
  cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/build.sh"
  find "$HERE/cmd" -type f -name '*.go' | LC_ALL=C sort | xargs cat
  (cd "$OPERATOR_SRC" && find . -type f \( -name '*.go' -o -name 'go.*' -o -name '*.yaml' \) \
    | LC_ALL=C sort | xargs sha256sum)
} | sha256sum | cut -d' ' -f1)"

BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok one-click-operator oneclick-metrics)

if [[ "${KUBE_FORCE_BUILD:-0}" != 1 && -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$stamp" ]]; then
  ok=1
  for b in "${BINARIES[@]}"; do [[ -x "$OUT/$b" ]] || ok=0; done
  [[ -d "$OUT/kwok-stages" && -f "$OUT/crd/one-click.dev_rollouts.yaml" ]] || ok=0
  if [[ $ok == 1 ]]; then
    echo "tools/kube/build.sh: binaries in $OUT are up to date"
    exit 0
  fi
fi

mkdir -p "$OUT"
TMP="$(mktemp -d "$OUT/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath -mod=readonly"
P="${KUBE_BUILD_P:-$(nproc)}"

cd "$HERE"
echo "tools/kube/build.sh: $GOVER, -p $P, GOCACHE=$(go env GOCACHE), GOMODCACHE=$(go env GOMODCACHE)"
start=$(date +%s)

echo "tools/kube/build.sh: downloading modules"
go mod download || die "go mod download failed"
echo "tools/kube/build.sh: modules ready after $(( $(date +%s) - start ))s"

# One go build for everything, so shared packages compile once.
PKGS=(
  go.etcd.io/etcd/server/v3
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler
  sigs.k8s.io/kwok/cmd/kwok
  ./cmd/oneclick-metrics
)
# Stamp the Kubernetes version the way the release build does (otherwise
# /version reports v0.0.0-master and clients warn about version skew).
KVER="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
KMAJ="${KVER#v}"; KMAJ="${KMAJ%%.*}"
KMIN="${KVER#v*.}"; KMIN="${KMIN%%.*}"
LDX=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDX+=" -X $pkg.gitVersion=$KVER -X $pkg.gitMajor=$KMAJ -X $pkg.gitMinor=$KMIN"
  LDX+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
go build -p "$P" -ldflags="-s -w$LDX" -o "$TMP/" "${PKGS[@]}" || die "go build failed"
# The operator is its own module (its own go.mod and pins), built from a
# writable copy: the sources may sit on a read-only mount.
cp -r "$OPERATOR_SRC" "$TMP/operator-src"
chmod -R u+w "$TMP/operator-src"
echo "tools/kube/build.sh: building the One-Click operator from $OPERATOR_SRC"
op_start=$(date +%s)
(cd "$TMP/operator-src" && go mod download && go build -p "$P" -ldflags="-s -w" -o "$TMP/one-click-operator" .) \
  || die "building the One-Click operator failed"
echo "tools/kube/build.sh: operator built in $(( $(date +%s) - op_start ))s"
mkdir -p "$TMP/crd"
cp "$OPERATOR_SRC/config/crd/bases/one-click.dev_rollouts.yaml" "$TMP/crd/"

# The etcd main package is go.etcd.io/etcd/server/v3, so its binary is named "server".
mv "$TMP/server" "$TMP/etcd" || die "etcd binary missing after build"

for b in "${BINARIES[@]}"; do
  [[ -x "$TMP/$b" ]] || die "$b was not built"
done
"$TMP/etcd" --version >/dev/null || die "etcd does not run"
"$TMP/kube-apiserver" --version >/dev/null || die "kube-apiserver does not run"
"$TMP/kwok" --version >/dev/null 2>&1 || "$TMP/kwok" --help >/dev/null || die "kwok does not run"

# kwok needs its lifecycle stages and the kubelet-metrics emulation as config;
# copy them from the kwok module version we build, so they always match it.
KWOK_DIR="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
[[ -d "$KWOK_DIR" ]] || die "kwok module folder not found"
mkdir -p "$TMP/kwok-stages"
for f in \
  kustomize/stage/node/fast/node-initialize.yaml \
  kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  kustomize/stage/pod/fast/pod-ready.yaml \
  kustomize/stage/pod/fast/pod-complete.yaml \
  kustomize/stage/pod/fast/pod-delete.yaml \
  kustomize/metrics/resource/metrics-resource.yaml; do
  [[ -f "$KWOK_DIR/$f" ]] || die "kwok file $f missing in $KWOK_DIR"
  cp "$KWOK_DIR/$f" "$TMP/kwok-stages/"
done
chmod -R u+w "$TMP/kwok-stages"

rm -rf "$OUT/kwok-stages" "$OUT/crd" "$OUT/oneclick-operator"
for b in "${BINARIES[@]}"; do mv -f "$TMP/$b" "$OUT/$b"; done
mv "$TMP/kwok-stages" "$OUT/kwok-stages"
mv "$TMP/crd" "$OUT/crd"
"$OUT/kube-apiserver" --version > "$OUT/VERSIONS"
etcd_version="$("$OUT/etcd" --version)"  # no "| head": SIGPIPE + pipefail would abort
echo "${etcd_version%%$'\n'*}" >> "$OUT/VERSIONS"
echo "kwok $(go list -m -f '{{.Version}}' sigs.k8s.io/kwok)" >> "$OUT/VERSIONS"
echo "$stamp" > "$OUT/.stamp"
echo "tools/kube/build.sh: built ${BINARIES[*]} into $OUT in $(( $(date +%s) - start ))s"
du -sh "$OUT" | sed 's/^/tools\/kube\/build.sh: size /'
