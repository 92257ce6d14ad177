"""export-lm: MuFun's decoder as a plain Qwen3 checkpoint that stock transformers (and vLLM) load,
from the embedded model (tied head) and from the released layout (shards, separate head)."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parent.parent


def _same_logits(mufun_lm, folder: Path) -> None:
    from transformers import Qwen3ForCausalLM

    plain = Qwen3ForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    ids = torch.tensor([[3838, 17328, 374, 419, 5492, 30]])
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, mufun_lm.float()(ids).logits, rtol=0, atol=0)


def test_embedded_model_exports_a_tied_qwen3(tmp_path, service):
    r = subprocess.run([sys.executable, "-m", "mufun", "export-lm", "--model", "tiny", "--out", str(tmp_path / "lm")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "lm"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen3ForCausalLM"] and cfg["model_type"] == "qwen3"
    assert cfg["tie_word_embeddings"] is True and cfg["head_dim"] == service.cfg.text.head_dim
    assert not (out / "generation_config.json").exists()  # sampling is chosen per request
    keys = set(json.loads((out / "model.safetensors.index.json").read_text())["weight_map"])
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys
    assert not any(k.startswith(("language_model.", "vision_tower", "connector")) for k in keys)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (out / name).exists()
    _same_logits(service.loaded.model.language_model, out)


def test_released_layout_with_a_separate_head_streams_shard_by_shard(tmp_path):
    from mufun.checkpoint import save
    from mufun.config import MuFunConfig
    from mufun.export import export_lm
    from mufun.model import MuFunModel
    from mufun.prompt import qwen3_tokenizer_dir

    cfg = MuFunConfig.tiny()
    cfg = replace(cfg, text=replace(cfg.text, tie_word_embeddings=False))
    torch.manual_seed(3)
    model = MuFunModel(cfg)
    src = save(model, cfg, tmp_path / "released", qwen3_tokenizer_dir(), shards=4)
    src_map = json.loads((src / "model.safetensors.index.json").read_text())["weight_map"]
    assert "language_model.lm_head.weight" in src_map
    out = export_lm(src, tmp_path / "lm")
    wm = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(wm) == {k[len("language_model."):] for k in src_map if k.startswith("language_model.")}
    # one output shard per source shard holding decoder tensors: never more than one shard in memory
    assert len(set(wm.values())) == len({f for k, f in src_map.items() if k.startswith("language_model.")})
    with safe_open(str(out / wm["lm_head.weight"]), framework="pt") as f:
        head = f.get_tensor("lm_head.weight")
    assert not torch.equal(head, model.language_model.model.embed_tokens.weight.to(head.dtype))
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    loaded = MuFunModel(cfg)
    from mufun.loading import LoadOptions, load_folder

    loaded, *_ = load_folder(src, LoadOptions(device_map="cpu", dtype="float32"))
    _same_logits(loaded.language_model, out)


def test_a_corrupt_shard_is_refused_in_our_words(tmp_path):
    from mufun.checkpoint import CheckpointError, save
    from mufun.config import MuFunConfig
    from mufun.export import export_lm
    from mufun.model import MuFunModel
    from mufun.prompt import qwen3_tokenizer_dir

    src = save(MuFunModel(MuFunConfig.tiny()), MuFunConfig.tiny(), tmp_path / "ck", qwen3_tokenizer_dir(), shards=2)
    shard = sorted(src.glob("*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        export_lm(src, tmp_path / "lm")
