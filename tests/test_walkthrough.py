"""The walkthrough's numbers are the config's and the tokenizer's: tiny (live) and real-sized (meta)."""
import numpy as np
import torch

from mufun import teach
from mufun import walkthrough as W
from mufun.audio import load
from mufun.config import MuFunConfig
from mufun.model import MuFunModel
from mufun.prompt import Turn


def _arrows_match(arrows, cfg, n):
    e = cfg.encoder
    assert arrows[0].shape == (n, e.num_mel_bins, cfg.mel_frames_per_chunk)
    assert arrows[1].shape == (n, e.d_model, cfg.mel_frames_per_chunk)
    assert arrows[2].shape == (n, e.d_model, cfg.frames_per_chunk)
    assert arrows[3].shape == (n, cfg.frames_per_chunk, e.d_model)
    assert arrows[4].shape == (n, cfg.frames_per_chunk, cfg.feature_dim)
    assert arrows[5].shape == (n, cfg.tokens_per_chunk, cfg.feature_dim)
    assert arrows[6].shape == (n, cfg.tokens_per_chunk, cfg.connector_hidden)
    assert arrows[7].shape == (n, cfg.tokens_per_chunk, cfg.hidden_size)
    assert len(arrows) == 8


def test_real_sized_shapes_without_weights():
    cfg = MuFunConfig.real()
    with torch.device("meta"):
        model = MuFunModel(cfg)
    arrows = W.audio_path(model, cfg, torch.empty(2, 128, 3000, device="meta"))
    _arrows_match(arrows, cfg, 2)
    # the reference numbers, reached through the config (never typed into the walkthrough)
    assert arrows[-1].shape == (2, 300, 4096) and arrows[4].shape[-1] == 5120 and arrows[6].shape[-1] == 10240
    b = W.budget(cfg, 200, 60, 64)
    assert b["audio_tokens"] == 2100 and b["chunks"] == 7 and b["padding_seconds"] == 10
    assert b["kv_bytes_per_token"]["bfloat16"] == cfg.text.kv_bytes_per_token_bf16 == 147456
    assert b["context_limit"] == cfg.context_limit == 32768 and b["trained_length"] == cfg.trained_length
    assert b["sequence"] == 60 + 2100 + 64
    assert b["max_chunks_that_fit"] == (32768 - 60 - 64) // 300


def test_tiny_live_numbers(service, song, tokenizer):
    cfg = service.cfg
    clip = load(song(45), cfg)
    mel, text = teach.audio_md(service, [clip])
    arrows = W.audio_path(service.loaded.model, cfg, torch.from_numpy(
        __import__("mufun.pipeline", fromlist=["x"]).clip_features([clip], cfg)))
    _arrows_match(arrows, cfg, 2)
    assert f"{cfg.hidden_size})" in text and mel.size[0] == 900
    d = W.text_to_ids("What genre is this song?", 1, tokenizer, cfg)
    ids = [r["id"] for r in d["rows"]]
    assert ids.count(-200) == 1 and d["placeholder"] == cfg.image_token_index
    i = ids.index(-200)
    assert ids[i + 1:i + 8] == [198] + tokenizer("What genre is this song?")["input_ids"]
    prep = service.prepare([Turn("What genre is this song?")], [clip])
    sp = W.splice(prep.layout)
    assert sp["after_length"] == sp["before_length"] - 1 + 600 == prep.layout.sequence_length
    rows = W.mask_rows(prep.layout, i, i + 3)
    assert [r["n_visible"] for r in rows] == [i + 1, i + 2, i + 3] and rows[0]["kind"] == "audio"
    shown = teach.budget_md(service, prep, 45, 16)
    assert "**600 audio tokens**" in shown and f"{cfg.context_limit:,} positions" in shown
    b = W.budget(cfg, 45, 40, 16)
    assert b["audio_tokens"] == 600 and b["kv_bytes_per_token"]["bfloat16"] == cfg.text.kv_bytes_per_token_bf16


def test_next_token_matches_greedy_generation(service, song):
    from mufun.generate import Done, Sampling

    clip = load(song(12), service.cfg)
    turns = [Turn("Which note is played?")]
    prep = service.prepare(turns, [clip])
    got = []
    for _ in range(4):
        from mufun import walkview

        got.append(walkview.view(5, service, [clip], prep, "Which note is played?",
                                 walkview.Params(generated=tuple(got))).chosen)
    done = [e for e in service.ask(turns, [clip], Sampling(max_new_tokens=4)) if isinstance(e, Done)][0]
    assert got[:len(done.ids)] == list(done.ids)


def test_sampling_rules_reshape_the_real_distribution(service, song, tokenizer):
    clip = load(song(5), service.cfg)
    prep = service.prepare([Turn("Which note is played?")], [clip])
    logits = W.next_token_logits(service.loaded.model.language_model, service.inputs(prep), [])
    k = W.reshape(logits, tokenizer, 1.0, 5, 1.0, seed=0)
    assert k["possible"] == 5 and sum(r["possible"] for r in k["rows"]) <= 5
    assert abs(sum(r["p_after"] for r in k["rows"][:5]) - 1.0) < 1e-4  # mass renormalised on the 5 kept
    p = W.reshape(logits, tokenizer, 1.0, 0, 0.5, seed=0)
    cum = torch.softmax(logits, -1).sort(descending=True).values.cumsum(0)
    assert abs(p["possible"] - (int((cum < 0.5).sum()) + 1)) <= 1  # the smallest set holding half the mass
    g = W.reshape(logits, tokenizer, 0.0, 0, 1.0)
    assert g["chosen"] == int(np.argmax(logits.numpy())) and g["possible"] == 1
