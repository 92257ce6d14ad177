import pytest
import torch
import torch.nn.functional as F
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from mufun.config import MuFunConfig
from mufun.model import MuFunModel, param_counts


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MuFunModel(MuFunConfig.tiny()).eval()


def test_taps_pool_connector_match_stock_modules(model):
    cfg = model.cfg
    x = torch.randn(3, 128, 3000)
    stock = WhisperEncoder(WhisperConfig(**cfg.encoder.to_dict())).eval()
    stock.load_state_dict(model.vision_tower._vision_tower.state_dict())
    with torch.no_grad():
        hs = stock(x, output_hidden_states=True).hidden_states  # 1 + layers states
        ref = torch.cat([hs[t] for t in cfg.tap_layers], -1)  # (3, 1500, 4d)
        ref = F.avg_pool1d(ref.transpose(1, 2), 5, 5).transpose(1, 2)  # (3, 300, 4d)
        c = model.connector._connector
        ref = F.linear(F.gelu(F.linear(ref, c.linear1.weight, c.linear1.bias)), c.linear2.weight, c.linear2.bias)
        got = model.encode_audio(x)
    assert got.shape == (3, cfg.tokens_per_chunk, cfg.hidden_size)
    torch.testing.assert_close(got, ref)


def test_last_tap_is_after_the_final_layer_norm(model):
    x = torch.randn(1, 128, 3000)
    with torch.no_grad():
        taps = model.vision_tower(x)
        last = model.vision_tower._vision_tower(x).last_hidden_state
    d = model.cfg.encoder.d_model
    torch.testing.assert_close(taps[..., -d:], last)


def test_only_tapped_states_are_kept(model):
    with torch.no_grad():
        model.vision_tower(torch.randn(1, 128, 3000))
    assert model.vision_tower._kept == {}


def test_merge_scatters_audio_rows_in_order(model):
    H = model.cfg.hidden_size
    rows = torch.randn(5, H)
    ids = [11, -200, 12, 13, -200]
    emb = model.embed(ids, rows, [3, 2])  # (1, 8, H)
    table = model.language_model.get_input_embeddings().weight
    assert emb.shape == (1, 8, H)
    torch.testing.assert_close(emb[0, 1:4], rows[:3])
    torch.testing.assert_close(emb[0, 6:8], rows[3:])
    torch.testing.assert_close(emb[0, [0, 4, 5]], table[[11, 12, 13]])
    inp = model.inputs(ids, rows, [3, 2])
    assert inp["position_ids"].tolist() == [list(range(8))] and inp["attention_mask"].sum() == 8


def test_merge_count_mismatch_names_both_counts(model):
    with pytest.raises(ValueError, match="5 positions but 4 audio embeddings"):
        model.embed([1, -200], torch.randn(4, model.cfg.hidden_size), [5])


def test_real_parameter_counts_on_meta():
    with torch.device("meta"):
        m = MuFunModel(MuFunConfig.real())
    n = param_counts(m)
    assert n["language_model"] == 8_190_735_360
    assert n["audio_encoder"] == 636_968_960
    assert n["connector"] == 94_386_176
    assert n["total"] == 8_922_090_496
    assert len(m.state_dict()) == 890  # the released index lists 890 tensors
