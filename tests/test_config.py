import json

import pytest

from mufun.config import MuFunConfig, TextConfig


def test_real_numbers_are_derived():
    c = MuFunConfig.real()
    assert (c.tokens_per_chunk, c.feature_dim, c.connector_hidden, c.hidden_size) == (300, 5120, 10240, 4096)
    assert c.tap_layers == (0, 7, 15, 32)
    assert (c.chunk_samples, c.mel_frames_per_chunk, c.frames_per_chunk) == (480_000, 3000, 1500)
    assert (c.context_limit, c.trained_length) == (32768, 4096)
    assert c.text.kv_bytes_per_token_bf16 == 147_456


def test_tiny_keeps_the_structure():
    t, r = MuFunConfig.tiny(), MuFunConfig.real()
    assert t.tokens_per_chunk == r.tokens_per_chunk
    assert len(t.tap_layers) == len(r.tap_layers) and t.connector_type == r.connector_type
    assert t.text.vocab_size == r.text.vocab_size
    assert t.feature_dim == 4 * t.encoder.d_model and t.connector_hidden == 2 * t.feature_dim


def test_round_trip_through_released_json(tmp_path):
    c = MuFunConfig.tiny()
    p = tmp_path / "config.json"
    d = c.to_dict()
    assert d["model_type"] == "tinyllava" and "auto_map" not in d
    p.write_text(json.dumps(d))
    back = MuFunConfig.from_json(p)
    assert back == c


def test_released_style_config_without_tap_key_uses_real_taps():
    d = MuFunConfig.real().to_dict()
    del d["tap_layers"], d["pool_stride"]
    d["auto_map"] = {"AutoModelForCausalLM": "modeling_tinyllava.TinyLlavaForConditionalGeneration"}
    c = MuFunConfig.from_dict(d)
    assert c.tap_layers == (0, 7, 15, 32) and c.tokens_per_chunk == 300


def test_rope_theta_from_rope_parameters():
    t = TextConfig.from_dict({"hidden_size": 64, "rope_parameters": {"rope_theta": 5.0, "rope_type": "default"}})
    assert t.rope_theta == 5.0


@pytest.mark.parametrize("bad", [{"connector_type": "mlp2x_gelu"}, {"tap_layers": (0, 7, 15)},
                                 {"tap_layers": (0, 7, 15, 40)}])
def test_inconsistent_configs_are_refused(bad):
    with pytest.raises(ValueError):
        MuFunConfig(**bad)


def test_not_a_mufun_config():
    with pytest.raises(ValueError, match="not a MuFun"):
        MuFunConfig.from_dict({"model_type": "llama"})
    with pytest.raises(ValueError, match="text_config"):
        MuFunConfig.from_dict({"model_type": "tinyllava"})
