"""The Qwen3 part of a MuFun checkpoint as a plain Qwen3 checkpoint folder, for a serving engine.

    python -m mufun export-lm --model tiny --out /tmp/mufun-lm

MuFun's decoder is a stock ``Qwen3ForCausalLM``: its config is the checkpoint's ``text_config``
and its weights are every tensor under ``language_model.``, prefix stripped. The head is tied or
separate as the checkpoint has it. Tensors stream one at a time from each source shard into one
output shard, so a 16 GB checkpoint never sits in memory twice (at most one shard's worth).
No ``generation_config.json`` is written: sampling is chosen per request, never by the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from mufun.checkpoint import INDEX, CheckpointError, weight_map, write_tokenizer_files
from mufun.config import MuFunConfig

PREFIX = "language_model."
DONE = ".mufun-export.json"


def export_lm(folder: Path, out: Path) -> Path:
    """Write ``out`` from the MuFun checkpoint ``folder``; returns ``out``."""
    folder, out = Path(folder), Path(out)
    cfg = MuFunConfig.from_json(folder / "config.json")
    wm = weight_map(folder)
    keys = {k: f for k, f in wm.items() if k.startswith(PREFIX)}
    if not any(k.endswith("embed_tokens.weight") for k in keys):
        raise CheckpointError(f"{folder.name}: no language_model.model.embed_tokens.weight: not a MuFun checkpoint")
    has_head = f"{PREFIX}lm_head.weight" in keys
    if not cfg.text.tie_word_embeddings and not has_head:
        raise CheckpointError(f"{folder.name}: the head is not tied and language_model.lm_head.weight is missing")
    out.mkdir(parents=True, exist_ok=True)
    shards = sorted(set(keys.values()))
    out_wm, total = {}, 0
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        part = {}
        try:
            with safe_open(str(folder / shard), framework="pt") as f:
                for k in sorted(k for k, s in keys.items() if s == shard):
                    part[k[len(PREFIX):]] = f.get_tensor(k)
        except Exception:
            raise CheckpointError(f"{folder.name}: shard {shard} is corrupt or truncated") from None
        save_file(part, str(out / name), metadata={"format": "pt"})
        total += sum(t.numel() * t.element_size() for t in part.values())
        out_wm.update({k: name for k in part})
        part.clear()
    (out / INDEX).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": out_wm}, indent=2))
    text = cfg.text.to_dict()
    text.pop("auto_map", None)
    text["architectures"] = ["Qwen3ForCausalLM"]
    text["model_type"] = "qwen3"
    text["tie_word_embeddings"] = cfg.text.tie_word_embeddings
    (out / "config.json").write_text(json.dumps(text, indent=2))
    write_tokenizer_files(folder, out)
    (out / "generation_config.json").unlink(missing_ok=True)
    (out / DONE).write_text(json.dumps({"source": folder.name, "fingerprint": fingerprint(folder)}))
    return out


def fingerprint(folder: Path) -> str:
    """What identifies a checkpoint's contents cheaply: its files' names, sizes and times."""
    h = hashlib.blake2b(digest_size=12)
    for p in sorted(Path(folder).iterdir()):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)};".encode())
    return h.hexdigest()


def cached_export(folder: Path, cache: Path | None = None) -> Path:
    """The export of ``folder`` in the cache (made once per checkpoint contents)."""
    cache = cache or Path(os.environ.get("MUFUN_CACHE") or Path.home() / ".cache" / "mufun") / "exported-lm"
    fp = fingerprint(folder)
    out = cache / f"{Path(folder).name}-{fp}"
    done = out / DONE
    if done.exists() and json.loads(done.read_text()).get("fingerprint") == fp:
        return out
    return export_lm(folder, out)
