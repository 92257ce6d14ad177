"""A 10-minute song gets the window analysis instead of an error."""
import numpy as np
import pytest

from mufun.audio import load_array
from mufun.generate import Done, Sampling, Step
from mufun.layout import ContextOverflow
from mufun.longaudio import Stage, Tally, analyse, summary_question, window_chunks, windows
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
    # MuFun-Tiny never learned text-only questions: its parts are counted, not summarised by it
    assert len(stages) == len(dones) == len(parts)
    for st in stages:
        assert st.prepared.layout.sequence_length + s.max_new_tokens <= cfg.trained_length
    tallies = [e for e in events if isinstance(e, Tally)]
    assert len(tallies) == 1 and events[-1] is tallies[0]
    counts = {a: [d.text for d in dones].count(a) for a in (d.text for d in dones)}
    if tallies[0].most_common is not None:  # strictly the most common of the parts' answers
        assert all(counts[tallies[0].most_common] > c for a, c in counts.items() if a != tallies[0].most_common)
    assert any(isinstance(e, Step) for e in events)


def test_one_window_is_the_whole_answer(service):
    """A song that fits one window gets that window's answer: no summary, no count."""
    t = np.arange(40 * 16000) / 16000
    clip = load_array((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, service.cfg, source="40s.wav")
    events = list(analyse(service, "Which note is played?", clip, Sampling(max_new_tokens=8)))
    assert [type(e) for e in events if not isinstance(e, Step)] == [Stage, Done]


class Scripted:
    """The real service's windows and layouts, with scripted answers and a chosen capability."""

    def __init__(self, svc, answers, text_questions):
        from dataclasses import replace

        self.svc, self.answers, self.asked = svc, list(answers), []
        self.cfg = replace(svc.cfg, answers_text_questions=text_questions)

    def prepare(self, *a, **k):
        return self.svc.prepare(*a, **k)

    def ask(self, turns, clips, sampling, should_stop=None):
        self.asked.append(turns[-1].user)
        yield self.svc.prepare(turns, clips)
        yield Done(self.answers.pop(0), (), "eos", {})


@pytest.mark.parametrize("answers,text_questions,model_summary,most_common", [
    (["About 90 BPM.", "about 90 bpm", "About 120 BPM."], False, False, "About 90 BPM."),
    (["About 90 BPM.", "About 120 BPM.", "About 150 BPM.", "About 120 BPM."], True, True, "About 120 BPM."),
    (["The note is A4.", "The note is A4.", "The note is A4."], True, False, "The note is A4."),
    (["About 90 BPM.", "About 120 BPM."], False, False, None),
])
def test_parts_are_counted_and_the_model_summarises_only_when_it_can(service, answers, text_questions,
                                                                    model_summary, most_common):
    n = len(answers)
    clip = load_array(np.zeros(16000 * 30 * n, np.float32) + 0.01, 16000, service.cfg, source="x.wav")
    svc = Scripted(service, answers + ["The whole song is at 120 BPM."], text_questions)
    import mufun.longaudio as la

    old = la.window_chunks
    la.window_chunks = lambda *a: 1  # one 30 s chunk per window: n windows
    try:
        events = list(analyse(svc, "What is the tempo?", clip, Sampling(max_new_tokens=4)))
    finally:
        la.window_chunks = old
    tally = next(e for e in events if isinstance(e, Tally))
    assert tally.most_common == most_common
    summaries = [e for e in events if isinstance(e, Stage) and not e.prepared.clips]
    assert bool(summaries) == model_summary
    assert len(svc.asked) == n + model_summary
    if model_summary:
        assert "Part 1 (0:00-0:30): About 90 BPM." in svc.asked[-1]


def test_summary_question_quotes_every_part(service):
    cfg = service.cfg
    clip = load_array(np.zeros(16000 * 95, np.float32) + 0.01, 16000, cfg, source="x.wav")
    parts = windows(clip, 1)
    assert [p.segment for p in parts] == [(0, 30), (30, 60), (60, 90), (90, 95)]
    text = summary_question("Tempo?", [(p, f"a{i}") for i, p in enumerate(parts)])
    assert "Part 4 (1:30-1:35): a3" in text and text.endswith("Tempo?")
