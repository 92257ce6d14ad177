"""P11: a server that runs for weeks keeps bounded state and files. Against a running app with
short limits: an idle conversation expires and its user is told so, a live one keeps its history;
traces beyond the limit are removed, gradio's cached files expire, and the app's trace folder is
gone after it exits."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SONG = str(ROOT / "assets" / "examples" / "a4-sine.wav")


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """An app that forgets a conversation idle for 3 s, keeps 3 traces and cached files for 4 s."""
    from conftest import start_app
    from mufun.examples import ensure_examples

    ensure_examples()
    d = tmp_path_factory.mktemp("limits")
    (d / "tmp").mkdir()
    (d / "gradio").mkdir()
    proc, url = start_app(d / "app.log", MUFUN_IDLE_S="3", MUFUN_TRACES="3", MUFUN_FILES_S="4",
                          TMPDIR=str(d / "tmp"), GRADIO_TEMP_DIR=str(d / "gradio"))
    yield proc, url, d
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def _ask(client, question, chat=None):
    from gradio_client import handle_file

    args = [[handle_file(SONG)], "", question, 4, 0, 0, 1, -1] + ([chat] if chat is not None else [])
    chat, status, *_ = client.predict(*args, api_name="/ask")
    return chat, status


def test_an_idle_conversation_expires_with_a_message_and_a_live_one_keeps_its_history(short_lived):
    from gradio_client import Client

    _, url, _ = short_lived
    live, idle = Client(url, verbose=False), Client(url, verbose=False)
    chat_i, _ = _ask(idle, "Which note is played?")
    chat_l, _ = _ask(live, "Which note is played?")
    for k in range(3):  # the live user keeps talking, every 1.5 s, past the idle limit
        time.sleep(1.5)
        chat_l, status = _ask(live, f"And again ({k})?", chat_l)
        assert "stop:" in status
    assert len(chat_l) == 8  # four turns remembered
    chat_i2, status = _ask(idle, "Which waveform?", chat_i)  # 4.5 s idle: forgotten, and told so
    assert "no longer remembers this conversation" in status and "Press Clear" in status
    assert chat_i2 == chat_i  # nothing half-added
    chat_new, status = _ask(idle, "Which note is played?", [])  # after Clear it works again
    assert "stop:" in status and len(chat_new) == 2


def test_traces_and_cached_files_are_bounded_and_the_folder_goes_with_the_app(short_lived):
    from gradio_client import Client

    proc, url, d = short_lived
    for k in range(5):
        _ask(Client(url, verbose=False), "Which note is played?")
    (folder,) = list((d / "tmp").glob("mufun-traces-*"))
    assert len(list(folder.glob("trace-*.json"))) <= 3
    cached = lambda: [p for p in (d / "gradio").rglob("*") if p.is_file()]  # noqa: E731
    assert cached()
    time.sleep(13)  # older than 4 s, and two 4 s sweeps have run since
    assert len(cached()) == 0
    proc.send_signal(signal.SIGTERM)  # how a Space or a service manager stops it
    proc.wait(30)
    assert not folder.exists() and not list((d / "tmp").glob("mufun-traces-*"))


def test_limits_come_from_the_environment_in_our_words():
    from mufun.errors import UserError
    from mufun.serving import Limits

    assert Limits.from_env({"MUFUN_SESSIONS": "50", "MUFUN_IDLE_S": "60"}) == Limits(50, 60, 3600, 200, 500)
    with pytest.raises(UserError, match="MUFUN_TRACES='many': give a whole number"):
        Limits.from_env({"MUFUN_TRACES": "many"})
    with pytest.raises(UserError, match="at least 1"):
        Limits.from_env({"MUFUN_SESSIONS": "0"})


def test_the_cache_sweep_keeps_age_and_size_bounds(tmp_path):
    import os

    from mufun.traces import sweep_uploads

    (tmp_path / "ab12").mkdir()
    old, new = tmp_path / "ab12" / "old.wav", tmp_path / "tmpspool"
    old.write_bytes(b"x" * 100)
    os.utime(old, (time.time() - 100, time.time() - 100))
    new.write_bytes(b"")
    for k in range(5):
        f = tmp_path / f"d{k}"
        f.mkdir()
        (f / "pic.webp").write_bytes(b"y" * 1000)
        os.utime(f / "pic.webp", (time.time() - 10 + k, time.time() - 10 + k))
    assert sweep_uploads(tmp_path, age_s=50, max_bytes=2500) == 4  # the old one, then the 3 oldest pictures
    left = sorted(p.parent.name for p in tmp_path.glob("*/*"))
    assert left == ["d3", "d4"] and new.exists() and not (tmp_path / "ab12").exists()
