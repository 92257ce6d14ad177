"""Songs too long for the budget: ask per window of the song, then once over the partial answers.

The window length is the largest whole number of 30 s chunks that keeps each question inside
the length the model was fine-tuned on (or its positional limit, if that is smaller), so no
window is ever truncated. The summary question is text only: it quotes each window's answer
with its time span.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from mufun.audio import SAMPLE_RATE, Clip
from mufun.generate import Done, Sampling, Step
from mufun.layout import ContextOverflow
from mufun.pipeline import Prepared
from mufun.prompt import Turn


@dataclass(frozen=True)
class Stage:
    """One question of the chunked analysis, before its answer streams."""

    index: int  # 0-based; ``total - 1`` is the summary
    total: int
    title: str
    prepared: Prepared


def window_chunks(svc, turns: Sequence[Turn], clip: Clip, max_new: int) -> int:
    """How many 30 s chunks one window may hold."""
    cfg = svc.cfg
    short = Clip(clip.source, clip.samples[:cfg.chunk_samples], clip.duration_s, clip.native_rate, clip.segment)
    fixed = svc.prepare(turns, [short]).layout.sequence_length - cfg.tokens_per_chunk
    limit = min(cfg.trained_length, cfg.context_limit)
    n = (limit - fixed - max_new) // cfg.tokens_per_chunk
    if n < 1:
        raise ContextOverflow(f"even one 30 s chunk does not fit with this question and {max_new} answer tokens "
                              f"(limit {limit:,} positions): shorten the question or the answer length")
    return n


def windows(clip: Clip, chunks: int) -> list[Clip]:
    """Consecutive pieces of ``chunks`` x 30 s (the last may be shorter), named by their times."""
    step = chunks * 30 * SAMPLE_RATE
    out = []
    for a in range(0, len(clip.samples), step):
        piece = clip.samples[a:a + step]
        if len(piece) < SAMPLE_RATE // 2 and out:  # a last sliver under 0.5 s adds nothing
            break
        t0 = clip.offset_s + a / SAMPLE_RATE
        t1 = t0 + len(piece) / SAMPLE_RATE
        out.append(Clip(f"{clip.source} [{_mmss(t0)}-{_mmss(t1)}]", piece, clip.duration_s, clip.native_rate,
                        (t0, t1), clip.warnings if not out else ()))
    return out


def summary_question(question: str, parts: Sequence[tuple[Clip, str]]) -> str:
    lines = [f"Part {i + 1} ({_mmss(c.segment[0])}-{_mmss(c.segment[1])}): {a}" for i, (c, a) in enumerate(parts)]
    return ("These are answers about consecutive parts of one song:\n" + "\n".join(lines)
            + f"\nUsing them, answer for the whole song: {question}")


def analyse(svc, question: str, clip: Clip, sampling: Sampling,
            should_stop: Callable[[], bool] | None = None) -> Iterator[Stage | Step | Done]:
    """Yields a Stage, then its Steps and Done, for every window and then the summary."""
    turns = [Turn(question)]
    parts = windows(clip, window_chunks(svc, turns, clip, sampling.max_new_tokens))
    total = len(parts) + 1
    answers: list[tuple[Clip, str]] = []
    for i, part in enumerate(parts):
        events = svc.ask(turns, [part], sampling, should_stop)
        yield Stage(i, total, f"part {i + 1} of {len(parts)}: {part.source}", next(events))
        for ev in events:
            yield ev
            if isinstance(ev, Done):
                answers.append((part, ev.text))
                if ev.stop_reason == "cancelled":
                    return
    events = svc.ask([Turn(summary_question(question, answers))], [], sampling, should_stop)
    yield Stage(total - 1, total, "summary over the parts", next(events))
    yield from events


def _mmss(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"
