"""What the model reads: every token with its id, every song as its chunks of audio rows, and the
budget bar. It follows the songs, the question and the answer length before anything runs."""
from __future__ import annotations

import gradio as gr

from mufun import inputs
from mufun.ui.common import Holder, Page, shown_error, songs_from, turns_from
from mufun.viz import budget_html, layout_html, mask_image


def build(page: Page) -> tuple:
    budget = gr.HTML()
    layout = gr.HTML()
    return budget, layout


def wire(holder: Holder, page: Page, budget, layout, mask_full, mask_zoom, zoom_start, zoom_len, demo) -> None:
    def preview(files, segments_text, prompt, history, max_new, zoom_start, zoom_len):
        svc = holder.svc
        try:
            clips = svc.clips(songs_from(files, segments_text))
            prep = svc.prepare(turns_from(history, prompt or "…"), clips)
            n_new = inputs.whole(max_new, "max new tokens", 1, inputs.MAX_NEW_TOKENS)
            z0 = inputs.whole(zoom_start, "zoom: first position", 0, 10**9)
            zn = inputs.whole(zoom_len, "zoom: positions", 1, 10**9)
        except Exception as e:
            return shown_error(e, "laying out the question"), "", None, None
        lay = prep.layout
        return budget_html(lay, n_new), layout_html(lay), mask_image(lay), mask_image(lay, start=z0, end=z0 + zn)

    ins = [page.files, page.segments, page.prompt, page.history, page.max_new, zoom_start, zoom_len]
    outs = [budget, layout, mask_full, mask_zoom]
    for comp in (page.files, page.segments, page.prompt, page.max_new, zoom_start, zoom_len):
        comp.change(preview, ins, outs, concurrency_limit=4, show_progress="hidden")
    demo.load(preview, ins, outs)
