"""The app as users meet it: a running server, gradio_client, and a real Chromium."""
import html
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _example(name="beat-120bpm.wav"):
    from mufun.examples import ensure_examples

    ensure_examples()
    return str(ROOT / "assets" / "examples" / name)


def test_chat_turn_streams_more_than_one_update(client):
    from gradio_client import handle_file

    job = client.submit([handle_file(_example())], "", "What is the tempo of this clip?", 8, 0, 0, 1, -1,
                        api_name="/ask")
    chat, status, budget, layout, mask, trace = job.result()
    updates = job.outputs()
    assert len(updates) > 3  # the answer grew token by token
    import html

    # shown exactly as the model reads it: the tag written out, not rendered as an element
    shown = chat[0]["content"][0]["text"]
    assert "<" not in shown and html.unescape(shown) == "<audio>\nWhat is the tempo of this clip?"
    assert "stop:" in status
    import json

    t = json.loads(Path(trace).read_text())
    assert t["audio"][0]["tokens"] == 300 and len(t["generated_ids"]) == 8


def test_layout_endpoint_matches_the_cli(server, tmp_path):
    import json

    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)  # a fresh session: no chat history

    song = _example("minor-sawtooth-45s.wav")
    budget, html, *_ = client.predict([handle_file(song)], "", "What genre is this song?", 64, 0, 32,
                                      api_name="/preview")
    assert "song 1 · chunk 2" in html and "300 audio tokens" in html
    cli = subprocess.run([sys.executable, "-m", "mufun", "layout", "--audio", song, "--prompt",
                          "What genre is this song?", "--json"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    d = json.loads(cli.stdout)
    # the ids shown in the page are the CLI's input_ids (audio placeholder excluded)
    for tid in [i for i in d["input_ids"] if i != -200][-12:]:
        assert f"<sub>{tid}</sub>" in html
    assert f"<b>{d['sequence_length'] + 64:,} / " in budget  # the sequence plus 64 reserved answer tokens


def test_bad_upload_shows_a_message_and_server_keeps_serving(client, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "fake.mp3"
    bad.write_text("not audio")
    out = client.predict([handle_file(str(bad))], "", "hi", 8, 0, 0, 1, -1, api_name="/ask")
    assert "not a readable audio file" in out[1]
    out = client.predict([handle_file(_example())], "9: 1-2", "hi", 8, 0, 0, 1, -1, api_name="/ask")
    assert "numbered from 1" in out[1]
    ok = client.predict([handle_file(_example())], "", "hi", 4, 0, 0, 1, -1, api_name="/ask")
    assert "stop:" in ok[1]


CHROMIUM = os.environ.get("MUFUN_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (scripts/test.sh installs it)")
def test_browser_example_streams_and_shows_layout_and_mask(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.get_by_text("Examples (synthesized clips)").wait_for()
        page.locator(".gallery-item, button.example, tr.tr-body").first.click()
        page.wait_for_timeout(1500)
        page.get_by_role("button", name="Ask").click()
        page.locator(".message.bot, [data-testid='bot']").first.wait_for(timeout=60000)
        page.get_by_text("stop:").wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        page.get_by_role("tab", name="Token layout").click()
        page.get_by_text("300 audio tokens").first.wait_for(timeout=20000)
        page.get_by_role("tab", name="Attention mask").click()
        page.locator("img").first.wait_for()
        page.screenshot(path=str(tmp_path / "mask.png"), full_page=True)
        b.close()


def _bot_text(page) -> str:
    bots = page.locator(".message.bot, [data-testid='bot']")
    return bots.last.inner_text() if bots.count() else ""


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (scripts/test.sh installs it)")
def test_two_browser_sessions_streaming_at_once_never_mix(server, client, tmp_path):
    """Two people, two examples, Ask pressed in both: each page only ever shows its own answer."""
    from gradio_client import handle_file
    from playwright.sync_api import sync_playwright

    from mufun.examples import EXAMPLES

    names = list(EXAMPLES)[:2]
    expected = []
    from gradio_client import Client

    for name in names:  # what each question gets when asked alone, in a fresh session (greedy: deterministic)
        out = Client(server, verbose=False).predict([handle_file(_example(name))], "", EXAMPLES[name][1], 64, 0, 0, 1, -1, api_name="/ask")
        expected.append(html.unescape(out[0][-1]["content"][0]["text"]))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        pages = []
        for k in range(2):
            page = b.new_context(viewport={"width": 1300, "height": 900}).new_page()
            page.goto(server)
            page.get_by_text("Examples (synthesized clips)").wait_for()
            page.locator(".gallery-item, button.example, tr.tr-body").nth(k).click()
            page.wait_for_timeout(1500)
            pages.append(page)
        for page in pages:
            page.get_by_role("button", name="Ask").click()
        seen = [[], []]
        deadline = time.time() + 120
        while time.time() < deadline and not all(pg.get_by_text("stop:").count() for pg in pages):
            for k, page in enumerate(pages):
                seen[k].append(_bot_text(page))
            time.sleep(0.05)
        for k, page in enumerate(pages):
            page.get_by_text("stop:").wait_for(timeout=60000)
            page.screenshot(path=str(tmp_path / f"session{k}.png"), full_page=True)
            chat = page.locator(".message.user, [data-testid='user']").last.inner_text()
            assert EXAMPLES[names[k]][1] in chat and EXAMPLES[names[1 - k]][1] not in chat
            assert _bot_text(page).strip() == expected[k]
            # every partial answer this page showed was a prefix of its own answer
            assert all(expected[k].startswith(s.strip()) for s in seen[k] if s.strip())
        b.close()


@pytest.mark.parametrize("given,kept", [(None, "False"), ("True", "True")])
def test_gradios_usage_reports_are_off_unless_the_operator_turns_them_on(given, kept):
    """``app`` sets gradio's analytics off before gradio reads it, and leaves an operator's own
    GRADIO_ANALYTICS_ENABLED as it is."""
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    if given is not None:
        env["GRADIO_ANALYTICS_ENABLED"] = given
    code = "import app; from gradio.analytics import analytics_enabled; print(analytics_enabled())"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-1] == kept


def test_on_gpu_is_a_pass_through_off_zerogpu(monkeypatch):
    sys.path.insert(0, str(ROOT))
    import app

    def gen():
        yield 1

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert app.on_gpu(gen) is gen  # spaces installed, not on ZeroGPU: the function itself
    monkeypatch.setitem(sys.modules, "spaces", None)  # spaces not installed
    assert app.on_gpu(gen) is gen


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (scripts/test.sh installs it)")
def test_browser_next_token_one_at_a_time_and_attention(server, tmp_path):
    """As a teacher would: the walkthrough on an example, next token one at a time (the sequence
    grows by one each click), then an answer and the attention timeline of it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.get_by_role("button", name="▶ a4-sine").click()
        page.get_by_text("1 / 7 · Tokens").wait_for(timeout=60000)
        assert page.get_by_text("-200").count() > 0
        for k, name in [(2, "Audio"), (3, "Splice"), (4, "Mask"), (5, "Next token")]:
            page.get_by_role("button", name="Next ▶").click()  # one click, one step: wait for it
            page.get_by_text(f"{k} / 7 · {name}").wait_for(timeout=60000)
        first = page.get_by_text("One forward pass over all").first.inner_text()
        page.get_by_role("button", name="Next token").click()
        page.wait_for_function("(t) => ![...document.querySelectorAll('p')].some(p => p.innerText === t)", arg=first,
                               timeout=60000)
        second = page.get_by_text("One forward pass over all").first.inner_text()
        n1 = int(first.split("over all ")[1].split(" ")[0].replace(",", ""))
        n2 = int(second.split("over all ")[1].split(" ")[0].replace(",", ""))
        assert n2 == n1 + 1  # one token at a time
        page.screenshot(path=str(tmp_path / "walkthrough.png"), full_page=True)
        page.get_by_role("button", name="Ask").click()
        page.get_by_text("stop:").wait_for(timeout=60000)
        page.get_by_role("tab", name="What the answer heard").click()
        page.get_by_role("button", name="Explain the last answer").click()
        page.get_by_text("Most attended seconds").first.wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "attention.png"), full_page=True)
        b.close()


def test_walkthrough_steps_through_the_api(server):
    """Next and Back are endpoints too; the mask slice and the budget follow their fields."""
    from gradio_client import Client, handle_file

    c = Client(server, verbose=False)
    song = [handle_file(_example("a4-sine.wav"))]
    args = (song, "", "Which note is played?", 30, 4, 1.0, 0, 1, 0, 600, 64)
    out = c.predict(*args, api_name="/walk_next")
    assert "2 / 7 · Audio" in out[0] and "(1, 300," in out[1]
    for _ in range(5):
        out = c.predict(*args, api_name="/walk_next")
    assert "7 / 7 · Budget" in out[0]
    table = next(o for o in out if isinstance(o, str) and "Token budget" in o)
    assert "600 s → 20 chunk(s) × 300" in table and "**6,000 audio tokens**" in table
    for _ in range(3):
        out = c.predict(*args, api_name="/walk_back")
    assert "4 / 7 · Mask" in out[0]
    assert any(isinstance(o, str) and "positions 30–33" in o for o in out)


def _beat_period_s(samples, rate) -> float:
    """The strongest spacing of hits in ``samples``, in seconds: the autocorrelation of the rise
    in 10 ms energy, between 0.3 and 1.5 s."""
    import numpy as np

    x = samples if samples.ndim == 1 else samples.mean(1)
    hop = rate // 100
    energy = np.sqrt((x[:len(x) // hop * hop].reshape(-1, hop) ** 2).mean(1))
    rise = np.maximum(0, np.diff(energy))
    rise = rise - rise.mean()
    ac = np.correlate(rise, rise, "full")[len(rise) - 1:]
    lags = np.arange(30, 151)
    return float(lags[np.argmax(ac[lags])]) / 100


@pytest.mark.browser
def test_browser_recorded_steady_beat_reaches_the_model(server, service, tmp_path):
    """A user records a steady beat (claps or knocks in a room, 100 BPM) with the microphone:
    Chromium's fake capture device plays it into the Record button, the recording is added to
    the songs and the tempo asked. The recording the app keeps still beats at 100 BPM (the
    spacing of its hits), it reaches the model as one 30 s chunk (300 audio tokens in the layout)
    and the answer on the page is the model's own answer to that recording, a tempo. Whether the
    tempo is plausible is the model's accuracy, measured over many takes by
    ``test_tiny.test_recorded_beats_get_plausible_tempos`` and README, not by one take here."""
    import numpy as np
    import soundfile as sf
    from playwright.sync_api import sync_playwright

    from mufun.audio import SAMPLE_RATE, load
    from mufun.tiny import synth
    from mufun.tiny.eval import ask

    wav = tmp_path / "steady-beat.wav"
    sf.write(str(wav), synth.recording(100, 14, np.random.default_rng(21)), 48_000, subtype="PCM_16")
    question = "What is the tempo of this clip?"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"])
        ctx = b.new_context(viewport={"width": 1300, "height": 1000}, permissions=["microphone"])
        page = ctx.new_page()
        page.goto(server)
        page.locator(".record-button").first.click()
        page.wait_for_timeout(11000)
        page.locator(".stop-button").first.click()
        page.wait_for_timeout(2500)
        page.get_by_role("button", name="Add recording to songs").click()
        page.get_by_text(".wav").first.wait_for(timeout=20000)
        link = page.locator("a[href*='.wav']").first
        kept = tmp_path / "kept.wav"
        kept.write_bytes(page.request.get(link.get_attribute("href")).body())  # the file the app reads
        page.get_by_label("Question").fill(question)
        page.get_by_role("button", name="Ask").click()
        page.get_by_text("stop:").wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "recorded.png"), full_page=True)
        answer = _bot_text(page)
        page.get_by_role("tab", name="Token layout").click()
        page.get_by_text("300 audio tokens").first.wait_for(timeout=20000)
        b.close()
    clip = load(kept, service.cfg)
    assert 9 <= clip.duration_s <= 30, clip.duration_s  # about the 11 s recorded: one chunk
    assert abs(_beat_period_s(clip.samples, SAMPLE_RATE) - 0.6) <= 0.03  # 100 BPM: a hit every 0.6 s
    assert synth.read_label("tempo", answer) is not None, answer  # "About N BPM." with a trained N
    assert answer.strip() == ask(service, clip, question, max_new_tokens=64).strip()  # the default: greedy, 64


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (scripts/test.sh installs it)")
def test_browser_shows_what_people_typed_and_pictures_unspoiled(server, tmp_path):
    """A file named with quotes and an accent, a question full of HTML and markdown: both shown
    exactly as typed, nothing rendered; captions sit above the pictures, not over them; the song
    table never breaks a word; the walkthrough shows no escaped entities."""
    import numpy as np
    import soundfile as sf
    from playwright.sync_api import sync_playwright

    song = tmp_path / 'my "song" é.wav'
    t = np.arange(32000) / 16000
    sf.write(str(song), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    typed = "<img src=x> **bold** [link](http://example.invalid) <script>1</script> $x$ _it_"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.locator("input[type=file]").first.set_input_files(str(song))
        page.get_by_text("audio tokens").first.wait_for(timeout=30000)
        table = page.locator(".mufun-songs table").first
        table.wait_for(timeout=30000)
        assert 'my "song" é.wav' in table.inner_text() and "%22" not in table.inner_text()
        cells = table.locator("td, th")
        assert all(cells.nth(k).evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
                   for k in range(cells.count()))
        page.get_by_label("Question").fill(typed)
        page.get_by_role("button", name="Ask").click()
        page.get_by_text("stop:").wait_for(timeout=60000)
        user = page.locator(".message.user, [data-testid='user']").last
        assert user.inner_text().strip() == "<audio>\n" + typed
        assert user.locator("img, script, strong, em, a, code").count() == 0
        # captions above pictures: gradio's own image labels are off, nothing sits over the picture
        waves = page.locator(".image-container img, [data-testid='image'] img").first
        waves.wait_for(timeout=30000)
        caption = page.get_by_text("Waveforms of the songs as the model hears them").first
        assert caption.bounding_box()["y"] + caption.bounding_box()["height"] <= waves.bounding_box()["y"] + 1
        assert page.locator("[data-testid='block-label']").filter(has_text="Waveforms").count() == 0
        page.screenshot(path=str(tmp_path / "typed.png"), full_page=True)
        page.get_by_role("button", name="▶ my songs and question").click()
        texts = []
        for k, name in [(1, "Tokens"), (2, "Audio"), (3, "Splice"), (4, "Mask"), (5, "Next token"), (6, "Sampling")]:
            if k > 1:
                page.get_by_role("button", name="Next ▶").click()
            page.get_by_text(f"{k} / 7 · {name}").wait_for(timeout=60000)
            page.get_by_role("button", name="Exact numbers").click()  # unfold the table too
            page.wait_for_timeout(500)
            texts.append(page.locator("body").inner_text())
            page.get_by_role("button", name="Exact numbers").click()
        text = "\n".join(texts)
        for bad in ("&#", "&amp;"):
            assert bad not in text, text[max(0, text.find(bad) - 300):text.find(bad) + 100]
        assert "user's" in text
        assert " 1 tokens " not in text
        page.screenshot(path=str(tmp_path / "walk-typed.png"), full_page=True)
        b.close()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (scripts/test.sh installs it)")
def test_browser_guided_walkthrough_one_step_per_screen(server, tmp_path):
    """As a teacher would at 1,400 x 900: one click from the first page starts the walkthrough on an
    example; Next through seven steps and Back again, each step's panel under 1,100 px with its
    picture drawn and its table folded; at the sampling step the model's certainty is explained and
    the least sure position is one click away; a shareable link opens a step directly."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking"])
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server)
        page.get_by_role("button", name="▶ beat-120bpm").click()
        panel = page.locator("[role=tabpanel]").filter(has_text="1 / 7").first
        page.get_by_text("1 / 7 · Tokens").wait_for(timeout=60000)
        heights = {}
        for k, name in enumerate(["Tokens", "Audio", "Splice", "Mask", "Next token", "Sampling", "Budget"], 1):
            page.get_by_text(f"{k} / 7 · {name}").wait_for(timeout=60000)
            page.wait_for_timeout(400)
            panel = page.locator("[role=tabpanel]").filter(has_text=f"{k} / 7 · {name}").first
            heights[name] = panel.bounding_box()["height"]
            assert panel.locator(".mufun-chips, .mufun-path, .mufun-strip, .mufun-mask, .mufun-bars, "
                                 ".mufun-budget").count() > 0, name  # the picture is there
            page.screenshot(path=str(tmp_path / f"step{k}.png"), full_page=False)
            if name == "Sampling":
                text = panel.inner_text()
                assert "tokens remain possible" in text or "token remains possible" in text
                assert "worked example" in text
                if "nearly certain" in text:
                    page.get_by_role("button", name="Least sure position").click()
                    page.get_by_text("Least sure position:").first.wait_for(timeout=60000)
            if k < 7:
                page.get_by_role("button", name="Next ▶").click()
        assert all(h <= 1100 for h in heights.values()), heights
        page.get_by_role("button", name="◀ Back").click()
        page.get_by_text("6 / 7 · Sampling").wait_for(timeout=60000)
        page.goto(server + "?walkthrough=a4-sine&step=3")
        page.get_by_text("3 / 7 · Splice").wait_for(timeout=60000)
        assert page.locator(".mufun-strip").count() > 0
        page.screenshot(path=str(tmp_path / "link.png"), full_page=False)
        b.close()
