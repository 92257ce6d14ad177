"""The teaching walkthrough: each step from text and song to a sampled answer, live.

Every number comes from the loaded config, tokenizer and tensors (shapes are read off the
tensors the real modules produce; on the meta device that works without weights, which is how
the real-sized model is checked on a laptop). Each function returns plain data; ``app.py``
renders it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mufun.audio import SAMPLE_RATE, count_chunks, tokens_for_duration
from mufun.config import MuFunConfig
from mufun.generate import Sampling
from mufun.layout import PLACEHOLDER, Layout
from mufun.prompt import AUDIO_TAG, Turn, build_segments, tokenize

KV_DTYPE_BYTES = {"float32": 4, "bfloat16": 2}  # the KV cache is kept in the compute dtype


# -- 1. text -> pieces -> ids ------------------------------------------------------------------
def text_to_ids(prompt: str, n_audio: int, tokenizer, cfg: MuFunConfig) -> dict:
    """The templated string, its ``<audio>``-free pieces, and every id (-200 per tag)."""
    segs = build_segments([Turn(prompt)], n_audio)
    toks = tokenize(segs, tokenizer, cfg.image_token_index)
    pieces = toks.text.split(AUDIO_TAG)
    rows = [{"position": i, "id": t, "text": s, "kind": k}
            for i, (t, s, k) in enumerate(zip(toks.input_ids, toks.strings, toks.kinds))]
    return {"text": toks.text, "pieces": pieces, "rows": rows, "placeholder": cfg.image_token_index,
            "n_ids": len(toks.input_ids), "n_placeholders": sum(1 for t in toks.input_ids if t == cfg.image_token_index)}


# -- 2. audio -> chunks -> mel -> taps -> pool -> connector ----------------------------------------
@dataclass(frozen=True)
class Arrow:
    stage: str
    shape: tuple[int, ...]
    note: str


def audio_path(model, cfg: MuFunConfig, features: torch.Tensor) -> list[Arrow]:
    """Run the real encoder, taps, pooling and connector on ``features`` (N, n_mels, 3000) and
    record the shape after every step. On the meta device only shapes are computed."""
    seen: dict[str, tuple[int, ...]] = {}
    enc = model.vision_tower._vision_tower
    hooks = [enc.conv1.register_forward_hook(lambda m, a, o: seen.__setitem__("conv1", tuple(o.shape))),
             enc.conv2.register_forward_hook(lambda m, a, o: seen.__setitem__("conv2", tuple(o.shape))),
             enc.layers[0].register_forward_pre_hook(lambda m, a: seen.__setitem__("tap", tuple(a[0].shape))),
             model.connector.pool.register_forward_hook(lambda m, a, o: seen.__setitem__("pool", tuple(o.shape))),
             model.connector._connector.linear1.register_forward_hook(
                 lambda m, a, o: seen.__setitem__("linear1", tuple(o.shape)))]
    try:
        with torch.no_grad():
            dev = enc.conv1.weight.device
            taps = model.vision_tower(features.to(dev, enc.conv1.weight.dtype))
            rows = model.connector(taps.to(model.connector._connector.linear1.weight.dtype))
    finally:
        for h in hooks:
            h.remove()
    e, n = cfg.encoder, features.shape[0]
    taps_txt = ", ".join(str(t) for t in cfg.tap_layers)
    return [
        Arrow("log-mel features", tuple(features.shape), f"{n} chunk(s) x {e.num_mel_bins} mel bins x "
              f"{features.shape[-1]} frames (10 ms hop, every chunk padded to 30 s)"),
        Arrow("conv stem (conv1, GELU)", seen["conv1"], f"{e.num_mel_bins} mel bins -> d_model {e.d_model} channels"),
        Arrow("conv stem (conv2, stride 2)", seen["conv2"], "halves time: 3000 -> 1500 frames (20 ms each)"),
        Arrow(f"encoder taps {taps_txt}", seen["tap"],
              f"{len(cfg.tap_layers)} hidden states of {e.encoder_layers + 1} (0 = stem + positions, "
              f"{e.encoder_layers} = after the final layer norm)"),
        Arrow("concatenate taps", tuple(taps.shape), f"{len(cfg.tap_layers)} x {e.d_model} = {cfg.feature_dim} features"),
        Arrow(f"AvgPool1d({cfg.pool_stride})", (seen["pool"][0], seen["pool"][2], seen["pool"][1]),
              f"{seen['conv2'][-1]} frames / {cfg.pool_stride} = {cfg.tokens_per_chunk} audio tokens per chunk"),
        Arrow("connector linear1 + GELU", seen["linear1"], f"{cfg.feature_dim} -> {cfg.connector_hidden}"),
        Arrow("connector linear2", tuple(rows.shape), f"{cfg.connector_hidden} -> {cfg.hidden_size} "
              f"= the LLM's hidden size: one row per audio token"),
    ]


def mel_picture(features: np.ndarray):
    """The first chunk's log-mel as an image (low frequencies at the bottom)."""
    from PIL import Image

    x = features[0]
    x = (x - x.min()) / max(float(x.max() - x.min()), 1e-6)
    img = (np.flipud(x) * 255).astype(np.uint8)
    return Image.fromarray(img).resize((900, 2 * x.shape[0]))


# -- 3. splice -----------------------------------------------------------------------------------
def splice(lay: Layout) -> dict:
    """The ids before (one -200 per song) and after (every audio row at its own position)."""
    before = list(lay.input_ids)
    after: list[dict] = []
    for s in lay.spans:
        if s.kind == "audio":
            after.append({"positions": f"{s.start}-{s.end - 1}", "content": s.label, "n": s.length})
        else:
            for k, (i, t) in enumerate(zip(s.token_ids, s.token_strings)):
                after.append({"positions": str(s.start + k), "content": f"{t!r} ({i})", "n": 1})
    return {"before_length": len(before), "after_length": lay.sequence_length,
            "placeholders": [i for i, t in enumerate(before) if t == PLACEHOLDER],
            "audio_tokens": lay.totals().get("audio", 0), "before": before, "after": after}


# -- 4. mask slice -------------------------------------------------------------------------------
def mask_rows(lay: Layout, start: int, end: int) -> list[dict]:
    """What each query row in [start, end) may attend to: every key at or before it."""
    exp = lay.expanded_ids()
    out = []
    for q in range(start, min(end, lay.sequence_length)):
        sp = lay.span_at(q)
        what = sp.label if sp.kind == "audio" else repr(sp.token_strings[q - sp.start])
        out.append({"position": q, "kind": sp.kind, "token": what, "id": exp[q],
                    "sees": f"0-{q}", "n_visible": q + 1, "n_hidden": lay.sequence_length - q - 1})
    return out


# -- 5/6. next token and sampling strategies ------------------------------------------------------
def extend(lm, inputs: dict, extra_ids: list[int]) -> dict:
    """The prompt's inputs with ``extra_ids`` (answer tokens so far) embedded after it."""
    embeds = inputs["inputs_embeds"]
    if extra_ids:
        emb = lm.get_input_embeddings()
        more = emb(torch.tensor([extra_ids], device=embeds.device)).to(embeds.dtype)
        embeds = torch.cat([embeds, more], 1)
    L = embeds.shape[1]
    return {"inputs_embeds": embeds, "attention_mask": torch.ones(1, L, dtype=torch.long, device=embeds.device),
            "position_ids": torch.arange(L, device=embeds.device).unsqueeze(0)}


def next_token_logits(lm, inputs: dict, extra_ids: list[int]) -> torch.Tensor:
    """Logits for the token after the prompt plus ``extra_ids`` (one forward pass)."""
    embeds = extend(lm, inputs, extra_ids)["inputs_embeds"]
    L = embeds.shape[1]
    with torch.inference_mode():
        out = lm(inputs_embeds=embeds, attention_mask=torch.ones(1, L, dtype=torch.long, device=embeds.device),
                 position_ids=torch.arange(L, device=embeds.device).unsqueeze(0), use_cache=False, logits_to_keep=1)
    return out.logits[0, -1].float().cpu()


def reshape(logits: torch.Tensor, tokenizer, temperature: float, top_k: int, top_p: float, show: int = 12,
            seed: int | None = None) -> dict:
    """The next-token distribution before and after temperature / top-k / top-p, with the
    candidates that remain possible and one draw (greedy when temperature is 0)."""
    base = torch.softmax(logits, -1)
    s = Sampling(max_new_tokens=1, temperature=temperature, top_k=top_k, top_p=top_p)
    procs = s.processors()
    scores = procs(torch.zeros(1, 0, dtype=torch.long), logits[None].clone())[0] if procs else logits
    shaped = torch.softmax(scores, -1)
    possible = int(torch.isfinite(scores).sum()) if not s.greedy else 1
    order = torch.argsort(base, descending=True)[:show].tolist()
    if s.greedy:
        chosen = int(base.argmax())
    else:
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        chosen = int(torch.multinomial(shaped, 1, generator=g))
    rows = [{"id": i, "token": tokenizer.decode([i]), "p": float(base[i]),
             "p_after": float(shaped[i]) if not s.greedy else float(i == chosen),
             "possible": (bool(torch.isfinite(scores[i])) if not s.greedy else i == chosen)} for i in order]
    return {"rows": rows, "possible": possible, "vocab": int(logits.shape[0]), "chosen": chosen,
            "chosen_token": tokenizer.decode([chosen]), "greedy": s.greedy,
            "entropy_bits": float(-(base * torch.log2(base.clamp_min(1e-30))).sum())}


# -- 7. the budget -------------------------------------------------------------------------------
def budget(cfg: MuFunConfig, seconds: float, prompt_tokens: int, max_new: int) -> dict:
    """Duration -> chunks -> audio tokens (with the padding of the last chunk), KV-cache memory
    per precision, and what still fits."""
    chunks = count_chunks(int(round(seconds * SAMPLE_RATE)), cfg)
    audio = tokens_for_duration(seconds, cfg)
    total = prompt_tokens + audio + max_new
    padded = chunks * cfg.chunk_samples / SAMPLE_RATE
    kv_per_token = {p: cfg.text.kv_bytes_per_token_bf16 * n // 2 for p, n in KV_DTYPE_BYTES.items()}
    per_chunk = cfg.tokens_per_chunk
    room = cfg.context_limit - prompt_tokens - max_new
    return {
        "seconds": seconds, "chunks": chunks, "audio_tokens": audio, "tokens_per_chunk": per_chunk,
        "padded_seconds": padded, "padding_seconds": max(0.0, padded - seconds) if chunks else 0.0,
        "tokens_per_second_effective": audio / seconds if seconds > 0 else 0.0,
        "sequence": total, "context_limit": cfg.context_limit, "trained_length": cfg.trained_length,
        "fits": total <= cfg.context_limit, "within_trained": total <= cfg.trained_length,
        "kv_bytes_per_token": kv_per_token,
        "kv_bytes": {p: b * total for p, b in kv_per_token.items()},
        "max_chunks_that_fit": max(0, room // per_chunk),
        "max_seconds_that_fit": max(0, room // per_chunk) * cfg.chunk_samples / SAMPLE_RATE,
        "max_seconds_within_trained": max(0, (cfg.trained_length - prompt_tokens - max_new) // per_chunk) * 30,
    }


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"
