"""The released checkpoint format: config.json, sharded safetensors + index, slow-tokenizer files.

Only safetensors are read: a pickle checkpoint (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``)
is refused, never unpickled.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mufun.config import MuFunConfig
from mufun.errors import UserError

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json")


class CheckpointError(UserError):
    """A checkpoint folder that cannot be loaded; the message says what is wrong and where."""


def expected_keys(model: torch.nn.Module, cfg: MuFunConfig) -> set[str]:
    keys = set(model.state_dict().keys())
    if cfg.text.tie_word_embeddings:
        keys.discard("language_model.lm_head.weight")
    return keys


def weight_map(folder: Path) -> dict[str, str]:
    """key -> shard file name, from the index or the single file; refuses pickles."""
    folder = Path(folder)
    idx = folder / INDEX
    if idx.exists():
        try:
            wm = json.loads(idx.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as e:
            raise CheckpointError(f"{idx.name} is not a valid safetensors index ({e})") from None
        missing = sorted({f for f in wm.values() if not (folder / f).exists()})
        if missing:
            raise CheckpointError(f"{folder.name}: shards listed in {INDEX} are missing: {', '.join(missing)}")
        return dict(wm)
    if (folder / SINGLE).exists():
        return {k: SINGLE for k in _keys_of(folder / SINGLE)}
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(f"{folder.name}: only pickle weights found ({', '.join(pickles)}). They are refused: "
                              f"pickle can run code. Convert them to safetensors.")
    raise CheckpointError(f"{folder}: no {INDEX} or {SINGLE}: not a MuFun checkpoint folder")


def _keys_of(path: Path) -> list[str]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except Exception:
        raise CheckpointError(f"{path.name} is not a readable safetensors file") from None


def check_keys(have: set[str], want: set[str]) -> None:
    missing, unexpected = sorted(want - have), sorted(have - want)
    if missing or unexpected:
        def show(ks: list[str]) -> str:
            return ", ".join(ks[:12]) + (f" ... ({len(ks)} in all)" if len(ks) > 12 else "")
        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        raise CheckpointError("The checkpoint does not match the MuFun layout; " + "; ".join(parts))


def iter_tensors(folder: Path, wm: dict[str, str]):
    """(key, tensor) for every key, one shard open at a time; corrupt shards raise CheckpointError."""
    by_file: dict[str, list[str]] = {}
    for k, f in wm.items():
        by_file.setdefault(f, []).append(k)
    for fname, keys in sorted(by_file.items()):
        try:
            with safe_open(str(Path(folder) / fname), framework="pt") as f:
                for k in keys:
                    yield k, f.get_tensor(k)
        except CheckpointError:
            raise
        except Exception:
            raise CheckpointError(f"shard {fname} is corrupt or truncated") from None


def save(model: torch.nn.Module, cfg: MuFunConfig, out: str | Path, tokenizer_dir: str | Path,
         shards: int = 4, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write ``model`` in the released layout: config.json, ``shards`` safetensors files with an
    index, and the slow-tokenizer files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to(dtype).contiguous().cpu() for k, v in model.state_dict().items()
          if k in expected_keys(model, cfg)}
    keys = sorted(sd)
    total = sum(v.numel() * v.element_size() for v in sd.values())
    per = total / shards
    groups: list[list[str]] = [[]]
    acc = 0
    for k in keys:
        if acc >= per * len(groups) and len(groups) < shards:
            groups.append([])
        groups[-1].append(k)
        acc += sd[k].numel() * sd[k].element_size()
    n = len(groups)
    wm = {}
    for i, g in enumerate(groups, 1):
        name = f"model-{i:05d}-of-{n:05d}.safetensors"
        save_file({k: sd[k] for k in g}, str(out / name), metadata={"format": "pt"})
        wm.update({k: name for k in g})
    (out / INDEX).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": wm}, indent=2))
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    write_tokenizer_files(Path(tokenizer_dir), out)
    return out


def write_tokenizer_files(src: Path, out: Path) -> None:
    """The released repos ship slow-tokenizer files: vocab.json, merges.txt, tokenizer_config.json,
    added_tokens.json (no tokenizer.json)."""
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(src / name, out / name)
    tc = json.loads((src / "tokenizer_config.json").read_text())
    added = {v["content"]: int(k) for k, v in tc.get("added_tokens_decoder", {}).items()}
    tc.pop("chat_template", None)
    tc.update({"tokenizer_class": "Qwen2Tokenizer", "pad_token": "<|endoftext|>", "model_max_length": 131072})
    (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=2))
    (out / "added_tokens.json").write_text(json.dumps(added, indent=2))
