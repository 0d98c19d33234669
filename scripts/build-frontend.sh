#!/usr/bin/env bash
# Build the unchanged One-Click frontend for the browser tests and `make run --frontend`.
#
# The sources are read only (../shared is a read-only mount in CI), so they are copied
# into a build folder first. Two lockfile pins (svelte-purify@1.1.32 and its
# universal-dompurify@1.0.16) are no longer served by the npm registry; their entries
# are dropped from the copy's lockfile so npm resolves svelte-purify's own range, and
# every other pin stays. No source file is changed.
#
# The result is cached per user, keyed by a hash of the sources and this script, so a
# fresh clone on the same machine (CI) reuses it; .cache/frontend-build links to it.
#
# Environment:
#   ONECLICK_FRONTEND_SRC    the frontend's sources (default ../shared/upstream/one-click/frontend)
#   ONECLICK_FRONTEND_CACHE  where builds are kept (default ~/.cache/one-click-serverless/frontend)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${ONECLICK_FRONTEND_SRC:-$ROOT/../shared/upstream/one-click/frontend}"
CACHE="${ONECLICK_FRONTEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/one-click-serverless/frontend}"
LINK="$ROOT/.cache/frontend-build"

die() { echo "scripts/build-frontend.sh: ERROR: $*" >&2; exit 1; }
trap 'echo "scripts/build-frontend.sh: ERROR: line $LINENO: $BASH_COMMAND failed" >&2' ERR

[[ -f "$SRC/package.json" && -f "$SRC/package-lock.json" ]] \
  || die "the frontend's sources are not at $SRC (set ONECLICK_FRONTEND_SRC)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"

stamp="$( {
  cat "${BASH_SOURCE[0]}"
  (cd "$SRC" && find . -path ./node_modules -prune -o -path ./build -prune -o -type f -print \
    | LC_ALL=C sort | xargs sha256sum)
} | sha256sum | cut -c1-16)"
OUT="$CACHE/$stamp"

if [[ ! -f "$OUT/build/index.html" ]]; then
  start=$(date +%s)
  mkdir -p "$CACHE"
  WORK="$(mktemp -d "$CACHE/.work.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  (cd "$SRC" && tar --exclude=./node_modules --exclude=./build -cf - .) | (cd "$WORK" && tar -xf -)
  chmod -R u+w "$WORK"
  cd "$WORK"
  node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json"));
    const gone = /node_modules\/(svelte-purify|universal-dompurify)$/;
    for (const key of Object.keys(lock.packages)) if (gone.test(key)) delete lock.packages[key];
    fs.writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
  ' || die "could not edit the lockfile copy"
  echo "scripts/build-frontend.sh: npm install in $WORK"
  npm install --no-audit --no-fund --loglevel=error || die "npm install failed"
  echo "scripts/build-frontend.sh: npm run build"
  npm run build >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; die "npm run build failed"; }
  [[ -f build/index.html ]] || die "the build wrote no build/index.html"
  mkdir -p "$OUT.tmp" && mv build "$OUT.tmp/build" && rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
  echo "scripts/build-frontend.sh: built in $(( $(date +%s) - start ))s into $OUT"
fi
mkdir -p "$(dirname "$LINK")"
ln -sfn "$OUT/build" "$LINK"
echo "scripts/build-frontend.sh: frontend ready at $LINK"
