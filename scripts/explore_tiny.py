"""Compare MuFun-Tiny training recipes side by side on a GPU (exploring only; the shipped
weights are trained on the CPU with ``python -m mufun.tiny.train``).

    python scripts/explore_tiny.py --out DIR [--clips 3000] [--only A,B]

One clip pool is made once (every core) and shared; each recipe then trains in its own process
(forked before CUDA starts) and is evaluated on fresh clips through the app's path: the usual
kinds, tempo per hit family, the loudness boundary, held-out hit families where a recipe holds
some out, and ``mufun.tiny.exam`` (a generator written apart from training's). Recipes
marked ``settle`` (the third and fourth rounds) run the whole recipe, main run and settling
(settling's clips made once too), and are asked the larger sets of README's tables: the third
round the held-out families, the exam's tempo at 128 and its other kinds at 64, and 100 v2 tempos;
the fourth 200 v2 tempos and the same exam. Prints each recipe's results as
each set ends and writes ``DIR/results.json``. Each recipe keeps the CPU budget: steps x batch
costs no more than the shipped recipe's 30 minutes on the 2-core machine. The recipes train
``MuFunConfig.tiny()`` as it is now; README's runs A-K were made when its encoder had four heads of 16 (now two of 32).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import replace
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
    # third round (the whole shipped recipe, main run and settling, two families held out, two
    # seeds each): LT's recipe; half the beat clips with one or two mel bands blanked
    # while training (train.FREQ_MASK); the onset probe weighed 3x (onset_weight)
    **{f"{k}{seed}": dict(steps=2900, batch=3, lr=2e-3, shares="tones", hold=HOLD, seed=seed, settle=True, **kw)
       for k, kw in (("LT", {}), ("FM", {"fmask": 0.5}), ("ON", {"onset": 3.0})) for seed in (0, 1)},
    # fourth round (every family, seeds 2-5, asked 200 v2 tempos and the exam): does the LLM read
    # the rows better when each row is told the label harder (train.ROW_WEIGHT 2) or when its
    # decoder layers learn faster than the rest (train(lm_lr_scale=2 or 4))? LT's recipe beside them
    **{f"{k}{seed}": dict(steps=2900, batch=3, lr=2e-3, shares="tones", seed=seed, settle=True, round=4, **kw)
       for k, kw in (("R4LT", {}), ("RW", {"row": 2.0}), ("LM", {"lm_lr": 2.0}), ("LMq", {"lm_lr": 4.0}))
       for seed in (2, 3, 4, 5)},
}


def run(name: str, pools, out: Path, q, device: str, scale: float) -> None:
    try:
        _run(name, pools, out, q, device, scale)
    except BaseException as e:  # the parent waits for every recipe's line
        q.put((name, {"error": repr(e)[:300]}))


def _run(name: str, pools, out: Path, q, device: str, scale: float) -> None:
    import torch
    from mufun.service import MuFunService
    from mufun.tiny import eval as ev
    r = RECIPES[name]
    torch.set_num_threads(2)
    train_tiny.FREQ_MASK = r.get("fmask", 0.0)
    train_tiny.ROW_WEIGHT = r.get("row", 1.0)
    hold = r.get("hold", ())
    log = open(out / f"train_{name}.log", "w")
    t0 = time.perf_counter()
    pool, settle_pool = pools
    train_tiny.train(out / name, max(2, int(r["steps"] * scale)), r["batch"], r["lr"], r.get("seed", 0), 0,
                     log=lambda s: print(s, file=log, flush=True), hold_out=hold, device=device,
                     shares=SHARES[r["shares"]], pool=pool,
                     settle_steps=max(2, int(train_tiny.SETTLE_STEPS * scale)) if r.get("settle") else 0, settle_pool=settle_pool,
                     onset_weight=r.get("onset", train_tiny.ONSET_WEIGHT), lm_lr_scale=r.get("lm_lr", 1.0))
    train_s = time.perf_counter() - t0
    svc = MuFunService.load(str(out / name))
    res = {"train_s": round(train_s), **{k: v for k, v in r.items() if k != "hold"}, "hold": list(hold)}
    n = lambda k: max(1, int(k * scale ** 0.5))  # noqa: E731  (a set's size at this scale)
    if r.get("round") == 4:  # the reading of the rows: README's v2 tempos and the exam
        groups = (lambda: [replace(x, kind="v2 tempo") for x in ev.evaluate(svc, n(200), 4242, kinds=("tempo",))],
                  lambda: ev.exam(svc, n(128), 9000, kinds=("tempo",)),
                  lambda: ev.exam(svc, n(64), 9000, kinds=("note", "timbre", "loudness")))
    elif r.get("settle"):  # the whole recipe: the larger sets that tell recipes apart (README's tables)
        groups = (lambda: ev.tempo_by_hit(svc, hold or synth.HITS, n(20), 4000),
                  lambda: ev.exam(svc, n(128), 9000, kinds=("tempo",)),
                  lambda: ev.exam(svc, n(64), 9000, kinds=("note", "timbre", "loudness")),
                  lambda: [replace(x, kind="v2 tempo") for x in ev.evaluate(svc, n(100), 4242, kinds=("tempo",))])
    else:
        n0 = max(1, int(40 * scale ** 0.5))
        groups = (lambda: ev.evaluate(svc, n0, 1000),
                  lambda: ev.tempo_by_hit(svc, hold or synth.HITS, max(1, n0 // 3) if hold else max(1, n0 // 10), 4000),
                  lambda: [ev.loudness_edges(svc, n0 // 2, 5000)], lambda: ev.exam(svc, n0 + n0 // 5, 6000))
    for group in groups:
        for x in group():
            res[x.kind] = f"{x.correct}/{x.total}" if r.get("settle") else round(x.accuracy, 3)
        res["done_s"] = round(time.perf_counter() - t0)
        q.put((name, dict(res)))  # every group as it ends: a run cut off still reports what it had
    q.put((name, None))


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
    settle_pool = None
    # settling's clips (seed 0's), made once by worker processes: the parent must not run torch's thread pool before it forks the
    # recipes (a forked child would hang in its first op)
    settling = [n for n in names if RECIPES[n].get("settle")]
    if settling:  # beats never on a family every settling recipe holds out
        held = set.intersection(*(set(RECIPES[n].get("hold", ())) for n in settling))
        n_settle = max(16, int(train_tiny.SETTLE_CLIPS * min(1.0, a.clips / 3000)))
        settle_pool = train_tiny.build_pool(n_settle, train_tiny.SETTLE_SEED,
                                            MuFunConfig.tiny(), print, tuple(h for h in synth.HITS if h not in held),
                                            None, train_tiny.SETTLE_SHARE, train_tiny.SETTLE)
        print(f"settling pool in {time.perf_counter() - t0:.0f} s", flush=True)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=run, args=(n, (pool, settle_pool), a.out, q, a.device, a.scale)) for n in names]
    for pr in procs:
        pr.start()
    results, left = {}, set(names)
    import queue
    while left:
        try:
            name, res = q.get(timeout=max(1, a.wait - (time.perf_counter() - t0)))
        except queue.Empty:
            print("out of time; unfinished:", sorted(left), flush=True)
            break
        if res is None or "error" in res:
            left.discard(name)
        if res is not None:
            results[name] = res
            print(name, json.dumps(res), flush=True)
            (a.out / "results.json").write_text(json.dumps(results, indent=1))
    for pr in procs:
        pr.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
