"""Average the weights of MuFun-Tiny training runs, tensor by tensor (a "model soup").

    python -m mufun.tiny.average --out DIR RUN RUN [RUN ...]

An exploring tool, not part of the recipe (README "Late cuts on L's own pool"): two runs that share
their first half (the same main run up to its midpoint, then each its own draws) average into
weights that answer the exam better than either; runs that share no first half (other seeds, or
other bits of the CPU libraries) land in different places, and their average answers far worse
than either (some kinds at chance).
Every run must have the same shape (config.json); the average is written in the released layout,
as a training run writes it (bfloat16, one shard, the Qwen3 tokenizer files).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mufun.checkpoint import INDEX, CheckpointError, save
from mufun.config import MuFunConfig
from mufun.errors import UserError, for_user
from mufun.model import MuFunModel
from mufun.prompt import qwen3_tokenizer_dir
from mufun.tiny.train import load_weights


def shape_of(folder: Path) -> MuFunConfig:
    """The config a run saved, refused in our words when it is missing or unreadable."""
    path = Path(folder) / "config.json"
    try:
        return MuFunConfig.from_json(path)
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{Path(folder).name}: no readable config.json: not a run's saved weights") from None


def average(runs: list[Path], out: Path) -> Path:
    """The mean of every weight of ``runs`` (accumulated in float64), saved to ``out``."""
    if len(runs) < 2:
        raise UserError("give two runs or more to average")
    cfgs = [shape_of(r) for r in runs]
    same = [{k: v for k, v in c.to_dict().items() if k != "mufun_name"} for c in cfgs]
    for r, s in zip(runs[1:], same[1:]):
        if s != same[0]:
            raise CheckpointError(f"{Path(r).name} has another shape than {Path(runs[0]).name} (config.json "
                                  f"differs): only runs of one shape can be averaged")
    total: dict[str, torch.Tensor] = {}
    for r, cfg in zip(runs, cfgs):
        for k, v in load_weights(r, cfg).state_dict().items():
            total[k] = total[k] + v.double() if k in total else v.double()
    model = MuFunModel(cfgs[0])
    model.load_state_dict({k: v / len(runs) for k, v in total.items()})
    model.language_model.tie_weights()
    return save(model, cfgs[0], out, qwen3_tokenizer_dir(), shards=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mufun.tiny.average", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="a new folder for the averaged weights")
    p.add_argument("runs", type=Path, nargs="+", help="folders a training run saved (two or more)")
    a = p.parse_args(argv)
    if a.out.resolve() in {r.resolve() for r in a.runs}:
        p.error("--out must not be one of the runs (it would overwrite their weights)")
    if (a.out / INDEX).exists():
        p.error(f"--out: {a.out.name} already holds weights; give a new folder")
    try:
        out = average(a.runs, a.out)
    except UserError as e:  # in our words, without the server's paths, as the CLI says it
        print(f"error: {for_user(e)}", file=sys.stderr)
        return 2
    print(f"averaged {len(a.runs)} runs into {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
