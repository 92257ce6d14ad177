"""Where does a MuFun-Tiny checkpoint keep the tempo? Linear probes on its audio rows.

    python scripts/row_probe.py [--model assets/mufun-tiny] [--train 600] [--test 200] [--answers]

Beat tracks from ``mufun.tiny.train.make_example`` (seed 777, tempos balanced) go through the app's
encoder path (``MuFunModel.encode_audio``); only the rows that hold real audio are kept. One
linear probe is fitted on the *mean* of each clip's rows, another on *single rows* (each row
labelled with its clip's tempo); both are scored on the held-out clips. A high mean score with a
low single-row score means the tempo is spread over the rows rather than readable from any one.
``--answers`` also asks the model the tempo of each held-out clip through the app's path (the LLM
reading the same rows): an answer score well under the mean probe's would put the limit in the
reading, a close one in the encoder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mufun.tiny import synth  # noqa: E402
from mufun.service import MuFunService  # noqa: E402
from mufun.tiny.eval import ask  # noqa: E402
from mufun.tiny.train import make_example, real_rows  # noqa: E402


def rows_of(svc: MuFunService, n: int, rng: np.random.Generator):
    labels = synth.LABELS["tempo"]
    means, ys, rows, row_ys, clips = [], [], [], [], []
    for i in range(n):
        ex = make_example("beat", rng, svc.cfg, tempo=labels[i % len(labels)])
        r = svc.loaded.model.encode_audio(ex.features.float()).reshape(-1, svc.cfg.hidden_size).float()
        r = r[:real_rows(ex, svc.cfg.tokens_per_chunk)]
        y = labels.index(ex.labels["tempo"])
        means.append(r.mean(0))
        ys.append(y)
        rows.append(r)
        row_ys.append(torch.full((len(r),), y))
        clips.append(ex.clip)
    return torch.stack(means), torch.tensor(ys), torch.cat(rows), torch.cat(row_ys), clips


def fit(x: torch.Tensor, y: torch.Tensor, classes: int, steps: int = 500):
    mu, sd = x.mean(0), x.std(0) + 1e-6
    lin = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(lin.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(lin((x - mu) / sd), y).backward()
        opt.step()
    return lambda z: lin((z - mu) / sd).argmax(-1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="assets/mufun-tiny")
    p.add_argument("--train", type=int, default=600)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--answers", action="store_true", help="also ask the model the held-out clips' tempo")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    svc = MuFunService.load(a.model)
    rng = np.random.default_rng(777)
    tr, te = rows_of(svc, a.train, rng), rows_of(svc, a.test, rng)
    k = len(synth.LABELS["tempo"])
    on_mean, on_row = fit(tr[0], tr[1], k), fit(tr[2], tr[3], k)
    with torch.no_grad():
        mean_acc = float((on_mean(te[0]) == te[1]).float().mean())
        row_acc = float((on_row(te[2]) == te[3]).float().mean())
    print(f"{a.model}: tempo from the mean of a clip's rows {mean_acc:.1%}, from single rows {row_acc:.1%} "
          f"({a.test} held-out beat tracks; chance {1 / k:.0%})")
    if a.answers:
        labels = synth.LABELS["tempo"]
        said = [synth.read_label("tempo", ask(svc, c, synth.QUESTIONS["tempo"][i % len(synth.QUESTIONS["tempo"])]))
                for i, c in enumerate(te[4])]
        right = sum(s == labels[int(y)] for s, y in zip(said, te[1]))
        print(f"{a.model}: the model's answers name the tempo of {right} of {a.test} ({right / a.test:.1%}); "
              f"the mean probe {round(mean_acc * a.test)} of them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
