#!/usr/bin/env bash
# Install what the test suite needs on a fresh machine: the Python packages, and Debian's
# Chromium for the browser tests (never `playwright install`, which downloads a browser build).
# and a separate virtual environment with vLLM for the serving tests (scripts/install_vllm.sh,
# a no-op once it is there).
#   MUFUN_CHROMIUM   the browser the tests drive (default /usr/bin/chromium)
#   MUFUN_PYTHON     the Python that runs the tests (default python3)
#   MUFUN_VLLM_DIR   the vLLM environment (default ~/.cache/mufun-vllm)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${MUFUN_PYTHON:-python3}"
CHROMIUM="${MUFUN_CHROMIUM:-/usr/bin/chromium}"
"$PY" -m pip install -q -r requirements-dev.txt
if [ ! -x "$CHROMIUM" ]; then
  if ! command -v apt-get >/dev/null; then
    echo "install_test_deps: $CHROMIUM is missing and there is no apt-get; install Chromium and set MUFUN_CHROMIUM" >&2
    exit 1
  fi
  # `env` carries the variable through sudo or without it (a bare VAR=x after an empty $SUDO is a command).
  as_root=(); [ "$(id -u)" = 0 ] || as_root=(sudo)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
bash scripts/install_vllm.sh "${MUFUN_VLLM_DIR:-$HOME/.cache/mufun-vllm}"
