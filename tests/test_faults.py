"""Faults: the model raising mid-stream, a model that fails to load, an interrupted download.
The user gets a message; the app stays up and works again afterwards."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app_in_process():
    """The real app, served in this process, so a fault can be injected into its model."""
    sys.path.insert(0, str(ROOT))
    import app
    from conftest import free_port
    from mufun.service import MuFunService

    holder = app.Holder(MuFunService.load("tiny"))
    demo = app.create_demo(holder)
    port = free_port()
    demo.queue(default_concurrency_limit=4).launch(server_port=port, prevent_thread_lock=True, share=False,
                                                   css=app.CSS, allowed_paths=[str(demo.traces.folder)])
    yield holder, f"http://127.0.0.1:{port}/"
    demo.close()


def _ask(url, max_new=8):
    from gradio_client import Client, handle_file

    song = str(ROOT / "assets" / "examples" / "a4-sine.wav")
    job = Client(url, verbose=False).submit([handle_file(song)], "", "Which note is played?", max_new, 0, 0, 1, -1,
                                            api_name="/ask")
    chat, status, *_ = job.result()
    return chat, status


def test_model_raising_mid_stream(app_in_process):
    from mufun.examples import ensure_examples

    ensure_examples()
    holder, url = app_in_process
    lm = holder.svc.loaded.model.language_model
    calls = {"n": 0}

    def boom(module, args, kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # prefill, then two decode steps, then the fault
            raise RuntimeError("CUDA error: device-side assert (injected)")

    h = lm.register_forward_pre_hook(boom, with_kwargs=True)
    try:
        chat, status = _ask(url)
    finally:
        h.remove()
    # our words, not the library's: nothing of the exception's text, nothing half-written kept
    assert "while generating the answer; nothing was kept" in status and "injected" not in status
    assert chat == []
    assert not holder.svc.decoding.locked()  # the failed stream let go of the model
    chat, status = _ask(url)
    assert "stop:" in status  # the next user is served


def test_failed_load_keeps_the_old_model_and_can_load_again(app_in_process, tmp_path):
    from gradio_client import Client

    holder, url = app_in_process
    before = holder.svc
    c = Client(url, verbose=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    out = c.predict("tiny (embedded)", str(bad), "none", "cpu", api_name="/load_model")
    assert out.startswith("⚠️") and holder.svc is before
    assert "stop:" in _ask(url)[1]
    out = c.predict("tiny (embedded)", "", "none", "cpu", api_name="/load_model")
    assert not out.startswith("⚠️") and holder.svc is not before  # loading again works


def test_interrupted_download_is_a_clear_message_and_a_retry_works(monkeypatch, tmp_path):
    import huggingface_hub as hf

    from mufun import loading

    def cut(*a, **kw):
        raise ConnectionError("Connection broken: IncompleteRead(1048576 bytes read, 4194304 more expected)")

    monkeypatch.setattr(hf, "snapshot_download", cut)
    with pytest.raises(loading.LoadError) as e:
        loading.hub_snapshot("Yi3852/MuFun-Instruct")
    assert "was cut off" in str(e.value) and "Load again to resume" in str(e.value)
    assert "embedded model" in str(e.value)
    monkeypatch.setattr(hf, "snapshot_download", lambda *a, **kw: str(tmp_path))
    assert loading.hub_snapshot("Yi3852/MuFun-Instruct") == tmp_path


def test_switching_off_refuses_every_load_and_keeps_the_model(app_in_process):
    from gradio_client import Client

    holder, url = app_in_process
    before = holder.svc
    holder.allow_switch = False
    try:
        out = Client(url, verbose=False).predict("tiny (embedded)", "", "none", "cpu", api_name="/load_model")
    finally:
        holder.allow_switch = True
    assert out.startswith("⚠️") and "Switching models is turned off on this server" in out
    assert holder.svc is before


def test_a_space_turns_switching_off_by_default(tmp_path):
    """On a Space (SPACE_ID set) nobody but the operator changes the model: the panel says so and
    the endpoint refuses."""
    from gradio_client import Client

    from conftest import start_app

    proc, url = start_app(tmp_path / "space.log", SPACE_ID="someone/mufun")
    try:
        c = Client(url, verbose=False)
        out = c.predict("tiny (embedded)", "Yi3852/MuFun-Instruct", "none", "cpu", api_name="/load_model")
        assert "Switching models is turned off" in out and "not in the local cache" not in out
        page = __import__("urllib.request").request.urlopen(url + "config", timeout=10).read().decode()
        assert "Switching models is turned off" in page  # the model panel says it before anyone asks
    finally:
        proc.terminate()
        proc.wait(10)
