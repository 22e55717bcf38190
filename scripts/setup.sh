#!/usr/bin/env bash
# Install what reginventory and its tests need on a fresh Debian 12 machine (idempotent):
# Debian's docker-registry (CNCF distribution), skopeo, htpasswd and chromium, and a virtual
# environment in .venv with reginventory and its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
