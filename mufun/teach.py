"""The walkthrough and the attention timeline as the page shows them: markdown and pictures.

Each function takes the live service and the user's own songs and question; every number is
read from the loaded config, tokenizer or tensors (see ``walkthrough``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mufun import walkthrough as W
from mufun.attention import AnswerAttention, answer_attention
from mufun.audio import Clip
from mufun.pipeline import Prepared, clip_features
from mufun.present import literal
from mufun.prompt import PromptError
from mufun.viz import mask_image, waveform_image


def _md(s: str) -> str:
    """A token's text in a table cell or a code chip, exactly (a newline shown as \\n)."""
    return literal(s.replace("\n", "\\n")) if s else "·"


def _code(s: str) -> str:
    return f"<code>{_md(s)}</code>"


def tokens_md(svc, prompt: str, n_audio: int) -> str:
    d = W.text_to_ids(prompt, n_audio, svc.tokenizer, svc.cfg)
    pieces = " · ".join(_code(p) for p in d["pieces"])
    rows = "\n".join(f"| {r['position']} | {_md(r['text'])} | {r['id']} | {r['kind']} |" for r in d["rows"])
    return (f"**1 · Text → pieces → ids.** The templated string is split on `<audio>` into "
            f"{len(d['pieces'])} pieces, each tokenized on its own; every tag becomes the placeholder id "
            f"**{d['placeholder']}** ({d['n_placeholders']} here). {d['n_ids']} ids before audio expansion.\n\n"
            f"Pieces: {pieces}\n\n| # | token | id | kind |\n|---|---|---|---|\n{rows}")


def audio_md(svc, clips: Sequence[Clip]):
    """(log-mel picture of the first chunk, markdown of every arrow with its shape)."""
    if not clips:
        return None, "**2 · Audio.** Add a song to see it go through the encoder."
    feats = clip_features(clips[:1], svc.cfg)
    arrows = W.audio_path(svc.loaded.model, svc.cfg, torch.from_numpy(feats))
    rows = "\n".join(f"| {a.stage} | `{tuple(a.shape)}` | {a.note} |" for a in arrows)
    c = clips[0]
    return (W.mel_picture(feats),
            f"**2 · Audio → chunks → log-mel → encoder taps → pooling → connector** for {c.source} "
            f"({c.used_s:.1f} s used → {c.n_chunks(svc.cfg)} chunk(s) of 30 s). Shapes read off the real tensors:\n\n"
            f"| step | shape | what happens |\n|---|---|---|\n{rows}")


def splice_md(prep: Prepared, show: int = 40) -> str:
    d = W.splice(prep.layout)
    after = d["after"]
    rows = "\n".join(f"| {a['positions']} | {_md(a['content'])} | {a['n']} |" for a in after[:show])
    more = f"\n\n… {len(after) - show} more rows" if len(after) > show else ""
    return (f"**3 · Splice.** Before: {d['before_length']} ids with the placeholder at "
            f"{d['placeholders'] or 'no position'}. After: every placeholder is replaced by its song's audio rows "
            f"({d['audio_tokens']} in all) and positions are renumbered 0…{d['after_length'] - 1} "
            f"({d['after_length']} positions).\n\n| positions | content | n |\n|---|---|---|\n{rows}{more}")


def mask_view(prep: Prepared, start: int, n: int):
    lay = prep.layout
    start = max(0, min(int(start), lay.sequence_length - 1))
    end = min(lay.sequence_length, start + max(1, min(int(n), 48)))
    rows = W.mask_rows(lay, start, end)
    table = "\n".join(f"| {r['position']} | {r['kind']} | {_md(str(r['token']))} | {r['sees']} | {r['n_hidden']} |"
                      for r in rows)
    return (mask_image(lay, 480, start, end),
            f"**4 · Causal mask, positions {start}–{end - 1}.** Row *q* may attend to every key 0…*q* and to "
            f"nothing after it.\n\n| query | kind | token | may see | hidden (future) |\n|---|---|---|---|---|\n{table}")


def budget_md(svc, prep: Prepared, seconds: float, max_new: int) -> str:
    """Step 7 for the user's own question: its text tokens plus a song of ``seconds``."""
    cfg = svc.cfg
    lay = prep.layout
    prompt_tokens = lay.prompt_length - lay.totals().get("audio", 0)
    b = W.budget(cfg, float(seconds), prompt_tokens, int(max_new))
    kv = " · ".join(f"{p}: {W.fmt_bytes(v)} ({W.fmt_bytes(b['kv_bytes_per_token'][p])}/token)"
                    for p, v in b["kv_bytes"].items())
    fit = "fits" if b["fits"] else "**does not fit**"
    trained = "" if b["within_trained"] else f" — past the fine-tuned length of {b['trained_length']:,}"
    return (f"**7 · Token budget.** {b['seconds']:g} s → {b['chunks']} chunk(s) × {b['tokens_per_chunk']} = "
            f"**{b['audio_tokens']:,} audio tokens** (the last chunk is padded: {b['padding_seconds']:.1f} s of "
            f"silence paid for; {b['tokens_per_second_effective']:.1f} tokens per second of music). "
            f"With {prompt_tokens} prompt tokens and {max_new} answer tokens the sequence is {b['sequence']:,} of "
            f"{b['context_limit']:,} positions: it {fit}{trained}.\n\n"
            f"KV cache for that sequence: {kv} (quantizing the weights does not shrink it).\n\n"
            f"Longest song that fits with this question: {b['max_seconds_that_fit'] / 60:.1f} min "
            f"({b['max_chunks_that_fit']} chunks); within the fine-tuned length: "
            f"{b['max_seconds_within_trained'] / 60:.1f} min.")


# -- answer -> audio attention ------------------------------------------------------------------------
def explain(svc, prep_prompt: Prepared, prep_answer: Prepared, answer_ids: list[int]) -> AnswerAttention:
    inputs = svc.inputs(prep_prompt)
    if not svc.engine.holds_decoder:
        raise PromptError("The attention map needs the decoder's attention weights, which stay on the vLLM "
                          "server: run the app with the local engine (--engine local) to see it.")
    with svc.decoding:
        return answer_attention(svc.loaded.model.language_model, inputs, prep_answer.layout, answer_ids,
                                svc.tokenizer)


def timeline_image(clips: Sequence[Clip], cfg, att: AnswerAttention, values: np.ndarray, width: int = 900):
    """Each song's waveform with a heat strip: how much attention each 0.1 s received."""
    from PIL import Image, ImageDraw

    band, strip, title = 80, 26, 16
    im = Image.new("RGB", (width, len(clips) * (band + strip + title)), (255, 255, 255))
    d = ImageDraw.Draw(im)
    top = float(values.max()) if values.size and values.max() > 0 else 1.0
    for k, c in enumerate(clips):
        y = k * (band + strip + title)
        best = ", ".join(f"{s // 60}:{s % 60:02d}" for s, _ in att.top_seconds(values, k))
        d.text((4, y + 2), f"{c.source}: most attended seconds {best}", fill=(30, 30, 30))
        im.paste(waveform_image(c.samples, 16000, c.chunk_times(cfg), c.offset_s, width, band), (0, y + title))
        dur = len(c.samples) / 16000
        keep = (att.song == k) & ~att.padding
        for t, v in zip(att.times[keep], values[keep]):
            x0 = (t - 0.05 - c.offset_s) / dur * width
            x1 = (t + 0.05 - c.offset_s) / dur * width
            heat = int(255 * (1 - v / top))
            d.rectangle([x0, y + title + band, max(x0 + 1, x1), y + title + band + strip - 2], fill=(255, heat, heat // 2))
    return im


def attention_md(att: AnswerAttention, values: np.ndarray, n_songs: int, what: str) -> str:
    on_audio = float(att.audio_share.mean())
    tops = "; ".join(f"song {k + 1}: " + ", ".join(f"{s // 60}:{s % 60:02d} ({m:.3f})"
                                                   for s, m in att.top_seconds(values, k)) for k in range(n_songs))
    return (f"**Answer → audio attention** ({what}). The answer's queries put {on_audio:.1%} of their attention "
            f"on audio tokens on average (the rest on text). Most attended seconds: {tops}.\n\n"
            f"Cost: one extra forward pass with eager attention over {len(att.answer_tokens)} answer tokens, "
            f"{att.layers} layers × {att.heads} heads, {att.seconds:.2f} s, largest attention tensor "
            f"{W.fmt_bytes(att.peak_bytes)} (one layer at a time; normal generation keeps its fast kernels).")
