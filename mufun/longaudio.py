"""Songs too long for the budget: ask per window of the song, then combine the partial answers.

The window length is the largest whole number of 30 s chunks that keeps each question inside
the length the model was fine-tuned on (or its positional limit, if that is smaller), so no
window is ever truncated. One window is the whole answer. Several are combined by counting
(``tally``) when they agree or when the model was never trained on text-only questions
(MuFun-Tiny); otherwise the model is asked a text-only summary question quoting each window's
answer with its time span, and the count is shown beside it.
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

    index: int  # 0-based; with several windows and a model summary, ``total - 1`` is the summary
    total: int
    title: str
    prepared: Prepared


@dataclass(frozen=True)
class Tally:
    """The windows' answers combined in code: which answer is most common, and how it was found."""

    text: str
    most_common: str | None  # None on a tie


def _norm(answer: str) -> str:
    return " ".join(answer.lower().strip().rstrip(".!").split())


def tally(answers: Sequence[str], why: str) -> Tally:
    """Count the windows' answers (case, spaces and a final full stop ignored).

    >>> tally(["About 120 BPM.", "about 120 BPM", "About 90 BPM."], "counted").text
    'Most common answer: «About 120 BPM.» (2 of 3 parts: 1, 2); the others: part 3 «About 90 BPM.». counted'
    >>> tally(["The note is A4.", "The note is A4."], "counted").text
    'All 2 parts give the same answer: «The note is A4.»'
    """
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        groups.setdefault(_norm(a), []).append(i)
    ranked = sorted(groups.values(), key=len, reverse=True)
    if len(ranked) == 1:
        return Tally(f"All {len(answers)} parts give the same answer: «{answers[0]}»", answers[0])
    others = "; ".join(f"part{'s' if len(g) > 1 else ''} {', '.join(str(i + 1) for i in g)} «{answers[g[0]]}»"
                       for g in ranked[1:])
    if len(ranked[0]) == len(ranked[1]):
        tied = " and ".join(f"«{answers[g[0]]}»" for g in ranked if len(g) == len(ranked[0]))
        return Tally(f"No answer is most common: a tie between {tied} ({len(ranked[0])} of {len(answers)} parts "
                     f"each). {why}", None)
    top = ranked[0]
    return Tally(f"Most common answer: «{answers[top[0]]}» ({len(top)} of {len(answers)} parts: "
                 f"{', '.join(str(i + 1) for i in top)}); the others: {others}. {why}", answers[top[0]])


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
            should_stop: Callable[[], bool] | None = None) -> Iterator[Stage | Step | Done | Tally]:
    """Yields a Stage, then its Steps and Done, for every window; with several windows, then a
    Tally, and (for a model trained on text questions, when the windows disagree) the summary's
    Stage, Steps and Done."""
    turns = [Turn(question)]
    parts = windows(clip, window_chunks(svc, turns, clip, sampling.max_new_tokens))
    ask_model = svc.cfg.answers_text_questions
    total = len(parts) + (1 if ask_model and len(parts) > 1 else 0)
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
    if len(parts) == 1:
        return
    texts = [a for _, a in answers]
    agree = len({_norm(a) for a in texts}) == 1
    why = ("" if agree else "Counted in code: this model was trained only on questions about a sound, so it is "
           "not asked to summarise text." if not ask_model else "Counted in code; the model's own summary follows.")
    yield tally(texts, why)
    if agree or not ask_model:
        return
    events = svc.ask([Turn(summary_question(question, answers))], [], sampling, should_stop)
    yield Stage(total - 1, total, "the model's summary over the parts", next(events))
    yield from events


def _mmss(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"
