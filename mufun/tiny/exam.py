"""A second, simpler generator for checking MuFun-Tiny: clips training never makes.

``synth`` is what MuFun-Tiny learns from; this module is written apart from it (its own waves,
envelopes and hit sounds, no shared code) so an evaluation can ask about sounds the model has
not met in that form, as an outside examiner would: textbook waves with a random start phase
and no variation, and steady beats played on plain synthetic sounds (beeps, thumps, hats,
ticks, blips, knocks, a kick/snare pair, a plucked saw). The label meanings are the same as
training's (``synth.LABELS``, ``synth.LOUD_PEAK`` / ``synth.QUIET_PEAK``).

>>> rng = np.random.default_rng(0)
>>> c = clip("tone", rng, note="A4", timbre="sine")
>>> c.labels["note"], c.rate in RATES, c.samples.dtype
('A4', True, dtype('float32'))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mufun.tiny import synth

RATES = (16_000, 22_050, 44_100, 48_000)
SOUNDS = ("beep", "thump", "hat", "tick", "blip", "knock", "kick_snare", "saw_pluck")


@dataclass(frozen=True)
class ExamClip:
    family: str
    samples: np.ndarray
    rate: int
    labels: dict
    sound: str


def _wave(kind: str, f: float, n: int, rate: int, phase: float) -> np.ndarray:
    cyc = f * np.arange(n) / rate + phase
    if kind == "sine":
        return np.sin(2 * np.pi * cyc)
    if kind == "square":
        return np.where((cyc % 1.0) < 0.5, 1.0, -1.0)
    return 2.0 * ((cyc + 0.5) % 1.0) - 1.0  # sawtooth


def _sound(name: str, rate: int, rng: np.random.Generator, second: bool = False) -> np.ndarray:
    def decay(ms):
        n = int(rate * ms * 4 / 1000)
        return np.exp(-np.arange(n) / (rate * ms / 1000))
    if name == "beep":
        e = decay(rng.uniform(15, 40))
        return np.sin(2 * np.pi * rng.uniform(800, 2000) * np.arange(len(e)) / rate) * e
    if name == "thump":
        e = decay(rng.uniform(60, 150))
        return np.sin(2 * np.pi * rng.uniform(55, 100) * np.arange(len(e)) / rate) * e
    if name == "hat":
        e = decay(rng.uniform(10, 60))
        return np.diff(rng.normal(0, 1, len(e) + 1)) * e / 2
    if name == "tick":
        x = np.zeros(int(rate * 0.01))
        x[0] = 1.0
        return x
    if name == "blip":
        n = int(rate * rng.uniform(0.02, 0.06))
        return _wave("square", rng.uniform(300, 900), n, rate, 0.0)
    if name == "knock":
        e = decay(rng.uniform(20, 50))
        return (np.sin(2 * np.pi * rng.uniform(250, 400) * np.arange(len(e)) / rate) + 0.4 * rng.normal(0, 1, len(e))) * e
    if name == "kick_snare":  # a thump, then a noise snare, each at full level
        h = _sound("hat" if second else "thump", rate, rng)
        return h / np.abs(h).max()
    if name == "saw_pluck":
        e = decay(rng.uniform(80, 200))
        return _wave("sawtooth", rng.uniform(150, 400), len(e), rate, 0.0) * e
    raise ValueError(name)


def lay(x: np.ndarray, h: np.ndarray, at: float, rate: int, fade_ms: float = 0.0) -> None:
    """Add the sound ``h`` into ``x`` at ``at`` seconds, its last ``fade_ms`` (at most half of it)
    faded out linearly; what runs past the end of ``x`` is left out."""
    f = min(len(h) // 2, int(rate * fade_ms / 1000))
    if f > 1:
        h = np.concatenate([h[:-f], h[-f:] * np.linspace(1.0, 0.0, f)])
    s = int(at * rate)
    m = min(len(h), len(x) - s)
    x[s:s + m] += h[:m]


def clip(family: str, rng: np.random.Generator, sound: str | None = None, fade_ms: float = 0.0,
         **fixed: str) -> ExamClip:
    """A tone (note, timbre, loudness) or a beat (tempo, loudness), labels drawn or given.
    ``fade_ms``: a beat's sounds fade out over their last ``fade_ms`` (at most half of each) instead
    of stopping dead; the fade draws no random numbers, so the clip is otherwise the same."""
    rate = int(rng.choice(RATES))
    labels = {k: fixed.get(k) or str(rng.choice(synth.LABELS[k])) for k in synth.FAMILY_KINDS[family]}
    if family == "tone":
        n = int(rng.uniform(2, 20) * rate)
        x = _wave(labels["timbre"], synth.NOTES[labels["note"]], n, rate, rng.uniform())
        shape = str(rng.choice(["none", "fade", "decay"]))
        if shape == "fade":
            x = x * np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / (0.1 * rate))
        elif shape == "decay":
            x = x * np.exp(-np.arange(n) / (rate * rng.uniform(1, 4)))
        what = f"{labels['timbre']} {shape}"
    elif family == "beat":
        sound = sound or str(rng.choice(SOUNDS))
        n = int(rng.uniform(8, 25) * rate)
        x = np.zeros(n)
        at, k = rng.uniform(0, 0.5), 0
        while at < n / rate:
            lay(x, _sound(sound, rate, rng, second=bool(k % 2)), at, rate, fade_ms)
            at, k = at + 60.0 / int(labels["tempo"]), k + 1
        what = sound
    else:
        raise ValueError(family)
    lo, hi = synth.LOUD_PEAK if labels["loudness"] == "loud" else synth.QUIET_PEAK
    x = x / np.abs(x).max() * rng.uniform(lo, hi)
    return ExamClip(family, x.astype(np.float32), rate, labels, f"{what} {rate} Hz")
