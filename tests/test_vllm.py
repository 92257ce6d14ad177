"""End to end on a real vLLM server (``serve-lm``'s own start) serving the embedded model's
decoder, fed the embeddings mufun splices: the same greedy answers as the local engine, the same
top probabilities, concurrent app users each getting their own answer, Stop freeing the slot.

The vLLM environment is made by scripts/test.sh (scripts/install_vllm.sh, cached)."""
from __future__ import annotations

import os
import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VLLM_PY = os.environ.get("MUFUN_VLLM_PYTHON") or str(Path.home() / ".cache" / "mufun-vllm" / "bin" / "python")
pytestmark = pytest.mark.skipif(not Path(VLLM_PY).exists(),
                                reason="no vLLM environment (scripts/test.sh makes one with scripts/install_vllm.sh)")


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory):
    from conftest import free_port

    from mufun.config import MuFunConfig
    from mufun.loading import resolve
    from mufun.serve import start, stop
    from mufun.service import served_name

    folder, _, _ = resolve("tiny")
    log = open(tmp_path_factory.mktemp("vllm") / "vllm.log", "w")
    proc, url = start(folder, MuFunConfig.from_json(folder / "config.json"), served_name(folder), free_port(),
                      VLLM_PY, log=log)
    yield url
    stop(proc)
    assert proc.poll() is not None  # stopped cleanly, engine process included


@pytest.fixture(scope="module")
def remote(vllm_url):
    from mufun.service import MuFunService

    return MuFunService.load("tiny", engine="vllm", vllm_url=vllm_url)


def _answer(svc, turns, clips, sampling):
    from mufun.generate import Done, Step

    steps, done = [], None
    for ev in svc.ask(turns, clips, sampling):
        if isinstance(ev, Step):
            steps.append(ev)
        elif isinstance(ev, Done):
            done = ev
    return steps, done


def test_the_app_holds_no_decoder_with_vllm(remote, service):
    lm = remote.loaded.model.language_model
    assert len(lm.model.layers) == 0 and len(service.loaded.model.language_model.model.layers) > 0
    d = remote.engine.describe()
    assert d["engine"] == "vllm" and d["dtype"] == "float32" and d["max_model_len"] == remote.cfg.context_limit


@pytest.mark.parametrize("case", ["one song", "two songs", "a segment", "multi-turn"])
def test_greedy_answers_and_top_probabilities_match_the_local_engine(remote, service, case):
    from mufun.examples import FOLDER, ensure_examples
    from mufun.generate import Sampling
    from mufun.pipeline import SongInput
    from mufun.prompt import Turn

    ensure_examples()
    beat, note = str(FOLDER / "beat-120bpm.wav"), str(FOLDER / "a4-sine.wav")
    songs, turns = {
        "one song": ([SongInput(note)], [Turn("Which note is played?")]),
        "two songs": ([SongInput(beat), SongInput(note)],
                      [Turn("<audio> is a beat and <audio> a note. What is the tempo of the first?")]),
        "a segment": ([SongInput(beat, (2.0, 14.0))], [Turn("What is the tempo of this clip?")]),
        "multi-turn": ([SongInput(note)], [Turn("Which note is played?", "The note is A4."),
                                           Turn("What waveform is this?")]),
    }[case]
    s = Sampling(max_new_tokens=24, top_logits=5)
    clips = service.clips(songs)
    a_steps, a = _answer(service, turns, clips, s)
    b_steps, b = _answer(remote, turns, clips, s)
    assert b.ids == a.ids and b.text == a.text and b.stop_reason == a.stop_reason, (a.text, b.text)
    for x, y in zip(a_steps, b_steps):
        px, py = dict(x.top), dict(y.top)
        for tid in set(px) & set(py):
            assert abs(px[tid] - py[tid]) < 1e-4
        assert x.top[0][0] == y.top[0][0]


def test_eight_app_users_at_once_each_get_their_own_answer(vllm_url, tmp_path):
    from gradio_client import Client, handle_file

    from conftest import start_app
    from mufun.examples import EXAMPLES, FOLDER, ensure_examples

    ensure_examples()
    names = [list(EXAMPLES)[k % len(EXAMPLES)] for k in range(8)]
    local, lurl = start_app(tmp_path / "local.log")
    app, url = start_app(tmp_path / "vllm-app.log", MUFUN_ENGINE="vllm", MUFUN_VLLM_URL=vllm_url)
    try:
        def ask(base, name):
            chat, status, *_ = Client(base, verbose=False).predict(
                [handle_file(str(FOLDER / name))], "", EXAMPLES[name][1], 24, 0, 0, 1, -1, api_name="/ask")
            return chat[-1]["content"][0]["text"], status

        alone = {n: ask(lurl, n)[0] for n in set(names)}  # the local engine, one at a time
        got: dict[int, tuple[str, str]] = {}
        threads = [threading.Thread(target=lambda k=k: got.__setitem__(k, ask(url, names[k]))) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        for k, n in enumerate(names):
            text, status = got[k]
            assert "stop:" in status and text == alone[n], (n, text, alone[n])
    finally:
        for p in (app, local):
            p.terminate()
            p.wait(30)


def _running(url: str) -> float:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    m = re.search(r"^vllm:num_requests_running\{[^}]*\} ([0-9.]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_stop_frees_the_slot_on_the_server(remote, service, vllm_url):
    from mufun.generate import Done, Sampling, Step
    from mufun.prompt import Turn

    clips = service.clips([__import__("mufun.pipeline", fromlist=["SongInput"]).SongInput(
        str(ROOT / "assets" / "examples" / "a4-sine.wav"))])
    seen, peak = [], 0.0
    s = Sampling(max_new_tokens=1500, temperature=2.0, seed=1)  # a long, random answer
    for ev in remote.ask([Turn("Which note is played?")], clips, s, should_stop=lambda: len(seen) >= 5):
        if isinstance(ev, Step):
            seen.append(ev)
            peak = max(peak, _running(vllm_url))
        elif isinstance(ev, Done):
            assert ev.stop_reason == "cancelled" and len(ev.ids) == 5
    assert peak >= 1  # the request was running on the server
    deadline = time.time() + 10
    while _running(vllm_url) and time.time() < deadline:
        time.sleep(0.2)
    assert _running(vllm_url) == 0  # Stop aborted it there: the slot is free
