"""Load benchmark (a script, not a test): N users stream answers from one app at once.

    python scripts/load_bench.py [--url http://127.0.0.1:7860/] [--users 4] [--rounds 2] [--max-new 32]

Without --url it starts ``python app.py`` on a free port. Each user is its own gradio_client
session asking about a different example song. Prints, measured in this run: total throughput,
each request's wait (submit -> first streamed update) and duration, and whether every user got
exactly the answer it gets when asking alone.
"""
from __future__ import annotations

import argparse
import html
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_app(log: Path | None = None, **env_extra: str) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port, as a user starts it (the tests start theirs here too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MUFUN_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", **env_extra}
    log = log or Path(tempfile.mkdtemp()) / "app.log"
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start: " + log.read_text())


def ask(client, song: str, question: str, max_new: int) -> dict:
    from gradio_client import handle_file

    t0 = time.perf_counter()
    job = client.submit([handle_file(song)], "", question, max_new, 0, 0, 1, -1, api_name="/ask")
    first = None
    while not job.done():
        if first is None and len(job.outputs()) > 0:
            first = time.perf_counter()
        time.sleep(0.01)
    chat, status, *_ = job.result()
    end = time.perf_counter()
    return {"answer": html.unescape(chat[-1]["content"][0]["text"]) if chat else "", "status": status,
            "wait_s": (first or end) - t0, "total_s": end - t0, "updates": len(job.outputs())}


def main(argv: list[str] | None = None) -> int:
    from gradio_client import Client

    from mufun.examples import EXAMPLES, FOLDER, ensure_examples

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max-new", type=int, default=32)
    a = p.parse_args(argv)
    ensure_examples()
    proc = None
    url = a.url
    if not url:
        proc, url = start_app()
    try:
        names = list(EXAMPLES)
        jobs = [(str(FOLDER / names[u % len(names)]), EXAMPLES[names[u % len(names)]][1]) for u in range(a.users)]
        solo = {}  # each asked alone, in a fresh session (a session keeps its chat history)
        for song, q in set(jobs):
            solo[(song, q)] = ask(Client(url, verbose=False), song, q, a.max_new)
        results: list[list[dict]] = [[] for _ in range(a.users)]

        def user(u: int) -> None:
            for _ in range(a.rounds):  # a new conversation each round, as a user pressing Clear
                results[u].append(ask(Client(url, verbose=False), *jobs[u], a.max_new))

        t0 = time.perf_counter()
        threads = [threading.Thread(target=user, args=(u,)) for u in range(a.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        flat = [r for rs in results for r in rs]
        same = all(r["answer"] == solo[jobs[u]]["answer"] for u, rs in enumerate(results) for r in rs)
        solo_s = statistics.mean(r["total_s"] for r in solo.values())
        print(f"{a.users} users x {a.rounds} rounds, {a.max_new} new tokens each, one model queue")
        print(f"throughput: {len(flat) / wall * 60:.1f} answers/min ({wall:.1f} s wall); one answer alone takes "
              f"{solo_s:.2f} s, so {len(flat)} in sequence would take {solo_s * len(flat):.1f} s")
        waits = sorted(r["wait_s"] for r in flat)
        print(f"wait before the first update: median {statistics.median(waits):.2f} s, max {waits[-1]:.2f} s")
        for u, rs in enumerate(results):
            waits_u = ", ".join(f"{r['wait_s']:.2f}" for r in rs)
            totals_u = ", ".join(f"{r['total_s']:.2f}" for r in rs)
            print(f"  user {u + 1}: waits {waits_u} s; totals {totals_u} s; {sum(r['updates'] for r in rs)} updates")
        print(f"every user got exactly its own answer: {same}")
        return 0 if same else 1
    finally:
        if proc:
            proc.terminate()


if __name__ == "__main__":
    raise SystemExit(main())
