"""Does MuFun-Tiny hear where a sound stops as a beat? The exam's beat tracks, as made and faded.

    python scripts/exam_tails.py [--model assets/mufun-tiny] [--per-sound 16] [--seed 9000] [--fade-ms 10]

The exam's generator (``mufun.tiny.exam``) stops most of its sounds dead: a low thump ends four
decay times in (about -35 dB, a click of its own), a blip is a square wave switched on and off.
Every track is made twice from one seed: as the exam makes it, and with the last ``--fade-ms`` of
each sound faded out linearly (the fade draws no random numbers, so nothing else changes). Both are
asked through the app's path (tempos balanced, phrasings rotated); the script prints, per sound,
how many tempos each way gets right. A gain from the fade alone means the model counts the cuts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mufun.audio import load_array  # noqa: E402
from mufun.service import MuFunService  # noqa: E402
from mufun.tiny import exam, synth  # noqa: E402
from mufun.tiny.eval import ask  # noqa: E402


def track(sound: str, tempo: str, seq: np.random.SeedSequence, fade_ms: float = 0.0) -> exam.ExamClip:
    """One exam beat track of ``sound`` at ``tempo`` from its own seed, its sounds cut or faded."""
    return exam.clip("beat", np.random.default_rng(seq), sound=sound, fade_ms=fade_ms, tempo=tempo)


def run(svc: MuFunService, per_sound: int, seed: int, fade_ms: float) -> dict[str, dict[str, int]]:
    labels = synth.LABELS["tempo"]
    seqs = iter(np.random.SeedSequence(seed).spawn(per_sound * len(exam.SOUNDS)))
    right = {"as made": {}, "faded": {}}
    for sound in exam.SOUNDS:
        for i in range(per_sound):
            seq, tempo = next(seqs), labels[i % len(labels)]
            question = synth.QUESTIONS["tempo"][i % len(synth.QUESTIONS["tempo"])]
            for way, fade in (("as made", 0.0), ("faded", fade_ms)):
                c = track(sound, tempo, seq, fade)
                text = ask(svc, load_array(c.samples, c.rate, svc.cfg, source=f"exam-{sound}.wav"), question)
                right[way][sound] = right[way].get(sound, 0) + (synth.read_label("tempo", text) == tempo)
    return right


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--per-sound", type=int, default=16)
    p.add_argument("--seed", type=int, default=9000)
    p.add_argument("--fade-ms", type=float, default=10.0)
    a = p.parse_args(argv)
    if a.per_sound < 1 or a.fade_ms <= 0:
        p.error("--per-sound must be 1 or more and --fade-ms above 0")
    svc = MuFunService.load(a.model)
    right = run(svc, a.per_sound, a.seed, a.fade_ms)
    print(f"tempo right of {a.per_sound} per sound ({a.fade_ms:g} ms fade)")
    print(f"{'sound':12s} {'as made':>8s} {'faded':>8s}")
    for sound in exam.SOUNDS:
        print(f"{sound:12s} {right['as made'][sound]:>8d} {right['faded'][sound]:>8d}")
    total = {way: sum(r.values()) for way, r in right.items()}
    n = a.per_sound * len(exam.SOUNDS)
    print(f"{'all':12s} {total['as made']:>8d} {total['faded']:>8d}   of {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
