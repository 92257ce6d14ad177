"""MuFun-Tiny training step: one splice for the batch against one per sequence, or bf16 against fp32.

    python scripts/train_bench.py [--steps 12] [--clips 40] [--batch 8] [--bf16] [--json]

Both ways run the same batches (same clips, same questions) through ``mufun.tiny.train.batch_loss``,
backward and an AdamW step, alternating, each from the same starting weights; the script prints
the median seconds a step of each, their ratio, and the largest loss difference (the two must
compute the same thing). A call per sequence builds the 151 936-row embedding gradient once per
sequence; ``mufun.tiny.train.embed_many`` builds it once per batch. ``--bf16`` compares instead
the encoder and connector in float32 and under bfloat16 autocast (``--bf16-encoder`` of
``mufun.tiny.train``), both one splice per batch; their losses then differ by bf16's precision.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mufun.tiny import train as train_tiny  # noqa: E402
from mufun.config import MuFunConfig  # noqa: E402
from mufun.model import MuFunModel  # noqa: E402
from mufun.prompt import load_tokenizer, qwen3_tokenizer_dir  # noqa: E402


def per_sequence(model, items):
    return [model.embed(q, a, t)[0] for q, a, t in items]


def run(steps: int, clips: int, batch: int, bf16: bool = False) -> dict:
    cfg = MuFunConfig.tiny()
    tok = load_tokenizer(str(qwen3_tokenizer_dir()))
    pool = train_tiny.build_pool(clips, 0, cfg, log=lambda s: None)
    if bf16:
        ways = {"encoder float32": (train_tiny.embed_many, False), "encoder bfloat16": (train_tiny.embed_many, True)}
    else:
        ways = {"one splice per batch": (train_tiny.embed_many, False),
                "one splice per sequence": (per_sequence, False)}
    state = {}
    for name in ways:
        torch.manual_seed(0)  # the same starting weights for both
        model, heads = MuFunModel(cfg), train_tiny.probes(cfg)
        model.train()
        opt = torch.optim.AdamW([*model.parameters(), *heads.parameters()], lr=2e-3)
        state[name] = (model, heads, opt)
    times = {name: [] for name in ways}
    gap = 0.0
    pick = np.random.default_rng(1)
    for step in range(steps + 1):  # step 0 warms up
        batch_clips = [train_tiny.sample_clip(pool, pick) for _ in range(batch)]
        q_seed = int(pick.integers(1 << 30))
        losses = []
        for name, (embed, half) in ways.items():
            model, heads, opt = state[name]
            train_tiny.embed_many, saved = embed, train_tiny.embed_many
            try:
                t = time.perf_counter()
                loss, _ = train_tiny.batch_loss(model, batch_clips, np.random.default_rng(q_seed), cfg, tok, heads,
                                                with_acc=False, bf16=half)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                el = time.perf_counter() - t
            finally:
                train_tiny.embed_many = saved
            losses.append(float(loss.detach()))
            if step:
                times[name].append(el)
        gap = max(gap, abs(losses[0] - losses[1]))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    a, b = med.values()
    return {"machine": train_tiny.machine(),
            "steps": steps, "batch": batch, "seconds_per_step": med, "ratio": a / b, "max_loss_gap": gap}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--clips", type=int, default=40, help="synthetic clips to draw batches from")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--bf16", action="store_true", help="compare the encoder in float32 and in bfloat16")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    r = run(a.steps, a.clips, a.batch, a.bf16)
    if a.json:
        print(json.dumps(r))
        return 0
    print(f"{r['machine']}; {r['steps']} steps of {r['batch']} clips, medians")
    for name, s in r["seconds_per_step"].items():
        print(f"  {name}: {s:.3f} s a step")
    print(f"  ratio: {r['ratio']:.3f}x   largest loss difference: {r['max_loss_gap']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
