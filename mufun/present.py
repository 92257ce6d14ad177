"""Text the page shows, built from data: users' words shown exactly, tables, status lines.

The chat and the tables are rendered as markdown (with HTML). A person's own words, a file's
name or a model's answer are shown as typed, never interpreted: every character markdown or
HTML would act on is written as a numeric character reference, which renders as itself.

>>> literal("<img src=x> **bold** [a](b) $x$")
'&#60;img src&#61;x&#62; &#42;&#42;bold&#42;&#42; &#91;a&#93;&#40;b&#41; &#36;x&#36;'
"""
from __future__ import annotations

from typing import Sequence

from mufun.audio import Clip
from mufun.config import MuFunConfig

_ACTIVE = set("\\`*_{}[]()<>#+-.!|~$=&^:\"'@%")


def literal(text: str) -> str:
    """``text`` as markdown that renders to exactly ``text`` (line breaks kept)."""
    out = []
    for line in text.split("\n"):
        body = "".join(f"&#{ord(c)};" if c in _ACTIVE else c for c in line)
        lead = len(body) - len(body.lstrip(" "))
        out.append("&#160;" * lead + body[lead:])  # leading spaces would start a code block
    return "\n".join(out)


def songs_table(clips: Sequence[Clip], cfg: MuFunConfig) -> str:
    """One row per song: what the model will hear of it, and what it costs."""
    rows = ["| song | duration | segment | chunks | audio tokens |", "|---|---|---|---|---|"]
    for c in clips:
        seg = f"{c.segment[0]:g}–{c.segment[1]:g} s" if c.segment else "whole"
        rows.append(f"| {literal(c.source)} | {c.duration_s:.1f} s | {seg} | {c.n_chunks(cfg)} | "
                    f"{c.tokens(cfg):,} |")
    return "\n".join(rows + [f"\n⚠️ {literal(w)}" for c in clips for w in c.warnings])


def plural(n: int, word: str, many: str | None = None) -> str:
    """A count with its noun in the right number.

    >>> plural(1, 'token'), plural(3, 'token'), plural(2, 'remains', 'remain')
    ('1 token', '3 tokens', '2 remain')
    """
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def answer_notes(warnings: Sequence[str]) -> str:
    """Warnings to show under the chat, each on its own line."""
    return "".join(f"\n\n⚠️ {literal(w)}" for w in warnings)


def answer_status(stats: dict, warnings: Sequence[str] = ()) -> str:
    """The status line under the chat after an answer, with what the listener should know."""
    return (f"{plural(stats['answer_tokens'], 'token')} · stop: {stats['stop_reason']} · first token "
            f"{stats['time_to_first_token_s']:.2f} s · {stats['tokens_per_s'] or 0:.1f} tokens/s"
            + answer_notes(warnings))
