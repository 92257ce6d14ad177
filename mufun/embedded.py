"""The embedded default model: MuFun-Tiny, written in the released checkpoint format.

If trained weights ship in ``assets/mufun-tiny`` they are used; otherwise a deterministic
random-weight tiny model is built from a seed and cached, so the loader path is the same.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from mufun.checkpoint import INDEX, save
from mufun.config import MuFunConfig

ASSET = Path(__file__).resolve().parent.parent / "assets" / "mufun-tiny"
SEED = 1234
VERSION = "v1"


def cache_dir() -> Path:
    return Path(os.environ.get("MUFUN_CACHE", Path.home() / ".cache" / "mufun"))


def build_random(out: Path, cfg: MuFunConfig | None = None, seed: int = SEED) -> Path:
    from mufun.model import MuFunModel
    from mufun.prompt import qwen3_tokenizer_dir

    cfg = cfg or MuFunConfig.tiny()
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = MuFunModel(cfg)
    finally:
        torch.random.set_rng_state(gen_state)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    save(model, cfg, tmp, qwen3_tokenizer_dir())
    if out.exists():  # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.replace(out)
    return out


def embedded_checkpoint() -> Path:
    if (ASSET / INDEX).exists() or (ASSET / "model.safetensors").exists():
        return ASSET
    out = cache_dir() / f"mufun-tiny-random-{VERSION}-seed{SEED}"
    if not (out / INDEX).exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        build_random(out)
    return out
