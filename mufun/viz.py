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


def _esc(s: str) -> str:
    import html

    return html.escape(s).replace("\n", "\\n")


def layout_html(lay: Layout, max_text_tokens: int = 40) -> str:
    """The sequence as the model reads it: text tokens with ids, audio chunks (expandable)."""
    parts = ['<div class="mufun-layout">']
    for s in lay.spans:
        if s.kind == "audio":
            colour = "#%02x%02x%02x" % group_colour(f"audio {s.file + 1}")
            parts.append(
                f'<details class="span audio" style="border-left:6px solid {colour}">'
                f'<summary><b>song {s.file + 1} · chunk {s.chunk + 1}</b> · {s.length} audio tokens · '
                f'{s.t0:.1f}–{s.t1:.1f} s · positions {s.start}–{s.end - 1}</summary>'
                f'<div class="rows">each row is one {lay.tokens_per_chunk}-th of the chunk: '
                f'≈{(s.t1 - s.t0) / s.length * 1000:.0f} ms of audio per position '
                f'(the last chunk is zero-padded to 30 s)</div></details>')
        else:
            toks = "".join(f'<span class="tok" title="position {s.start + k}, id {i}">{_esc(t)}<sub>{i}</sub></span>'
                           for k, (t, i) in enumerate(zip(s.token_strings[:max_text_tokens], s.token_ids)))
            more = (f' <i>… +{s.length - max_text_tokens} tokens</i>' if s.length > max_text_tokens else "")
            parts.append(f'<div class="span {s.kind}"><span class="kind">{s.kind}</span> '
                         f'<span class="pos">{s.start}–{s.end - 1}</span> {toks}{more}</div>')
    parts.append("</div>")
    return "".join(parts)


def budget_html(lay: Layout, max_new_tokens: int) -> str:
    b = lay.budget(max_new_tokens)
    colours = {"system": "#5a78c8", "prompt": "#8aa0e0", "audio": "#28aa6e", "history": "#999999",
               "answer": "#dc7828"}
    bars = "".join(f'<div title="{k}: {v}" style="width:{100 * v / b.context_limit:.3f}%;background:{colours[k]}">'
                   f'</div>' for k, v in (("system", b.system), ("prompt", b.prompt), ("audio", b.audio),
                                          ("history", b.history), ("answer", b.answer)) if v)
    keys = " · ".join(f'<span style="color:{colours[k]}">■</span> {k} {getattr(b, k):,}'
                      for k in ("system", "prompt", "audio", "history", "answer"))
    warn = ""
    if not b.fits:
        warn = f'<div class="over">Over the limit by {-b.remaining:,} positions.</div>'
    elif b.past_trained_length:
        warn = (f'<div class="warn">Past the fine-tuned length ({b.trained_length:,}): the model was not trained on '
                f'sequences this long.</div>')
    return (f'<div class="budget"><div class="bar" style="display:flex;height:14px;background:#eee">{bars}</div>'
            f'<div>{keys} · <b>{b.used:,} / {b.context_limit:,}</b> positions '
            f'(fine-tuned at {b.trained_length:,})</div>{warn}</div>')


def waveform_image(samples: np.ndarray, rate: int, chunk_times: list[tuple[float, float]], offset_s: float = 0.0,
                   width: int = 640, height: int = 90) -> Image.Image:
    """Min/max envelope of the used audio with the 30 s chunk boundaries."""
    im = Image.new("RGB", (width, height), BACKGROUND)
    d = ImageDraw.Draw(im)
    n = len(samples)
    if n == 0:
        return im
    edges = (np.arange(width + 1) * n) // width
    mid = height / 2
    for x in range(width):
        seg = samples[edges[x]:max(edges[x + 1], edges[x] + 1)]
        lo, hi = float(seg.min()), float(seg.max())
        d.line([(x, mid - hi * (mid - 2)), (x, mid - lo * (mid - 2))], fill=(40, 120, 90))
    dur = n / rate
    for c, (t0, _) in enumerate(chunk_times):
        x = (t0 - offset_s) / dur * width
        d.line([(x, 0), (x, height)], fill=(200, 60, 60), width=2)
        d.text((x + 3, 2), f"chunk {c + 1} @ {t0:.0f}s", fill=EDGE)
    return im


def waveforms_image(clips: list, cfg, width: int = 900, band: int = 96) -> Image.Image | None:
    """Every song's waveform in one picture, a labelled band each, with its chunk boundaries."""
    if not clips:
        return None
    title = 16
    im = Image.new("RGB", (width, len(clips) * (band + title)), (255, 255, 255))
    d = ImageDraw.Draw(im)
    for k, c in enumerate(clips):
        y = k * (band + title)
        seg = f", segment {c.segment[0]:g}-{c.segment[1]:g} s" if c.segment else ""
        d.text((4, y + 2), f"{c.source}: {len(c.samples) / 16000:.1f} s used{seg}, {c.n_chunks(cfg)} chunk(s), "
                           f"{c.tokens(cfg)} audio tokens", fill=EDGE)
        im.paste(waveform_image(c.samples, 16000, c.chunk_times(cfg), c.offset_s, width, band), (0, y + title))
    return im
