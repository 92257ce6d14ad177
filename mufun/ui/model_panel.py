"""The model panel: what is loaded (read from its config), loading another (when the operator
allows it), and comparing precisions on the loaded songs and question."""
from __future__ import annotations

import gradio as gr

from mufun import loading, precision
from mufun.errors import strip_paths
from mufun.generate import Sampling
from mufun.ui.common import SWITCH_OFF, Holder, Page, shown_error, songs_from, turns_from


def describe(holder: Holder) -> str:
    svc = holder.svc
    r = svc.loaded.report()
    lines = []
    if svc.loaded.embedded:
        lines.append("> **Embedded teaching model (MuFun-Tiny)** is active: MuFun's exact architecture at tiny "
                     "widths, running offline. It is not MuFun; load a Hub model for real answers.")
    engine = svc.engine.describe()
    if engine["engine"] == "vllm":
        lines.append(f"> **Engine: vLLM** at `{engine['url']}` serving `{engine['served_model']}` ({engine['dtype']}, "
                     f"context {engine['max_model_len']:,}): this app holds only what the splice needs (encoder, "
                     f"connector, token embeddings); the Qwen3 decoder runs on the server, {holder.streams} answers "
                     f"streaming at once. The attention map needs the local engine.")
    else:
        lines.append("> **Engine: local**: this process decodes, one answer at a time.")
    if not holder.allow_switch:
        lines.append("> " + (SWITCH_OFF if engine["engine"] == "local" else
                             "Switching models is off: the vLLM server serves this model's decoder."))
    lines += [f"**Source** `{strip_paths(r['source'])}` ({r['kind']}, revision {r['revision'] or '-'}) · **dtype** "
              f"{r['dtype']} · **quantization** {r['quantization']} ({r['quantized_linears']} linears) · "
              f"**device map** {r['device_map']} · **memory** {r['memory_total_bytes'] / 2**20:,.1f} MiB", ""]
    lines += ["| config | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in svc.cfg.summary().items()]
    lines += [f"- {strip_paths(n)}" for n in r["notes"]]
    return "\n".join(lines)


def compare_md(holder: Holder, files, segments, prompt, history) -> str:
    """Plan (what fits), then the three answers side by side."""
    svc = holder.svc
    dev = "cuda" if any(str(d).startswith("cuda") for d in svc.loaded.device_map.values()) else "cpu"
    plans = precision.plan(svc.cfg, dev, torch_bytes(svc.loaded.dtype))
    fits = " · ".join(f"{p.precision}: ~{p.estimate / 2**20:,.0f} MiB ({'fits' if p.fits else 'does not fit'})"
                      for p in plans)
    head = f"**Free memory on {dev}** against each precision's language model (estimated from the config): {fits}."
    if not holder.allow_switch:
        return head + "\n\n⚠️ Comparing loads the other precisions, which is a model switch: " + SWITCH_OFF
    if not all(p.fits for p in plans):
        return head + "\n\n⚠️ Not every precision fits this device's free memory: nothing was loaded."
    src, opts = svc.loaded.source, loading.LoadOptions(device_map=svc.loaded.device_map or "auto")
    rows = precision.compare(svc, turns_from(history or [], prompt or "…"), songs_from(files, segments),
                             Sampling(max_new_tokens=32),
                             lambda mode: type(svc).load(src, loading.LoadOptions(**{**opts.__dict__, "quantize": mode})))
    table = ["| precision | answer | same tokens as full precision | language model memory | load | first token | "
             "tokens/s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r.precision} | {r.answer} | {'yes' if r.matches else 'no'} | {r.lm_bytes / 2**20:,.1f} MiB | "
                     f"{r.load_s:.1f} s | {r.first_token_s:.3f} s | {r.tokens_per_s or 0:.1f} |")
    return head + "\n\n" + "\n".join(table)


def torch_bytes(dtype) -> int:
    return dtype.itemsize if hasattr(dtype, "itemsize") else 4


def build(holder: Holder, page: Page) -> None:
    info = gr.Markdown(describe(holder))
    with gr.Row(visible=holder.allow_switch):
        choice = gr.Dropdown([f"{loading.EMBEDDED} (embedded)", *loading.KNOWN_HUB_IDS],
                             value=f"{loading.EMBEDDED} (embedded)", label="Model")
        custom = gr.Textbox(label="…or a local folder / other Hub id", placeholder="/path/to/MuFun-Instruct")
        quantize = gr.Radio(list(loading.QUANTIZE), value="none", label="Quantize Qwen3")
        device_map = gr.Radio(["auto", "cpu", "cuda"], value="auto", label="Device map")
    load_btn = gr.Button("Load model", visible=holder.allow_switch)
    gr.Markdown("**Compare precisions**: your question on your songs, answered with the Qwen3 linears in full "
                "precision, int8 and nf4 (greedy, 32 tokens at most).")
    cmp_btn = gr.Button("Compare precisions")
    cmp_md = gr.Markdown()

    def load_model(choice, custom, quantize, device_map, progress=gr.Progress(track_tqdm=True)):
        source = (custom or "").strip() or choice.split(" ")[0]
        try:
            holder.swap(source, loading.LoadOptions(device_map=device_map, quantize=quantize),
                        progress=lambda f, msg: progress(f, desc=msg))
        except Exception as e:
            return shown_error(e, "loading the model") + "\n\n" + describe(holder)
        return describe(holder)

    def compare(files, segments, prompt, history):
        try:
            return compare_md(holder, files, segments, prompt, history)
        except Exception as e:
            return shown_error(e, "comparing precisions")

    load_btn.click(load_model, [choice, custom, quantize, device_map], [info], api_name="load_model", **holder.queue)
    cmp_btn.click(compare, [page.files, page.segments, page.prompt, page.history], [cmp_md],
                  api_name="compare_precisions", **holder.queue)
