"""A third generator for checking MuFun-Tiny's tempo: beats on sounds that stop dead.

Written apart from ``synth`` (training's) and ``exam`` (the second generator), after the exam
showed that sounds cut off mid-decay are heard one label too fast: eight more plain sounds, most
ending abruptly somewhere between a few and 30 dB below their peak (a gated noise burst, an FM
bell, an 808-style kick, a clave, a cowbell, a cut plucked string) and two that decay to nothing
(a triangle beep, a hat with a linear decay), one sound per track, over digital silence, 8-25 s at
16-48 kHz, mono. ``fade_ms`` fades the last milliseconds of every sound instead of cutting it
(drawing no random numbers, so the track is otherwise the same). The labels mean what training's
do (``synth.TEMPOS``, ``synth.LOUD_PEAK`` / ``synth.QUIET_PEAK``).

>>> c = clip("kick808", "90", np.random.default_rng(0))
>>> c.labels["tempo"], c.rate in exam.RATES, c.samples.dtype
('90', True, dtype('float32'))
"""
from __future__ import annotations

import numpy as np

from mufun.tiny import exam, synth

SOUNDS = ("gate_noise", "tri_beep", "fm_bell", "hat_lin", "kick808", "clave", "cowbell", "ks_cut")


def sound(name: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One sound of ``name``, its own random pitch and length."""
    def times(seconds: float) -> np.ndarray:
        return np.arange(int(rate * seconds)) / rate
    if name == "gate_noise":  # switched on and off
        return rng.uniform(-1, 1, int(rate * rng.uniform(0.03, 0.08)))
    if name == "tri_beep":  # a triangle wave fading linearly to nothing
        t, f = times(rng.uniform(0.05, 0.12)), rng.uniform(400, 1200)
        return (2 * np.abs(2 * ((t * f) % 1) - 1) - 1) * np.linspace(1, 0, len(t))
    if name == "fm_bell":  # cut three decay times in (-26 dB)
        tau = rng.uniform(0.05, 0.15)
        t, f = times(3 * tau), rng.uniform(300, 900)
        return np.sin(2 * np.pi * f * t + 3 * np.exp(-t / tau) * np.sin(2 * np.pi * 1.4 * f * t)) * np.exp(-t / tau)
    if name == "hat_lin":  # twice-differenced noise, a linear decay to nothing
        t = times(rng.uniform(0.02, 0.08))
        return np.diff(rng.normal(0, 1, len(t) + 2), 2) * np.linspace(1, 0, len(t)) / 4
    if name == "kick808":  # a pitch sweep down to 50 Hz, cut 2.5 decay times in (-22 dB)
        tau = rng.uniform(0.1, 0.3)
        t = times(2.5 * tau)
        return np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / rate) * np.exp(-t / tau)
    if name == "clave":  # 40 ms of a 15 ms decay (-23 dB)
        t = times(0.04)
        return np.sin(2 * np.pi * rng.uniform(2000, 3000) * t) * np.exp(-t / 0.015)
    if name == "cowbell":  # two square waves, cut three decay times in
        tau = rng.uniform(0.04, 0.1)
        t = times(3 * tau)
        return (np.sign(np.sin(2 * np.pi * 540 * t)) + np.sign(np.sin(2 * np.pi * 800 * t))) / 2 * np.exp(-t / tau)
    if name == "ks_cut":  # a plucked string (one sample at a time round the loop), cut at 100-250 ms
        period, n = int(rate / rng.uniform(100, 500)), int(rate * rng.uniform(0.1, 0.25))
        buf, out = rng.uniform(-1, 1, period), np.empty(n)
        for i in range(n):
            j = i % period
            out[i] = buf[j]
            buf[j] = 0.996 * 0.5 * (buf[j] + buf[(i + 1) % period])
        return out
    raise ValueError(name)


def clip(sound_name: str, tempo: str, rng: np.random.Generator, loudness: str | None = None,
         fade_ms: float = 0.0) -> exam.ExamClip:
    """A beat track of ``sound_name`` at ``tempo``; the loudness label drawn unless given."""
    rate = int(rng.choice(exam.RATES))
    loudness = loudness or str(rng.choice(synth.LEVELS))
    n = int(rng.uniform(8, 25) * rate)
    x = np.zeros(n)
    at = rng.uniform(0, 0.6)
    while at < n / rate:
        exam.lay(x, sound(sound_name, rate, rng), at, rate, fade_ms)
        at += 60.0 / int(tempo)
    lo, hi = synth.LOUD_PEAK if loudness == "loud" else synth.QUIET_PEAK
    x = x / np.abs(x).max() * rng.uniform(lo, hi)
    return exam.ExamClip("beat", x.astype(np.float32), rate, {"tempo": tempo, "loudness": loudness},
                         f"{sound_name} {rate} Hz")
