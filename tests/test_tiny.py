"""MuFun-Tiny, the embedded model: it answers fresh synthetic clips from the sound itself."""
import numpy as np
import pytest
import torch

from mufun import synth
from mufun.embedded import ASSET, embedded_checkpoint
from mufun.eval_tiny import ask, audio_zeroed, evaluate
from mufun.examples import EXAMPLES, FOLDER, ensure_examples

SHIPPED = (ASSET / "model.safetensors.index.json").exists()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="assets/mufun-tiny is not in this checkout")


@needs_weights
def test_the_shipped_weights_are_the_default(service):
    assert embedded_checkpoint() == ASSET and service.loaded.folder == ASSET and service.loaded.embedded


@needs_weights
def test_fresh_clips_are_answered_from_the_sound(service):
    """A small, fast version of ``python -m mufun.eval_tiny`` (clips from a seed training never used)."""
    res = {r.kind: r for r in evaluate(service, per_kind=8, seed=4242)}
    # what the shipped weights learned (README); tempo and chord quality are still at chance
    for k in ("note", "timbre", "loudness"):
        assert res[k].accuracy >= 0.85, {k: r.accuracy for k, r in res.items()}
    with audio_zeroed(service):
        zeroed = {r.kind: r for r in evaluate(service, per_kind=8, seed=4242)}
    for k, r in zeroed.items():  # without the sound: no better than guessing
        assert r.accuracy <= r.chance + 0.25, (k, r.accuracy)
    assert service.cache.encoder_calls >= 0


@needs_weights
def test_the_apps_examples_get_correct_answers(service):
    ensure_examples()
    from mufun.pipeline import SongInput

    for name, (_, question, kind, label) in EXAMPLES.items():
        clip = service.clips([SongInput(str(FOLDER / name))])[0]
        text = ask(service, clip, question)
        assert synth.read_label(kind, text) == label, (name, text)


def test_training_is_deterministic_from_a_seed(tmp_path):
    from safetensors.torch import load_file

    from mufun.train_tiny import train

    outs = [train(tmp_path / f"run{k}", steps=2, batch=2, lr=1e-3, seed=5, n_per_family=1, log=lambda s: None)
            for k in range(2)]
    a, b = (load_file(str(next(o.glob("*.safetensors")))) for o in outs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = load_file(str(next(train(tmp_path / "other", steps=2, batch=2, lr=1e-3, seed=6, n_per_family=1,
                                 log=lambda s: None).glob("*.safetensors"))))
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_synthetic_labels_are_graded_strictly():
    assert synth.read_label("tempo", "About 120 BPM.") == "120"
    assert synth.read_label("tempo", "About 1200 BPM.") is None
    assert synth.read_label("quality", "major or minor") is None  # two labels: no answer
    assert synth.read_label("note", "The note is A4.") == "A4"
    rng = np.random.default_rng(0)
    s = synth.make_song("beat", rng, seconds=10, tempo="60", loudness="quiet")
    assert s.labels == {"tempo": "60", "loudness": "quiet"} and np.abs(s.samples).max() <= 0.05 + 1e-6
