"""``python -m mufun serve-lm``: MuFun's decoder on vLLM's OpenAI-compatible server, on 127.0.0.1.

It exports the checkpoint's Qwen3 part once (``export.cached_export``), starts
``python -m vllm.entrypoints.openai.api_server`` from the vLLM environment (``--python`` or
``MUFUN_VLLM_PYTHON``; ``scripts/install_vllm.sh DIR`` makes one) with prompt embeddings on, the
context from the config and the model named after the checkpoint (the app checks the name), waits
until ``/health`` answers, prints the URL and stops the server cleanly on Ctrl-C.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mufun.config import MuFunConfig
from mufun.engines import EngineError, served_dtype
from mufun.export import cached_export


def vllm_command(python: str, exported: Path, name: str, cfg: MuFunConfig, port: int, extra: list[str],
                 gpu: bool) -> list[str]:
    dtype = str(served_dtype(cfg.hidden_size)).replace("torch.", "")
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(exported),
           "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port), "--enable-prompt-embeds",
           "--max-model-len", str(cfg.context_limit), "--dtype", dtype, "--generation-config", "vllm",
           "--max-logprobs", "20"]
    if not gpu:
        cmd.append("--enforce-eager")  # a short start on CPU; CUDA graphs are for GPUs
    return cmd + extra


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"the vLLM server stopped while starting (exit {proc.returncode}); its log says why")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(1.0)
    raise EngineError(f"the vLLM server did not become healthy within {timeout_s:.0f} s")


def start(folder: Path, cfg: MuFunConfig, name: str, port: int = 8000, python: str | None = None,
          extra: list[str] | None = None, log=None, timeout_s: float = 600.0) -> tuple[subprocess.Popen, str]:
    """Export (cached), start vLLM and wait until it is healthy; returns (process, URL)."""
    python = python or os.environ.get("MUFUN_VLLM_PYTHON")
    if not python or not (Path(python).exists() or shutil.which(python)):
        raise EngineError("no vLLM environment: make one with `bash scripts/install_vllm.sh DIR`, then pass "
                          "--python DIR/bin/python or set MUFUN_VLLM_PYTHON")
    exported = cached_export(folder)
    gpu = shutil.which("nvidia-smi") is not None and subprocess.run(["nvidia-smi"], capture_output=True).returncode == 0
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    env.pop("HF_TOKEN", None)  # the exported folder is local: the server never needs the Hub token
    cmd = vllm_command(python, exported, name, cfg, port, list(extra or []), gpu)
    proc = subprocess.Popen(cmd, env=env, stdout=log or None, stderr=subprocess.STDOUT if log else None,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout_s)
    except BaseException:
        stop(proc)
        raise
    return proc, url


def stop(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGINT to the server's process group (vLLM shuts its engine process down), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(grace_s)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def serve_forever(proc: subprocess.Popen, url: str, name: str) -> int:
    print(f"vLLM serves {name} at {url}  (the app: python app.py --engine vllm --vllm-url {url}); Ctrl-C stops it",
          flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print("\nstopping the vLLM server…", file=sys.stderr, flush=True)
        stop(proc)
        return 0
