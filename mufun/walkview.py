"""The guided walkthrough, one step per screen: for each of the seven steps a picture drawn from
the live tensors and config, a few sentences, and the exact numbers (folded under it).

``view(step, ...)`` computes only what that step shows; the UI calls it on Back / Next.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from mufun import pictures as P
from mufun import teach
from mufun import walkthrough as W
from mufun.audio import Clip
from mufun.pipeline import Prepared, clip_features
from mufun.present import literal, plural

STEPS = ("Tokens", "Audio", "Splice", "Mask", "Next token", "Sampling", "Budget")
SURE = 0.99  # a distribution whose top token has at least this probability is "nearly one-hot"
WORKED_LOGITS = (2.0, 1.5, 1.0, 0.5)


@dataclass(frozen=True)
class Params:
    mask_start: int = 0
    mask_len: int = 16
    generated: tuple[int, ...] = ()
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = 0
    seconds: float = 200.0
    max_new: int = 64


@dataclass
class StepView:
    step: int
    title: str
    picture: str  # HTML, drawn from the data
    text: str  # markdown: what the picture shows, in a few sentences
    table: str  # markdown: the exact numbers
    image: object = None  # a PIL picture where one is needed (the log-mel)
    chosen: int | None = None  # step 5/6: the token the next step appends
    extra: dict = field(default_factory=dict)


def indicator(step: int) -> str:
    """The step indicator.

    >>> indicator(3)
    '3 / 7 · Splice'
    """
    return f"{step} / {len(STEPS)} · {STEPS[step - 1]}"


def view(step: int, svc, clips: Sequence[Clip], prep: Prepared, prompt: str, p: Params) -> StepView:
    return (_tokens, _audio, _splice, _mask, _next, _sampling, _budget)[step - 1](svc, clips, prep, prompt, p)


def _tokens(svc, clips, prep, prompt, p) -> StepView:
    d = W.text_to_ids(prompt, len(clips), svc.tokenizer, svc.cfg)
    text = (f"The question is written into the trained template, cut at each `<audio>` into "
            f"{plural(len(d['pieces']), 'piece')}, and each piece is tokenized on its own by the real Qwen3 "
            f"tokenizer. Every `<audio>` becomes the placeholder id **{d['placeholder']}** (green): "
            f"{plural(d['n_ids'], 'id')} before the songs are spliced in.")
    return StepView(1, indicator(1), P.chips(d["rows"], d["placeholder"]), text, teach.tokens_md(svc, prompt, len(clips)))


def _audio(svc, clips, prep, prompt, p) -> StepView:
    if not clips:
        return StepView(2, indicator(2), "", "Add a song to see it go through the encoder.", "")
    feats = clip_features(clips[:1], svc.cfg)
    arrows = W.audio_path(svc.loaded.model, svc.cfg, torch.from_numpy(feats))
    c = clips[0]
    text = (f"{literal(c.source)}: {c.used_s:.1f} s at 16 kHz → {plural(c.n_chunks(svc.cfg), 'chunk')} of 30 s → "
            f"log-mel (below, low pitches at the bottom) → the Whisper encoder, {len(svc.cfg.tap_layers)} of its "
            f"hidden states tapped and joined → pooled by {svc.cfg.pool_stride} → the connector: "
            f"**{svc.cfg.tokens_per_chunk} rows of {svc.cfg.hidden_size} numbers per chunk**, the LLM's width.")
    _, table = teach.audio_md(svc, clips)
    return StepView(2, indicator(2), P.audio_path([(a.stage, a.shape, a.note) for a in arrows]), text, table,
                    image=W.mel_picture(feats))


def _splice(svc, clips, prep, prompt, p) -> StepView:
    d = W.splice(prep.layout)
    text = (f"Before: {plural(d['before_length'], 'id')}, the placeholder at "
            f"{', '.join(map(str, d['placeholders'])) or 'no position'}. After: each placeholder is replaced by its "
            f"song's {plural(d['audio_tokens'], 'audio row')}, and the positions are renumbered 0…"
            f"{d['after_length'] - 1}: **{d['after_length']:,} positions** for the LLM.")
    return StepView(3, indicator(3), P.splice_strip(d["before"], d["after"], svc.cfg.image_token_index), text,
                    teach.splice_md(prep))


def _mask(svc, clips, prep, prompt, p) -> StepView:
    lay = prep.layout
    start = max(0, min(p.mask_start, lay.sequence_length - 1))
    end = min(lay.sequence_length, start + max(2, min(p.mask_len, 24)))
    rows = W.mask_rows(lay, start, end)
    text = (f"Causal attention: each position (a row) may look at every position up to itself (the filled cells) "
            f"and at nothing after it. Positions {start}–{end - 1} of {lay.sequence_length:,}; move the slice with "
            f"the controls. Audio rows are green, text blue.")
    _, table = teach.mask_view(prep, start, end - start)
    return StepView(4, indicator(4), P.mask_grid(rows, start), text, table)


def _distribution(svc, prep, p: Params) -> tuple[dict, str, torch.Tensor]:
    logits, note = svc.next_token_logits(prep, list(p.generated))
    d = W.reshape(logits, svc.tokenizer, p.temperature, p.top_k, p.top_p, 10, p.seed)
    return d, note, logits


def _next(svc, clips, prep, prompt, p) -> StepView:
    d, note, _ = _distribution(svc, prep, Params(**{**p.__dict__, "temperature": 0.0}))
    items = [(repr(r["token"]), r["p"]) for r in d["rows"]]
    length = prep.layout.sequence_length + len(p.generated)
    so_far = svc.tokenizer.decode(list(p.generated)) if p.generated else ""
    top = d["rows"][0]["p"]
    sure = (f" The model is **sure** here (p = {top:.4f}): almost all the probability sits on one token. "
            f"Step 6 shows how to find a position where it is less sure." if top >= SURE else "")
    text = (f"One forward pass over all {length:,} positions gives a probability for every one of "
            f"{d['vocab']:,} vocabulary rows; the top {len(items)} are drawn. Greedy decoding takes the tallest "
            f"bar: **{literal(d['chosen_token'])}**. Answer so far: «{literal(so_far)}». "
            f"Entropy {d['entropy_bits']:.2f} bits.{sure}" + (f"\n\n{note}" if note else ""))
    table = "| token | id | p |\n|---|---|---|\n" + "\n".join(
        f"| {teach._md(r['token'])} | {r['id']} | {r['p']:.6f} |" for r in d["rows"])
    return StepView(5, indicator(5), P.bars(items, highlight=0), text, table, chosen=d["chosen"],
                    extra={"top_p": top})


def worked_example(temperature: float) -> list[tuple[str, float]]:
    """softmax([2.0, 1.5, 1.0, 0.5] / T), the same rule the real distribution goes through.

    >>> [round(p, 3) for _, p in worked_example(1.0)]
    [0.455, 0.276, 0.167, 0.102]
    >>> [round(p, 3) for _, p in worked_example(0)]
    [1.0, 0.0, 0.0, 0.0]
    """
    if temperature <= 0:
        return [(f"logit {x:g}", 1.0 if k == 0 else 0.0) for k, x in enumerate(WORKED_LOGITS)]
    z = [x / temperature for x in WORKED_LOGITS]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [(f"logit {x:g}", v / sum(e)) for x, v in zip(WORKED_LOGITS, e)]


def _sampling(svc, clips, prep, prompt, p) -> StepView:
    d, note, _ = _distribution(svc, prep, p)
    before = [(repr(r["token"]), r["p"]) for r in d["rows"]]
    after = [(repr(r["token"]), r["p_after"]) for r in d["rows"]]
    chosen = next((k for k, r in enumerate(d["rows"]) if r["id"] == d["chosen"]), None)
    mode = ("greedy (temperature 0): only the most likely token remains" if d["greedy"] else
            f"temperature {p.temperature:g}, top-k {p.top_k or 'off'}, top-p {p.top_p:g}")
    top = d["rows"][0]["p"]
    sure = ""
    if top >= SURE:
        sure = (f"\n\n**The model is nearly certain here** (p = {top:.4f}): temperature, top-k and top-p barely move "
                f"a distribution that is almost all on one token. Press *Least sure position* to go to the answer "
                f"position where the model hesitated most, or watch the worked example on the right.")
    picture = (f'<div style="display:flex;gap:24px;flex-wrap:wrap"><div style="flex:2;min-width:380px">'
               f'<b>before</b>{P.bars(before, chosen)}<b>after the sampling rules</b>{P.bars(after, chosen)}</div>'
               f'<div style="flex:1;min-width:260px"><b>worked example</b>: logits {list(WORKED_LOGITS)} at '
               f'temperature {p.temperature:g}{P.bars(worked_example(p.temperature), 0, 1.0, "{:.3f}")}</div></div>')
    text = (f"Sampling rules reshape the real distribution: {mode}. "
            f"**{plural(d['possible'], 'token remains', 'tokens remain')} possible**; the draw "
            f"(seed {p.seed if p.seed is not None else 'random'}) picks **{literal(d['chosen_token'])}**."
            + sure + (f"\n\n{note}" if note else ""))
    table = "| token | id | p | p after | possible |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {teach._md(r['token'])} | {r['id']} | {r['p']:.6f} | {r['p_after']:.6f} | {'yes' if r['possible'] else 'no'} |"
        for r in d["rows"])
    return StepView(6, indicator(6), picture, text, table, chosen=d["chosen"],
                    extra={"top_p": top, "possible": d["possible"]})


def _budget(svc, clips, prep, prompt, p) -> StepView:
    cfg = svc.cfg
    lay = prep.layout
    prompt_tokens = lay.prompt_length - lay.totals().get("audio", 0)
    b = W.budget(cfg, float(p.seconds), prompt_tokens, p.max_new)
    parts = [("question and template", prompt_tokens, "#5a78c8"), (f"a {p.seconds:g} s song", b["audio_tokens"], "#28aa6e"),
             ("answer", p.max_new, "#dc7828")]
    note = (f"The longest song that fits with this question: {b['max_seconds_that_fit'] / 60:.1f} min "
            f"({b['max_chunks_that_fit']} chunks of {cfg.tokens_per_chunk}); within the fine-tuned length: "
            f"{b['max_seconds_within_trained'] / 60:.1f} min.")
    fit = "fits" if b["fits"] else "does not fit"
    text = (f"{p.seconds:g} s of music → {plural(b['chunks'], 'chunk')} × {b['tokens_per_chunk']} = "
            f"**{b['audio_tokens']:,} audio tokens**; with the question and {p.max_new} answer tokens the sequence "
            f"is {b['sequence']:,} of {b['context_limit']:,} positions: it {fit}. Slide the duration to see it grow.")
    return StepView(7, indicator(7), P.budget_bar(parts, b["context_limit"], b["trained_length"], note), text,
                    teach.budget_md(svc, prep, p.seconds, p.max_new))


def least_sure(svc, prep: Prepared, max_new: int = 32) -> tuple[tuple[int, ...], float, int]:
    """The greedy answer's position where the model was least sure (highest entropy of its
    next-token distribution): (the answer ids before it, its entropy in bits, its index)."""
    from mufun.generate import Done, Sampling

    done = None
    for ev in svc.engine.stream(svc.inputs(prep), Sampling(max_new_tokens=max_new, top_logits=0)):
        if isinstance(ev, Done):
            done = ev
    ids = list(done.ids) if done else []
    best, where = -1.0, 0
    for k in range(len(ids)):
        logits, _ = svc.next_token_logits(prep, ids[:k])
        pr = torch.softmax(logits.float(), -1)
        h = float(-(pr * torch.log2(pr.clamp_min(1e-30))).sum())
        if h > best:
            best, where = h, k
    return tuple(ids[:where]), best, where
