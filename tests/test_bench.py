"""scripts/bench.py runs end to end and its sanity facts hold (timings are not asserted)."""
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def bench(*args, timeout=300):
    r = subprocess.run([sys.executable, str(BENCH), *args, "--json"], capture_output=True, text=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_default_mode_compares_like_with_like():
    d = bench("--new-tokens", "4", "--repeats", "1")
    pl = d["pipeline"]
    assert pl["same_tokens"] is True  # the pipeline and bare generate produced the same ids
    assert pl["a_pipeline_over_bare"] > 0 and pl["b_stream_over_nonstream"] > 0
    assert d["repeat"]["encoder_calls_first"] == 1 and d["repeat"]["encoder_calls_repeat"] == 0
    assert d["layout"]["audio_tokens"] == 3000  # 5 minutes = 10 chunks x 300


def test_full_size_code_path_on_the_tiny_architecture():
    d = bench("--full-size", "--preset", "tiny", "--device", "cpu", "--quantize", "none", "int8",
              "--repeats", "1", "--new-tokens", "3", "--prefill-tokens", "32")
    rows = {r["precision"]: r for r in d["full_size"]}
    assert set(rows) == {"float32", "int8"}
    assert rows["int8"]["lm_weight_GB"] < rows["float32"]["lm_weight_GB"]
    assert all(r["decode_tokens_per_s"] > 0 for r in rows.values())


START = BENCH.parent / "start_bench.py"


def test_start_bench_times_the_app_to_its_first_page(tmp_path):
    """scripts/start_bench.py starts ``python app.py`` and waits for its page (the time is not
    asserted); it refuses a checkout without an app before starting anything."""
    r = subprocess.run([sys.executable, str(START), "--starts", "1", "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert len(d["this"]["seconds"]) == 1 and d["this"]["median"] > 0 and "against" not in d
    r = subprocess.run([sys.executable, str(START), "--against", str(tmp_path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and f"{tmp_path.name} holds no app.py" in r.stderr
