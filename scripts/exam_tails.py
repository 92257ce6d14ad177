"""Does MuFun-Tiny hear where a sound stops as a beat? The exam's beat tracks, as made and faded.

    python scripts/exam_tails.py [--model assets/mufun-tiny] [--per-sound 16] [--seed 9000] [--fade-ms 10]
                                 [--set exam|stops|fourth|fifth]

The exam's generator (``mufun.tiny.exam``) stops most of its sounds dead: a low thump ends four
decay times in (about -35 dB, a click of its own), a blip is a square wave switched on and off.
Every track is made twice from one seed: as the exam makes it, and with the last ``--fade-ms`` of
each sound faded out linearly (the fade draws no random numbers, so nothing else changes). Both are
asked through the app's path (tempos balanced, phrasings rotated); the script prints, per sound,
how many tempos each way gets right. A gain from the fade alone means the model counts the cuts.
``--set stops``: the same with ``mufun.tiny.exam_stops``, a third generator's eight sounds, most
cut off a few to 30 dB below their peak, over digital silence; ``--set fourth`` / ``fifth``: the
beat sounds of ``mufun.tiny.exam_files`` (the fifth's laser zap is switched off at full level),
each track at a random rate and a random loud or quiet peak.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mufun.audio import load_array  # noqa: E402
from mufun.service import MuFunService  # noqa: E402
from mufun.tiny import exam, exam_files, exam_stops, synth  # noqa: E402
from mufun.tiny.eval import ask  # noqa: E402


SETS = {"exam": exam.SOUNDS, "stops": exam_stops.SOUNDS, **exam_files.SETS}


def track(sound: str, tempo: str, seq: np.random.SeedSequence, fade_ms: float = 0.0,
          which: str = "exam") -> exam.ExamClip:
    """One beat track of ``sound`` at ``tempo`` from its own seed, its sounds cut or faded, made by
    the exam's generator, by ``exam_stops`` (``which`` "stops") or by ``exam_files`` (``which``
    "fourth" or "fifth")."""
    if which == "stops":
        return exam_stops.clip(sound, tempo, np.random.default_rng(seq), fade_ms=fade_ms)
    if which in exam_files.SETS:
        rng = np.random.default_rng(seq)
        rate = int(rng.choice(exam_files.RATES))
        x = exam_files.beat(which, rng, float(tempo), sound, rng.uniform(*exam_files.STYLES[which].beat_s), rate,
                            fade_ms=fade_ms)
        peak = rng.uniform(*(synth.LOUD_PEAK if rng.random() < 0.5 else synth.QUIET_PEAK))
        return exam.ExamClip("beat", (x * peak).astype(np.float32), rate, {"tempo": tempo}, sound)
    return exam.clip("beat", np.random.default_rng(seq), sound=sound, fade_ms=fade_ms, tempo=tempo)


def run(svc: MuFunService, per_sound: int, seed: int, fade_ms: float,
        which: str = "exam") -> dict[str, dict[str, int]]:
    labels = synth.LABELS["tempo"]
    sounds = SETS[which]
    seqs = iter(np.random.SeedSequence(seed).spawn(per_sound * len(sounds)))
    right = {"as made": {}, "faded": {}}
    for sound in sounds:
        for i in range(per_sound):
            seq, tempo = next(seqs), labels[i % len(labels)]
            question = synth.QUESTIONS["tempo"][i % len(synth.QUESTIONS["tempo"])]
            for way, fade in (("as made", 0.0), ("faded", fade_ms)):
                c = track(sound, tempo, seq, fade, which)
                text = ask(svc, load_array(c.samples, c.rate, svc.cfg, source=f"exam-{sound}.wav"), question)
                right[way][sound] = right[way].get(sound, 0) + (synth.read_label("tempo", text) == tempo)
    return right


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--per-sound", type=int, default=16)
    p.add_argument("--seed", type=int, default=9000)
    p.add_argument("--fade-ms", type=float, default=10.0)
    p.add_argument("--set", choices=sorted(SETS), default="exam",
                   help="exam: the exam's sounds; stops: exam_stops, sounds that stop dead; fourth, fifth: "
                   "exam_files' beat sounds")
    a = p.parse_args(argv)
    if a.per_sound < 1 or a.fade_ms <= 0:
        p.error("--per-sound must be 1 or more and --fade-ms above 0")
    svc = MuFunService.load(a.model)
    right = run(svc, a.per_sound, a.seed, a.fade_ms, a.set)
    print(f"tempo right of {a.per_sound} per sound ({a.fade_ms:g} ms fade)")
    print(f"{'sound':12s} {'as made':>8s} {'faded':>8s}")
    for sound in SETS[a.set]:
        print(f"{sound:12s} {right['as made'][sound]:>8d} {right['faded'][sound]:>8d}")
    total = {way: sum(r.values()) for way, r in right.items()}
    n = a.per_sound * len(SETS[a.set])
    print(f"{'all':12s} {total['as made']:>8d} {total['faded']:>8d}   of {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
