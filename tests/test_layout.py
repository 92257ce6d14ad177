import random

import pytest

from mufun.layout import AudioFile, ContextOverflow, Layout, expand_ids


def f(chunks: int, dur: float = None) -> AudioFile:
    return AudioFile("x.wav", tuple((30.0 * c, 30.0 * (c + 1)) for c in range(chunks)), dur or 30.0 * chunks)


def test_worked_example_by_hand():
    # ids: [sys, sys, USER, -200, q, q, ASSISTANT] with a 2-chunk file and tokens_per_chunk=3
    lay = Layout.build([10, 11, 20, -200, 30, 31, 40], ["system", "system", "template", "audio", "user", "user",
                                                       "template"], [0] * 7, list("abc") + ["<audio>"] + list("def"),
                       [f(2)], tokens_per_chunk=3, context_limit=20, trained_length=15)
    assert [(s.kind, s.start, s.end) for s in lay.spans] == [
        ("system", 0, 2), ("template", 2, 3), ("audio", 3, 6), ("audio", 6, 9), ("user", 9, 11), ("template", 11, 12)]
    assert lay.sequence_length == 12
    assert lay.expanded_ids() == [10, 11, 20, -200, -200, -200, -200, -200, -200, 30, 31, 40]
    assert [(b.group, b.start, b.end) for b in lay.blocks()] == [("text", 0, 3), ("audio 1", 3, 9), ("text", 9, 12)]
    b = lay.budget(max_new_tokens=5)
    assert (b.system, b.prompt, b.audio, b.history, b.answer, b.used, b.remaining) == (2, 4, 6, 0, 5, 17, 3)
    assert b.fits and b.past_trained_length
    with pytest.raises(ContextOverflow, match="needs 21 positions"):
        lay.check_fits(9)
    assert lay.span_at(7).chunk == 1 and lay.span_at(0).kind == "system"


def test_generated_tokens_grow_the_layout():
    lay = Layout.build([1, -200, 2], ["user", "audio", "template"], [0, 0, 0], ["a", "<audio>", "b"], [f(1)], 300,
                       4096, generated_ids=[5, 6], generated_strings=["x", "y"])
    assert lay.sequence_length == 304 and lay.prompt_length == 302
    assert lay.blocks()[-1].group == "answer" and lay.budget().answer == 2


def test_wrong_file_count():
    with pytest.raises(ValueError, match="2 audio placeholders but 1 files"):
        Layout.build([-200, -200], ["audio"] * 2, [0, 0], ["<audio>"] * 2, [f(1)], 300, 4096)


def test_property_layout_length_equals_spliced_length():
    rng = random.Random(0)
    for _ in range(300):
        n_files = rng.randint(0, 4)
        chunks = [rng.randint(1, 7) for _ in range(n_files)]
        ids = [rng.randint(0, 1000) for _ in range(rng.randint(0, 30))]
        for _ in range(n_files):
            ids.insert(rng.randint(0, len(ids)), -200)
        kinds = ["audio" if i == -200 else rng.choice(["system", "user", "template"]) for i in ids]
        tpc = rng.choice([3, 300])
        lay = Layout.build(ids, kinds, [0] * len(ids), ["t"] * len(ids), [f(c) for c in chunks], tpc, 10**6)
        spliced = expand_ids(ids, [c * tpc for c in chunks])
        assert lay.sequence_length == len(spliced) == len(ids) - n_files + tpc * sum(chunks)
        assert lay.totals().get("audio", 0) == tpc * sum(chunks)
        assert sum(s.length for s in lay.spans) == lay.sequence_length
        assert all(a.end == b.start for a, b in zip(lay.spans, lay.spans[1:]))


def test_layout_agrees_with_real_input_ids_and_embeds(service, song):
    from mufun.prompt import Turn

    clips = service.clips([__import__("mufun.pipeline", fromlist=["SongInput"]).SongInput(str(song(45)))])
    prep = service.prepare([Turn("What genre is this song?")], clips)
    inputs = service.inputs(prep)
    assert inputs["inputs_embeds"].shape == (1, prep.layout.sequence_length, service.cfg.hidden_size)
    assert list(prep.layout.input_ids) == list(prep.tokens.input_ids)
    assert prep.layout.totals()["audio"] == 600
    a = [s for s in prep.layout.spans if s.kind == "audio"]
    assert [(s.t0, s.t1) for s in a] == [(0.0, 30.0), (30.0, 45.0)]


def test_layout_module_is_pure_data():
    import ast
    import inspect

    import mufun.layout as m

    tree = ast.parse(inspect.getsource(m))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in getattr(n, "names", [])} | {n.module.split(".")[0] for n in ast.walk(tree)
                                                   if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"torch", "gradio", "numpy", "transformers"}
