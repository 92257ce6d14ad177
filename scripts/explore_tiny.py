"""Compare MuFun-Tiny training recipes side by side on a GPU (exploring only; the shipped
weights are trained on the CPU with ``python -m mufun.tiny.train``).

    python scripts/explore_tiny.py --out DIR [--clips 3000] [--only A,B]

One clip pool is made once (every core) and shared; each recipe then trains in its own process
(forked before CUDA starts) and is evaluated on fresh clips through the app's path: the usual
kinds, tempo per hit family, the loudness boundary, held-out hit families where a recipe holds
some out, and ``mufun.tiny.exam`` (a generator written apart from training's). Prints one table
and writes ``DIR/results.json``. Each recipe keeps the CPU budget: steps x batch costs no more than
the shipped recipe's 30 minutes on the 2-core machine. The recipes train ``MuFunConfig.tiny()``
as it is now; README's runs A-K were made when its encoder had four heads of 16 (now two of 32).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mufun.config import MuFunConfig  # noqa: E402
from mufun.tiny import synth  # noqa: E402
from mufun.tiny import train as train_tiny  # noqa: E402

SHARES = {"base": {"beat": 0.6, "tone": 0.3, "chord": 0.1}, "tones": {"beat": 0.55, "tone": 0.37, "chord": 0.08},
          "beats": {"beat": 0.62, "tone": 0.33, "chord": 0.05}}
HOLD = ("hihat_open", "pluck")
RECIPES = {
    "A": dict(steps=1400, batch=6, lr=2e-3, shares="base"),
    "B": dict(steps=1900, batch=4, lr=2e-3, shares="tones"),
    "C": dict(steps=1400, batch=6, lr=4e-3, shares="tones"),
    "D": dict(steps=1400, batch=6, lr=2e-3, shares="tones"),
    "E": dict(steps=1900, batch=4, lr=2e-3, shares="tones", hold=HOLD),
    "F": dict(steps=2500, batch=3, lr=2e-3, shares="tones"),
    # second round: more, smaller steps; F again from another seed; F with two families held out
    "G": dict(steps=3400, batch=2, lr=2e-3, shares="tones"),
    "H": dict(steps=2500, batch=3, lr=2e-3, shares="tones", seed=1),
    "I": dict(steps=2500, batch=3, lr=3e-3, shares="tones"),
    "J": dict(steps=2500, batch=3, lr=2e-3, shares="tones", hold=HOLD),
    "K": dict(steps=2500, batch=3, lr=2e-3, shares="beats"),
}


def run(name: str, pool, out: Path, q, device: str, scale: float) -> None:
    try:
        _run(name, pool, out, q, device, scale)
    except BaseException as e:  # the parent waits for every recipe's line
        q.put((name, {"error": repr(e)[:300]}))


def _run(name: str, pool, out: Path, q, device: str, scale: float) -> None:
    import torch
    from mufun.service import MuFunService
    from mufun.tiny import eval as ev
    r = RECIPES[name]
    torch.set_num_threads(2)
    hold = r.get("hold", ())
    log = open(out / f"train_{name}.log", "w")
    t0 = time.perf_counter()
    train_tiny.train(out / name, max(2, int(r["steps"] * scale)), r["batch"], r["lr"], r.get("seed", 0), 0, log=lambda s: print(s, file=log, flush=True),
                     hold_out=hold, device=device, shares=SHARES[r["shares"]], pool=pool)
    train_s = time.perf_counter() - t0
    svc = MuFunService.load(str(out / name))
    res = {"train_s": round(train_s), **{k: v for k, v in r.items() if k != "hold"}, "hold": list(hold)}
    n = max(1, int(40 * scale ** 0.5))
    for group in (ev.evaluate(svc, n, 1000), ev.tempo_by_hit(svc, hold or synth.HITS, max(1, n // 3) if hold else max(1, n // 10), 4000),
                  [ev.loudness_edges(svc, n // 2, 5000)], ev.exam(svc, n + n // 5, 6000)):
        for x in group:
            res[x.kind] = round(x.accuracy, 3)
    q.put((name, res))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--clips", type=int, default=3000)
    p.add_argument("--only", default="")
    p.add_argument("--device", default="cuda")
    p.add_argument("--scale", type=float, default=1.0, help="steps and eval sizes times this (a smoke test)")
    p.add_argument("--wait", type=float, default=480, help="seconds to wait for the recipes")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    names = [n for n in RECIPES if not a.only or n in a.only.split(",")]
    t0 = time.perf_counter()
    # the pool holds every family at the larger share any recipe draws it with
    most = {f: max(s[f] for s in SHARES.values()) for f in synth.FAMILY_KINDS}
    pool = train_tiny.build_pool(a.clips, 0, MuFunConfig.tiny(), log=print,
                                 shares={f: v / sum(most.values()) for f, v in most.items()})
    print(f"pool: {sum(map(len, pool.values()))} clips in {time.perf_counter() - t0:.0f} s", flush=True)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=run, args=(n, pool, a.out, q, a.device, a.scale)) for n in names]
    for pr in procs:
        pr.start()
    results = {}
    import queue
    for _ in procs:
        try:
            name, res = q.get(timeout=max(1, a.wait - (time.perf_counter() - t0)))
        except queue.Empty:
            print("out of time; unfinished:", [n for n in names if n not in results], flush=True)
            break
        results[name] = res
        print(name, json.dumps(res), flush=True)
        (a.out / "results.json").write_text(json.dumps(results, indent=1))
    for pr in procs:
        pr.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
