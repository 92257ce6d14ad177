"""The walkthrough's pictures as HTML, drawn from plain data (ids, shapes, probabilities, counts):
token chips, the audio path with its shapes on the arrows, the splice as a before/after strip,
a labelled mask slice, probability bars and a budget bar. Nothing here computes a number; every
one comes in from the model, the tokenizer or the config."""
from __future__ import annotations

import html
from typing import Sequence

KIND_COLOURS = {"system": "#eef1fb", "template": "#f1f1f1", "user": "#e3ecff", "special": "#ffe4cc",
                "answer": "#fff0d6", "generated": "#ffdcb8", "audio": "#d7f2e4"}


def _e(s: str) -> str:
    return html.escape(s, quote=True).replace("\n", "\\n")


def chips(rows: Sequence[dict], placeholder: int, limit: int = 160) -> str:
    """One chip per token: its text over its id, coloured by kind; the placeholder stands out."""
    out = []
    for r in rows[:limit]:
        audio = r["id"] == placeholder
        bg = KIND_COLOURS["audio"] if audio else KIND_COLOURS.get(r["kind"], "#f4f4f4")
        border = "2px solid #1d8a55" if audio else "1px solid #bbb"
        text = "&lt;audio&gt;" if audio else (_e(r["text"]) or "·")
        out.append(f'<span class="chip" style="background:{bg};border:{border}" title="position {r["position"]}, '
                   f'{r["kind"]}"><span class="t">{text}</span><span class="i">{r["id"]}</span></span>')
    more = f'<span class="more">… {len(rows) - limit} more</span>' if len(rows) > limit else ""
    legend = " ".join(f'<span class="chip" style="background:{c}"><span class="t">{k}</span></span>'
                      for k, c in KIND_COLOURS.items() if k in {r["kind"] for r in rows} or k == "audio")
    return f'<div class="mufun-chips">{"".join(out)}{more}</div><div class="mufun-legend">{legend}</div>'


def audio_path(arrows: Sequence[tuple[str, tuple[int, ...], str]]) -> str:
    """Boxes for each stage, the live tensor shape on the arrow into it."""
    cells = []
    for k, (stage, shape, note) in enumerate(arrows):
        arrow = f'<div class="arrow">→ <code>{tuple(shape)}</code></div>' if k else ""
        cells.append(f'{arrow}<div class="box" title="{_e(note)}"><b>{_e(stage)}</b><br><code>{tuple(shape)}</code>'
                     f'<div class="note">{_e(note)}</div></div>')
    return f'<div class="mufun-path">{"".join(cells)}</div>'


def splice_strip(before: Sequence[int], after: Sequence[dict], placeholder: int, limit: int = 24) -> str:
    """Before: ids with one placeholder per song. After: the same positions renumbered, each
    placeholder replaced by its song's block of audio rows."""
    def cell(label: str, sub: str, audio: bool = False, width: int = 1) -> str:
        cls = "cell audio" if audio else "cell"
        return f'<span class="{cls}" style="flex-grow:{width}"><b>{label}</b><sub>{sub}</sub></span>'

    top = [cell("−200" if t == placeholder else str(t), f"#{i}", t == placeholder) for i, t in enumerate(before)]
    low = []
    for a in after:
        audio = "audio" in a["content"] or "chunk" in a["content"]
        low.append(cell(_e(a["content"][:28]), a["positions"], audio, 6 if audio else 1))
    cut = lambda xs: xs[:limit] + ([f'<span class="cell more">… +{len(xs) - limit}</span>'] if len(xs) > limit else [])  # noqa: E731
    return (f'<div class="mufun-strip"><div class="label">before: {len(before)} ids</div>'
            f'<div class="row">{"".join(cut(top))}</div>'
            f'<div class="label">after: positions renumbered 0…, one per row</div>'
            f'<div class="row">{"".join(cut(low))}</div></div>')


def mask_grid(rows: Sequence[dict], start: int) -> str:
    """The causal mask of a slice: a row per query, a column per key, labelled with positions and
    tokens; a filled cell where the query may attend."""
    n = len(rows)
    head = "".join(f'<th title="{_e(str(r["token"]))}"><div>{r["position"]}</div></th>' for r in rows)
    body = []
    for qi, r in enumerate(rows):
        cells = "".join(f'<td class="{"on " + r_k["kind"] if ki <= qi else "off"}"></td>'
                        for ki, r_k in enumerate(rows))
        body.append(f'<tr><th class="rowlab">{r["position"]} <span>{_e(str(r["token"])[:14])}</span></th>{cells}</tr>')
    return (f'<table class="mufun-mask"><tr><th class="corner">query ↓ key →</th>{head}</tr>{"".join(body)}</table>'
            f'<div class="mufun-legend">{n} positions from {start}: row <i>q</i> sees keys {start}…<i>q</i> '
            f'(everything before it, itself included), nothing after.</div>')


def bars(items: Sequence[tuple[str, float]], highlight: int | None = None, scale: float | None = None,
         fmt: str = "{:.4f}") -> str:
    """Horizontal bars, one per (label, value); ``highlight`` marks one."""
    top = scale or max([v for _, v in items] + [1e-12])
    out = []
    for k, (label, v) in enumerate(items):
        cls = "bar chosen" if k == highlight else "bar"
        out.append(f'<div class="{cls}"><span class="lab">{_e(label)}</span><span class="track">'
                   f'<span class="fill" style="width:{100 * v / top:.2f}%"></span></span>'
                   f'<span class="val">{fmt.format(v)}</span></div>')
    return f'<div class="mufun-bars">{"".join(out)}</div>'


def budget_bar(parts: Sequence[tuple[str, int, str]], limit: int, trained: int, note: str) -> str:
    """The context as one bar: each part's share, the fine-tuned length marked."""
    segs = "".join(f'<div title="{_e(k)}: {v:,}" style="width:{100 * min(v, limit) / limit:.3f}%;background:{c}">'
                   f'</div>' for k, v, c in parts if v)
    mark = f'<div class="mark" style="left:{100 * trained / limit:.2f}%" title="fine-tuned length"></div>' \
        if trained < limit else ""
    keys = " · ".join(f'<span style="color:{c}">■</span> {_e(k)} {v:,}' for k, v, c in parts)
    return (f'<div class="mufun-budget"><div class="bar">{segs}{mark}</div>'
            f'<div class="keys">{keys} · limit {limit:,} (fine-tuned at {trained:,})</div>'
            f'<div class="note">{_e(note)}</div></div>')


CSS = """
.mufun-chips{display:flex;flex-wrap:wrap;gap:3px}.mufun-chips .chip,.mufun-legend .chip{display:inline-flex;
flex-direction:column;align-items:center;border:1px solid #bbb;border-radius:4px;padding:1px 4px;font:12px monospace}
.chip .i{color:#666;font-size:10px}.mufun-legend{margin-top:6px;font-size:12px;color:#444}
.mufun-path{display:flex;flex-wrap:wrap;align-items:center;gap:4px}.mufun-path .box{border:1px solid #889;
border-radius:6px;padding:4px 8px;background:#f6f8ff;max-width:150px;font-size:12px}.mufun-path .note{color:#555;
font-size:11px}.mufun-path .arrow{font-size:12px;color:#1d8a55}
.mufun-strip .row{display:flex;gap:2px;margin:2px 0 8px 0}.mufun-strip .cell{border:1px solid #bbb;background:#f4f4f4;
padding:2px 3px;font:11px monospace;text-align:center;min-width:24px;overflow:hidden;white-space:nowrap}
.mufun-strip .cell.audio{background:#d7f2e4;border-color:#1d8a55}.mufun-strip sub{display:block;color:#666}
.mufun-strip .label{font-size:12px;color:#333}
.mufun-mask{border-collapse:collapse;font:11px monospace}.mufun-mask td{width:18px;height:18px;border:1px solid #ddd}
.mufun-mask td.on{background:#5a78c8}.mufun-mask td.on.audio{background:#28aa6e}.mufun-mask td.on.generated,
.mufun-mask td.on.answer{background:#dc7828}.mufun-mask th div{writing-mode:vertical-rl;transform:rotate(180deg)}
.mufun-mask .rowlab{text-align:right;white-space:nowrap;padding-right:4px}.mufun-mask .rowlab span{color:#666}
.mufun-bars .bar{display:flex;align-items:center;gap:6px;font:12px monospace;margin:1px 0}.mufun-bars .lab{width:140px;
overflow:hidden;white-space:nowrap;text-align:right}.mufun-bars .track{flex:1;background:#eee;height:12px}
.mufun-bars .fill{display:block;height:12px;background:#5a78c8}.mufun-bars .chosen .fill{background:#dc7828}
.mufun-bars .val{width:60px}.mufun-budget .bar{display:flex;height:18px;background:#eee;position:relative}
.mufun-budget .mark{position:absolute;top:-3px;bottom:-3px;border-left:2px dashed #a33}.mufun-budget .keys,
.mufun-budget .note{font-size:12px;margin-top:4px}
"""
