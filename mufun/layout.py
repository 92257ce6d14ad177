"""The sequence the language model reads, as plain data: spans, totals, budget, mask blocks.

No torch, no gradio. Every ``<audio>`` placeholder expands to ``tokens_per_chunk`` rows per
30 s chunk of its file; positions are 0..L-1 over the spliced sequence.

Worked example (tokens_per_chunk 300): text ids ``[1, 2, -200, 3]`` with one 45 s file (two
chunks) read as ``[1, 2] + 600 audio rows + [3]``, 603 positions in all:

>>> f = AudioFile("song.wav", ((0.0, 30.0), (30.0, 45.0)), 45.0)
>>> lay = Layout.build([1, 2, -200, 3], ["template", "user", "audio", "template"], [0] * 4,
...                    ["A", "B", "<audio>", "C"], [f], tokens_per_chunk=300, context_limit=4096)
>>> [(s.kind, s.start, s.end) for s in lay.spans]
[('template', 0, 1), ('user', 1, 2), ('audio', 2, 302), ('audio', 302, 602), ('template', 602, 603)]
>>> lay.sequence_length, lay.totals()["audio"]
(603, 600)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from mufun.errors import UserError

PLACEHOLDER = -200
TEXT_KINDS = ("system", "template", "user", "special", "answer")


class ContextOverflow(UserError):
    """The sequence (plus the answer it may grow) does not fit the model's positions."""


@dataclass(frozen=True)
class AudioFile:
    """What the layout needs of one song."""

    source: str
    chunk_times: tuple[tuple[float, float], ...]  # [t0, t1] seconds in the file, per chunk
    duration_s: float
    segment: tuple[float, float] | None = None

    @property
    def chunks(self) -> int:
        return len(self.chunk_times)


@dataclass(frozen=True)
class Span:
    """A run of positions of one kind: text tokens, one audio chunk, or generated tokens."""

    kind: str  # system | template | user | special | answer | audio | generated
    start: int
    end: int  # exclusive
    turn: int
    token_ids: tuple[int, ...] = ()
    token_strings: tuple[str, ...] = ()
    file: int | None = None
    chunk: int | None = None
    t0: float | None = None
    t1: float | None = None

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def label(self) -> str:
        if self.kind == "audio":
            return f"song {self.file + 1} chunk {self.chunk + 1} [{self.t0:.1f}-{self.t1:.1f} s]"
        return "".join(self.token_strings)


@dataclass(frozen=True)
class Block:
    """A block edge of the causal mask: consecutive positions of one group."""

    group: str  # "text", "audio 1", "audio 2", ..., "answer"
    start: int
    end: int


@dataclass(frozen=True)
class Budget:
    system: int
    prompt: int
    audio: int
    history: int
    answer: int
    context_limit: int
    trained_length: int

    @property
    def used(self) -> int:
        return self.system + self.prompt + self.audio + self.history + self.answer

    @property
    def remaining(self) -> int:
        return self.context_limit - self.used

    @property
    def fits(self) -> bool:
        return self.used <= self.context_limit

    @property
    def past_trained_length(self) -> bool:
        return self.used > self.trained_length

    def as_dict(self) -> dict[str, int | bool]:
        return {"system": self.system, "prompt": self.prompt, "audio": self.audio, "history": self.history,
                "answer": self.answer, "used": self.used, "context_limit": self.context_limit,
                "trained_length": self.trained_length, "remaining": self.remaining, "fits": self.fits}


@dataclass(frozen=True)
class Layout:
    spans: tuple[Span, ...]
    input_ids: tuple[int, ...]  # before expansion: one -200 per file
    files: tuple[AudioFile, ...]
    tokens_per_chunk: int
    context_limit: int
    trained_length: int
    generated_ids: tuple[int, ...] = field(default=())

    @classmethod
    def build(cls, input_ids: Sequence[int], kinds: Sequence[str], turns: Sequence[int], strings: Sequence[str],
              files: Sequence[AudioFile], tokens_per_chunk: int, context_limit: int,
              trained_length: int | None = None, generated_ids: Sequence[int] = (),
              generated_strings: Sequence[str] = ()) -> "Layout":
        n_tags = sum(1 for i in input_ids if i == PLACEHOLDER)
        if n_tags != len(files):
            raise ValueError(f"{n_tags} audio placeholders but {len(files)} files")
        spans: list[Span] = []
        pos, k, i = 0, 0, 0
        while i < len(input_ids):
            if input_ids[i] == PLACEHOLDER:
                f = files[k]
                for c, (t0, t1) in enumerate(f.chunk_times):
                    spans.append(Span("audio", pos, pos + tokens_per_chunk, turns[i], file=k, chunk=c, t0=t0, t1=t1))
                    pos += tokens_per_chunk
                k += 1
                i += 1
                continue
            j = i
            while j < len(input_ids) and input_ids[j] != PLACEHOLDER and kinds[j] == kinds[i] and turns[j] == turns[i]:
                j += 1
            spans.append(Span(kinds[i], pos, pos + j - i, turns[i], tuple(input_ids[i:j]), tuple(strings[i:j])))
            pos += j - i
            i = j
        if generated_ids:
            last = turns[-1] if turns else 0
            spans.append(Span("generated", pos, pos + len(generated_ids), last, tuple(generated_ids),
                              tuple(generated_strings) or tuple("" for _ in generated_ids)))
        return cls(tuple(spans), tuple(input_ids), tuple(files), tokens_per_chunk, context_limit,
                   trained_length or context_limit, tuple(generated_ids))

    # -- sizes -------------------------------------------------------------------------------
    @property
    def sequence_length(self) -> int:
        """Positions the model reads (prompt with audio expanded, plus generated tokens)."""
        return self.spans[-1].end if self.spans else 0

    @property
    def prompt_length(self) -> int:
        return self.sequence_length - len(self.generated_ids)

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.spans:
            out[s.kind] = out.get(s.kind, 0) + s.length
        return out

    def file_tokens(self) -> list[int]:
        return [f.chunks * self.tokens_per_chunk for f in self.files]

    def budget(self, max_new_tokens: int = 0) -> Budget:
        last = max((s.turn for s in self.spans), default=0)
        system = prompt = audio = history = answer = 0
        for s in self.spans:
            if s.kind == "audio":
                audio += s.length
            elif s.kind == "generated":
                answer += s.length
            elif s.kind == "system":
                system += s.length
            elif s.turn < last:
                history += s.length
            else:
                prompt += s.length
        answer = max(answer, max_new_tokens)
        return Budget(system, prompt, audio, history, answer, self.context_limit, self.trained_length)

    def check_fits(self, max_new_tokens: int) -> None:
        b = self.budget(max_new_tokens)
        if not b.fits:
            raise ContextOverflow(
                f"The sequence needs {b.used:,} positions ({self.prompt_length:,} to read, of which "
                f"{b.audio:,} audio, plus {max_new_tokens:,} for the answer) but the model has "
                f"{self.context_limit:,}. Choose a shorter segment, fewer songs, a shorter history "
                f"or fewer new tokens, or analyse the song in windows (app: 'Analyse a long song in "
                f"windows'; CLI: --windows).")

    # -- the expanded sequence and its mask -----------------------------------------------------
    def expanded_ids(self) -> list[int]:
        return expand_ids(self.input_ids, self.file_tokens()) + list(self.generated_ids)

    def blocks(self) -> list[Block]:
        """Mask block edges: runs of text, each song's audio, the generated answer."""
        out: list[Block] = []
        for s in self.spans:
            g = f"audio {s.file + 1}" if s.kind == "audio" else ("answer" if s.kind == "generated" else "text")
            if out and out[-1].group == g and out[-1].end == s.start:
                out[-1] = Block(g, out[-1].start, s.end)
            else:
                out.append(Block(g, s.start, s.end))
        return out

    def span_at(self, position: int) -> Span:
        lo, hi = 0, len(self.spans) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.spans[mid].end <= position:
                lo = mid + 1
            else:
                hi = mid
        s = self.spans[lo]
        if not s.start <= position < s.end:
            raise IndexError(f"position {position} outside 0..{self.sequence_length - 1}")
        return s

    def as_dict(self) -> dict:
        return {
            "sequence_length": self.sequence_length,
            "prompt_length": self.prompt_length,
            "tokens_per_chunk": self.tokens_per_chunk,
            "context_limit": self.context_limit,
            "trained_length": self.trained_length,
            "input_ids": list(self.input_ids),
            "totals": self.totals(),
            "audio": [{"source": f.source, "duration_s": round(f.duration_s, 3),
                       "segment": list(f.segment) if f.segment else None, "chunks": f.chunks,
                       "tokens": f.chunks * self.tokens_per_chunk,
                       "chunk_times": [[round(a, 3), round(b, 3)] for a, b in f.chunk_times]} for f in self.files],
            "spans": [{"kind": s.kind, "start": s.start, "end": s.end, "turn": s.turn,
                       **({"file": s.file, "chunk": s.chunk, "t0": round(s.t0, 3), "t1": round(s.t1, 3)}
                          if s.kind == "audio" else
                          {"token_ids": list(s.token_ids), "tokens": list(s.token_strings)})} for s in self.spans],
            "blocks": [{"group": b.group, "start": b.start, "end": b.end} for b in self.blocks()],
        }


def expand_ids(input_ids: Sequence[int], tokens_per_file: Sequence[int], placeholder: int = PLACEHOLDER) -> list[int]:
    """Replace the k-th placeholder with ``tokens_per_file[k]`` placeholders.

    >>> expand_ids([7, -200, 8, -200], [2, 3])
    [7, -200, -200, 8, -200, -200, -200]
    """
    out: list[int] = []
    k = 0
    for i in input_ids:
        if i == placeholder:
            out.extend([placeholder] * tokens_per_file[k])
            k += 1
        else:
            out.append(i)
    if k != len(tokens_per_file):
        raise ValueError(f"{k} placeholders but {len(tokens_per_file)} files")
    return out
