"""Load benchmark (a script, not a test): N users stream answers from one app at once.

    python scripts/load_bench.py [--engine local,vllm] [--users 1,4,16] [--rounds 2] [--max-new 32] [--url URL]

Without --url it starts ``python app.py`` on a free port for each engine (for vllm, after
``serve-lm``'s own start of a vLLM server on the same checkpoint). Each user is its own
gradio_client session asking about a different example song, a new conversation each round.
Prints, measured in this run on this machine: answers per minute, the median and p95 wait for
the first streamed update, aggregate decode tokens/s, and whether every user got exactly the
answer it gets when asking alone.
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


def start_app(log: Path | None = None, folder: Path = ROOT, poll: float = 0.5,
              **env_extra: str) -> tuple[subprocess.Popen, str]:
    """``python app.py`` of the checkout in ``folder`` on a free port, as a user starts it (the tests
    start theirs here too); asks for its page every ``poll`` seconds until it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MUFUN_PORT": str(port), **env_extra}
    log = log or Path(tempfile.mkdtemp()) / "app.log"
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env, stdout=log.open("w"),
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
            time.sleep(poll)
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


def load(url: str, users: int, rounds: int, max_new: int, solo: dict) -> dict:
    """``users`` fresh sessions asking at once, ``rounds`` answers each; the numbers of that run."""
    from gradio_client import Client

    from mufun.examples import EXAMPLES, FOLDER

    names = list(EXAMPLES)
    jobs = [(str(FOLDER / names[u % len(names)]), EXAMPLES[names[u % len(names)]][1]) for u in range(users)]
    for job in set(jobs) - set(solo):  # each asked alone, in a fresh session
        solo[job] = ask(Client(url, verbose=False), *job, max_new)
    results: list[list[dict]] = [[] for _ in range(users)]

    def user(u: int) -> None:
        for _ in range(rounds):  # a new conversation each round, as a visitor is
            results[u].append(ask(Client(url, verbose=False), *jobs[u], max_new))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = [r for rs in results for r in rs]
    waits = sorted(r["wait_s"] for r in flat)
    tokens = sum(int(r["status"].split(" token")[0]) for r in flat if " token" in r["status"])
    return {"users": users, "answers": len(flat), "wall_s": wall, "per_min": len(flat) / wall * 60,
            "wait_median_s": statistics.median(waits), "wait_p95_s": waits[min(len(waits) - 1, int(0.95 * len(waits)))],
            "decode_tokens_per_s": tokens / wall,
            "same": all(r["answer"] == solo[jobs[u]]["answer"] for u, rs in enumerate(results) for r in rs)}


def main(argv: list[str] | None = None) -> int:
    from mufun.examples import ensure_examples

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="an app already running (one engine); otherwise each engine's app is started")
    p.add_argument("--engine", default="local", help="local, vllm, or local,vllm (measured in one run)")
    p.add_argument("--users", default="4", help="comma-separated user counts, e.g. 1,4,16")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max-new", type=int, default=32)
    p.add_argument("--model", default="tiny", help="the checkpoint both engines serve")
    p.add_argument("--python", default=os.environ.get("MUFUN_VLLM_PYTHON"), help="the vLLM environment's python")
    a = p.parse_args(argv)
    ensure_examples()
    counts = [int(u) for u in a.users.split(",")]
    rows = []
    for engine in a.engine.split(","):
        procs, url = [], a.url
        try:
            if not url:
                env = {"MUFUN_MODEL": a.model}
                if engine == "vllm":
                    server, vurl = start_vllm(a.model, a.python)
                    procs.append((server, "vllm"))
                    env.update(MUFUN_ENGINE="vllm", MUFUN_VLLM_URL=vurl)
                app, url = start_app(**env)
                procs.append((app, "app"))
            solo: dict = {}
            for n in counts:
                r = load(url, n, a.rounds, a.max_new, solo)
                rows.append({"engine": engine, **r})
                print(f"{engine:5s} {n:3d} users: {r['per_min']:7.1f} answers/min, first update median "
                      f"{r['wait_median_s']:.2f} s p95 {r['wait_p95_s']:.2f} s, {r['decode_tokens_per_s']:.0f} "
                      f"tokens/s, own answers: {r['same']}", flush=True)
        finally:
            for proc, kind in reversed(procs):
                stop_process(proc, kind)
    print(f"\n{a.rounds} rounds per user, {a.max_new} new tokens at most, model {a.model}; {machine()}")
    print("| engine | users | answers/min | first update, median | first update, p95 | decode tokens/s | "
          "every user got its own answer |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['users']} | {r['per_min']:.0f} | {r['wait_median_s']:.2f} s | "
              f"{r['wait_p95_s']:.2f} s | {r['decode_tokens_per_s']:.0f} | {r['same']} |")
    return 0 if all(r["same"] for r in rows) else 1


def start_vllm(model: str, python: str | None):
    """``serve-lm``'s own start (export, vLLM, health) on a free port, its log in a temp file."""
    from mufun.config import MuFunConfig
    from mufun.loading import resolve
    from mufun.serve import start
    from mufun.service import served_name

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder, _, _ = resolve(model)
    log = open(Path(tempfile.mkdtemp()) / "vllm.log", "w")
    return start(folder, MuFunConfig.from_json(folder / "config.json"), served_name(folder), port, python, log=log)


def stop_process(proc, kind: str) -> None:
    from mufun.serve import stop

    if kind == "vllm":
        stop(proc)  # its process group: the API server and its engine process
    else:
        proc.terminate()
        proc.wait(30)


def machine() -> str:
    import platform

    import torch

    return f"{platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.__version__}"


if __name__ == "__main__":
    raise SystemExit(main())
