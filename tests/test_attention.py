"""Answer -> audio attention agrees with the stock attention weights and maps to seconds."""
import torch

from mufun.attention import answer_attention, audio_times
from mufun.audio import load
from mufun.generate import Done, Sampling
from mufun.prompt import Turn


def test_hooked_attention_equals_stock_output_attentions(service, song):
    clip = load(song(40), service.cfg)
    turns = [Turn("Which note is played?")]
    done = [e for e in service.ask(turns, [clip], Sampling(max_new_tokens=5)) if isinstance(e, Done)][0]
    ids = list(done.ids)
    prompt = service.prepare(turns, [clip])
    full = service.prepare(turns, [clip], ids)
    inputs = service.inputs(prompt)
    lm = service.loaded.model.language_model
    att = answer_attention(lm, inputs, full.layout, ids, service.tokenizer)
    # the stock path: eager attention with output_attentions over the same sequence
    emb = lm.get_input_embeddings()
    x = torch.cat([inputs["inputs_embeds"], emb(torch.tensor([ids]))], 1)
    old = lm.config._attn_implementation
    lm.config._attn_implementation = "eager"
    try:
        with torch.no_grad():
            out = lm(inputs_embeds=x, output_attentions=True, use_cache=False)
    finally:
        lm.config._attn_implementation = old
    assert lm.config._attn_implementation == old  # generation keeps its implementation
    L = inputs["inputs_embeds"].shape[1]
    pos, secs, songs, pad = audio_times(full.layout)
    q = torch.arange(L - 1, L - 1 + len(ids))
    for layer, w in enumerate(out.attentions):
        want = w[0][:, q][:, :, torch.from_numpy(pos)]  # (heads, n_answer, n_audio)
        torch.testing.assert_close(torch.from_numpy(att.per_layer_head[layer]), want.mean(1))
        torch.testing.assert_close(torch.from_numpy(att.per_token[layer]), want.mean(0))
    # 40 s = 2 chunks: 600 audio tokens, 0.1 s each, the second chunk's rows past 40 s are padding
    assert len(secs) == 600 and abs(secs[0] - 0.05) < 1e-9 and abs(secs[300] - 30.05) < 1e-9
    assert pad.sum() == 200 and not pad[:400].any()
    assert att.peak_bytes > 0 and att.seconds > 0
    s, m = att.per_second(att.values(), 0)
    assert list(s) == list(range(40)) and abs(m.sum() - att.values()[~pad].sum()) < 1e-5
