"""Example songs the project synthesizes itself (clean origin, small), written on first use.

They come from the same generators as MuFun-Tiny's training data (``mufun.tiny.synth``, the one
thing the runtime takes from the training side) with fixed seeds, so the embedded model answers
them; each carries the answer it should get. Tones and chords are plain (textbook waves, no
variations); beats are played on named hit families.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from mufun.tiny import synth

RATE = synth.RATE
FOLDER = Path(__file__).resolve().parent.parent / "assets" / "examples"


def _song(family: str, seed: int, seconds: float, hits: tuple[str, ...] = synth.HITS, **labels: str):
    s = synth.make_song(family, np.random.default_rng(seed), seconds=seconds, hits=hits, plain=True, **labels)
    return s.samples, RATE


def _recording(bpm: float, seed: int, seconds: float) -> tuple[np.ndarray, int]:
    """Claps in a room, 48 kHz stereo: what a visitor's own recording sounds like."""
    return synth.recording(bpm, seconds, np.random.default_rng(seed)), 48_000


# name -> (make (samples, rate), question, question kind, expected label)
EXAMPLES = {
    "beat-120bpm.wav": (lambda: _song("beat", 7, 20, ("kick_low", "snare"), tempo="120", loudness="loud"),
                        "What is the tempo of this clip?", "tempo", "120"),
    "hihat-150bpm.wav": (lambda: _song("beat", 13, 16, ("hihat_closed",), tempo="150", loudness="loud"),
                         "How fast is the beat, in BPM?", "tempo", "150"),
    "a4-sine.wav": (lambda: _song("tone", 8, 6, note="A4", timbre="sine", loudness="loud"),
                    "Which note is played?", "note", "A4"),
    "c-major-square.wav": (lambda: _song("chord", 9, 6, quality="major", timbre="square", loudness="loud"),
                           "Which wave shape do you hear?", "timbre", "square"),
    "minor-sawtooth-45s.wav": (lambda: _song("chord", 10, 45, quality="minor", timbre="sawtooth", loudness="loud"),
                               "What waveform is this?", "timbre", "sawtooth"),
    "quiet-e4.wav": (lambda: _song("tone", 11, 8, note="E4", timbre="square", loudness="quiet"),
                     "Is this loud or quiet?", "loudness", "quiet"),
    "claps-in-a-room-90bpm.wav": (lambda: _recording(90, 12, 12), "How fast is the beat, in BPM?", "tempo", "90"),
}


VERSION = "2"  # bump when the examples change: older files are made again


def ensure_examples(folder: Path = FOLDER) -> list[tuple[str, str]]:
    """(path, question) pairs; files are synthesized when missing or made by another version."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / ".version"
    if not stamp.exists() or stamp.read_text() != VERSION:
        for old in folder.glob("*.wav"):
            old.unlink()
        stamp.write_text(VERSION)
    out = []
    for name, (make, question, _, _) in EXAMPLES.items():
        p = folder / name
        if not p.exists():
            samples, rate = make()
            sf.write(str(p), samples, rate, subtype="PCM_16")
        out.append((str(p), question))
    return out
