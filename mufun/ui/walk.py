"""The guided walkthrough: seven steps, one per screen, Back / Next and a step indicator; each
step's picture first and its exact numbers folded under it. One click starts it on any example or
on the user's own song and question; ``?walkthrough=beat-120bpm&step=3`` opens it on a step."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from mufun import inputs, walkview
from mufun.examples import EXAMPLES, FOLDER
from mufun.ui.common import Holder, Number, Page, Slider, on_gpu, shown_error, songs_from, turns_from

N = len(walkview.STEPS)


def params(mask_start, mask_len, gen, temperature, top_k, top_p, seed, seconds, max_new, cfg) -> walkview.Params:
    s = inputs.sampling(1, temperature, top_k, top_p, seed)
    return walkview.Params(inputs.whole(mask_start, "mask slice: first position", 0, 10**9),
                           inputs.whole(mask_len, "mask slice: positions", 2, 10**9), tuple(gen or ()),
                           s.temperature, s.top_k, s.top_p, s.seed,
                           inputs.real(seconds, "song duration", 1, cfg.max_audio_s),
                           inputs.whole(max_new, "max new tokens", 1, inputs.MAX_NEW_TOKENS))


def build(holder: Holder, page: Page) -> dict:
    step = gr.State(1)
    gen = gr.State([])
    with gr.Row():
        back = gr.Button("◀ Back", size="sm", scale=0)
        indicator = gr.Markdown(f"### {walkview.indicator(1)}", elem_classes=["mufun-step"])
        nxt = gr.Button("Next ▶", size="sm", scale=0, variant="primary")
    picture = gr.HTML()
    image = gr.Image(show_label=False, type="pil", visible=False, height=300, buttons=["download", "fullscreen"])
    text = gr.Markdown()
    with gr.Row(visible=False) as mask_row:
        mask_start = Number(0, label="mask slice: first position")
        mask_len = Slider(2, 24, 16, step=1, label="mask slice: positions")
    with gr.Row(visible=False) as sampling_row:
        temperature = Slider(0, 2, 1.0, step=0.05, label="temperature (0 = greedy)")
        top_k = Slider(0, 100, 0, step=1, label="top-k (0 = off)")
        top_p = Slider(0.05, 1, 1, step=0.01, label="top-p")
        seed = Number(0, label="seed (-1 = random)")
        next_token = gr.Button("Next token")
        unsure = gr.Button("Least sure position")
    seconds = Slider(1, holder.svc.cfg.max_audio_s, 200, step=1, label="song duration (s)", visible=False)
    with gr.Accordion("Exact numbers", open=False):
        table = gr.Markdown()

    def render(files, segments, prompt, history, k, *rest):
        """Step ``k`` alone: only what it shows is computed (the audio step runs the encoder)."""
        svc = holder.svc
        k = max(1, min(N, int(k or 1)))
        vis = [gr.update(visible=k == 4), gr.update(visible=k in (5, 6)), gr.update(visible=k == 7)]
        try:
            p = params(*rest, svc.cfg)
            clips = svc.clips(songs_from(files, segments))
            prep = svc.prepare(turns_from(history or [], prompt or "…"), clips)
            prep.layout.check_fits(len(p.generated) + 1)
            v = walkview.view(k, svc, clips, prep, prompt or "…", p)
        except Exception as e:
            return [f"### {walkview.indicator(k)}", "", gr.update(value=None, visible=False),
                    shown_error(e, "walking through the question"), "", *vis, k]
        return [f"### {v.title}", v.picture, gr.update(value=v.image, visible=v.image is not None), v.text, v.table,
                *vis, k]

    state_ins = [page.files, page.segments, page.prompt, page.history]
    knobs = [mask_start, mask_len, gen, temperature, top_k, top_p, seed, seconds, page.max_new]
    outs = [indicator, picture, image, text, table, mask_row, sampling_row, seconds, step]
    go = on_gpu(render)

    def moved(delta):
        return lambda files, segments, prompt, history, k, *rest: go(files, segments, prompt, history,
                                                                    int(k or 1) + delta, *rest)

    back.click(moved(-1), state_ins + [step] + knobs, outs, api_name="walk_back", **holder.queue)
    nxt.click(moved(+1), state_ins + [step] + knobs, outs, api_name="walk_next", **holder.queue)
    page.extra["walk"] = {"render": go, "ins": state_ins + [step] + knobs, "outs": outs, "step": step, "gen": gen}
    for comp in (mask_start, mask_len):
        comp.change(moved(0), state_ins + [step] + knobs, outs, show_progress="hidden")
    seconds.change(moved(0), state_ins + [step] + knobs, outs, show_progress="hidden")
    for comp in (temperature, top_k, top_p):
        comp.release(moved(0), state_ins + [step] + knobs, outs, **holder.queue)

    def appended(files, segments, prompt, history, k, ms, ml, g, *rest):
        """The chosen token joins the answer so far; the step is drawn again one position on."""
        try:
            p = params(ms, ml, g, *rest, holder.svc.cfg)
            svc = holder.svc
            clips = svc.clips(songs_from(files, segments))
            prep = svc.prepare(turns_from(history or [], prompt or "…"), clips)
            prep.layout.check_fits(len(p.generated) + 2)
            chosen = walkview.view(k if k in (5, 6) else 5, svc, clips, prep, prompt or "…", p).chosen
        except Exception as e:
            return [gr.update()] * 3 + [shown_error(e, "computing the next token")] + [gr.update()] * 5 + [g]
        g = list(g or []) + [chosen]
        return [*go(files, segments, prompt, history, k, ms, ml, g, *rest), g]

    def least(files, segments, prompt, history, k, ms, ml, g, *rest):
        svc = holder.svc
        try:
            prep = svc.prepare(turns_from(history or [], prompt or "…"), svc.clips(songs_from(files, segments)))
            prefix, bits, where = walkview.least_sure(svc, prep)
        except Exception as e:
            return [gr.update()] * 3 + [shown_error(e, "finding the least sure position")] + [gr.update()] * 5 + [g]
        out = go(files, segments, prompt, history, 6, ms, ml, list(prefix), *rest)
        out[3] = (f"**Least sure position**: answer token {where + 1} ({bits:.2f} bits of entropy, the most along the "
                  f"greedy answer). The answer so far is kept; sampling acts here.\n\n" + out[3])
        return [*out, list(prefix)]

    next_token.click(on_gpu(appended), state_ins + [step] + knobs, outs + [gen], api_name="next_token", **holder.queue)
    unsure.click(on_gpu(least), state_ins + [step] + knobs, outs + [gen], api_name="least_sure", **holder.queue)
    return page.extra["walk"]


def starters() -> list:
    """One click from the first page: the walkthrough on your own song, or on an example."""
    with gr.Row():
        gr.Markdown("**Walk through it, step by step:**")
        buttons = [(gr.Button("▶ my songs and question", size="sm", variant="primary"), None)]
        buttons += [(gr.Button(f"▶ {Path(name).stem}", size="sm"), name) for name in EXAMPLES]
    return buttons


def wire_starters(holder: Holder, page: Page, buttons: list, tab_id: str) -> None:
    walk = page.extra["walk"]

    def start_on(name):
        return lambda: ([str(FOLDER / name)], EXAMPLES[name][1], "", 1, [], gr.Tabs(selected=tab_id))

    for btn, name in buttons:
        if name is None:
            first = btn.click(lambda: (1, [], gr.Tabs(selected=tab_id)), None, [walk["step"], walk["gen"], page.tabs])
        else:
            first = btn.click(start_on(name), None, [page.files, page.prompt, page.segments, walk["step"],
                                                     walk["gen"], page.tabs])
        first.then(walk["render"], walk["ins"], walk["outs"], **holder.queue)


def link_handler(tab_id: str):
    """``?walkthrough=NAME&step=K``: the example NAME (a file stem) at step K."""
    stems = {Path(n).stem: n for n in EXAMPLES}

    def opened(request: gr.Request):
        q = dict(request.query_params) if request else {}
        name = stems.get(q.get("walkthrough", ""))
        if not name:
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        try:
            k = max(1, min(N, int(q.get("step", "1"))))
        except ValueError:
            k = 1
        return [str(FOLDER / name)], EXAMPLES[name][1], k, [], gr.Tabs(selected=tab_id)

    return opened
