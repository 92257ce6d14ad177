"""Example songs the project synthesizes itself (clean origin, small), written on first use."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
FOLDER = Path(__file__).resolve().parent.parent / "assets" / "examples"


def click_track(bpm: float, seconds: float, rate: int = RATE) -> np.ndarray:
    x = np.zeros(int(seconds * rate), np.float32)
    period = int(round(60.0 / bpm * rate))
    click = (np.sin(2 * np.pi * 1000 * np.arange(400) / rate) * np.exp(-np.arange(400) / 60)).astype(np.float32)
    for start in range(0, len(x) - len(click), period):
        x[start:start + len(click)] += 0.8 * click
    return x


def chord(freqs: list[float], seconds: float, rate: int = RATE, wave: str = "sine") -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(t)
    for f in freqs:
        ph = 2 * np.pi * f * t
        x += {"sine": np.sin(ph), "square": np.sign(np.sin(ph)),
              "sawtooth": 2 * ((f * t) % 1.0) - 1}[wave]
    env = np.minimum(1.0, np.minimum(t / 0.02, (t[-1] - t) / 0.05 + 1e-9))
    return (0.3 * x / len(freqs) * env).astype(np.float32)


EXAMPLES = {
    "click-120bpm.wav": (lambda: click_track(120, 12), "What is the tempo of this clip?"),
    "a4-sine.wav": (lambda: chord([440.0], 6), "Which note is played?"),
    "c-major-square.wav": (lambda: chord([261.63, 329.63, 392.0], 6, wave="square"), "Is this chord major or minor?"),
    "a-minor-45s.wav": (lambda: chord([220.0, 261.63, 329.63], 45, wave="sawtooth"),
                        "Is this chord major or minor?"),
}


def ensure_examples(folder: Path = FOLDER) -> list[tuple[str, str]]:
    """(path, question) pairs; files are synthesized when missing."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, (make, question) in EXAMPLES.items():
        p = folder / name
        if not p.exists():
            sf.write(str(p), make(), RATE, subtype="PCM_16")
        out.append((str(p), question))
    return out
