"""A fourth, a fifth and a sixth generator for checking MuFun-Tiny, written as an outside examiner might.

Written apart from ``synth`` (training's), ``exam`` and ``exam_stops``, in plain numpy, each clip
stored as a file (WAV, FLAC, MP3 or Ogg Vorbis at 16-48 kHz, some stereo) and read back by the
app's own decoder (``audio.load``), every kind's clip at a random loud or quiet peak:

- ``fourth``: beats on an 808-style kick, a cowbell, a hat, a clave, an FM tom, a synth bass, a
  snare and a marimba (each sound in a fixed window, most of them cut off before they fade: the
  marimba rings until the next beat), a third of the tracks a kick and a snare, 8-20 s, some over
  noise; notes as naive sine, square and sawtooth waves under an ADSR envelope, detuned up to
  8 cents, some with vibrato, 2-10 s.
- ``fifth``: beats on a conga, a short sample kick, a sung "ta", a guitar chug, a steel drum, a
  tambourine, a laser zap and a square-wave kick, some through a comb-filter room, 10-30 s; notes
  as band-limited (additive) waves, detuned up to 10 cents, some with tremolo or a room, 3-12 s.
- ``sixth``: a plain sequencer: the first hit at 0 s and every hit exactly on its beat at full
  level, over digital silence, stored as WAV; beats on a one-sample click, a beep, a falling-pitch
  kick, a noise snare, a hat, a burst of noise, a tom and a square blip (each in a fixed window,
  the tom and the kick cut before they fade), 8-20 s; notes as textbook waves from phase 0, flat
  (they start and stop dead), 2-6 s. At 60, 120 and 150 BPM every hit then starts exactly on the
  edge between two of the model's 100 ms audio rows.

The labels mean what training's do (``synth.LABELS``, ``synth.LOUD_PEAK`` / ``synth.QUIET_PEAK``).

    python -m mufun.tiny.exam_files [--model tiny] [--set fourth,fifth,sixth] [--per-kind 96] [--seed 77]

>>> x = beat("fourth", np.random.default_rng(0), 120, "clave", 8.0, 16_000)
>>> x.shape, round(float(np.abs(x).max()), 2)
((128000,), 1.0)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mufun.tiny import exam, synth

RATES = (16_000, 22_050, 44_100, 48_000)
SETS = {"fourth": ("808", "cowbell", "hat", "clave", "fmtom", "bass", "snare", "marimba"),
        "fifth": ("conga", "samplekick", "ta", "chug", "steeldrum", "tambourine", "laser", "squarekick"),
        "sixth": ("click", "beep", "kick", "snare", "hat", "noise", "tom", "blip")}
FORMATS = ("wav", "wav", "flac", "mp3", "ogg")  # half the clips WAV


def _decay(t: np.ndarray, tau: float) -> np.ndarray:
    return np.exp(-t / tau)


def _fourth(name: str, rate: int, rng: np.random.Generator, period: float) -> np.ndarray:
    def t(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * rate)) / rate
    if name == "808":  # a sine falling from 120 to 45 Hz, cut at 0.4 s
        tt = t(0.4)
        return np.sin(2 * np.pi * np.cumsum(45 + 75 * np.exp(-tt / 0.04)) / rate) * _decay(tt, rng.uniform(0.1, 0.2))
    if name == "cowbell":
        tt = t(0.2)
        return 0.5 * (np.sign(np.sin(2 * np.pi * 587 * tt)) + np.sign(np.sin(2 * np.pi * 845 * tt))) * _decay(tt, 0.06)
    if name == "hat":  # differenced noise
        n = int(0.08 * rate)
        return np.diff(rng.standard_normal(n + 1)) * _decay(np.arange(n) / rate, 0.02)
    if name == "clave":
        tt = t(0.06)
        return np.sin(2 * np.pi * 2500 * tt) * _decay(tt, 0.015)
    if name == "fmtom":
        tt = t(0.3)
        return np.sin(2 * np.pi * 150 * tt + 3 * np.exp(-tt / 0.05) * np.sin(2 * np.pi * 300 * tt)) * _decay(tt, 0.08)
    if name == "bass":  # a sawtooth, smoothed
        tt = t(0.4)
        saw = 2 * ((rng.uniform(55, 110) * tt) % 1) - 1
        return np.convolve(saw, np.ones(8) / 8, "same") * _decay(tt, 0.12)
    if name == "snare":
        tt = t(0.25)
        return (0.6 * rng.standard_normal(len(tt)) + np.sin(2 * np.pi * 190 * tt)) * _decay(tt, 0.07)
    if name == "marimba":  # rings until the next beat (at most 1 s)
        tt, f = t(min(period, 1.0)), rng.uniform(300, 800)
        return (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(2 * np.pi * 4 * f * tt)) * _decay(tt, 0.25)
    raise ValueError(f"no sound {name!r} in the fourth set")


def _fifth(name: str, rate: int, rng: np.random.Generator, period: float) -> np.ndarray:
    def t(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * rate)) / rate
    if name == "conga":
        tt = t(0.35)
        f = rng.uniform(200, 350) * (1 + 0.3 * np.exp(-tt / 0.01))
        return np.sin(2 * np.pi * np.cumsum(f) / rate) * _decay(tt, 0.08) \
            + 0.3 * rng.standard_normal(len(tt)) * _decay(tt, 0.005)
    if name == "samplekick":  # 60 Hz and a click, cut at 150 ms
        tt = t(0.15)
        return np.sin(2 * np.pi * 60 * tt) * _decay(tt, 0.1) + 0.5 * (tt < 0.002)
    if name == "ta":  # three formants
        tt = t(0.12)
        voice = sum(a * np.sin(2 * np.pi * f * tt) for f, a in ((700, 1.0), (1200, 0.6), (2500, 0.3)))
        return voice * np.minimum(1, tt / 0.005) * _decay(tt, 0.04)
    if name == "chug":  # a power chord on E2, smoothed
        tt = t(0.15)
        chord = sum(2 * ((f * tt) % 1) - 1 for f in (82.4, 123.5))
        return np.convolve(chord, np.ones(6) / 6, "same") * _decay(tt, 0.08)
    if name == "steeldrum":
        tt, f = t(0.8), rng.uniform(300, 700)
        return sum(np.sin(2 * np.pi * f * m * tt) / m for m in (1, 2, 3)) * _decay(tt, 0.3)
    if name == "tambourine":
        tt = t(0.12)
        jingles = sum(np.sin(2 * np.pi * f * tt) for f in rng.uniform(5000, min(9000, rate * 0.45), 4))
        return (0.5 * rng.standard_normal(len(tt)) + jingles) * _decay(tt, 0.03)
    if name == "laser":  # a sweep from 2 kHz down to 200 Hz, cut at 100 ms
        tt = t(0.1)
        return np.sin(2 * np.pi * np.cumsum(200 + 1800 * np.exp(-tt / 0.02)) / rate)
    if name == "squarekick":  # 100 ms of a 50 Hz square wave
        return np.sign(np.sin(2 * np.pi * 50 * t(0.1)))
    raise ValueError(f"no sound {name!r} in the fifth set")


def _sixth(name: str, rate: int, rng: np.random.Generator, period: float) -> np.ndarray:
    def t(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * rate)) / rate
    if name == "click":  # one sample at full level
        x = np.zeros(int(0.005 * rate))
        x[0] = 1.0
        return x
    if name == "beep":
        tt = t(0.08)
        return np.sin(2 * np.pi * 880 * tt) * _decay(tt, 0.02)
    if name == "kick":  # 195 Hz falling to 45 Hz, cut at 0.3 s (22 dB down)
        tt = t(0.3)
        return np.sin(2 * np.pi * np.cumsum(150 * np.exp(-tt / 0.05) + 45) / rate) * _decay(tt, 0.12)
    if name == "snare":
        tt = t(0.3)
        return (0.7 * rng.standard_normal(len(tt)) + 0.3 * np.sin(2 * np.pi * 200 * tt)) * _decay(tt, 0.06)
    if name == "hat":  # differenced noise, 80 ms
        tt = t(0.08)
        w = np.diff(rng.standard_normal(len(tt) + 1))
        return w / np.abs(w).max() * _decay(tt, 0.015)
    if name == "noise":  # 50 ms of white noise, switched on and off
        return rng.uniform(-1, 1, int(0.05 * rate))
    if name == "tom":  # 210 Hz falling to 90 Hz, cut at 0.3 s (17 dB down)
        tt = t(0.3)
        return np.sin(2 * np.pi * np.cumsum(120 * np.exp(-tt / 0.2) + 90) / rate) * _decay(tt, 0.15)
    if name == "blip":  # 60 ms of a 600 Hz square wave
        return np.sign(np.sin(2 * np.pi * 600 * t(0.06)))
    raise ValueError(f"no sound {name!r} in the sixth set")


def _room(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Five echoes 20-60 ms apart, each 0.3-0.6 of the one before."""
    d, g, y = int(rng.uniform(0.02, 0.06) * rate), rng.uniform(0.3, 0.6), x.copy()
    for k in range(1, 6):
        if d * k < len(x):
            y[d * k:] += g ** k * x[:-d * k]
    return y


@dataclass(frozen=True)
class Style:
    """How one generator makes its clips (the draws happen in the same order for both)."""
    sound: Callable[[str, int, np.random.Generator, float], np.ndarray]
    tone: Callable[[np.random.Generator, str, str, float, int], np.ndarray]
    beat_s: tuple[float, float]  # how long a beat track lasts
    tone_s: tuple[float, float]  # how long a note lasts
    start_s: float  # the first beat within this many seconds
    pair: float  # the share of tracks an 808 and a snare instead of the drawn sound
    accent: tuple[int, float]  # every n-th beat at full level, the others at this gain
    room: float  # the share of beat tracks through ``_room``
    noise_log10: tuple[float, float]  # ``noise`` of the tracks over noise this loud (log10 of its rms)
    phrasing_step: int  # questions' phrasings rotated by this step
    noise: float = 0.5  # the share of beat tracks over noise
    formats: tuple[str, ...] = FORMATS  # how the clips are stored (one drawn for each clip)


def _tone_fourth(rng: np.random.Generator, note: str, timbre: str, seconds: float, rate: int) -> np.ndarray:
    """A naive wave under ADSR, detuned up to 8 cents, some with vibrato."""
    t = np.arange(int(seconds * rate)) / rate
    f = synth.NOTES[note] * 2 ** (rng.uniform(-8, 8) / 1200)
    cyc = f * t
    if rng.random() < 0.3:  # vibrato: 5.5 Hz, +-0.6 %
        cyc = cyc + f * 0.006 / (2 * np.pi * 5.5) * np.sin(2 * np.pi * 5.5 * t)
    x = {"sine": np.sin(2 * np.pi * cyc), "square": np.where(cyc % 1 < 0.5, 1.0, -1.0),
         "sawtooth": 2 * (cyc % 1) - 1}[timbre]
    a, d, s, r = rng.uniform(0.005, 0.08), rng.uniform(0.05, 0.3), rng.uniform(0.4, 0.9), rng.uniform(0.05, 0.5)
    return x * np.interp(t, [0, a, a + d, max(a + d, seconds - r), seconds], [0, 1, s, s, 0])


def _tone_fifth(rng: np.random.Generator, note: str, timbre: str, seconds: float, rate: int) -> np.ndarray:
    """A band-limited wave, detuned up to 10 cents, some with tremolo or a room, faded or decaying."""
    t = np.arange(int(seconds * rate)) / rate
    f = synth.NOTES[note] * 2 ** (rng.uniform(-10, 10) / 1200)
    if timbre == "sine":
        x = np.sin(2 * np.pi * f * t)
    else:  # every harmonic under Nyquist (odd ones for a square), 1/h
        harmonics = range(1, int(rate / 2 / f) + 1, 2 if timbre == "square" else 1)
        x = sum(np.sin(2 * np.pi * f * h * t) / h for h in harmonics)
    if rng.random() < 0.3:
        x = x * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
    x = x * (np.minimum(1, np.minimum(t / 0.02, (seconds - t) / 0.2)) if rng.random() < 0.5
             else np.exp(-t / rng.uniform(0.5, 3)))
    return _room(x, rate, rng) if rng.random() < 0.3 else x


def _tone_sixth(rng: np.random.Generator, note: str, timbre: str, seconds: float, rate: int) -> np.ndarray:
    """A textbook wave from phase 0 at the note's exact pitch, flat: it starts and stops dead."""
    cyc = synth.NOTES[note] * np.arange(int(seconds * rate)) / rate
    return {"sine": np.sin(2 * np.pi * cyc), "square": np.sign(np.sin(2 * np.pi * cyc)),
            "sawtooth": 2 * (cyc % 1) - 1}[timbre]


STYLES = {"fourth": Style(_fourth, _tone_fourth, (8, 20), (2, 10), 0.3, 0.3, (4, 0.8), 0.0, (-4, -2.5), 1),
          "fifth": Style(_fifth, _tone_fifth, (10, 30), (3, 12), 0.5, 0.0, (2, 0.7), 0.4, (-3.5, -2), 7),
          "sixth": Style(_sixth, _tone_sixth, (8, 20), (2, 6), 0.0, 0.0, (1, 1.0), 0.0, (-4, -3), 3,
                         noise=0.0, formats=("wav",))}


def beat(which: str, rng: np.random.Generator, bpm: float, sound: str, seconds: float, rate: int,
         fade_ms: float = 0.0) -> np.ndarray:
    """A steady beat: every beat one ``sound`` (or, for a share of the fourth's tracks, an 808 and a
    snare), accents, some through a room or over noise; peak 1. ``fade_ms``: the last milliseconds
    of every sound faded out linearly by ``exam.lay`` (no random numbers drawn: the same track, its
    cuts softened; for ``scripts/exam_tails.py``)."""
    style = STYLES[which]
    n, period = int(seconds * rate), 60.0 / bpm
    x = np.zeros(n)
    pair = bool(style.pair) and rng.random() < style.pair
    at, k = rng.uniform(0, style.start_s), 0
    every, soft = style.accent
    while at < seconds - 0.05:
        name = ("snare" if k % 2 else "808") if pair else sound
        exam.lay(x, style.sound(name, rate, rng, period) * (1.0 if k % every == 0 else soft), at, rate, fade_ms)
        at, k = at + period, k + 1
    if style.room and rng.random() < style.room:
        x = _room(x, rate, rng)
    if rng.random() < style.noise:
        x += rng.standard_normal(n) * 10 ** rng.uniform(*style.noise_log10)
    return x / np.abs(x).max()


def tone(which: str, rng: np.random.Generator, note: str, timbre: str, seconds: float, rate: int) -> np.ndarray:
    """One note of ``timbre`` as the generator ``which`` plays it, peak 1."""
    x = STYLES[which].tone(rng, note, timbre, seconds, rate)
    return x / np.abs(x).max()


def store(x: np.ndarray, rate: int, rng: np.random.Generator, folder: Path, name: str,
          formats: tuple[str, ...] = FORMATS) -> Path:
    """``x`` written to ``folder`` as one of ``formats`` (WAV, FLAC, MP3 or Ogg Vorbis), a third of
    the clips in stereo (the right channel 0.7-1 of the left)."""
    y = np.stack([x, x * rng.uniform(0.7, 1)], 1) if rng.random() < 0.3 else x
    fmt = str(rng.choice(formats))
    path = folder / f"{name}.{fmt}"
    synth.write_file(path, y.astype(np.float32), rate)
    return path


@dataclass
class Tally:
    right: dict[str, int] = field(default_factory=dict)
    asked: dict[str, int] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)


def run(which: str, per_kind: int, seed: int, answer: Callable[[Path, str], str],
        log: Callable[[str], None] | None = None) -> Tally:
    """``per_kind`` clips for each of tempo (labels and sounds rotated), note, timbre (labels
    rotated) and loudness (half beats, half tones), each at a random loud or quiet peak, stored as
    a file and asked once: ``answer(path, question)`` returns the model's text."""
    rng = np.random.default_rng(seed)
    sounds, style, tally = SETS[which], STYLES[which], Tally()
    tempos, notes, waves = synth.LABELS["tempo"], synth.LABELS["note"], synth.LABELS["timbre"]
    span, tones = style.beat_s, style.tone_s
    with tempfile.TemporaryDirectory() as d:
        def ask(kind: str, x: np.ndarray, rate: int, label: str | None, what: str) -> None:
            i = sum(tally.asked.values())
            loud = rng.random() < 0.5
            peak = rng.uniform(*(synth.LOUD_PEAK if loud else synth.QUIET_PEAK))
            path = store(x * peak, rate, rng, Path(d), f"clip{i}", style.formats)
            gold = ("loud" if loud else "quiet") if kind == "loudness" else label
            question = synth.QUESTIONS[kind][i * style.phrasing_step % len(synth.QUESTIONS[kind])]
            text = answer(path, question)
            ok = synth.read_label(kind, text) == gold
            tally.right[kind] = tally.right.get(kind, 0) + ok
            tally.asked[kind] = tally.asked.get(kind, 0) + 1
            if not ok:
                tally.misses.append(f"{kind} {gold}: {what}, peak {peak:.3f}, {path.suffix[1:]} -> {text!r}")
            if log:
                log(f"  {kind:9s} {gold:>8s} {'ok ' if ok else 'BAD'} {what:22s} {question!r} -> {text!r}")
        for j in range(per_kind):
            bpm, sound, rate = tempos[j % 4], sounds[(j // 4) % len(sounds)], int(rng.choice(RATES))
            ask("tempo", beat(which, rng, float(bpm), sound, rng.uniform(*span), rate), rate, bpm, sound)
        for j in range(per_kind):
            note, wave, rate = notes[j % len(notes)], waves[j % 3], int(rng.choice(RATES))
            ask("note", tone(which, rng, note, wave, rng.uniform(*tones), rate), rate, note, wave)
        for j in range(per_kind):
            note, wave, rate = notes[int(rng.integers(len(notes)))], waves[j % 3], int(rng.choice(RATES))
            ask("timbre", tone(which, rng, note, wave, rng.uniform(*tones), rate), rate, wave, note)
        for j in range(per_kind):
            rate = int(rng.choice(RATES))
            if j % 2:
                sound = sounds[j % len(sounds)]
                x, what = beat(which, rng, float(tempos[j % 4]), sound, rng.uniform(*span), rate), f"{sound} beat"
            else:
                wave = waves[j % 3]
                x, what = tone(which, rng, notes[j % len(notes)], wave, rng.uniform(*tones), rate), f"{wave} tone"
            ask("loudness", x, rate, None, what)
    return tally


def through_app(svc) -> Callable[[Path, str], str]:
    """``run``'s ``answer`` for a loaded ``MuFunService``: the file decoded by the app's decoder,
    the question asked through the app's path."""
    from mufun import audio
    from mufun.tiny.eval import ask

    return lambda path, question: ask(svc, audio.load(path, svc.cfg), question)


def main(argv: list[str] | None = None) -> int:
    from mufun.errors import for_user
    from mufun.service import MuFunService
    from mufun.tiny.eval import names_of

    p = argparse.ArgumentParser(prog="python -m mufun.tiny.exam_files", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny (the embedded model) or a checkpoint folder")
    p.add_argument("--set", type=names_of(tuple(SETS), "generator here"), default=("fourth",),
                   help=f"comma-separated generators to ask: {', '.join(SETS)} (default: fourth)")
    p.add_argument("--per-kind", type=int, default=96)
    p.add_argument("--seed", type=int, default=77)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    if a.per_kind < 1:
        p.error("--per-kind must be 1 or more")
    try:
        svc = MuFunService.load(a.model)
    except Exception as e:  # noqa: BLE001 - said in the project's words
        print(f"error: {for_user(e)}", file=sys.stderr)
        return 2
    for which in a.set:
        tally = run(which, a.per_kind, a.seed, through_app(svc),
                    (lambda s: print(s, flush=True)) if a.verbose else None)
        print(f"MuFun-Tiny ({a.model}), the {which} generator, seed {a.seed}:")
        for kind, n in tally.asked.items():
            print(f"  {kind:9s} {tally.right[kind]:>4d}/{n} = {tally.right[kind] / n:.0%}")
        for miss in tally.misses:
            print(f"  miss {miss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
