"""The CLI as a user runs it: a subprocess, offline."""
import json
import os
import subprocess
import sys
import time

import pytest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "mufun", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def test_layout_json_45s_song(song):
    r = run("layout", "--model", "tiny", "--audio", str(song(45)), "--prompt", "What genre is this song?", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["audio"][0]["chunks"] == 2 and d["audio"][0]["tokens"] == 600
    assert d["audio"][0]["duration_s"] == 45.0
    ids = d["input_ids"]
    i = ids.index(-200)
    assert ids[i + 1:i + 8] == [198, 3838, 17328, 374, 419, 5492, 30]
    assert d["sequence_length"] == len(ids) - 1 + 600
    audio_spans = [s for s in d["spans"] if s["kind"] == "audio"]
    assert [s["start"] for s in audio_spans] == [i, i + 300]


def test_layout_table_and_segments(song):
    r = run("layout", "--audio", str(song(100)), "--audio", str(song(20, "b.wav")), "--segment", "0", "10", "41",
            "--prompt", "Compare <audio> and <audio>")
    assert r.returncode == 0, r.stderr
    assert "song 1 chunk 2 [40.0-41.0 s]" in r.stdout and "song 2 chunk 1 [0.0-20.0 s]" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["--prompt", "<audio> <audio>"], "2 <audio> tags but 1 song"),
    (["--prompt", "hi", "--segment", "0", "8", "5"], "before its start"),
    (["--prompt", "hi", "--segment", "3", "0", "1"], "numbered from 0"),
])
def test_user_errors_are_clear(song, args, msg):
    r = run("layout", "--audio", str(song(10)), *args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_not_audio(tmp_path):
    p = tmp_path / "x.mp3"
    p.write_text("hello")
    r = run("layout", "--audio", str(p), "--prompt", "hi")
    assert r.returncode == 2 and "not a readable audio file" in r.stderr


def test_ask_streams_and_traces(song):
    s = str(song(12))
    r = run("ask", "--audio", s, "--prompt", "What genre is this song?", "--max-new-tokens", "6")
    assert r.returncode == 0, r.stderr and "tokens, stop:" in r.stderr
    r = run("ask", "--audio", s, "--prompt", "What genre is this song?", "--max-new-tokens", "4", "--top-logits", "3",
            "--json")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    assert t["prompt"].endswith("USER: <audio>\nWhat genre is this song? ASSISTANT:")
    assert len(t["steps"]) == len(t["generated_ids"]) and all(len(s["top"]) == 3 for s in t["steps"])
    assert t["audio"][0]["tokens"] == 300 and t["stats"]["audio_tokens"] == 300
    lay = json.loads(run("layout", "--audio", s, "--prompt", "What genre is this song?", "--json").stdout)
    assert lay["input_ids"] == t["input_ids"] and lay["sequence_length"] == t["sequence_length"]


def test_ask_int8_on_cpu(song):
    r = run("ask", "--audio", str(song(5)), "--prompt", "Tempo?", "--max-new-tokens", "3", "--quantize", "int8")
    assert r.returncode == 0, r.stderr


def test_hub_id_offline_fails_fast_with_advice(song):
    t = time.perf_counter()
    r = run("ask", "--model", "Yi3852/MuFun-Instruct", "--audio", str(song(5)), "--prompt", "hi")
    assert r.returncode == 2 and "Pre-download" in r.stderr and "Traceback" not in r.stderr
    assert time.perf_counter() - t < 30


def test_windows_for_a_song_too_long(tmp_path):
    import numpy as np
    import soundfile as sf

    p = tmp_path / "ten-minutes.wav"
    t = np.arange(8000 * 600) / 8000
    sf.write(p, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000, subtype="PCM_16")
    r = run("ask", "--audio", str(p), "--prompt", "Which note is played?", "--max-new-tokens", "4")
    assert r.returncode == 2 and "--windows" in r.stderr
    r = run("ask", "--audio", str(p), "--prompt", "Which note is played?", "--max-new-tokens", "4", "--windows",
            "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["windows"]) >= 2 and all(w["input_ids"].count(-200) == 1 for w in d["windows"])
    # MuFun-Tiny was never trained on text-only questions: the parts are counted, it summarises nothing
    assert d["summary"] is None
    answers = [w["text"] for w in d["windows"]]
    most = d["combined"]["most_common"]
    assert most is None or answers.count(most) > max((answers.count(a) for a in set(answers) - {most}), default=0)
