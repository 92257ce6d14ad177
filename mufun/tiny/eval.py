"""Accuracy of a MuFun checkpoint on fresh synthetic clips, per question kind, with an ablation.

    python -m mufun.tiny.eval [--model tiny] [--per-kind 40] [--seed 1000] [--ablate]

Clips come from seeds the training never used (training draws from seed 0 and 1). Each
question goes through the app's own path (``MuFunService.ask``: prepare, encode, splice,
greedy streaming decode) and the free-text answer is graded with ``synth.read_label``.
``--ablate`` zeroes the audio embeddings (the connector's output) before the splice: the
answers can then only come from the question, so accuracy should fall to chance.
``--recordings`` also asks the tempo of steady beats recorded the way a user would
(``synth.recording``: claps or knocks in a room, 48 kHz stereo, at tempos between the trained
labels too), a generator training never calls; an answer is plausible within ``PLAUSIBLE_BPM``
of the true tempo. ``--takes K`` records K different takes of each tempo; ``--cuts N`` cuts one
100 BPM recording at N start times, as a microphone catches it wherever the user presses Record.
``--per-hit N`` asks the tempo of N beat tracks played on each hit family; with ``--cut-db LO HI``
it asks N more on each family, at the same tempos, with every hit stopping dead LO-HI dB below
its peak, over digital silence (a sample cut short: the cut is a click of its own).
With ``--on-grid`` it asks N more on each family laid out as a plain sequencer lays a beat: the
label's exact tempo, the first hit on a whole tenth of a second, no human timing, over digital
silence; at 60, 120 and 150 BPM every hit then starts exactly on the edge between two of the
model's 100 ms audio rows.
``--by-length N`` asks the tempo of N beat tracks at each of a few lengths (4 s to two chunks),
and each other kind asked (note, timbre, loudness) of N clips at 1, 2, 3 and 6 s.
``--kinds tempo`` asks only the tempo (of the same clips a full run asks), e.g. on a larger set.
``--tempo-detail`` sorts those tempo answers by the share of a track's beats that sound (rests
leave some out), by how long the clip is heard, and the misses by direction (too slow, too fast).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from mufun.audio import load_array
from mufun.generate import Done, Sampling
from mufun.prompt import Turn
from mufun.service import MuFunService
from mufun.tiny import exam as exam_gen
from mufun.tiny import synth
from mufun.tiny import train as train_tiny
from mufun.tiny.train import make_example


@dataclass(frozen=True)
class Result:
    kind: str
    correct: int
    total: int
    chance: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@contextlib.contextmanager
def audio_zeroed(svc: MuFunService):
    """Replace every audio embedding with zeros (and keep the cache out of it)."""
    hook = svc.loaded.model.connector.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
    svc.cache.clear()
    try:
        yield
    finally:
        hook.remove()
        svc.cache.clear()


def ask(svc: MuFunService, clip, question: str, max_new_tokens: int = 16) -> str:
    done = None
    for ev in svc.ask([Turn(question)], [clip], Sampling(max_new_tokens=max_new_tokens)):
        if isinstance(ev, Done):
            done = ev
    return done.text


def evaluate(svc: MuFunService, per_kind: int = 40, seed: int = 1000, log=None,
             hits: tuple[str, ...] = synth.HITS, kinds: tuple[str, ...] = synth.KINDS,
             tempos: list | None = None) -> list[Result]:
    """``per_kind`` fresh clips per kind (labels balanced), one question each, phrasings rotated;
    beat tracks played on ``hits``. The kinds are asked in ``synth.KINDS`` order from one seed, so
    leaving kinds out keeps the clips of those before it (tempo, the first, always). ``tempos``: a
    list that gets each tempo clip and the label its answer named (``tempo_detail``)."""
    rng = np.random.default_rng(seed)
    return [_ask_kind(svc, kind, kind, per_kind, rng, log, hits=hits, seen=tempos if kind == "tempo" else None)
            for kind in synth.KINDS if kind in kinds]


# ``--tempo-detail``: the share of a track's beats that sound (rests leave some out) and how long it is
DETAIL = "tempo in detail"  # its name among a run's results
SOUNDING = ((0.0, 0.9), (0.9, 0.95), (0.95, 0.99), (0.99, math.inf))
LENGTHS_S = ((0.0, 12.0), (12.0, 25.0), (25.0, 30.0), (30.0, 35.0), (35.0, math.inf))


def sounding(ex) -> float:
    """The share of its beats a track plays: its hits over the beats its label's tempo gives from
    its first hit to its last (1 with no rests; a little more when the track drifts faster)."""
    if len(ex.onsets) < 2:
        return 1.0
    period = 60.0 / float(ex.labels["tempo"])
    return len(ex.onsets) / ((ex.onsets[-1] - ex.onsets[0]) / period + 1)


def _band_name(lo: float, hi: float, unit: str, scale: float = 1.0) -> str:
    a, b = f"{lo * scale:g}", f"{hi * scale:g}"
    return f"from {a}{unit}" if hi == math.inf else f"under {b}{unit}" if lo == 0 else f"{a}-{b}{unit}"


def tempo_detail(seen: list) -> list[Result]:
    """The tempo answers of ``seen`` ((clip, label heard) pairs) by the share of beats sounding, by
    length, and the misses by their direction: a model that counts hits instead of measuring the
    time between them hears a track with rests too slow, and one whose second 30 s chunk is a stub
    too."""
    order = synth.LABELS["tempo"]
    rows = [(ex, heard, heard == ex.labels["tempo"]) for ex, heard in seen]
    out = []
    for lo, hi in SOUNDING:
        m = [ok for ex, _, ok in rows if lo <= sounding(ex) < hi]
        out.append(Result(f"beats sounding {_band_name(lo, hi, ' %', 100)}", sum(m), len(m), 0.25))
    for lo, hi in LENGTHS_S:
        m = [ok for ex, _, ok in rows if lo <= ex.clip.used_s < hi]
        out.append(Result(f"heard {_band_name(lo, hi, ' s')}", sum(m), len(m), 0.25))
    wrong = [(ex, heard) for ex, heard, ok in rows if not ok]
    off = [order.index(heard) - order.index(ex.labels["tempo"]) for ex, heard in wrong if heard in order]
    out += [Result("misses heard too slow", sum(d < 0 for d in off), len(wrong), 0.0),
            Result("misses heard too fast", sum(d > 0 for d in off), len(wrong), 0.0)]
    return out


def _ask_kind(svc: MuFunService, kind: str, name: str, n: int, rng: np.random.Generator, log=None,
              seen: list | None = None, **make) -> Result:
    labels = synth.LABELS[kind]
    fams = synth.family_of(kind)
    correct = 0
    for i in range(n):
        ex = make_example(fams[i % len(fams)], rng, svc.cfg, **make, **{kind: labels[i % len(labels)]})
        q = synth.QUESTIONS[kind][i % len(synth.QUESTIONS[kind])]
        text = ask(svc, ex.clip, q)
        heard = synth.read_label(kind, text)
        ok = heard == ex.labels[kind]
        correct += ok
        if seen is not None:
            seen.append((ex, heard))
        if log:
            log(f"  {name:12s} {ex.labels[kind]:>8s}  {'ok ' if ok else 'BAD'}  {ex.sound:38s} {q!r} -> {text!r}")
    return Result(name, correct, n, 1 / len(labels))


# beat tracks as a plain sequencer writes them (``--on-grid``): the label's exact tempo, the first
# hit on a whole tenth of a second, no human timing, over digital silence, the whole clip heard
ON_GRID = synth.Rough(grid=1.0, silent=1.0)


def tempo_by_hit(svc: MuFunService, families=synth.HITS, per_family: int = 16, seed: int = 4000,
                 log=None, cut_db: tuple[float, float] | None = None, on_grid: bool = False) -> list[Result]:
    """Tempo on beat tracks played on one hit family at a time (tempos balanced). ``cut_db``:
    every hit stops dead between those levels below its peak, over digital silence, as a plain
    synthesizer cuts a sample short (``synth.stop_dead``). ``on_grid`` (instead): the tracks are laid out
    as a plain sequencer lays them (``ON_GRID``): at 60, 120 and 150 BPM every hit then starts
    exactly where one of the model's 100 ms audio rows ends and the next begins."""
    rng = np.random.default_rng(seed)
    rough = ON_GRID if on_grid else synth.Rough() if cut_db is None else \
        synth.Rough(cut=1.0, cut_db=cut_db, silent=1.0)
    return [_ask_kind(svc, "tempo", f"tempo:{fam}", per_family, rng, log, hits=(fam,), rough=rough, whole=on_grid)
            for fam in families]


BY_LENGTH_S = (4, 6, 8, 12, 20, 35)  # from a few beats to two 30 s chunks
SHORT_S = (1, 2, 3, 6)  # below and above the shortest tone training made (synth.MIN_SECONDS: 3 s)


def kinds_by_length(svc: MuFunService, kinds=("tempo",), lengths=BY_LENGTH_S, per_length: int = 16,
                    seed: int = 7000, log=None) -> list[Result]:
    """Each of ``kinds`` on clips the model hears for exactly each of ``lengths`` seconds (labels
    balanced, the kind's families in turn): whether a short beat, or a second chunk mostly padding,
    is heard at its tempo (``BY_LENGTH_S``), and how short a clip still gets its note, timbre or
    loudness heard (``SHORT_S``)."""
    rng = np.random.default_rng(seed)
    return [_ask_kind(svc, kind, f"{kind} at {s:g} s", per_length, rng, log, seconds=s)
            for s in lengths for kind in kinds]


def loudness_edges(svc: MuFunService, n: int = 40, seed: int = 5000, log=None) -> Result:
    """Loudness of clips near the labels' boundaries: loud at a peak of 0.40-0.45, quiet at
    0.045-0.05, every family (a label keeps its meaning up to its edge)."""
    rng = np.random.default_rng(seed)
    fams = synth.family_of("loudness")
    correct = 0
    for i in range(n):
        level = synth.LEVELS[i % 2]
        peak = (synth.LOUD_PEAK[0], 0.45) if level == "loud" else (0.045, synth.QUIET_PEAK[1])
        ex = make_example(fams[(i // 2) % len(fams)], rng, svc.cfg, peak=peak, loudness=level)
        q = synth.QUESTIONS["loudness"][i % len(synth.QUESTIONS["loudness"])]
        text = ask(svc, ex.clip, q)
        ok = synth.read_label("loudness", text) == level
        correct += ok
        if log:
            log(f"  loudness edge {level:>6s} {'ok ' if ok else 'BAD'}  {ex.sound:38s} {q!r} -> {text!r}")
    return Result("loudness near the boundary", correct, n, 0.5)


def exam(svc: MuFunService, per_kind: int = 24, seed: int = 6000, log=None,
         kinds: tuple[str, ...] = synth.KINDS) -> list[Result]:
    """Tempo, note, timbre and loudness (those of them in ``kinds``, in this order from one seed)
    on clips from ``mufun.tiny.exam`` (a generator written apart from training's), then tempo by
    the sound the beat is played on."""
    rng = np.random.default_rng(seed)
    out, by_sound = [], {s: [0, 0] for s in exam_gen.SOUNDS}
    for kind in (k for k in ("tempo", "note", "timbre", "loudness") if k in kinds):
        labels, correct = synth.LABELS[kind], 0
        fams = [f for f in ("beat", "tone") if kind in synth.FAMILY_KINDS[f]]
        for i in range(per_kind):
            fam = fams[i % len(fams)]
            sound = exam_gen.SOUNDS[(i // len(labels)) % len(exam_gen.SOUNDS)] if fam == "beat" else None
            c = exam_gen.clip(fam, rng, sound=sound, **{kind: labels[i % len(labels)]})
            q = synth.QUESTIONS[kind][i % len(synth.QUESTIONS[kind])]
            text = ask(svc, load_array(c.samples, c.rate, svc.cfg, source=f"exam-{fam}.wav"), q)
            ok = synth.read_label(kind, text) == c.labels[kind]
            correct += ok
            if kind == "tempo":
                by_sound[sound][0] += ok
                by_sound[sound][1] += 1
            if log:
                log(f"  exam {kind:8s} {c.labels[kind]:>6s}  {'ok ' if ok else 'BAD'}  {c.sound:28s} -> {text!r}")
        out.append(Result(f"exam {kind}", correct, per_kind, 1 / len(labels)))
    out += [Result(f"exam tempo:{s}", k, n, 0.25) for s, (k, n) in by_sound.items() if n]
    return out


def training_clips(svc: MuFunService, n: int, seed: int = 0, n_clips: int = 3000, log=None) -> list[Result]:
    """Tempo of the beat tracks and note of the tones among the first ``n`` clips the shipped
    recipe trains on (``train.pool_jobs``): whether the model fits what it was trained on."""
    kinds = {"beat": "tempo", "tone": "note"}
    score = {k: [0, 0] for k in kinds.values()}
    for job in train_tiny.pool_jobs(n_clips, seed)[:n]:
        kind = kinds.get(job[0])
        if kind is None:
            continue
        ex = train_tiny.example_from_job(job)
        text = ask(svc, ex.clip, synth.QUESTIONS[kind][0])
        ok = synth.read_label(kind, text) == ex.labels[kind]
        score[kind][0] += ok
        score[kind][1] += 1
        if log:
            log(f"  training clip {kind:6s} {ex.labels[kind]:>6s}  {'ok ' if ok else 'BAD'}  {ex.sound:38s} -> {text!r}")
    return [Result(f"training clips {k}", c, t, 1 / len(synth.LABELS[k])) for k, (c, t) in score.items()]


PLAUSIBLE_BPM = 20  # under one step of the trained tempo labels (30-40 BPM)
RECORDED_BPM = (72, 90, 104, 118, 133, 150)


@dataclass(frozen=True)
class Recording:
    bpm: float
    answer: str

    @property
    def heard(self) -> int | None:
        label = synth.read_label("tempo", self.answer)
        return int(label) if label else None

    @property
    def plausible(self) -> bool:
        return self.heard is not None and abs(self.heard - self.bpm) <= PLAUSIBLE_BPM


def recordings(svc: MuFunService, bpms=RECORDED_BPM, seed: int = 2000, seconds: float = 12.0,
               question: str = "What is the tempo of this clip?", takes: int = 1) -> list[Recording]:
    """Ask the tempo of user-like recordings of a steady beat (``takes`` of each tempo)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(takes):
        for bpm in bpms:
            clip = load_array(synth.recording(bpm, seconds, rng), 48_000, svc.cfg, source=f"recording-{bpm}bpm")
            out.append(Recording(bpm, ask(svc, clip, question)))
    return out


def recording_cuts(svc: MuFunService, starts: int = 13, bpm: float = 100, seed: int = 21,
                   question: str = "What is the tempo of this clip?") -> list[Recording]:
    """One 14 s recording of a steady beat cut as a microphone might catch it: ``starts`` start
    times from 0 to 3 s, each 10.5 and 11.5 s long (wrapping round to the recording's start, as
    Chromium's fake microphone loops its file). The tempo heard should not depend on the cut."""
    rate = 48_000
    x = synth.recording(bpm, 14, np.random.default_rng(seed), rate)
    out = []
    for start in np.linspace(0, 3, starts):
        for seconds in (10.5, 11.5):
            cut = np.roll(x, -int(start * rate), axis=0)[:int(seconds * rate)]
            clip = load_array(cut, rate, svc.cfg, source=f"recording-{bpm:.0f}bpm-from-{start:.2f}s")
            out.append(Recording(bpm, ask(svc, clip, question)))
    return out


def table(results: list[Result]) -> str:
    rows = ["| kind | accuracy | chance |", "|---|---|---|"]
    for r in results:
        chance = f"{r.chance:.0%}" if r.chance else "—"  # a count of misses has no chance level
        accuracy = f"{r.accuracy:.0%}" if r.total else "—"  # none asked: no accuracy, not 0 %
        rows.append(f"| {r.kind} | {r.correct}/{r.total} = {accuracy} | {chance} |")
    return "\n".join(rows)


def how_many(text: str) -> int:
    """An argparse type: a count of clips or takes, 0 or more."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: give a whole number, 0 or more")
    return n


def names_of(choices: tuple[str, ...], what: str):
    """An argparse type: comma-separated names, each one of ``choices``, at least one."""
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(k.strip() for k in text.split(",") if k.strip())
        if not names or any(k not in choices for k in names):
            raise argparse.ArgumentTypeError(f"{text!r} names no {what}: choose from {', '.join(choices)}")
        return names
    return parse


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mufun.tiny.eval", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny (the embedded model) or a checkpoint folder")
    p.add_argument("--per-kind", type=how_many, default=40)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--ablate", action="store_true", help="also run with the audio embeddings zeroed")
    p.add_argument("--recordings", action="store_true", help="also ask the tempo of user-like recordings")
    p.add_argument("--takes", type=how_many, default=1, help="recordings of each tempo (with --recordings)")
    p.add_argument("--fit", type=how_many, default=0, help="also tempo and note on the first N clips of the "
                   "training pool (seed 0, 3 000 clips): does the model fit what it was trained on?")
    p.add_argument("--cuts", type=how_many, default=0, help="also one 100 BPM recording cut at N start times")
    p.add_argument("--per-hit", type=how_many, default=0, help="also tempo on N beat tracks of each hit family")
    p.add_argument("--hits", type=names_of(synth.HITS, "hit family we play"), default=synth.HITS,
                   help="comma-separated hit families for --per-hit (default: all)")
    p.add_argument("--cut-db", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="with --per-hit: also as many tracks at the same tempos with every hit stopping dead "
                   "LO-HI dB below its peak, over digital silence")
    p.add_argument("--on-grid", action="store_true",
                   help="with --per-hit: also as many tracks at the same tempos laid out as a plain sequencer lays "
                   "them (the exact tempo, the first hit on a whole tenth of a second, no human timing, over "
                   "digital silence)")
    p.add_argument("--by-length", type=how_many, default=0, help="also tempo on N beat tracks of each length in "
                   f"{', '.join(f'{s:g}' for s in BY_LENGTH_S)} seconds, and each other kind asked on N clips of "
                   f"{', '.join(f'{s:g}' for s in SHORT_S)} seconds")
    p.add_argument("--edges", type=how_many, default=0, help="also loudness on N clips near the labels' boundary")
    p.add_argument("--exam", type=how_many, default=0, help="also N clips per kind from mufun.tiny.exam, "
                   "a generator written apart from training's")
    p.add_argument("--kinds", type=names_of(synth.KINDS, "question kind we ask"), default=synth.KINDS,
                   help=f"comma-separated question kinds to ask (default: all of {', '.join(synth.KINDS)}); "
                   "the clips of a kind are a full run's when the kinds before it are asked too (tempo is first)")
    p.add_argument("--tempo-detail", action="store_true",
                   help="also the tempo answers by the share of beats sounding (rests), by length, and the "
                   "misses by direction (too slow or too fast)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.cut_db is not None:
        if not a.per_hit:
            p.error("--cut-db goes with --per-hit N: it cuts the hits of those tracks")
        lo, hi = a.cut_db
        if not 0 < lo <= hi <= 90:
            p.error("--cut-db takes two levels in dB below a hit's peak, 0 < LO <= HI <= 90")
    if a.on_grid and not a.per_hit:
        p.error("--on-grid goes with --per-hit N: it lays out those tracks on the grid")
    if a.tempo_detail and ("tempo" not in a.kinds or not a.per_kind):
        p.error("--tempo-detail sorts the tempo answers: ask the tempo (--kinds) of at least one clip (--per-kind)")
    svc = MuFunService.load(a.model)
    log = (lambda s: print(s, flush=True)) if a.verbose else None
    t0 = time.perf_counter()
    seen: list = []
    runs = {"with audio": evaluate(svc, a.per_kind, a.seed, log, kinds=a.kinds, tempos=seen)}
    if a.tempo_detail:  # checked above: there are tempo answers
        runs[DETAIL] = tempo_detail(seen)
    if a.per_hit:
        runs["tempo by hit family"] = tempo_by_hit(svc, a.hits, a.per_hit, a.seed + 3000, log)
    if a.cut_db:  # checked above: it comes with --per-hit
        lo, hi = a.cut_db
        runs[f"tempo by hit family, every hit cut {lo:g}-{hi:g} dB below its peak, over silence"] = \
            tempo_by_hit(svc, a.hits, a.per_hit, a.seed + 3000, log, cut_db=(lo, hi))
    if a.on_grid:  # checked above: it comes with --per-hit
        runs["tempo by hit family, laid out on the grid (exact tempo, no human timing), over silence"] = \
            tempo_by_hit(svc, a.hits, a.per_hit, a.seed + 3000, log, on_grid=True)
    if a.by_length and "tempo" in a.kinds:
        runs["tempo by length"] = kinds_by_length(svc, per_length=a.by_length, seed=a.seed + 6000, log=log)
    short = [k for k in a.kinds if k not in ("tempo", "quality")]  # chord quality is not learned
    if a.by_length and short:
        runs["short clips"] = kinds_by_length(svc, short, SHORT_S, a.by_length, a.seed + 7000, log)
    if a.edges:
        runs["near the loudness boundary"] = [loudness_edges(svc, a.edges, a.seed + 4000, log)]
    if a.exam:
        runs["exam (a second generator)"] = exam(svc, a.exam, a.seed + 5000, log, kinds=a.kinds)
    if a.fit:
        runs["the training pool's first clips"] = training_clips(svc, a.fit, log=log)
    if a.ablate:
        with audio_zeroed(svc):
            runs["audio zeroed"] = evaluate(svc, a.per_kind, a.seed, log, kinds=a.kinds)
    recs = recordings(svc, takes=a.takes) if a.recordings else []
    recs += recording_cuts(svc, a.cuts) if a.cuts else []
    if a.json:
        out = {name: {r.kind: {"correct": r.correct, "total": r.total, "chance": r.chance}
                      for r in res} for name, res in runs.items()}
        if recs:
            out["recordings"] = [{"bpm": r.bpm, "answer": r.answer, "plausible": r.plausible} for r in recs]
        print(json.dumps(out, indent=2))
    else:
        for name, res in runs.items():
            print(f"\n{svc.cfg.name} ({a.model}), {name}:\n{table(res)}")
        if recs:
            print(f"\nRecorded steady beats (plausible = within {PLAUSIBLE_BPM} BPM):")
            for r in recs:
                print(f"  {r.bpm:5.0f} BPM -> {r.answer!r}  {'plausible' if r.plausible else 'NOT plausible'}")
            print(f"  {sum(r.plausible for r in recs)} of {len(recs)} plausible")
        asked = sum(r.total for name, res in runs.items() if name != DETAIL for r in res)  # DETAIL sorts them again
        print(f"\n{asked} questions in "
              f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
