"""How long ``python app.py`` takes to serve: process start to the first page (a script, not a test).

    python scripts/start_bench.py [--starts 3] [--against DIR] [--json]

Starts the app as a user does (the embedded model, 127.0.0.1, a free port; offline, as the
embedded model needs no network: starts with the network allowed measured the same here), fetches
``/`` until it answers, and stops it; ``--starts`` times. ``--against DIR`` starts the app of
another checkout (an older commit, say) alternately with this one, so both meet the machine's same
moments, and prints the ratio of their medians measured in this run. This machine's speed moves by
a fifth between days, so compare only numbers from one run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_bench import ROOT, start_app  # noqa: E402


def time_start(folder: Path) -> float:
    """Seconds from starting ``python app.py`` in ``folder`` to its first page."""
    t0 = time.perf_counter()
    try:
        proc, _ = start_app(folder=folder, poll=0.05, HF_HUB_OFFLINE="1")
    except RuntimeError:  # its log is the app's own; the script says which checkout failed
        raise SystemExit(f"the app in {folder.name} did not serve") from None
    seconds = time.perf_counter() - t0
    proc.terminate()
    proc.wait()
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--against", type=Path, default=None, help="another checkout, started alternately")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.starts < 1:
        p.error("--starts must be 1 or more")
    if a.against is not None and not (a.against / "app.py").is_file():
        p.error(f"--against: {a.against.name or a.against} holds no app.py")
    folders = {"this": ROOT, **({"against": a.against.resolve()} if a.against else {})}
    times: dict[str, list[float]] = {k: [] for k in folders}
    for _ in range(a.starts):
        for name, folder in folders.items():
            times[name].append(time_start(folder))
    out = {k: {"seconds": [round(x, 2) for x in v], "median": round(statistics.median(v), 2)} for k, v in times.items()}
    if a.against:
        out["against_over_this"] = round(out["against"]["median"] / out["this"]["median"], 2)
    if a.json:
        print(json.dumps(out))
    else:
        for name, r in out.items():
            if isinstance(r, dict):
                print(f"{name}: {' '.join(f'{x:.2f}' for x in r['seconds'])} s (median {r['median']:.2f} s)")
        if a.against:
            print(f"against / this: {out['against_over_this']:.2f}x (medians, one run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
