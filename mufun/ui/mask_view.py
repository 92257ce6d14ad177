"""The causal mask of the exact sequence the model reads, coloured by block, with a zoom."""
from __future__ import annotations

import gradio as gr

from mufun.ui.common import Number, Slider, picture


def build() -> tuple:
    gr.Markdown("Row = query position, column = key position; a cell is coloured where the query may attend "
                "(causal: keys at or before the query). Colour = the key's block: text, audio of each song, "
                "answer. Black lines: exact block edges.")
    with gr.Row():
        with gr.Column():
            mask_full = picture("whole sequence")
        with gr.Column():
            mask_zoom = picture("zoom")
    with gr.Row():
        zoom_start = Number(0, label="zoom: first position")
        zoom_len = Slider(8, 512, 32, step=1, label="zoom: positions")
    return mask_full, mask_zoom, zoom_start, zoom_len
