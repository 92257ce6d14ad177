"""Compare precisions: one question on the loaded songs answered with the Qwen3 linears in full
precision, int8 and nf4 (bitsandbytes, as the authors quantize), side by side: the answer,
whether it matches full precision, the language model's memory, time to first token, tokens/s.

Before loading anything it says which precisions fit the device's free memory (estimated from
the config). Loading another precision is a model switch: the caller checks the operator allows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mufun.config import MuFunConfig

PRECISIONS = ("none", "int8", "nf4")


def linear_params(cfg: MuFunConfig) -> tuple[int, int]:
    """(parameters in the decoder's linears, the rest of the language model), from the config.

    >>> from mufun.config import MuFunConfig
    >>> sum(linear_params(MuFunConfig.real()))  # Qwen3-8B-Base
    8190735360
    """
    t = cfg.text
    q, kv = t.num_attention_heads * t.head_dim, t.num_key_value_heads * t.head_dim
    per_layer = t.hidden_size * (q + 2 * kv) + q * t.hidden_size + 3 * t.hidden_size * t.intermediate_size
    norms = t.hidden_size * (2 * t.num_hidden_layers + 1) + 2 * t.head_dim * t.num_hidden_layers  # + q/k norms
    rest = t.vocab_size * t.hidden_size * (1 if t.tie_word_embeddings else 2) + norms
    return per_layer * t.num_hidden_layers, rest


def estimate_bytes(cfg: MuFunConfig, mode: str, dtype_bytes: int) -> int:
    """The language model's weights in ``mode``: linears at 1 byte (int8) or half a byte (nf4, plus
    a scale per 64), everything else at ``dtype_bytes``.

    >>> from mufun.config import MuFunConfig
    >>> round(estimate_bytes(MuFunConfig.real(), "none", 2) / 1e9, 2), round(estimate_bytes(MuFunConfig.real(), "nf4", 2) / 1e9, 2)
    (16.38, 6.4)
    """
    lin, rest = linear_params(cfg)
    per = {"none": dtype_bytes, "int8": 1.0, "nf4": 0.5 + 4 / 64}[mode]
    return int(lin * per + rest * dtype_bytes)


def free_bytes(device: str) -> int:
    if device.startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info()[0])
    import psutil

    return int(psutil.virtual_memory().available)


def lm_bytes(model) -> int:
    """Bytes the loaded language model's parameters and buffers take (tied ones once)."""
    seen, total = set(), 0
    for t in list(model.language_model.parameters()) + list(model.language_model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


@dataclass
class Plan:
    precision: str
    estimate: int
    fits: bool


def plan(cfg: MuFunConfig, device: str, dtype_bytes: int, free: int | None = None) -> list[Plan]:
    free = free_bytes(device) if free is None else free
    return [Plan(m, estimate_bytes(cfg, m, dtype_bytes), estimate_bytes(cfg, m, dtype_bytes) < 0.9 * free)
            for m in PRECISIONS]


@dataclass
class Row:
    precision: str
    answer: str
    matches: bool
    lm_bytes: int
    first_token_s: float
    tokens_per_s: float | None
    load_s: float


def compare(svc, turns, songs, sampling, load) -> list[Row]:
    """Answer ``turns`` about ``songs`` at each precision that fits; ``load(mode)`` gives a service
    (the loaded one for its own precision). Greedy, so a match means the same tokens."""
    import time

    from mufun.generate import Done

    rows: list[Row] = []
    for mode in PRECISIONS:
        t0 = time.perf_counter()
        other = svc if mode == svc.loaded.quantize else load(mode)
        load_s = time.perf_counter() - t0 if other is not svc else 0.0
        done = None
        for ev in other.ask(turns, other.clips(songs), sampling):
            if isinstance(ev, Done):
                done = ev
        rows.append(Row(mode, done.text, False, lm_bytes(other.loaded.model), done.stats["time_to_first_token_s"],
                        done.stats["tokens_per_s"], load_s))
        rows[-1].ids = done.ids
    base = next(r for r in rows if r.precision == "none")
    for r in rows:
        r.matches = r.ids == base.ids
    return rows
