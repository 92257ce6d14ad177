"""Synthetic songs with known answers: what MuFun-Tiny is trained and evaluated on.

Every clip is made in code from a seed (``make_clip(kind, rng)``), so the data set is
reproducible and has a clean origin. Three sound families carry five question kinds:

- ``beat``: hits at a steady tempo, clean clicks or recorded-style claps -> tempo, loudness
- ``tone``: one sustained note with a waveform                          -> note, timbre, loudness
- ``chord``: a major or minor triad with a waveform                     -> quality, timbre, loudness

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

import numpy as np

RATE = 16_000
NOTES = {"C4": 261.63, "D4": 293.66, "E4": 329.63, "F4": 349.23, "G4": 392.00, "A4": 440.00, "B4": 493.88}
TEMPOS = (60, 90, 120, 150)
WAVES = ("sine", "square", "sawtooth")
QUALITIES = ("major", "minor")
LEVELS = ("loud", "quiet")
LABELS: dict[str, tuple[str, ...]] = {
    "tempo": tuple(str(t) for t in TEMPOS), "note": tuple(NOTES), "quality": QUALITIES,
    "timbre": WAVES, "loudness": LEVELS,
}
KINDS = tuple(LABELS)
FAMILY_KINDS = {"beat": ("tempo", "loudness"), "tone": ("note", "timbre", "loudness"),
                "chord": ("quality", "timbre", "loudness")}
# a tempo needs several beats: beat clips last at least this long (8 beats at 60 BPM)
MIN_SECONDS = {"beat": 8.0, "tone": 3.0, "chord": 3.0}
# the share of beat tracks that sound recorded (claps in a room) rather than clean clicks
ROOMY = 0.35

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
    samples: np.ndarray  # mono float32 at ``rate``
    rate: int
    labels: dict[str, str] = field(default_factory=dict)
    onsets: tuple[float, ...] = ()  # beat family: when each hit starts, in seconds


# -- sound makers ------------------------------------------------------------------------------
def wave(kind: str, freq: float, t: np.ndarray) -> np.ndarray:
    """Band-unlimited textbook waveforms, peak 1."""
    ph = freq * t
    if kind == "sine":
        return np.sin(2 * np.pi * ph)
    if kind == "square":
        return np.sign(np.sin(2 * np.pi * ph))
    if kind == "sawtooth":
        return 2 * (ph % 1.0) - 1
    raise ValueError(kind)


def _envelope(n: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    return np.minimum(1.0, np.minimum(t / 0.02, (n / rate - t) / 0.05))


def tone(freqs: list[float], seconds: float, waveform: str, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = sum(wave(waveform, f, t) for f in freqs) / len(freqs)
    return (x * _envelope(len(t), rate)).astype(np.float32)


def beat(bpm: float, seconds: float, rng: np.random.Generator, rate: int = RATE) -> tuple[np.ndarray, list[float]]:
    """Hits on every beat (accented downbeats) and the times they start. Most tracks are clean:
    one click or noise burst repeated exactly over a quiet noise bed. A share ``ROOMY`` sounds
    recorded: claps, knocks or kicks, each hit a little different and a little off the grid
    (human timing), after up to 1.5 s of room tone, with mains hum and room reverb."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = rng.normal(0, 10 ** rng.uniform(-3.2, -2.3), n)  # the room
    roomy = rng.random() < ROOMY
    kind = str(rng.choice(["clap", "knock", "kick", "click", "noise"] if roomy else ["click", "noise"]))
    length = int(rate * (0.12 if roomy else rng.uniform(0.02, 0.08)))
    k = np.arange(length)
    pitch = rng.uniform(500, 3000) if kind == "click" else rng.uniform(60, 300)
    tau = length / rng.uniform(3, 6) if not roomy else rate * rng.uniform(0.005, 0.03)
    fixed = _hit(kind, k, rate, pitch, tau, rng)
    period = 60.0 / bpm
    at = rng.uniform(0, period) + (rng.uniform(0, 1.5) if roomy else 0.0)
    jitter = rng.uniform(0, 0.015) if roomy else 0.0
    i, onsets = 0, []
    while True:
        s = int((at + i * period + rng.normal(0, jitter)) * rate) if jitter else int((at + i * period) * rate)
        if s + length >= n:
            break
        hit = _hit(kind, k, rate, pitch, tau, rng) if roomy else fixed
        x[max(s, 0):s + length] += (hit * (1.0 if i % 4 == 0 else rng.uniform(0.5, 0.8)))[max(-s, 0):]
        onsets.append(max(s, 0) / rate)
        i += 1
    if roomy:
        if rng.random() < 0.5:
            x += 10 ** rng.uniform(-3.3, -2.5) * np.sin(2 * np.pi * rng.choice([50, 60]) * t)
        x = reverb(x, rate, rng)
    return x.astype(np.float32), onsets


def _hit(kind: str, k: np.ndarray, rate: int, pitch: float, tau: float, rng: np.random.Generator) -> np.ndarray:
    decay = np.exp(-k / tau)
    if kind == "click":
        h = np.sin(2 * np.pi * pitch * k / rate)
    elif kind == "noise":
        h = rng.normal(0, 1, len(k))
    elif kind == "clap":
        h = _band(rng.normal(0, 1, len(k)), rate, rng.uniform(400, 1000), rng.uniform(3000, 6000))
    elif kind == "knock":
        h = np.sin(2 * np.pi * pitch * k / rate) + rng.uniform(0.1, 0.5) * rng.normal(0, 1, len(k))
    elif kind == "kick":  # a pitch drop
        h = np.sin(2 * np.pi * np.cumsum(pitch * (1 + 2 * np.exp(-k / (0.01 * rate)))) / rate)
    else:
        raise ValueError(kind)
    h = h * decay
    return h / max(float(np.abs(h).max()), 1e-9)


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
              **fixed: str) -> Song:
    """One clip of ``family`` with random labels (or those given in ``fixed``)."""
    seconds = seconds if seconds is not None else pick_seconds(rng, family)
    labels = {k: fixed.get(k) or str(rng.choice(LABELS[k])) for k in FAMILY_KINDS[family]}
    onsets: list[float] = []
    if family == "beat":
        x, onsets = beat(float(labels["tempo"]) * rng.uniform(0.985, 1.015), seconds, rng, rate)
    elif family == "tone":
        f = NOTES[labels["note"]] * 2 ** (rng.uniform(-0.2, 0.2) / 12)
        x = tone([f], seconds, labels["timbre"], rate)
    elif family == "chord":
        root = 261.63 * 2 ** (rng.integers(0, 12) / 12)
        x = tone(_triad(root, labels["quality"]), seconds, labels["timbre"], rate)
    else:
        raise ValueError(f"unknown family {family!r}")
    peak = rng.uniform(0.4, 0.9) if labels["loudness"] == "loud" else rng.uniform(0.01, 0.05)
    x = x / max(float(np.max(np.abs(x))), 1e-9) * peak
    return Song(family, x.astype(np.float32), rate, labels, tuple(onsets))


def pick_seconds(rng: np.random.Generator, family: str) -> float:
    """Mostly one chunk (3-30 s, beats from 8 s); one clip in five runs 31-50 s (two chunks)."""
    return float(rng.uniform(31, 50) if rng.random() < 0.2 else rng.uniform(MIN_SECONDS[family], 30))


def family_of(kind: str) -> tuple[str, ...]:
    return tuple(f for f, ks in FAMILY_KINDS.items() if kind in ks)


# -- what a microphone hears ----------------------------------------------------------------
def _band(x: np.ndarray, rate: int, lo: float, hi: float) -> np.ndarray:
    """Keep ``lo``-``hi`` Hz (FFT mask)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / rate)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, len(x))


def recording(bpm: float, seconds: float, rng: np.random.Generator, rate: int = 48_000) -> np.ndarray:
    """A steady beat as someone might record it in the browser: hand claps or knocks a human
    times (+-10 ms), in a reverberant room, over background noise and mains hum, starting after
    a second of room tone; stereo at 48 kHz. Any tempo, not only the trained ones. Training never
    calls this: its recorded-style beats come from ``beat`` (other hit shapes, rooms and ranges,
    mono, at the trained tempos +-1.5 %). Returns (samples, 2) float32."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = _band(rng.normal(0, 1, n), rate, 40, 6000) * 10 ** rng.uniform(-3.0, -2.2)  # room tone
    x += 10 ** rng.uniform(-3.3, -2.7) * np.sin(2 * np.pi * rng.choice([50, 60]) * t)  # hum
    k = np.arange(int(0.12 * rate))
    kind = rng.choice(["clap", "knock"])
    period, at = 60.0 / bpm, rng.uniform(0.6, 1.5)
    while at + 0.15 < seconds:
        if kind == "clap":
            hit = _band(rng.normal(0, 1, len(k)), rate, 700, 4000) * np.exp(-k / (rate * 0.012))
        else:
            f0 = rng.uniform(120, 260)
            hit = (np.sin(2 * np.pi * f0 * k / rate) + 0.3 * rng.normal(0, 1, len(k))) * np.exp(-k / (rate * 0.02))
        s = int((at + rng.normal(0, 0.01)) * rate)
        x[s:s + len(k)] += hit / np.abs(hit).max() * rng.uniform(0.6, 1.0)
        at += period
    wet = reverb(x, rate, rng, seconds=(0.2, 0.5), wet=0.15)
    wet = wet / np.abs(wet).max() * rng.uniform(0.3, 0.8)
    stereo = np.stack([wet, np.roll(wet, int(rng.integers(5, 40))) * rng.uniform(0.7, 1.0)], axis=1)
    return stereo.astype(np.float32)
