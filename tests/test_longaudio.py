"""A 10-minute song gets the window analysis instead of an error."""
import numpy as np
import pytest

from mufun.audio import load_array
from mufun.generate import Done, Sampling, Step
from mufun.layout import ContextOverflow
from mufun.longaudio import Stage, analyse, summary_question, window_chunks, windows
from mufun.prompt import Turn


def test_ten_minute_song_is_analysed_in_windows(service):
    cfg = service.cfg
    t = np.arange(600 * 16000) / 16000
    clip = load_array((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, cfg, source="long.wav")
    q = "Which note is played?"
    s = Sampling(max_new_tokens=4)
    with pytest.raises(ContextOverflow):  # the plain path refuses it
        list(service.ask([Turn(q)], [clip], s))
    n = window_chunks(service, [Turn(q)], clip, s.max_new_tokens)
    parts = windows(clip, n)
    assert sum(len(p.samples) for p in parts) == len(clip.samples)  # nothing dropped
    assert len(parts) == -(-20 // n)
    assert parts[1].segment == (n * 30.0, 2 * n * 30.0)
    events = list(analyse(service, q, clip, s))
    stages = [e for e in events if isinstance(e, Stage)]
    dones = [e for e in events if isinstance(e, Done)]
    assert len(stages) == len(dones) == len(parts) + 1
    for st in stages[:-1]:
        assert st.prepared.layout.sequence_length + s.max_new_tokens <= cfg.trained_length
    last = stages[-1].prepared
    assert not last.clips and "Part 1 (0:00-" in last.tokens.text and q in last.tokens.text
    assert any(isinstance(e, Step) for e in events)


def test_summary_question_quotes_every_part(service):
    cfg = service.cfg
    clip = load_array(np.zeros(16000 * 95, np.float32) + 0.01, 16000, cfg, source="x.wav")
    parts = windows(clip, 1)
    assert [p.segment for p in parts] == [(0, 30), (30, 60), (60, 90), (90, 95)]
    text = summary_question("Tempo?", [(p, f"a{i}") for i, p in enumerate(parts)])
    assert "Part 4 (1:30-1:35): a3" in text and text.endswith("Tempo?")
