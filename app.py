"""mufun: ask MuFun about songs, see exactly what it reads, watch the answer stream.

Run ``python app.py`` (embedded model on 127.0.0.1:7860). Flags or environment variables
choose the model (MUFUN_MODEL), quantization (MUFUN_QUANTIZE), device map (MUFUN_DEVICE_MAP),
engine (MUFUN_ENGINE, MUFUN_VLLM_URL), host (MUFUN_HOST / GRADIO_SERVER_NAME) and port
(MUFUN_PORT / GRADIO_SERVER_PORT). This file only puts the page's areas in order and starts the
server; each area is built in ``mufun/ui/`` and its logic lives in ``mufun/``.
"""
from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path

# gradio reports usage to its makers only when the operator asks (GRADIO_ANALYTICS_ENABLED=True):
# off by default, as share links are (its reporting threads also slowed the start by half a second)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from mufun import heap, loading
from mufun.errors import UserError, for_user
from mufun.examples import ensure_examples
from mufun.service import ENGINES, MuFunService
from mufun.serving import SWITCH_CHOICES, Limits, switching_allowed
from mufun.traces import TraceStore, keep_sweeping
from mufun.ui import attention_view, chat, layout_view, mask_view, model_panel, songs, walk
from mufun.ui.common import CSS, Holder, Page, on_gpu, picture  # noqa: F401 (on_gpu: the ZeroGPU wrapper)

MAX_UPLOAD = "200mb"
WALK_TAB = "walkthrough"


def create_demo(holder: Holder, limits: Limits | None = None, traces: TraceStore | None = None) -> gr.Blocks:
    """The page, top to bottom: songs and the conversation, the waveforms, the examples and the
    walkthrough's starters; then the teaching views in tabs. ``demo.traces`` holds the answers'
    JSON traces (the only folder ``launch`` serves besides gradio's cache)."""
    examples = ensure_examples()
    limits = limits or Limits()
    traces = traces or TraceStore(limits.traces)
    page = Page()
    # uploads, pictures and traces in gradio's cache go once they are ``files_s`` old
    with gr.Blocks(title="mufun: how MuFun hears a song", delete_cache=(min(600, limits.files_s), limits.files_s)) \
            as demo:
        demo.traces = traces
        gr.Markdown("# mufun · see, hear and teach how MuFun works")
        with gr.Row():
            with gr.Column(scale=1):
                songs.build(holder, page)
            with gr.Column(scale=2):
                chat.build(holder, page, traces, limits.idle_s)
        waves = picture("Waveforms of the songs as the model hears them, with the 30 s chunk boundaries (red)")
        gr.Examples([[[p], q] for p, q in examples], [page.files, page.prompt], label="Examples (synthesized clips)")
        starters = walk.starters()
        with gr.Tabs() as page.tabs:
            with gr.Tab("Walkthrough", id=WALK_TAB):
                walk.build(holder, page)
            with gr.Tab("Token layout"):
                budget, layout = layout_view.build(page)
            with gr.Tab("Attention mask"):
                mask_full, mask_zoom, zoom_start, zoom_len = mask_view.build()
            with gr.Tab("What the answer heard"):
                attention_view.build(holder, page)
            with gr.Tab("Model"):
                model_panel.build(holder, page)
        songs.wire(page, waves)
        chat.wire(holder, page, budget, layout, mask_full)
        layout_view.wire(holder, page, budget, layout, mask_full, mask_zoom, zoom_start, zoom_len, demo)
        walk.wire_starters(holder, page, starters, WALK_TAB)
        w = page.extra["walk"]
        demo.load(walk.link_handler(WALK_TAB), None, [page.files, page.prompt, w["step"], w["gen"], page.tabs]) \
            .then(w["render"], w["ins"], w["outs"])
    return demo


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    ap = argparse.ArgumentParser(description="mufun Gradio app")
    ap.add_argument("--model", default=env("MUFUN_MODEL", loading.EMBEDDED))
    ap.add_argument("--quantize", default=env("MUFUN_QUANTIZE", "none"), choices=loading.QUANTIZE)
    ap.add_argument("--device-map", default=env("MUFUN_DEVICE_MAP", "auto"))
    ap.add_argument("--host", default=env("MUFUN_HOST") or env("GRADIO_SERVER_NAME") or "127.0.0.1")
    ap.add_argument("--max-upload", default=env("MUFUN_MAX_UPLOAD", MAX_UPLOAD), help="upload size limit, e.g. 200mb")
    ap.add_argument("--port", type=int, default=int(env("MUFUN_PORT") or env("GRADIO_SERVER_PORT") or 7860))
    ap.add_argument("--allow-model-switch", default=env("MUFUN_ALLOW_MODEL_SWITCH", "auto"), choices=SWITCH_CHOICES,
                    help="may visitors load another model for everyone? auto: only when serving 127.0.0.1, "
                         "not on a Space")
    ap.add_argument("--engine", default=env("MUFUN_ENGINE", "local"), choices=ENGINES,
                    help="who decodes: this process (local) or a vLLM server (python -m mufun serve-lm)")
    ap.add_argument("--vllm-url", default=env("MUFUN_VLLM_URL"), help="the vLLM server, with --engine vllm")
    ap.add_argument("--streams", type=int, default=int(env("MUFUN_STREAMS") or 0) or None,
                    help="answers streaming at once (default: 1 local, 16 with vLLM)")
    args = ap.parse_args(argv)
    heap.cap_arenas(2)  # before the server's threads start: freed memory is reused, not kept per thread
    # what the imports made lives as long as the process: frozen, a garbage collection (Accelerate
    # runs one after loading a checkpoint) no longer walks it (0.25 s less to start)
    gc.freeze()
    try:
        allow = switching_allowed(args.allow_model_switch, args.host, os.environ)
        limits = Limits.from_env()
        svc = MuFunService.load(args.model, loading.LoadOptions(device_map=args.device_map, quantize=args.quantize),
                                engine=args.engine, vllm_url=args.vllm_url)
    except UserError as e:
        raise SystemExit(f"error: {for_user(e)}") from None
    holder = Holder(svc, allow, args.streams or (16 if args.engine == "vllm" else 1))
    traces = TraceStore(limits.traces)
    traces.remove_on_exit()
    from gradio.utils import get_upload_folder

    keep_sweeping(Path(get_upload_folder()), min(60, limits.files_s), limits.files_s, limits.files_mb * 2**20,
                  then=heap.trim)
    demo = create_demo(holder, limits, traces)
    demo.queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port, share=False,
                                                   max_file_size=args.max_upload, css=CSS,
                                                   allowed_paths=[str(traces.folder)],
                                                   state_session_capacity=limits.sessions)


if __name__ == "__main__":
    main()
