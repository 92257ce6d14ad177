import pytest
import torch

from mufun.cache import AudioCache
from mufun.generate import Done, Sampling, Step, generate, stream
from mufun.pipeline import SongInput
from mufun.prompt import Turn, build_segments, eos_ids, render


@pytest.fixture(scope="module")
def prepared(service, tmp_path_factory):
    import numpy as np
    import soundfile as sf

    p = tmp_path_factory.mktemp("g") / "s.wav"
    sf.write(str(p), (0.3 * np.sin(np.arange(16000 * 12) / 5)).astype("float32"), 16000)
    clips = service.clips([SongInput(str(p))])
    prep = service.prepare([Turn("What genre is this song?")], clips)
    return clips, prep, service.inputs(prep)


def test_stream_yields_many_deltas_then_done(service, prepared):
    evs = list(stream(service.loaded.model.language_model, prepared[2], service.tokenizer,
                      eos_ids(service.tokenizer), Sampling(max_new_tokens=8, top_logits=3)))
    steps = [e for e in evs if isinstance(e, Step)]
    assert len(steps) > 1 and isinstance(evs[-1], Done)
    assert all(len(s.top) == 3 and abs(sum(p for _, p in s.top)) <= 1.0 + 1e-6 for s in steps)
    d = evs[-1]
    assert d.stats["answer_tokens"] == len(steps) and d.stats["prompt_tokens"] == prepared[1].layout.sequence_length


def test_greedy_stream_equals_stock_generate(service, prepared):
    lm = service.loaded.model.language_model
    inp = prepared[2]
    done = generate(lm, inp, service.tokenizer, eos_ids(service.tokenizer), Sampling(max_new_tokens=10))
    with torch.no_grad():
        ref = lm.generate(inputs_embeds=inp["inputs_embeds"], attention_mask=inp["attention_mask"], max_new_tokens=10,
                          do_sample=False, eos_token_id=list(eos_ids(service.tokenizer)), pad_token_id=151643,
                          use_cache=True)
    ref_ids = [i for i in ref[0].tolist()]
    assert list(done.ids) == ref_ids[:len(done.ids)] and len(done.ids) == len(ref_ids)


def test_seeded_sampling_is_reproducible(service, prepared):
    lm, tok = service.loaded.model.language_model, service.tokenizer
    # a hot temperature flattens the trained model's confident distribution, so seeds matter
    s = Sampling(max_new_tokens=12, temperature=5.0, top_k=5000, top_p=0.99, seed=7)
    a = generate(lm, prepared[2], tok, eos_ids(tok), s).ids
    b = generate(lm, prepared[2], tok, eos_ids(tok), s).ids
    c = generate(lm, prepared[2], tok, eos_ids(tok), Sampling(12, 5.0, 5000, 0.99, seed=8)).ids
    assert a == b and a != c


def test_cancel_stops_within_one_step(service, prepared):
    n = {"steps": 0}

    def stop():
        return n["steps"] >= 3

    out = []
    for e in stream(service.loaded.model.language_model, prepared[2], service.tokenizer, (),
                    Sampling(max_new_tokens=50), stop):
        if isinstance(e, Step):
            n["steps"] += 1
        out.append(e)
    assert n["steps"] == 3 and out[-1].stop_reason == "cancelled"


def test_errors_propagate_to_the_caller(service, prepared):
    class Boom(torch.nn.Module):
        config = service.loaded.model.language_model.config

        def forward(self, **kw):
            raise RuntimeError("boom mid-stream")

    with pytest.raises(RuntimeError, match="boom"):
        list(stream(Boom(), prepared[2], service.tokenizer, (), Sampling(max_new_tokens=3)))


def test_audio_cache_skips_the_encoder_on_repeat(service, prepared):
    clips = prepared[0]
    service.cache = AudioCache()
    service.audio_rows(clips)
    service.audio_rows(clips)
    assert service.cache.encoder_calls == 1 and service.cache.hits == 1
    cache = AudioCache(max_bytes=1)  # too small to keep anything: encodes each time
    calls = []
    cache.rows("m", clips, lambda cs: calls.append(1) or [torch.zeros(300, 4)])
    cache.rows("m", clips, lambda cs: calls.append(1) or [torch.zeros(300, 4)])
    assert len(calls) == 2 and cache.bytes == 0


def test_cache_is_bounded():
    import numpy as np

    from mufun.audio import Clip

    cache = AudioCache(max_bytes=3 * 300 * 4 * 4)
    clips = [Clip(f"c{i}", np.full(100, i, np.float32), 1.0, 16000, None) for i in range(5)]
    for c in clips:
        cache.rows("m", [c], lambda cs: [torch.zeros(300, 4)])
    assert len(cache) == 3 and cache.bytes <= cache.max_bytes


def test_multi_turn_prompt_matches_template(service, prepared):
    t = [Turn("<audio>\nWhat genre?", "Rock."), Turn("And the tempo?")]
    assert render(build_segments(t, 1)).endswith("USER: <audio>\nWhat genre? ASSISTANT: Rock.<|im_end|>USER: And the tempo? ASSISTANT:")
    evs = list(service.ask(t, prepared[0], Sampling(max_new_tokens=3)))
    assert evs[0].tokens.text.endswith("Rock.<|im_end|>USER: And the tempo? ASSISTANT:")
    assert isinstance(evs[-1], Done)


def test_context_overflow_is_refused_before_running(service, prepared):
    from mufun.layout import ContextOverflow

    with pytest.raises(ContextOverflow, match="positions"):
        list(service.ask([Turn("hi")], prepared[0], Sampling(max_new_tokens=4000)))


def test_ask_can_be_resumed_from_another_thread(service, song):
    """Servers resume a streaming generator on whichever worker thread is free."""
    from concurrent.futures import ThreadPoolExecutor

    from mufun.audio import load
    from mufun.generate import Done, Sampling
    from mufun.prompt import Turn

    clip = load(song(3), service.cfg)
    gen = service.ask([Turn("Which note is played?")], [clip], Sampling(max_new_tokens=6))
    events = []
    with ThreadPoolExecutor(4) as pool:
        while True:
            ev = pool.submit(next, gen, None).result()  # each step on a pool thread
            if ev is None:
                break
            events.append(ev)
    assert isinstance(events[-1], Done)
    assert not service.decoding.locked()
