"""Pictures and tables of the layout: a readable table, the causal mask as an image."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from mufun.layout import Layout

PALETTE = {"text": (90, 120, 200), "answer": (220, 120, 40)}
AUDIO_COLOURS = [(40, 170, 110), (170, 60, 170), (200, 170, 30), (40, 160, 200), (200, 70, 70)]
BACKGROUND = (245, 245, 245)
EDGE = (30, 30, 30)


def group_colour(group: str) -> tuple[int, int, int]:
    if group.startswith("audio"):
        return AUDIO_COLOURS[(int(group.split()[1]) - 1) % len(AUDIO_COLOURS)]
    return PALETTE.get(group, (120, 120, 120))


def layout_table(lay: Layout, max_tokens_shown: int = 12) -> str:
    rows = [f"{'positions':>13}  {'kind':<9} {'n':>5}  content", "-" * 72]
    for s in lay.spans:
        if s.kind == "audio":
            what = s.label
        else:
            toks = [f"{t!r}:{i}" for t, i in zip(s.token_strings, s.token_ids)]
            what = " ".join(toks[:max_tokens_shown]) + (f" ... (+{len(toks) - max_tokens_shown})"
                                                        if len(toks) > max_tokens_shown else "")
        rows.append(f"{s.start:>6}-{s.end - 1:<6}  {s.kind:<9} {s.length:>5}  {what}")
    b = lay.budget()
    rows += ["-" * 72,
             "totals: " + ", ".join(f"{k} {v}" for k, v in lay.totals().items()),
             f"sequence length {lay.sequence_length} of {lay.context_limit} positions "
             f"(fine-tuned at {lay.trained_length}); audio {b.audio} = "
             + " + ".join(f"{f.chunks} x {lay.tokens_per_chunk}" for f in lay.files) if lay.files else
             f"sequence length {lay.sequence_length} of {lay.context_limit} positions (fine-tuned at {lay.trained_length})"]
    return "\n".join(rows)


def _group_per_position(lay: Layout, start: int, end: int) -> list[str]:
    out = []
    for b in lay.blocks():
        lo, hi = max(b.start, start), min(b.end, end)
        out.extend([b.group] * max(0, hi - lo))
    return out


def mask_image(lay: Layout, size: int = 512, start: int = 0, end: int | None = None) -> Image.Image:
    """The causal mask of positions [start, end): row i (query) sees column j (key) iff j <= i.

    Cells are coloured by the key's block (text, audio of song k, answer). Above ``size``
    positions the picture is downsampled: a pixel is coloured where any cell in it is visible,
    and block edges are drawn at their exact positions.
    """
    end = lay.sequence_length if end is None else min(end, lay.sequence_length)
    n = end - start
    if n <= 0:
        return Image.new("RGB", (size, size), BACKGROUND)
    px = min(size, n)
    # pixel k covers positions [start + k*n/px, start + (k+1)*n/px)
    edges = start + (np.arange(px + 1) * n) // px
    groups = _group_per_position(lay, start, end)
    colours = np.array([group_colour(g) for g in groups], dtype=np.uint8)  # (n, 3)
    col_first = edges[:-1]  # earliest key in each pixel column
    row_last = edges[1:] - 1  # latest query in each pixel row
    visible = col_first[None, :] <= row_last[:, None]  # (px, px)
    img = np.empty((px, px, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    col_col = colours[col_first - start]  # (px, 3)
    img[visible] = np.broadcast_to(col_col[None, :, :], (px, px, 3))[visible]
    im = Image.fromarray(img).resize((size, size), Image.NEAREST)
    draw = ImageDraw.Draw(im)
    scale = size / n
    for b in lay.blocks():
        if start < b.start < end:
            x = (b.start - start) * scale
            draw.line([(x, 0), (x, size)], fill=EDGE, width=1)
            draw.line([(0, x), (size, x)], fill=EDGE, width=1)
    if n <= 48:  # zoomed in: label single positions
        for i in range(n):
            c = (i + 0.5) * scale
            draw.text((c - 6, 1), str(start + i)[-3:], fill=EDGE)
            draw.text((1, c - 5), str(start + i)[-3:], fill=EDGE)
    return im


def legend(lay: Layout) -> list[tuple[str, str]]:
    """(group, '#rrggbb') for each group present."""
    seen = []
    for b in lay.blocks():
        if b.group not in [g for g, _ in seen]:
            seen.append((b.group, "#%02x%02x%02x" % group_colour(b.group)))
    return seen
