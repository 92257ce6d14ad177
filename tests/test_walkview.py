"""The guided walkthrough's steps on the live embedded model: every step draws its picture from the
real tensors and config, and the numbers under it agree with the picture."""
from __future__ import annotations

import re

import pytest

from mufun import walkview
from mufun.pipeline import SongInput
from mufun.prompt import Turn


@pytest.fixture(scope="module")
def setup(service):
    from mufun.examples import FOLDER, ensure_examples

    ensure_examples()
    clips = service.clips([SongInput(str(FOLDER / "beat-120bpm.wav"))])
    q = "What is the tempo of this clip?"
    return service, clips, service.prepare([Turn(q)], clips), q


@pytest.mark.parametrize("step", range(1, 8))
def test_every_step_has_a_picture_and_its_numbers(setup, step):
    svc, clips, prep, q = setup
    v = walkview.view(step, svc, clips, prep, q, walkview.Params(mask_start=30, mask_len=8, seconds=95))
    assert v.title == walkview.indicator(step) and v.picture and v.table
    if step == 1:
        assert ">-200<" in v.picture and str(len(prep.tokens.input_ids)) in v.text
    if step == 2:
        assert v.image is not None and f"(1, {svc.cfg.tokens_per_chunk}, {svc.cfg.hidden_size})" in v.picture
    if step == 3:
        assert f"{prep.layout.sequence_length:,} positions" in v.text
    if step == 4:
        assert v.picture.count("<tr>") == 8 + 1 and "positions 30–37" in v.table
    if step in (5, 6):
        assert v.chosen is not None and str(v.chosen) in v.table
    if step == 7:
        assert "95 s of music → 4 chunks × 300" in v.text and "1,200 audio tokens" in v.text


def test_sampling_counts_what_remains_and_explains_certainty(setup):
    svc, clips, prep, q = setup
    greedy = walkview.view(6, svc, clips, prep, q, walkview.Params(temperature=0))
    assert "1 token remains possible" in greedy.text
    top_k = walkview.view(6, svc, clips, prep, q, walkview.Params(temperature=1.0, top_k=3))
    assert "3 tokens remain possible" in top_k.text
    if top_k.extra["top_p"] >= walkview.SURE:
        assert "nearly certain" in top_k.text and "Least sure position" in top_k.text
    else:
        assert "nearly certain" not in top_k.text


def test_least_sure_is_the_highest_entropy_position_of_the_greedy_answer(setup):
    import torch

    svc, clips, prep, q = setup
    prefix, bits, where = walkview.least_sure(svc, prep, max_new=8)
    assert len(prefix) == where
    logits, _ = svc.next_token_logits(prep, list(prefix))
    p = torch.softmax(logits, -1)
    assert abs(float(-(p * torch.log2(p.clamp_min(1e-30))).sum()) - bits) < 1e-4


def test_worked_example_follows_temperature():
    hot, cold = walkview.worked_example(2.0), walkview.worked_example(0.25)
    assert abs(sum(p for _, p in hot) - 1) < 1e-9 and hot[0][1] < cold[0][1]  # cooler: sharper
    assert [round(p, 3) for _, p in walkview.worked_example(0)] == [1.0, 0.0, 0.0, 0.0]


def test_compare_precisions_on_the_embedded_model(service):
    from mufun import loading, precision
    from mufun.examples import FOLDER
    from mufun.generate import Sampling
    from mufun.service import MuFunService

    plans = precision.plan(service.cfg, "cpu", 4)
    assert [p.precision for p in plans] == ["none", "int8", "nf4"] and all(p.fits for p in plans)
    rows = precision.compare(service, [Turn("Which note is played?")], [SongInput(str(FOLDER / "a4-sine.wav"))],
                             Sampling(max_new_tokens=8),
                             lambda m: MuFunService.load("tiny", loading.LoadOptions(quantize=m, device_map="cpu")))
    assert [r.precision for r in rows] == ["none", "int8", "nf4"] and rows[0].matches
    assert all(r.answer and r.lm_bytes > 0 and r.first_token_s > 0 for r in rows)
    assert rows[2].lm_bytes < rows[0].lm_bytes  # nf4 packs the linears
    assert re.search(r"A4|[A-G]4", rows[0].answer)
