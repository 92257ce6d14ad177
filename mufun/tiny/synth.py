"""Synthetic songs with known answers: what MuFun-Tiny is trained and evaluated on.

Every clip is made in code from a seed (``make_song(family, rng)``), so the data set is
reproducible and has a clean origin. Three sound families carry five question kinds:

- ``beat``: hits at a steady tempo, played on one of ``HITS`` (or two alternating)  -> tempo, loudness
- ``tone``: one note with a waveform, an envelope, detuning, maybe vibrato          -> note, timbre, loudness
- ``chord``: a major or minor triad with a waveform                                 -> quality, timbre, loudness

A tempo is a rate, whatever plays it: beat tracks are played on fourteen families of hit sounds
(hi-hats open and closed, plucked strings, low and high kicks, toms, snares, rim shots, shakers,
claps, snaps, wood blocks, clicks, noise bursts), each synthesized here from pitch and noise
envelopes with decays from 5 ms to 300 ms, with accents, human timing, rests, background noise
and room sound. ``make_song(..., hits=...)`` limits the families, so a model can be trained
without some and tested on them; ``make_song(..., rough=Rough(...))`` makes some tracks the way
plain synthesizers do (hits that stop dead, digital silence, ticks, a sequencer's grid), can leave
out many beats, and puts some clips' peaks at the edge of their loudness label, as training's
settling asks.

Answers are short sentences in which exactly one label of the kind occurs, so
``read_label(kind, answer)`` can grade free text.

>>> rng = np.random.default_rng(0)
>>> s = make_song("tone", rng, seconds=4.0)
>>> s.family, s.rate, round(len(s.samples) / s.rate, 1), sorted(s.labels)
('tone', 16000, 4.0, ['loudness', 'note', 'timbre'])
>>> answer("note", "A4"), read_label("note", " The note is A4.")
('The note is A4.', 'A4')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from mufun.config import MuFunConfig

RATE = 16_000
NOTES = {"C4": 261.63, "D4": 293.66, "E4": 329.63, "F4": 349.23, "G4": 392.00, "A4": 440.00, "B4": 493.88}
TEMPOS = (60, 90, 120, 150)
WAVES = ("sine", "square", "sawtooth")
QUALITIES = ("major", "minor")
LEVELS = ("loud", "quiet")
# The loudness labels, by peak level: loud is a peak of 0.4 or more, quiet 0.05 or less.
LOUD_PEAK, QUIET_PEAK = (0.4, 0.9), (0.01, 0.05)
LABELS: dict[str, tuple[str, ...]] = {
    "tempo": tuple(str(t) for t in TEMPOS), "note": tuple(NOTES), "quality": QUALITIES,
    "timbre": WAVES, "loudness": LEVELS,
}
KINDS = tuple(LABELS)
FAMILY_KINDS = {"beat": ("tempo", "loudness"), "tone": ("note", "timbre", "loudness"),
                "chord": ("quality", "timbre", "loudness")}
# a tempo needs several beats: beat clips last at least this long (8 beats at 60 BPM); the beat's
# length is the config's, so the app warns exactly below the shortest beat training made
MIN_SECONDS = {"beat": MuFunConfig.tiny().shortest_beat_s, "tone": 3.0, "chord": 3.0}
HITS = ("hihat_closed", "hihat_open", "pluck", "kick_low", "kick_high", "tom", "snare", "rim", "shaker",
        "clap", "snap", "woodblock", "click", "noise")

QUESTIONS: dict[str, tuple[str, ...]] = {
    "tempo": ("What is the tempo of this clip?", "How fast is the beat, in BPM?", "Estimate the tempo.",
              "What BPM is this?", "How many beats per minute does this have?"),
    "note": ("Which note is played?", "What is the pitch of this tone?", "Name the note you hear.",
             "Which note is this?", "What note does this tone play?"),
    "quality": ("Is this chord major or minor?", "What is the chord quality?", "Major or minor?",
                "Does this chord sound major or minor?", "Tell me if the chord is major or minor."),
    "timbre": ("What waveform is this?", "Is this a sine, square or sawtooth wave?", "Describe the timbre.",
               "Which wave shape do you hear?", "What kind of wave makes this sound?"),
    "loudness": ("Is this loud or quiet?", "How loud is the clip?", "Is the sound loud or quiet?",
                 "Is it played loudly or quietly?", "What is the volume like, loud or quiet?"),
}
_ANSWERS = {"tempo": "About {} BPM.", "note": "The note is {}.", "quality": "It is a {} chord.",
            "timbre": "It is a {} wave.", "loudness": "It is {}."}


def answer(kind: str, label: str) -> str:
    return _ANSWERS[kind].format(label)


def read_label(kind: str, text: str) -> str | None:
    """The one label of ``kind`` that occurs in ``text`` as a word, else None."""
    found = [lab for lab in LABELS[kind] if re.search(rf"(?<![\w#]){re.escape(lab)}(?![\w#])", text, re.I)]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Song:
    family: str
    samples: np.ndarray  # float32 at ``rate``: (n,) mono, or (n, 2) stereo
    rate: int
    labels: dict[str, str] = field(default_factory=dict)
    onsets: tuple[float, ...] = ()  # beat family: when each hit starts, in seconds
    sound: str = ""  # what plays it: the hit families of a beat, the envelope of a tone


# -- waveforms and tones -----------------------------------------------------------------------
def wave(kind: str, freq: float, t: np.ndarray) -> np.ndarray:
    """Band-unlimited textbook waveforms, peak 1 (``freq`` may vary over time)."""
    ph = np.cumsum(np.broadcast_to(freq, t.shape)) * (t[1] - t[0]) if np.ndim(freq) else freq * t
    if kind == "sine":
        return np.sin(2 * np.pi * ph)
    if kind == "square":
        return np.sign(np.sin(2 * np.pi * ph))
    if kind == "sawtooth":
        return 2 * (ph % 1.0) - 1
    raise ValueError(kind)


def additive(kind: str, freq, t: np.ndarray, rate: int, rng: np.random.Generator, size: int = 2048) -> np.ndarray:
    """The same waveforms summed from their harmonics below Nyquist (band-limited), each with a
    random phase: a square has the odd harmonics at 1/n, a sawtooth all of them at 1/n. One period
    is built from its spectrum and read at the running phase (``freq`` may vary over time)."""
    f0 = float(np.max(freq))
    top = max(1, min(size // 2 - 1, int(rate / 2 / f0)))
    spec = np.zeros(size // 2 + 1, complex)
    n = np.arange(1, top + 1)
    amp = 1.0 / n if kind != "sine" else (n == 1).astype(float)
    if kind == "square":
        amp = amp * (n % 2 == 1)
    spec[1:top + 1] = amp * np.exp(1j * rng.uniform(0, 2 * np.pi, top))
    table = np.fft.irfft(spec, size)
    table /= np.abs(table).max()
    ph = np.cumsum(np.broadcast_to(freq, t.shape)) / rate if np.ndim(freq) else freq * t
    pos = (ph % 1.0) * size
    i = pos.astype(np.int64)
    frac = pos - i
    return table[i] * (1 - frac) + table[(i + 1) % size] * frac


def envelope(n: int, rate: int, rng: np.random.Generator | None = None, shape: str = "flat") -> np.ndarray:
    """Amplitude over time: ``flat`` (20 ms in, 50 ms out), ``adsr`` (attack, decay to a
    sustain level, release) or ``pluck`` (a quick attack, then an exponential decay)."""
    t = np.arange(n) / rate
    dur = n / rate
    if shape == "flat" or rng is None:
        return np.minimum(1.0, np.minimum(t / 0.02, (dur - t) / 0.05))
    if shape == "adsr":
        a, d, s, r = rng.uniform(0.005, 0.2), rng.uniform(0.05, 0.4), rng.uniform(0.4, 0.9), rng.uniform(0.05, 0.4)
        env = np.where(t < a, t / a, np.where(t < a + d, 1 - (1 - s) * (t - a) / d, s))
        return env * np.clip((dur - t) / r, 0, 1)
    if shape == "pluck":
        tau = rng.uniform(0.4, 1.5)  # the note still sounds after a second or two
        return np.minimum(1.0, t / 0.003) * np.exp(-t / tau) * np.clip((dur - t) / 0.05, 0, 1)
    raise ValueError(shape)


def tone(freqs: list[float], seconds: float, waveform: str, rate: int = RATE,
         rng: np.random.Generator | None = None) -> tuple[np.ndarray, str]:
    """A note or chord. With ``rng``: textbook or band-limited waves, an envelope, and for some
    a vibrato (4-7 Hz, up to +-15 cents). Returns (samples, what shaped it)."""
    t = np.arange(int(seconds * rate)) / rate
    if rng is None:
        x = sum(wave(waveform, f, t) for f in freqs) / len(freqs)
        return (x * envelope(len(t), rate)).astype(np.float32), "flat"
    shape = str(rng.choice(["flat", "adsr", "pluck"], p=[0.4, 0.35, 0.25]))
    vib = rng.random() < 0.3
    make = additive if rng.random() < 0.5 else (lambda k, f, tt, r, g: wave(k, f, tt))
    x = np.zeros_like(t)
    for f in freqs:
        fr = f * 2 ** (rng.uniform(4, 15) / 1200 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)) if vib else f
        x += make(waveform, fr, t, rate, rng)
    x = x / len(freqs) * envelope(len(t), rate, rng, shape)
    return x.astype(np.float32), shape + (" vibrato" if vib else "")


# -- hits ----------------------------------------------------------------------------------------
def _band(x: np.ndarray, rate: int, lo: float, hi: float) -> np.ndarray:
    """Keep ``lo``-``hi`` Hz (FFT mask over a power-of-two length: an FFT of a prime length is slow)."""
    m = 1 << max(1, (len(x) - 1).bit_length())
    spec = np.fft.rfft(x, m)
    f = np.fft.rfftfreq(m, 1 / rate)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, m)[:len(x)]


def _sweep(f_start: float, f_end: float, k: np.ndarray, rate: int, tau_s: float) -> np.ndarray:
    """A sine whose pitch falls from ``f_start`` towards ``f_end`` (a drum's pitch envelope)."""
    f = f_end + (f_start - f_end) * np.exp(-k / (tau_s * rate))
    return np.sin(2 * np.pi * np.cumsum(f) / rate)


def _karplus(f0: float, n: int, rate: int, rng: np.random.Generator, damp: float) -> np.ndarray:
    """A plucked string: a burst of noise fed round a delay line of one period, averaged."""
    period = max(2, int(round(rate / f0)))
    buf = rng.uniform(-1, 1, period)
    out = np.empty(n)
    for i in range(0, n, period):  # one period at a time: the average of a sample and the next
        m = min(period, n - i)
        out[i:i + m] = buf[:m]
        buf = damp * 0.5 * (buf + np.roll(buf, -1))
    return out


def hit(family: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One hit of ``family`` with its own random pitch, brightness and decay (5-300 ms), peak 1."""
    decay = {"hihat_closed": (0.005, 0.04), "hihat_open": (0.12, 0.3), "pluck": (0.1, 0.3),
             "kick_low": (0.08, 0.3), "kick_high": (0.04, 0.15), "tom": (0.08, 0.3), "snare": (0.04, 0.2),
             "rim": (0.005, 0.03), "shaker": (0.02, 0.08), "clap": (0.01, 0.05), "snap": (0.005, 0.02),
             "woodblock": (0.01, 0.06), "click": (0.005, 0.03), "noise": (0.005, 0.1)}[family]
    tau = rng.uniform(*decay)
    n = int(rate * min(1.2, 6 * tau + 0.02))
    k = np.arange(n)
    env = np.exp(-k / (tau * rate))
    noise = rng.normal(0, 1, n)
    nyq = rate / 2 * 0.98
    if family in ("hihat_closed", "hihat_open"):
        h = _band(noise, rate, min(rng.uniform(5000, 8000), nyq * 0.7), nyq)
        h += 0.3 * sum(np.sign(np.sin(2 * np.pi * f * k / rate)) for f in rng.uniform(3000, 7000, 3))
    elif family == "pluck":
        h = _karplus(rng.uniform(80, 700), n, rate, rng, rng.uniform(0.985, 0.999))
    elif family in ("kick_low", "kick_high"):
        lo, hi = ((40, 70), (120, 250)) if family == "kick_low" else ((90, 160), (250, 500))
        h = _sweep(rng.uniform(*hi), rng.uniform(*lo), k, rate, rng.uniform(0.005, 0.03))
        h += rng.uniform(0, 0.3) * noise * np.exp(-k / (0.004 * rate))  # the beater's click
    elif family == "tom":
        f = rng.uniform(80, 300)
        h = _sweep(f * rng.uniform(1.1, 1.6), f, k, rate, rng.uniform(0.02, 0.08))
    elif family == "snare":
        h = _band(noise, rate, rng.uniform(800, 2000), min(rng.uniform(5000, 9000), nyq)) \
            + rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(160, 260) * k / rate) * np.exp(-k / (0.03 * rate))
    elif family == "rim":
        f = rng.uniform(700, 1800)
        h = np.sin(2 * np.pi * f * k / rate) + 0.5 * np.sin(2 * np.pi * f * 2.7 * k / rate) + 0.3 * noise
    elif family == "shaker":
        h = _band(noise, rate, rng.uniform(2500, 5000), nyq)
        attack = rng.uniform(0.005, 0.03)
        env = np.minimum(1.0, k / (attack * rate)) * np.exp(-np.maximum(0, k - attack * rate) / (tau * rate))
    elif family == "clap":
        h = _band(noise, rate, rng.uniform(500, 1200), min(rng.uniform(3000, 6000), nyq))
        bursts = np.zeros(n)
        for j in range(int(rng.integers(2, 5))):  # hands meeting a few ms apart
            s = int(j * rng.uniform(0.006, 0.012) * rate)
            bursts[s:] += np.exp(-(k[s:] - s) / (0.003 * rate)) * rng.uniform(0.5, 1.0)
        env = np.maximum(env * 0.6, bursts)
    elif family == "snap":
        h = _band(noise, rate, rng.uniform(1500, 2500), min(rng.uniform(4000, 7000), nyq))
    elif family == "woodblock":
        f = rng.uniform(500, 1600)
        h = np.sin(2 * np.pi * f * k / rate) + rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * f * rng.uniform(2.3, 3.1) * k / rate)
    elif family == "click":
        h = np.sin(2 * np.pi * rng.uniform(500, 4000) * k / rate)
    elif family == "noise":
        h = noise
    else:
        raise ValueError(f"unknown hit family {family!r}")
    h = h * env
    return h / max(float(np.abs(h).max()), 1e-9)


@dataclass(frozen=True)
class Rough:
    """How often a clip is made the way plain synthesizers make one, and how often it lies at the
    edge of its loudness label. For beat tracks: ``cut``, the share whose every hit stops dead
    ``cut_db`` below its peak (a click of its own, as a sample cut short or a gated sound);
    ``silent``, the share over digital silence (no noise bed or hum); ``spike``, the share whose
    hits are digital ticks (the hit's first ``spike_ms`` of decay: all attack, little energy
    for its peak); ``grid``, the share laid out as a plain sequencer lays them: at the label's
    exact tempo (not 1.5 % either side), no human timing, the first hit on a whole tenth of a
    second (0 included), so at 60, 120 and 150 BPM every hit starts exactly where one 100 ms audio
    row of the model ends and the next begins; ``sparse``, the share with many rests: a share
    ``sparse_rests`` of the beats after each downbeat left out (the plain draw leaves out at most
    12 %), so counting hits cannot stand in for the rate; ``stub``, the share heard for
    ``stub_s`` seconds: two chunks, the second a few seconds of beat over padding (``pick_seconds``
    draws it). For every family: ``edge``, the share whose peak is drawn from ``EDGE_PEAK``, the
    end of its label's range nearest the other label (a quiet square near 0.05 carries more energy
    than a loud tick). The default makes none of them and draws no random numbers for them."""
    cut: float = 0.0
    cut_db: tuple[float, float] = (6.0, 45.0)
    silent: float = 0.0
    spike: float = 0.0
    spike_ms: tuple[float, float] = (0.03, 1.0)
    edge: float = 0.0
    grid: float = 0.0
    sparse: float = 0.0
    sparse_rests: tuple[float, float] = (0.12, 0.4)
    stub: float = 0.0
    stub_s: tuple[float, float] = (30.3, 36.0)


# peaks at the edge of each loudness label's range (within it): where ``Rough.edge`` draws them
EDGE_PEAK = {"loud": (LOUD_PEAK[0], 0.5), "quiet": (0.035, QUIET_PEAK[1])}


def spiked(h: np.ndarray, rate: int, ms: float) -> np.ndarray:
    """The first instants of the hit ``h`` under a decay of ``ms`` milliseconds, peak 1: a tick."""
    k = np.arange(min(len(h), max(1, int(rate * ms * 6 / 1000))))
    x = h[:len(k)] * np.exp(-k / max(rate * ms / 1000, 1e-9))
    return x / max(float(np.abs(x).max()), 1e-9)


def stop_dead(h: np.ndarray, db: float) -> np.ndarray:
    """``h`` (peak 1) cut off after the last sample louder than ``db`` below its peak."""
    loud = np.nonzero(np.abs(h) > 10 ** (-db / 20))[0]
    return h[:loud[-1] + 1] if len(loud) else h


def beat(bpm: float, seconds: float, rng: np.random.Generator, rate: int = RATE,
         hits: tuple[str, ...] = HITS, rough: Rough = Rough(), grid: bool = False) -> tuple[np.ndarray, list[float], str]:
    """Hits on every beat, played on one family of ``hits`` (a third of the tracks alternate two,
    like a kick and a snare), each hit its own, accented downbeats, human timing (up to 20 ms),
    a few rests, over a noise bed, sometimes with hum and a room; ``rough``: how often every hit
    stops dead and how often the track lies over digital silence instead; ``grid``: the first hit
    on a whole tenth of a second and no human timing (``Rough.grid``). Returns (samples, onsets,
    what played it and how)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    cut = float(rng.uniform(*rough.cut_db)) if rough.cut and rng.random() < rough.cut else None
    silent = bool(rough.silent) and rng.random() < rough.silent
    spike = float(rng.uniform(*rough.spike_ms)) if rough.spike and rng.random() < rough.spike else None
    if silent:
        x = np.zeros(n)
    else:
        x = rng.normal(0, 10 ** rng.uniform(-3.5, -2.3), n)  # the background
        if rng.random() < 0.3:
            x = _band(x, rate, 20, rng.uniform(1000, 6000))  # a darker background
    fams = [str(f) for f in rng.choice(hits, size=2 if len(hits) > 1 and rng.random() < 0.33 else 1, replace=False)]
    period = 60.0 / bpm
    at = rng.uniform(0, period) + rng.uniform(0, 1.0)
    jitter = rng.uniform(0, 0.02) if rng.random() < 0.6 else 0.0
    if grid:  # the same draws, then laid on the grid
        at, jitter = round(at * 10) / 10, 0.0
    rests = rng.uniform(0, 0.12) if rng.random() < 0.4 else 0.0
    sparse = bool(rough.sparse) and rng.random() < rough.sparse
    if sparse:
        rests = float(rng.uniform(*rough.sparse_rests))
    accent = rng.uniform(0.4, 0.9)
    repeat = rng.random() < 0.3  # a drum machine: the same sample every time
    def one(f: str) -> np.ndarray:
        h = hit(f, rate, rng)
        h = spiked(h, rate, spike) if spike is not None else h
        return stop_dead(h, cut) if cut is not None else h
    sample = {f: one(f) for f in fams}
    i, onsets = 0, []
    while True:
        at_i = (at + i * period + (rng.normal(0, jitter) if jitter else 0.0)) * rate
        s = round(at_i) if grid else int(at_i)  # on the grid to the sample
        if s >= n - rate // 50:
            break
        fam = fams[i % len(fams)]
        if i > 0 and i % 4 != 0 and rng.random() < rests:
            i += 1
            continue
        h = sample[fam] if repeat else one(fam)
        gain = 1.0 if i % 4 == 0 else accent * rng.uniform(0.85, 1.15)
        s0 = max(s, 0)
        m = min(len(h), n - s0)
        x[s0:s0 + m] += h[:m] * gain
        onsets.append(s0 / rate)
        i += 1
    if not silent and rng.random() < 0.3:
        x += 10 ** rng.uniform(-3.3, -2.5) * np.sin(2 * np.pi * rng.choice([50, 60]) * t)
    if rng.random() < 0.4:
        x = reverb(x, rate, rng)
    how = (f" spike {spike:.2f} ms" if spike is not None else "") + (f" cut {cut:.0f} dB" if cut is not None else "") \
        + (" silent" if silent else "") + (" grid" if grid else "") + (f" rests {rests:.2f}" if sparse else "")
    return x.astype(np.float32), onsets, "+".join(fams) + how


def reverb(x: np.ndarray, rate: int, rng: np.random.Generator, seconds: tuple[float, float] = (0.1, 0.6),
           wet: float | None = None) -> np.ndarray:
    """A room: ``x`` convolved with a decaying noise tail (``seconds`` long, ``wet`` loud)."""
    n, ir_len = len(x), int(rng.uniform(*seconds) * rate)
    ir = rng.normal(0, 1, ir_len) * np.exp(-np.arange(ir_len) / (ir_len / 6))
    ir *= wet if wet is not None else rng.uniform(0.05, 0.25)
    ir[0] = 1.0
    m = 1 << (n + ir_len).bit_length()  # a power of two: an FFT of a prime length is slow
    return np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(ir, m), m)[:n]


def _triad(root: float, quality: str) -> list[float]:
    third = 4 if quality == "major" else 3
    return [root, root * 2 ** (third / 12), root * 2 ** (7 / 12)]


def make_song(family: str, rng: np.random.Generator, seconds: float | None = None, rate: int = RATE,
              hits: tuple[str, ...] = HITS, plain: bool = False, peak: tuple[float, float] | None = None,
              rough: Rough = Rough(), **fixed: str) -> Song:
    """One clip of ``family`` with random labels (or those given in ``fixed``). ``plain``: no
    variations (textbook waves, flat envelope, no vibrato, reverb, noise or stereo), for the app's
    examples. ``peak``: draw the peak level from this range (it must lie within the label's)."""
    seconds = seconds if seconds is not None else pick_seconds(rng, family, rough)
    labels = {k: fixed.get(k) or str(rng.choice(LABELS[k])) for k in FAMILY_KINDS[family]}
    onsets: list[float] = []
    g = None if plain else rng
    if family == "beat":
        grid = bool(rough.grid) and rng.random() < rough.grid
        bpm = float(labels["tempo"]) * (1.0 if grid else rng.uniform(0.985, 1.015))
        x, onsets, sound = beat(bpm, seconds, rng, rate, hits, rough, grid)
    elif family == "tone":
        f = NOTES[labels["note"]] * 2 ** (rng.uniform(-10, 10) / 1200)  # detuned up to +-10 cents
        x, sound = tone([f], seconds, labels["timbre"], rate, g)
    elif family == "chord":
        root = 261.63 * 2 ** (rng.integers(0, 12) / 12)
        x, sound = tone(_triad(root, labels["quality"]), seconds, labels["timbre"], rate, g)
    else:
        raise ValueError(f"unknown family {family!r}")
    if family != "beat" and not plain:
        if rng.random() < 0.3:
            x = reverb(x, rate, rng, seconds=(0.1, 0.4), wet=rng.uniform(0.03, 0.12))
        x = x / max(float(np.max(np.abs(x))), 1e-9)
        x = x + rng.normal(0, 10 ** rng.uniform(-4, -2.2), len(x)) * (rng.random() < 0.5)
    allowed = LOUD_PEAK if labels["loudness"] == "loud" else QUIET_PEAK
    if peak is not None and not (allowed[0] <= peak[0] <= peak[1] <= allowed[1]):
        raise ValueError(f"peak {peak} is outside {labels['loudness']}'s {allowed}")
    if peak is None and rough.edge and rng.random() < rough.edge:
        peak = EDGE_PEAK[labels["loudness"]]
    peak = rng.uniform(*(peak or allowed))
    x = x / max(float(np.max(np.abs(x))), 1e-9) * peak
    if not plain and rng.random() < 0.25:  # stereo: the two sides a little apart
        d = int(rng.integers(1, 30))
        x = np.stack([x, np.concatenate([np.zeros(d), x[:-d]]) * rng.uniform(0.7, 1.0)], axis=1)
        x = x / max(float(np.max(np.abs(x))), 1e-9) * peak
    return Song(family, x.astype(np.float32), rate, labels, tuple(onsets), sound)


def write_file(path: Path, samples: np.ndarray, rate: int) -> None:
    """``samples`` ((n,) or (n, channels)) written to ``path``, its format named by the suffix
    (WAV, FLAC, OGG, MP3), a block at a time: libsndfile's Vorbis writer crashes on a long buffer
    written in one call."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(str(path), "w", rate, channels, format=path.suffix[1:].upper()) as f:
        for a in range(0, len(samples), 1 << 15):
            f.write(samples[a:a + (1 << 15)])


def pick_seconds(rng: np.random.Generator, family: str, rough: Rough = Rough()) -> float:
    """Mostly one chunk (3-30 s, beats from 8 s); one clip in five runs 31-50 s (two chunks); a
    share ``rough.stub`` of beat tracks runs ``rough.stub_s`` (a second chunk of a few seconds)."""
    seconds = float(rng.uniform(31, 50) if rng.random() < 0.2 else rng.uniform(MIN_SECONDS[family], 30))
    if family == "beat" and rough.stub and rng.random() < rough.stub:
        seconds = float(rng.uniform(*rough.stub_s))
    return seconds


def family_of(kind: str) -> tuple[str, ...]:
    return tuple(f for f, ks in FAMILY_KINDS.items() if kind in ks)


# -- what a microphone hears ----------------------------------------------------------------
def recording(bpm: float, seconds: float, rng: np.random.Generator, rate: int = 48_000) -> np.ndarray:
    """A steady beat as someone might record it in the browser: hand claps or knocks a human
    times (+-10 ms), in a reverberant room, over background noise and mains hum, starting after
    a second of room tone; stereo at 48 kHz. Any tempo, not only the trained ones. Training never
    calls this. Returns (samples, 2) float32."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = _band(rng.normal(0, 1, n), rate, 40, 6000) * 10 ** rng.uniform(-3.0, -2.2)  # room tone
    x += 10 ** rng.uniform(-3.3, -2.7) * np.sin(2 * np.pi * rng.choice([50, 60]) * t)  # hum
    k = np.arange(int(0.12 * rate))
    kind = rng.choice(["clap", "knock"])
    period, at = 60.0 / bpm, rng.uniform(0.6, 1.5)
    while at + 0.15 < seconds:
        if kind == "clap":
            h = _band(rng.normal(0, 1, len(k)), rate, 700, 4000) * np.exp(-k / (rate * 0.012))
        else:
            f0 = rng.uniform(120, 260)
            h = (np.sin(2 * np.pi * f0 * k / rate) + 0.3 * rng.normal(0, 1, len(k))) * np.exp(-k / (rate * 0.02))
        s = int((at + rng.normal(0, 0.01)) * rate)
        x[s:s + len(k)] += h / np.abs(h).max() * rng.uniform(0.6, 1.0)
        at += period
    wet = reverb(x, rate, rng, seconds=(0.2, 0.5), wet=0.15)
    wet = wet / np.abs(wet).max() * rng.uniform(0.3, 0.8)
    stereo = np.stack([wet, np.roll(wet, int(rng.integers(5, 40))) * rng.uniform(0.7, 1.0)], axis=1)
    return stereo.astype(np.float32)
