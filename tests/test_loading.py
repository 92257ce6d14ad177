"""Model sources and placement: the Hub path against a real local cache, quantization on CPU."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mufun.checkpoint import save
from mufun.config import MuFunConfig
from mufun.loading import LoadError, LoadOptions, load, quantized_modules
from mufun.model import MuFunModel
from mufun.prompt import qwen3_tokenizer_dir

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A checkpoint placed where huggingface_hub finds it offline: models--owner--name/snapshots/<commit>."""
    import huggingface_hub.constants as c

    root = tmp_path / "hub"
    repo = root / "models--Yi3852--MuFun-Instruct"
    snap = repo / "snapshots" / COMMIT
    torch.manual_seed(5)
    save(MuFunModel(MuFunConfig.tiny()), MuFunConfig.tiny(), snap, qwen3_tokenizer_dir())
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(root))
    return snap


def test_hub_id_loads_from_the_local_cache_offline(hub_cache):
    L = load("Yi3852/MuFun-Instruct", LoadOptions(device_map="cpu"))
    assert L.kind == "hub" and L.folder == hub_cache and L.revision == "main"
    assert L.cfg.tokens_per_chunk == 300


@pytest.mark.parametrize("repo", ["Yi3852/MuFun-Base", "someone/not-a-model"])
def test_offline_miss_fails_fast_with_advice(hub_cache, repo):
    t = time.perf_counter()
    with pytest.raises(LoadError, match="not in the local cache.*HF_HUB_OFFLINE.*Pre-download.*embedded"):
        load(repo)
    assert time.perf_counter() - t < 10


@pytest.mark.parametrize("bad", ["not a model", "../../etc", "/no/such/folder", "a/b/c"])
def test_unknown_model_ids(bad):
    with pytest.raises(LoadError):
        load(bad)


def test_folder_without_config(tmp_path):
    with pytest.raises(LoadError, match="without config.json"):
        load(str(tmp_path))


def test_embedded_model_is_deterministic_and_cached(tmp_path, monkeypatch):
    from mufun import embedded

    monkeypatch.setattr(embedded, "ASSET", tmp_path / "none")
    a = embedded.build_random(tmp_path / "a")
    b = embedded.build_random(tmp_path / "b")
    for f in a.glob("*.safetensors"):
        assert f.read_bytes() == (b / f.name).read_bytes()
    monkeypatch.setenv("MUFUN_CACHE", str(tmp_path / "cache"))
    p = embedded.embedded_checkpoint()
    mtime = p.joinpath("config.json").stat().st_mtime_ns
    assert embedded.embedded_checkpoint() == p and p.joinpath("config.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("mode,wdtype", [("int8", torch.int8), ("nf4", torch.uint8)])
def test_quantized_load_and_generate_on_cpu(mode, wdtype):
    import bitsandbytes as bnb

    L = load("tiny", LoadOptions(quantize=mode, device_map="cpu"))
    q = dict(quantized_modules(L.model))
    n_layers = L.cfg.text.num_hidden_layers
    assert len(q) == 7 * n_layers  # q, k, v, o, gate, up, down per decoder layer
    assert all(m.weight.dtype == wdtype for m in q.values())
    assert all(name.startswith("language_model.model.layers.") for name in q)
    # encoder, connector and lm_head stay unquantized
    for name, m in L.model.named_modules():
        if name.startswith(("vision_tower", "connector")) or name == "language_model.lm_head":
            assert not isinstance(m, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)), name
    assert L.model.language_model.lm_head.weight.dtype == torch.float32
    assert L.report()["quantized_linears"] == 7 * n_layers
    out = L.model.language_model(input_ids=torch.tensor([[3838, 17328, 374]]))
    assert torch.isfinite(out.logits).all()


def test_an_unquantized_model_never_imports_bitsandbytes():
    """Importing bitsandbytes sets up torch.compile (about 2 s of the app's start): a model loaded
    without quantization counts no quantized linears, and its report and the app's model panel
    never import it (a fresh process: other tests import it here)."""
    code = ("import sys; from mufun.loading import LoadOptions; from mufun.service import MuFunService; "
            "from mufun.ui.common import Holder; from mufun.ui.model_panel import describe; "
            "svc = MuFunService.load('tiny', LoadOptions(device_map='cpu')); "
            "n = svc.loaded.report()['quantized_linears']; describe(Holder(svc)); "
            "print(n, 'bitsandbytes' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-2:] == ["0", "False"]


def test_bad_options():
    with pytest.raises(LoadError, match="quantize"):
        load("tiny", LoadOptions(quantize="int3"))
    with pytest.raises(LoadError, match="dtype"):
        load("tiny", LoadOptions(dtype="float8"))


def test_report_names_placement_and_memory():
    r = load("tiny", LoadOptions(device_map="cpu")).report()
    assert r["device_map"] == {"(all)": "cpu"} and r["dtype"] == "float32" and r["quantization"] == "none"
    assert r["memory_total_bytes"] > 0
