"""Streaming generation as a generator of events; the model code never knows a UI exists.

The decode loop runs in the caller's thread (no worker thread to lose errors in): closing the
generator, or ``should_stop()`` returning True, ends it within one step.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from transformers import DynamicCache
from transformers.generation.logits_process import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

from mufun.errors import UserError, show_number


MAX_NEW_TOKENS = 8192
MIN_TEMPERATURE = 0.01  # below it, logits / T overflows float32: use 0 (greedy)
MAX_TEMPERATURE = 100.0
MAX_SEED = 2**32 - 1  # torch's CPU generator keeps 32 bits of a seed: larger ones would alias


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    top_logits: int = 0  # report this many next-token candidates per step

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise UserError(f"max new tokens must be 1..{MAX_NEW_TOKENS:,}, got {show_number(self.max_new_tokens)}")
        finite = all(math.isfinite(v) for v in (self.temperature, self.top_p, self.repetition_penalty))
        if (not finite or not (self.temperature == 0 or MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE)
                or self.top_k < 0 or not 0 < self.top_p <= 1 or self.repetition_penalty <= 0):
            raise UserError(f"sampling: temperature 0 (greedy) or {MIN_TEMPERATURE:g}..{MAX_TEMPERATURE:g}, "
                            f"top-k >= 0, 0 < top-p <= 1, repetition penalty > 0")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"seed {show_number(self.seed)} is out of range: use a whole number from 0 to {MAX_SEED:,} "
                            f"(the random generator's seeds), or -1 for a random seed")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def processors(self) -> LogitsProcessorList:
        procs = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if not self.greedy:
            procs.append(TemperatureLogitsWarper(self.temperature))
            if self.top_k:
                procs.append(TopKLogitsWarper(self.top_k))
            if self.top_p < 1.0:
                procs.append(TopPLogitsWarper(self.top_p))
        return procs


@dataclass(frozen=True)
class Step:
    """One generated token."""

    index: int
    id: int
    token: str
    delta: str  # new printable text (may be empty while a multi-byte character is incomplete)
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Done:
    text: str
    ids: tuple[int, ...]
    stop_reason: str  # eos | max_new_tokens | cancelled
    stats: dict = field(default_factory=dict)


def stream(lm, inputs: dict, tokenizer, eos_ids: tuple[int, ...], sampling: Sampling,
           should_stop: Callable[[], bool] | None = None) -> Iterator[Step | Done]:
    """Prefill ``inputs`` (inputs_embeds, attention_mask, position_ids), then decode one token a step."""
    t_start = time.perf_counter()
    gen = None
    if sampling.seed is not None:
        gen = torch.Generator(device="cpu").manual_seed(sampling.seed)
    procs = sampling.processors()
    embeds = inputs["inputs_embeds"]
    L = embeds.shape[1]
    dev = embeds.device
    cache = DynamicCache(config=lm.config)
    ids: list[int] = []
    text = Detokenizer(tokenizer)
    t_first = None
    reason = "max_new_tokens"
    with torch.inference_mode():
        out = lm(**inputs, cache=cache, use_cache=True, logits_to_keep=1)  # (1, 1, V): not (1, L, V)
        for step in range(sampling.max_new_tokens):
            if should_stop is not None and should_stop():
                reason = "cancelled"
                break
            logits = out.logits[:, -1, :].float()  # (1, V)
            prev = torch.tensor([ids], dtype=torch.long, device=logits.device)
            scores = procs(prev, logits) if procs else logits
            if sampling.greedy:
                nxt = int(scores.argmax(-1))
            else:
                probs = torch.softmax(scores, -1).cpu()
                nxt = int(torch.multinomial(probs[0], 1, generator=gen))
            top: tuple = ()
            if sampling.top_logits:
                p = torch.softmax(logits, -1)[0]
                v, i = p.topk(sampling.top_logits)
                top = tuple((int(a), float(b)) for a, b in zip(i.tolist(), v.tolist()))
            ids.append(nxt)
            if t_first is None:
                t_first = time.perf_counter()
            yield Step(step, nxt, tokenizer.convert_ids_to_tokens(nxt), text.add(nxt), top)
            if nxt in eos_ids:
                reason = "eos"
                break
            if step + 1 == sampling.max_new_tokens:
                break
            pos = L + len(ids) - 1
            out = lm(input_ids=torch.tensor([[nxt]], device=dev), cache=cache, use_cache=True,
                     position_ids=torch.tensor([[pos]], device=dev),
                     attention_mask=torch.ones(1, pos + 1, dtype=torch.long, device=dev))
    yield finish(tokenizer, ids, reason, t_start, t_first, L)


def finish(tokenizer, ids: list[int], reason: str, t_start: float, t_first: float | None, prompt_len: int) -> Done:
    """The Done event of an answer: its text (special tokens skipped), ids and timing, for any engine."""
    t_end = time.perf_counter()
    final = tokenizer.decode(ids, skip_special_tokens=True).strip()
    n = len(ids)
    decode_s = (t_end - t_first) if t_first else 0.0
    stats = {"prompt_tokens": prompt_len, "answer_tokens": n, "stop_reason": reason,
             "time_to_first_token_s": round((t_first or t_end) - t_start, 4),
             "total_s": round(t_end - t_start, 4),
             "tokens_per_s": round((n - 1) / decode_s, 2) if n > 1 and decode_s > 0 else None}
    return Done(final, tuple(ids), reason, stats)


class Detokenizer:
    """Text deltas as ids arrive: only the ids since the last complete character are decoded
    (O(1) a step); a multi-byte character split over ids shows once it is whole."""

    def __init__(self, tokenizer):
        self.tokenizer, self.ids, self.pending = tokenizer, [], 0

    def add(self, token_id: int) -> str:
        self.ids.append(token_id)
        piece = self.tokenizer.decode(self.ids[self.pending:], skip_special_tokens=True)
        if piece.endswith("\ufffd"):
            return ""
        self.pending = len(self.ids)
        return piece


def generate(lm, inputs: dict, tokenizer, eos_ids: tuple[int, ...], sampling: Sampling) -> Done:
    """Run ``stream`` to the end."""
    done = None
    for ev in stream(lm, inputs, tokenizer, eos_ids, sampling):
        if isinstance(ev, Done):
            done = ev
    return done
