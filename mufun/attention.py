"""Answer -> audio attention: which seconds of the song the answer attended to.

A separate forward pass over prompt + answer, with eager attention and a hook on every Qwen3
attention module that keeps only what is needed (answer rows x audio columns), so generation
itself stays on the fast kernels. The query for answer token k is the position that produced
it (the one before it), so the map says what the model looked at while choosing each token.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from mufun.layout import Layout


@dataclass(frozen=True)
class AnswerAttention:
    per_layer_head: np.ndarray  # (layers, heads, n_audio): mean over answer tokens
    per_token: np.ndarray  # (layers, n_answer, n_audio): mean over heads
    audio_share: np.ndarray  # (layers, n_answer): attention mass on audio (the rest is on text)
    times: np.ndarray  # (n_audio,) seconds in the original file, centre of each audio token
    song: np.ndarray  # (n_audio,) song index
    padding: np.ndarray  # (n_audio,) True for rows that only see the zero padding of a last chunk
    answer_tokens: tuple[str, ...]
    seconds: float  # cost of the pass
    peak_bytes: int  # the largest attention tensor held at once (one layer)

    @property
    def layers(self) -> int:
        return self.per_layer_head.shape[0]

    @property
    def heads(self) -> int:
        return self.per_layer_head.shape[1]

    def values(self, layer: int | None = None, head: int | None = None, token: int | None = None) -> np.ndarray:
        """Attention over the audio tokens: all layers/heads/tokens averaged unless one is chosen
        (a single token is averaged over heads)."""
        if token is not None:
            a = self.per_token[:, token]  # (layers, n_audio)
            return a.mean(0) if layer is None else a[layer]
        a = self.per_layer_head
        a = a.mean(0) if layer is None else a[layer]  # (heads, n_audio)
        return a.mean(0) if head is None else a[head]

    def per_second(self, values: np.ndarray, song: int) -> tuple[np.ndarray, np.ndarray]:
        """(second start, summed mass) per whole second of ``song`` (padding excluded)."""
        keep = (self.song == song) & ~self.padding
        t = np.floor(self.times[keep]).astype(int)
        if t.size == 0:
            return np.zeros(0), np.zeros(0)
        secs = np.arange(t.min(), t.max() + 1)
        mass = np.bincount(t - t.min(), weights=values[keep], minlength=secs.size)
        return secs, mass

    def top_seconds(self, values: np.ndarray, song: int, k: int = 3) -> list[tuple[int, float]]:
        secs, mass = self.per_second(values, song)
        order = np.argsort(-mass)[:k]
        return [(int(secs[i]), float(mass[i])) for i in order]


def audio_times(lay: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, seconds, song, padding) for every audio token of the layout, in order."""
    pos, secs, song, pad = [], [], [], []
    for s in lay.spans:
        if s.kind != "audio":
            continue
        step = 30.0 / s.length  # a chunk always spans 30 s of (possibly padded) audio
        for r in range(s.length):
            t = s.t0 + (r + 0.5) * step
            pos.append(s.start + r)
            secs.append(t)
            song.append(s.file)
            pad.append(t > s.t1)
    return np.array(pos, int), np.array(secs), np.array(song, int), np.array(pad, bool)


@contextlib.contextmanager
def eager_attention(lm):
    """Eager attention returns its weights; restore the fast implementation afterwards."""
    old = lm.config._attn_implementation
    lm.config._attn_implementation = "eager"
    try:
        yield
    finally:
        lm.config._attn_implementation = old


def answer_attention(lm, inputs: dict, lay: Layout, answer_ids: list[int], tokenizer) -> AnswerAttention:
    """``inputs``: the prompt's inputs_embeds (1, L, H); ``lay``: the layout of prompt + answer."""
    if not answer_ids:
        raise ValueError("there is no answer to explain yet: ask a question first")
    embeds = inputs["inputs_embeds"]
    L = embeds.shape[1]
    emb = lm.get_input_embeddings()
    x = torch.cat([embeds, emb(torch.tensor([answer_ids], device=embeds.device)).to(embeds.dtype)], 1)
    T = x.shape[1]
    pos, secs, song, pad = audio_times(lay)
    queries = torch.arange(L - 1, L - 1 + len(answer_ids))  # the positions that produced each answer token
    audio_idx = torch.from_numpy(pos)
    per_lh, per_tok, share = [], [], []
    peak = [0]

    def hook(module, args, output):
        w = output[1]  # (1, heads, T, T)
        peak[0] = max(peak[0], w.numel() * w.element_size())
        rows = w[0][:, queries.to(w.device)].float()  # (heads, n_answer, T)
        on_audio = rows[:, :, audio_idx.to(w.device)]  # (heads, n_answer, n_audio)
        per_lh.append(on_audio.mean(1).cpu())
        per_tok.append(on_audio.mean(0).cpu())
        share.append(on_audio.sum(-1).mean(0).cpu())

    layers = lm.model.layers
    t0 = time.perf_counter()
    with eager_attention(lm):
        handles = [layer.self_attn.register_forward_hook(hook) for layer in layers]
        try:
            with torch.inference_mode():
                lm.model(inputs_embeds=x, attention_mask=torch.ones(1, T, dtype=torch.long, device=x.device),
                         position_ids=torch.arange(T, device=x.device).unsqueeze(0), use_cache=False)
        finally:
            for h in handles:
                h.remove()
    spent = time.perf_counter() - t0
    return AnswerAttention(torch.stack(per_lh).numpy(), torch.stack(per_tok).numpy(), torch.stack(share).numpy(),
                           secs, song, pad, tuple(tokenizer.decode([i]) for i in answer_ids), spent, peak[0])
