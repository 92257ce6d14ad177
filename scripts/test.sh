#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_test_deps.sh
export HF_HUB_OFFLINE=1
export MUFUN_VLLM_PYTHON="${MUFUN_VLLM_PYTHON:-${MUFUN_VLLM_DIR:-$HOME/.cache/mufun-vllm}/bin/python}"
"${MUFUN_PYTHON:-python3}" -m pytest -q "$@"
