"""What the answer heard: attention from the last answer to every 0.1 s of the songs it heard."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from mufun import inputs, present, teach
from mufun.prompt import PromptError, Turn
from mufun.ui.common import Holder, Page, on_gpu, picture, shown_error, songs_of


def explain_answer(holder: Holder, history, layer, head, token):
    """The attention map of the last answer, on the songs that answer heard (kept with its turn),
    whatever the song list shows now."""
    svc = holder.svc
    if not [h for h in (history or []) if h.get("ids")]:
        return None, "Ask a question about a song first: the map explains the last answer.", gr.update(), gr.update()
    try:
        i = max(k for k, h in enumerate(history) if h.get("ids"))
        songs = songs_of(history[i])
        if not songs:
            raise PromptError("The last answer heard no song: there is nothing on a timeline to explain.")
        if not all(Path(s.path).exists() for s in songs):
            raise PromptError("The songs the last answer heard are no longer on the server: ask again, then "
                              "explain that answer.")
        clips = svc.clips(songs)
        turns = [Turn(h["user"], h["answer"]) for h in history[:i]] + [Turn(history[i]["user"])]
        ids = history[i]["ids"]
        att = teach.explain(svc, svc.prepare(turns, clips), svc.prepare(turns, clips, ids), ids)
        li = None if layer in (None, "all") else inputs.whole(layer, "layer", 0, att.layers - 1)
        hi = None if head in (None, "all") else inputs.whole(head, "head", 0, svc.cfg.text.num_attention_heads - 1)
        ti = None if token in (None, "all") else inputs.whole(str(token).split(":")[0], "answer token", 0,
                                                                 len(att.answer_tokens) - 1)
    except Exception as e:
        return None, shown_error(e, "explaining the answer"), gr.update(), gr.update()
    vals = att.values(li, hi, ti)
    what = (f"layer {'all' if li is None else li}, head {'all' if hi is None or ti is not None else hi}, "
            f"answer token {'all' if ti is None else repr(att.answer_tokens[ti])}")
    heard = ", ".join(present.literal(c.source) for c in clips)
    return (teach.timeline_image(clips, svc.cfg, att, vals),
            f"The answer to «{present.literal(history[i]['user'])}» heard: {heard}.\n\n"
            + teach.attention_md(att, vals, len(clips), what),
            gr.update(choices=["all"] + [str(k) for k in range(att.layers)]),
            gr.update(choices=["all"] + [f"{k}: {t!r}" for k, t in enumerate(att.answer_tokens)]))


def build(holder: Holder, page: Page) -> None:
    gr.Markdown("Attention from the last answer to each second of the song(s) it heard, from a separate pass "
                "that records attention weights.")
    with gr.Row():
        layer = gr.Dropdown(["all"], value="all", label="layer")
        head = gr.Dropdown(["all"] + [str(h) for h in range(holder.svc.cfg.text.num_attention_heads)],
                           value="all", label="head")
        token = gr.Dropdown(["all"], value="all", label="answer token")
    btn = gr.Button("Explain the last answer", variant="primary")
    img = picture("attention on the song timeline")
    md = gr.Markdown()
    fn = on_gpu(lambda *a: explain_answer(holder, *a))
    ins, outs = [page.history, layer, head, token], [img, md, layer, token]
    btn.click(fn, ins, outs, api_name="explain_answer", **holder.queue)
    for comp in (layer, head, token):
        comp.input(fn, ins, outs, **holder.queue)
