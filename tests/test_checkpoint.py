"""Released-format checkpoints: written by the project, loaded by the same path as real ones."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from mufun.checkpoint import INDEX, CheckpointError, save
from mufun.config import MuFunConfig
from mufun.loading import LoadOptions, load
from mufun.model import MuFunModel
from mufun.prompt import qwen3_tokenizer_dir


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(3)
    cfg = MuFunConfig.tiny()
    model = MuFunModel(cfg)
    out = save(model, cfg, tmp_path_factory.mktemp("ck") / "MuFun-Test", qwen3_tokenizer_dir(), shards=4)
    return out, model


def copy(ckpt, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(ckpt[0], dst)
    return dst


def test_released_layout(ckpt):
    out, _ = ckpt
    idx = json.loads((out / INDEX).read_text())
    shards = sorted(set(idx["weight_map"].values()))
    assert shards == [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]
    keys = set(idx["weight_map"])
    assert any(k.startswith("language_model.model.layers.0.") for k in keys)
    assert "vision_tower._vision_tower.conv1.weight" in keys
    assert {"connector._connector.linear1.weight", "connector._connector.linear2.bias"} <= keys
    assert all(t.dtype == torch.bfloat16 for s in shards for t in load_file(str(out / s)).values())
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".safetensors")) == [
        "added_tokens.json", "config.json", "merges.txt", INDEX, "tokenizer_config.json", "vocab.json"]


def test_loads_with_weights_intact(ckpt):
    out, model = ckpt
    L = load(str(out), LoadOptions(device_map="cpu"))
    want = model.state_dict()
    for k, v in L.model.state_dict().items():
        torch.testing.assert_close(v, want[k].to(torch.bfloat16).float(), msg=k)
    assert L.kind == "local" and L.tokenizer("What genre is this song?", add_special_tokens=False).input_ids[:2] == [3838, 17328]
    assert L.model.language_model.lm_head.weight is L.model.language_model.model.embed_tokens.weight


def test_renamed_key_is_reported(ckpt, tmp_path):
    d = copy(ckpt, tmp_path)
    idx = json.loads((d / INDEX).read_text())
    shard = idx["weight_map"]["connector._connector.linear1.weight"]
    sd = load_file(str(d / shard))
    sd["connector._connector.fc1.weight"] = sd.pop("connector._connector.linear1.weight")
    save_file(sd, str(d / shard))
    idx["weight_map"]["connector._connector.fc1.weight"] = idx["weight_map"].pop("connector._connector.linear1.weight")
    (d / INDEX).write_text(json.dumps(idx))
    with pytest.raises(CheckpointError, match=r"missing keys: connector._connector.linear1.weight.*"
                                              r"unexpected keys: connector._connector.fc1.weight"):
        load(str(d))


def test_missing_keys_are_listed(ckpt, tmp_path):
    d = copy(ckpt, tmp_path)
    idx = json.loads((d / INDEX).read_text())
    for k in [k for k in idx["weight_map"] if ".layers.1." in k and k.startswith("language_model")]:
        del idx["weight_map"][k]
    (d / INDEX).write_text(json.dumps(idx))
    with pytest.raises(CheckpointError, match=r"missing keys: language_model.model.layers.1.") as e:
        load(str(d))
    assert "layers.1.mlp.up_proj.weight" in str(e.value) and "layers.0." not in str(e.value)


def test_corrupt_shard(ckpt, tmp_path):
    d = copy(ckpt, tmp_path)
    p = max(d.glob("model-*.safetensors"), key=lambda f: f.stat().st_size)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt|not a readable|could not be read"):
        load(str(d))


def test_pickle_checkpoint_is_refused(tmp_path):
    d = tmp_path / "pickled"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(MuFunConfig.tiny().to_dict()))
    torch.save({"x": torch.zeros(1)}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        load(str(d))


def test_single_file_checkpoint(ckpt, tmp_path):
    d = copy(ckpt, tmp_path)
    sd = {}
    for s in sorted(d.glob("model-*.safetensors")):
        sd.update(load_file(str(s)))
        s.unlink()
    (d / INDEX).unlink()
    save_file(sd, str(d / "model.safetensors"))
    assert load(str(d)).cfg == MuFunConfig.tiny()
