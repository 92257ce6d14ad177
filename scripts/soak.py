"""Soak (a script, not a test): many answers from fresh sessions against one app, watching its
memory and the files it leaves on disk.

    python scripts/soak.py [--answers 2200] [--warmup 200] [--users 4] [--every 200] [--url URL --pid PID]
                           [--tracemalloc]

Without --url it starts ``python app.py`` on a free port with its own temp and gradio folders (so
the app's files can be measured alone). Each answer comes from a new gradio_client session asking
about one of the examples (the 45 s song among them, so layouts are large), as visitors do.
Every --every answers it prints the app's RSS and the bytes and files in the app's trace folder
and gradio's cache, and at the end the growth per 1,000 answers after the warm-up. ``--tracemalloc`` (finding where
memory goes; slows the app) traces the app's Python allocations from its start and prints the
allocation sites that grew most between the end of the warm-up and the end.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk(folders: list[Path]) -> tuple[float, int]:
    """(MB, files) under ``folders``."""
    size, n = 0, 0
    for f in folders:
        for p in f.rglob("*") if f.exists() else ():
            if p.is_file():
                try:
                    size += p.stat().st_size
                    n += 1
                except OSError:
                    pass
    return size / 2**20, n


# loaded by the app's interpreter (``--tracemalloc``): the first SIGUSR1 starts tracing its Python
# allocations (tracing from the start would slow the imports past start_app's patience), each
# later one writes a snapshot of those still alive
_SITE = """import itertools, os, signal, tracemalloc
_n = itertools.count()
def _dump(sig, frame):
    k = next(_n)
    if k == 0:
        tracemalloc.start(int(os.environ.get("MUFUN_SOAK_FRAMES", "8")))
    else:
        tracemalloc.take_snapshot().dump(os.path.join(os.environ["MUFUN_SOAK_SNAPSHOTS"], f"{k}.tmp"))
        os.rename(os.path.join(os.environ["MUFUN_SOAK_SNAPSHOTS"], f"{k}.tmp"),
                  os.path.join(os.environ["MUFUN_SOAK_SNAPSHOTS"], f"{k}.snap"))
signal.signal(signal.SIGUSR1, _dump)
"""


def snapshot(pid: int, folder: Path, timeout: float = 120):
    """Ask the app (started with ``--tracemalloc``) for a snapshot of its Python allocations."""
    import tracemalloc

    before = set(folder.glob("*.snap"))
    os.kill(pid, signal.SIGUSR1)
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = set(folder.glob("*.snap")) - before
        if new:
            return tracemalloc.Snapshot.load(str(new.pop()))
        time.sleep(0.5)
    raise RuntimeError("the app wrote no tracemalloc snapshot")


def grown(snap, top: int = 12) -> None:
    """The allocation sites holding the most memory made since tracing started."""
    stats = snap.statistics("traceback")
    total = sum(st.size for st in stats)
    print(f"\nPython allocations made after the warm-up and still alive: {total / 2**20:.1f} MB; largest:")
    for st in stats[:top]:
        print(f"  {st.size / 2**20:7.2f} MB  {st.count:7d} blocks")
        for line in st.traceback.format()[-8:]:
            print("      " + line)


def main(argv: list[str] | None = None) -> int:
    from gradio_client import Client, handle_file

    from load_bench import start_app
    from mufun.examples import EXAMPLES, FOLDER, ensure_examples

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--answers", type=int, default=2200)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--users", type=int, default=4, help="concurrent sessions")
    p.add_argument("--every", type=int, default=200)
    p.add_argument("--max-new", type=int, default=16)
    p.add_argument("--url")
    p.add_argument("--pid", type=int, help="the app's process id, with --url")
    p.add_argument("--tracemalloc", action="store_true", help="trace the app's Python allocations (slower)")
    a = p.parse_args(argv)
    ensure_examples()
    names = list(EXAMPLES)
    work = Path(tempfile.mkdtemp(prefix="mufun-soak-"))
    proc = None
    if a.url:
        url, pid, folders = a.url, a.pid, []
    else:
        (work / "tmp").mkdir()
        (work / "gradio").mkdir()
        extra = {}
        if a.tracemalloc:
            (work / "site").mkdir()
            (work / "site" / "sitecustomize.py").write_text(_SITE)
            (work / "snaps").mkdir()
            extra = {"PYTHONPATH": os.pathsep.join([str(work / "site"), os.environ.get("PYTHONPATH", "")]),
                     "MUFUN_SOAK_SNAPSHOTS": str(work / "snaps")}
        proc, url = start_app(work / "app.log", TMPDIR=str(work / "tmp"), GRADIO_TEMP_DIR=str(work / "gradio"), **extra)
        pid, folders = proc.pid, [work / "tmp", work / "gradio"]
    done, started, lock, errors = [0], [0], threading.Lock(), []
    rows = []
    tracing = threading.Event()

    def sample() -> None:
        mb, files = disk(folders)
        rows.append((done[0], rss_mb(pid), mb, files))
        print(f"{done[0]:6d} answers  RSS {rows[-1][1]:7.1f} MB  app files {mb:7.2f} MB in {files} files", flush=True)

    def user(k: int) -> None:
        while True:
            with lock:
                if started[0] >= a.answers:
                    return
                i = started[0]
                started[0] += 1
            name = names[(i + k) % len(names)]
            try:
                _, status, *_ = Client(url, verbose=False).predict(
                    [handle_file(str(FOLDER / name))], "", EXAMPLES[name][1], a.max_new, 0, 0, 1, -1, api_name="/ask")
                if "stop:" not in status:
                    errors.append(status)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e)[:200])
            with lock:
                done[0] += 1
                if done[0] % a.every == 0 or done[0] == a.warmup:
                    sample()
                if a.tracemalloc and done[0] == a.warmup:
                    os.kill(pid, signal.SIGUSR1)  # start tracing
                    tracing.set()

    sample()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(k,)) for k in range(a.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if not rows or rows[-1][0] != done[0]:
        sample()
    after = [r for r in rows if r[0] >= a.warmup]
    first, last = after[0], after[-1]
    per_k = 1000 / max(1, last[0] - first[0])
    print(f"\n{done[0]} answers in {wall / 60:.1f} min from fresh sessions, {a.users} at once, {len(errors)} errors")
    print(f"after the warm-up of {first[0]}: RSS {first[1]:.0f} -> {last[1]:.0f} MB "
          f"({(last[1] - first[1]) * per_k:+.1f} MB per 1,000 answers, {last[1] - first[1]:+.1f} MB in all); "
          f"peak RSS {max(r[1] for r in rows):.0f} MB")
    print(f"app files: {first[2]:.2f} -> {last[2]:.2f} MB, {first[3]} -> {last[3]} files "
          f"(max {max(r[2] for r in rows):.2f} MB, {max(r[3] for r in rows)} files)")
    for e in errors[:5]:
        print("  error:", e)
    if tracing.is_set():
        grown(snapshot(pid, work / "snaps"))
    if proc:
        proc.terminate()
        proc.wait(30)
        left = list((work / "tmp").glob("mufun-traces-*"))
        print(f"after the app exited: {len(left)} trace folders left in its temp folder")
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
