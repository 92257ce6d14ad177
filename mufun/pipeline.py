"""From songs and a conversation to what the model reads: clips, tokens, layout, embeddings."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mufun import audio
from mufun.config import MuFunConfig
from mufun.layout import AudioFile, Layout
from mufun.prompt import Tokens, Turn, build_segments, tokenize


@dataclass(frozen=True)
class SongInput:
    """A song as the user gives it: a file path and an optional [start, end] in seconds."""

    path: str
    segment: tuple[float | None, float | None] | None = None
    name: str | None = None


@dataclass(frozen=True)
class Prepared:
    clips: tuple[audio.Clip, ...]
    tokens: Tokens
    layout: Layout
    notes: tuple[str, ...] = ()  # what the model cannot do with this input (``short_beat_notes``)

    @property
    def tokens_per_file(self) -> list[int]:
        return self.layout.file_tokens()

    @property
    def warnings(self) -> list[str]:
        """What the person asking should know about this question's input."""
        if not self.clips:
            return [NO_SONG]
        return [w for c in self.clips for w in c.warnings] + list(self.notes)


NO_SONG = "no song was given: the model hears nothing and answers from the question's text alone"


def load_clips(songs: Sequence[SongInput], cfg: MuFunConfig) -> list[audio.Clip]:
    """Every song's header is read and checked before any is decoded: one question may use at
    most ``cfg.max_audio_s`` of audio in all, which bounds the memory a request can take."""
    names = [s.name or display_name(s.path) for s in songs]
    infos = [audio.probe(s.path) for s in songs]
    total = sum(audio.used_seconds(i, s.segment, cfg, n)[1] for s, i, n in zip(songs, infos, names))
    if total > cfg.max_audio_s:
        raise audio.AudioError(f"the songs add up to {audio.hms(total)} of audio; one question may use at most "
                               f"{audio.hms(cfg.max_audio_s)} in all. Remove a song or choose shorter segments.")
    return [audio.load(s.path, cfg, s.segment, source=n, info=i) for s, n, i in zip(songs, names, infos)]


def display_name(path: str) -> str:
    """The file's name as its owner wrote it. Browsers send a file name in a form with three
    characters percent-encoded (", CR, LF: the HTML form-data rules); undo exactly those.

    >>> display_name("/tmp/gradio/ab/my %22song%22 é.wav")
    'my "song" é.wav'
    >>> display_name("/tmp/x/100%25 live.wav")
    '100%25 live.wav'
    """
    name = Path(path).name
    for code, ch in (("%22", '"'), ("%0D", " "), ("%0A", " "), ("%0d", " "), ("%0a", " ")):
        name = name.replace(code, ch)
    return name


def audio_file(clip: audio.Clip, cfg: MuFunConfig) -> AudioFile:
    return AudioFile(clip.source, tuple(clip.chunk_times(cfg)), clip.duration_s, clip.segment)


TEMPO_WORDS = re.compile(r"\b(tempo|bpm|beats?|how fast|pace)\b", re.IGNORECASE)


def short_beat_notes(question: str, clips: Sequence[audio.Clip], cfg: MuFunConfig) -> tuple[str, ...]:
    """A model that learned tempos only from beats of ``cfg.shortest_beat_s`` or longer (MuFun-Tiny)
    often mishears the tempo of a shorter clip: say so, for each such clip, when the question asks
    a tempo.

    >>> from mufun.audio import Clip
    >>> clip = Clip("claps.wav", np.zeros(64_000, np.float32), 4.0, 16_000, None)
    >>> short_beat_notes("What BPM is this?", [clip], MuFunConfig.tiny())
    ('claps.wav: 4.0 s of sound; MuFun-Tiny learned tempos from beats of 8 s or longer and often mishears the tempo of a shorter clip',)
    >>> short_beat_notes("Which note is played?", [clip], MuFunConfig.tiny()), short_beat_notes("Tempo?", [clip], MuFunConfig.real())
    ((), ())
    """
    if not cfg.shortest_beat_s or not TEMPO_WORDS.search(question):
        return ()
    return tuple(f"{c.source}: {c.used_s:.1f} s of sound; {cfg.name} learned tempos from beats of "
                 f"{cfg.shortest_beat_s:g} s or longer and often mishears the tempo of a shorter clip"
                 for c in clips if c.used_s < cfg.shortest_beat_s)


def prepare(turns: Sequence[Turn], clips: Sequence[audio.Clip], cfg: MuFunConfig, tokenizer,
            generated_ids: Sequence[int] = (), generated_strings: Sequence[str] = ()) -> Prepared:
    segs = build_segments(list(turns), len(clips))
    toks = tokenize(segs, tokenizer, cfg.image_token_index)
    lay = Layout.build(toks.input_ids, toks.kinds, toks.turns, toks.strings,
                       [audio_file(c, cfg) for c in clips], cfg.tokens_per_chunk, cfg.context_limit,
                       cfg.trained_length, generated_ids, generated_strings)
    notes = short_beat_notes(turns[-1].user, clips, cfg) if turns else ()
    return Prepared(tuple(clips), toks, lay, notes)


def clip_features(clips: Sequence[audio.Clip], cfg: MuFunConfig) -> np.ndarray:
    """(total_chunks, n_mels, 3000): all chunks of all files, in order."""
    chunks = [c for clip in clips for c in audio.split_chunks(clip.samples, cfg)]
    if not chunks:
        return np.zeros((0, cfg.encoder.num_mel_bins, cfg.mel_frames_per_chunk), np.float32)
    return audio.log_mel(chunks, cfg)


def parse_segments(text: str, n_songs: int) -> dict[int, tuple[float | None, float | None]]:
    """Segments typed as lines ``SONG: START-END`` (songs numbered from 1; END may be empty).

    >>> parse_segments("1: 10-40\\n2: 5-", 2)
    {0: (10.0, 40.0), 1: (5.0, None)}
    """
    from mufun.audio import AudioError

    out: dict[int, tuple[float | None, float | None]] = {}
    seen: dict[int, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            song, rng = line.split(":", 1)
            a, b = rng.split("-", 1)
            i = int(song) - 1
            seg = (float(a) if a.strip() else None, float(b) if b.strip() else None)
        except ValueError:
            raise AudioError(f"segment {line!r}: write it as SONG: START-END, e.g. '1: 10-40'") from None
        if not 0 <= i < n_songs:
            raise AudioError(f"segment {line!r}: there {'is' if n_songs == 1 else 'are'} {n_songs} song(s), "
                             f"numbered from 1")
        if i in out:
            raise AudioError(f"segment {line!r}: song {i + 1} already has a segment line ({seen[i]!r}); "
                             f"keep one line per song")
        out[i], seen[i] = seg, line
    return out
