"""mufun: ask MuFun about songs, see exactly what it reads, watch the answer stream.

Run ``python app.py`` (embedded model on 127.0.0.1:7860). Flags or environment variables
choose the model (MUFUN_MODEL), quantization (MUFUN_QUANTIZE), device map (MUFUN_DEVICE_MAP),
host (MUFUN_HOST / GRADIO_SERVER_NAME) and port (MUFUN_PORT / GRADIO_SERVER_PORT).
This file only wires the UI; the logic lives in ``mufun/``.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback
from pathlib import Path

import gradio as gr

from mufun import inputs, loading, present, teach
from mufun.audio import SOUNDFILE_FORMATS, FFMPEG_FORMATS
from mufun.errors import UserError, for_user, strip_paths
from mufun.examples import ensure_examples
from mufun.generate import Done, Step
from mufun.longaudio import Stage, Tally, analyse
from mufun.pipeline import SongInput, display_name, parse_segments
from mufun.prompt import PromptError, Turn
from mufun.service import ENGINES, MuFunService
from mufun.serving import SWITCH_CHOICES, Limits, switching_allowed
from mufun.traces import TraceStore, keep_sweeping
from mufun.viz import budget_html, layout_html, mask_image, waveforms_image

USER_ERRORS = (UserError,)
MAX_UPLOAD = "200mb"
CSS = """
.mufun-layout .span{margin:2px 0;padding:2px 4px;font-family:monospace;font-size:12px}
.mufun-layout .kind{font-weight:bold;margin-right:4px}.mufun-layout .pos{color:#888;margin-right:6px}
.mufun-layout .tok{border:1px solid #ccc;border-radius:3px;margin:1px;padding:0 2px;display:inline-block}
.mufun-layout .tok sub{color:#888;font-size:9px}.mufun-layout .system{background:#eef1fb}
.mufun-layout .template{background:#f4f4f4}.mufun-layout .user{background:#e8f0ff}
.mufun-layout .special{background:#ffe9d6}.mufun-layout .answer{background:#fff4e0}
.mufun-layout .generated{background:#ffe3c6}.budget .over{color:#b00;font-weight:bold}.budget .warn{color:#a60}
.mufun-songs table{display:block;overflow-x:auto}.mufun-songs th,.mufun-songs td{word-break:normal;
overflow-wrap:normal;white-space:nowrap}.mufun-caption p{margin:4px 0 0 0;font-size:13px;color:#555}
"""


def on_gpu(fn, duration: int = 120):
    """On a ZeroGPU Space (the ``spaces`` package present and active) hold a GPU while ``fn``
    runs; elsewhere ``spaces.GPU`` returns ``fn`` as it is, and without the package so do we."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)


def shown_error(e: BaseException, doing: str) -> str:
    """The status line for a failure: the user's mistake in our words; a bug logged here, named
    to the user in one sentence."""
    if not isinstance(e, UserError):
        traceback.print_exception(e, file=sys.stderr)
    return f"⚠️ {for_user(e, doing)}"


SWITCH_OFF = ("Switching models is turned off on this server by its operator (`--allow-model-switch` / "
              "`MUFUN_ALLOW_MODEL_SWITCH`): every visitor shares the model shown here.")


class Holder:
    """The one owner of the loaded model; swapping models takes its lock. ``allow_switch`` is the
    operator's choice (see ``mufun.serving``): when off, nobody can swap the model."""

    def __init__(self, svc: MuFunService, allow_switch: bool = True, streams: int = 1):
        self.svc = svc
        self.allow_switch = allow_switch and svc.engine.holds_decoder  # a vLLM server serves one model
        self.streams = streams
        self.lock = threading.Lock()

    def swap(self, source: str, opts: loading.LoadOptions, progress=None) -> MuFunService:
        if not self.allow_switch:
            raise loading.LoadError(SWITCH_OFF)
        new = MuFunService.load(source, opts, progress)
        with self.lock:
            self.svc = new
        return new


def model_markdown(holder: Holder) -> str:
    svc = holder.svc
    r = svc.loaded.report()
    lines = []
    if svc.loaded.embedded:
        lines.append("> **Embedded teaching model (MuFun-Tiny)** is active: MuFun's exact architecture at tiny "
                     "widths, running offline. It is not MuFun; load a Hub model for real answers.")
    engine = svc.engine.describe()
    if engine["engine"] == "vllm":
        lines.append(f"> **Engine: vLLM** at `{engine['url']}` serving `{engine['served_model']}` "
                     f"({engine['dtype']}, context {engine['max_model_len']:,}): this app holds only what the splice "
                     f"needs (encoder, connector, token embeddings); the Qwen3 decoder runs on the server, "
                     f"{holder.streams} answers streaming at once. The attention map needs the local engine.")
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


def _songs(files, segments_text) -> list[SongInput]:
    paths = [f if isinstance(f, str) else f.name for f in (files or [])]
    segs = parse_segments(segments_text, len(paths))
    return [SongInput(p, segs.get(i), name=f"{i + 1}. {display_name(p)}") for i, p in enumerate(paths)]


def _turns(history: list[dict], prompt: str) -> list[Turn]:
    return [Turn(h["user"], h["answer"]) for h in history] + [Turn(prompt)]


def _chat(history: list[dict], pending: tuple[str, str] | None = None) -> list[dict]:
    """Every message shown exactly as written (``present.literal``): nothing a person or the
    model typed is rendered as markdown or HTML."""
    msgs = []
    for h in history:
        msgs += [{"role": "user", "content": present.literal(h["user"])},
                 {"role": "assistant", "content": h.get("shown") or present.literal(h["answer"])}]
    if pending:
        msgs += [{"role": "user", "content": present.literal(pending[0])},
                 {"role": "assistant", "content": pending[1]}]
    return msgs


class Slider(gr.Slider):
    """gradio's slider, drawn the same (a template of it), whose value reaches the handler as sent:
    the handler checks it (``mufun.inputs``) and answers an API caller out of range in our words."""

    is_template = True

    def preprocess(self, payload):
        return payload


class Number(gr.Number):
    """gradio's number field, drawn the same, neither rounded nor bounded before our checks."""

    is_template = True

    def preprocess(self, payload):
        return payload


def picture(caption: str) -> gr.Image:
    """An image with its caption above it: gradio's own label would sit over the picture's top."""
    gr.Markdown(caption, elem_classes=["mufun-caption"])
    return gr.Image(show_label=False, type="pil", buttons=["download", "fullscreen"])


def _songs_of(turn: dict) -> list[SongInput]:
    """The songs a past answer heard, kept with its turn."""
    return [SongInput(path, tuple(seg) if seg else None, name) for path, seg, name in turn.get("songs", [])]


def _kept(songs: list[SongInput]) -> list:
    return [[s.path, list(s.segment) if s.segment else None, s.name] for s in songs]


EXPIRED = ("⚠️ The server no longer remembers this conversation: it was idle too long or the server restarted. "
           "Press Clear to start again (the songs are still here).")


def create_demo(holder: Holder, limits: Limits | None = None, traces: TraceStore | None = None) -> gr.Blocks:
    """The page; ``demo.traces`` is the app's own folder of answer traces (served by ``launch``)."""
    examples = ensure_examples()
    limits = limits or Limits()
    traces = traces or TraceStore(limits.traces)

    def song_info(files, segments_text):
        svc = holder.svc
        try:
            clips = svc.clips(_songs(files, segments_text))
        except Exception as e:
            return shown_error(e, "reading the songs"), None
        return present.songs_table(clips, svc.cfg), waveforms_image(clips, svc.cfg)

    def preview(files, segments_text, prompt, history, max_new, zoom_start, zoom_len):
        svc = holder.svc
        try:
            clips = svc.clips(_songs(files, segments_text))
            prep = svc.prepare(_turns(history, prompt or "…"), clips)
            n_new = inputs.whole(max_new, "max new tokens", 1, inputs.MAX_NEW_TOKENS)
            z0 = inputs.whole(zoom_start, "zoom: first position", 0, 10**9)
            zn = inputs.whole(zoom_len, "zoom: positions", 1, 10**9)
        except Exception as e:
            return shown_error(e, "laying out the question"), "", None, None
        lay = prep.layout
        return budget_html(lay, n_new), layout_html(lay), mask_image(lay), mask_image(lay, start=z0, end=z0 + zn)

    def ask(files, segments_text, prompt, history, max_new, temperature, top_k, top_p, seed, shown=None):
        svc = holder.svc
        history = list(history or [])
        if shown and not history:  # the page shows a conversation the server has forgotten
            yield shown, history, EXPIRED, gr.update(), gr.update(), gr.update(), None
            return
        try:
            songs = _songs(files, segments_text)
            clips = svc.clips(songs)
            sampling = inputs.sampling(max_new, temperature, top_k, top_p, seed)
            events = svc.ask(_turns(history, prompt), clips, sampling)
            prep = next(events)
        except Exception as e:
            yield _chat(history), history, shown_error(e, "reading the question"), gr.update(), gr.update(), \
                gr.update(), None
            return
        user_text = prep.tokens.text.rsplit("USER: ", 1)[1].rsplit(" ASSISTANT:", 1)[0]
        notes = present.answer_notes(prep.warnings)
        yield (_chat(history, (user_text, "")), history, "generating…" + notes,
               budget_html(prep.layout, sampling.max_new_tokens), layout_html(prep.layout), mask_image(prep.layout),
               None)
        steps, text = [], ""
        try:
            for ev in events:
                if isinstance(ev, Step):
                    steps.append(ev)
                    text += ev.delta
                    yield (_chat(history, (user_text, present.literal(text))), history, "generating…" + notes,
                           gr.update(), gr.update(), gr.update(), None)
                elif isinstance(ev, Done):
                    grown = svc.prepare(_turns(history, prompt), clips, ev.ids).layout
                    history = history + [{"user": user_text, "answer": ev.text, "ids": list(ev.ids),
                                          "songs": _kept(songs)}]
                    path = traces.write(svc.trace(prep, ev, steps, sampling))
                    yield (_chat(history), history, present.answer_status(ev.stats, prep.warnings),
                           budget_html(grown, 0), layout_html(grown), mask_image(grown), str(path))
        except Exception as e:  # the model failed mid-stream: tell the user, keep serving, keep nothing
            yield _chat(history), history, shown_error(e, "generating the answer"), gr.update(), gr.update(), \
                gr.update(), None

    def load_model(choice, custom, quantize, device_map, progress=gr.Progress(track_tqdm=True)):
        source = (custom or "").strip() or choice.split(" ")[0]
        try:
            svc = holder.swap(source, loading.LoadOptions(device_map=device_map, quantize=quantize),
                              progress=lambda f, msg: progress(f, desc=msg))
        except Exception as e:
            return shown_error(e, "loading the model") + "\n\n" + model_markdown(holder)
        return model_markdown(holder)

    def long_song(files, segments_text, prompt, history, max_new, temperature, top_k, top_p, seed, shown=None):
        """Window analysis: the question per window of the song, then the parts combined."""
        svc = holder.svc
        history = list(history or [])
        if shown and not history:
            yield shown, history, EXPIRED, gr.update(), gr.update(), gr.update(), None
            return
        try:
            clips = svc.clips(_songs(files, segments_text))
            if len(clips) != 1:
                raise PromptError("Window analysis takes exactly one song: remove the others or use segments.")
            sampling = inputs.sampling(max_new, temperature, top_k, top_p, seed)
            shown, text, windows = "", "", 0
            for ev in analyse(svc, prompt, clips[0], sampling):
                if isinstance(ev, Stage):
                    shown, text = shown + present.literal(text), ""
                    windows += bool(ev.prepared.clips)
                    shown += f"\n\n**{present.literal(ev.title)}:** "
                    yield (_chat(history, (prompt, shown.strip())), history, f"window analysis: step {ev.index + 1} "
                           f"of {ev.total}", budget_html(ev.prepared.layout, sampling.max_new_tokens),
                           layout_html(ev.prepared.layout), mask_image(ev.prepared.layout), None)
                elif isinstance(ev, Tally):
                    shown, text = shown + present.literal(text), ""
                    shown += f"\n\n**Combined:** {present.literal(ev.text)}"
                elif isinstance(ev, Step):
                    text += ev.delta
                    yield (_chat(history, (prompt, (shown + present.literal(text)).strip())), history, gr.update(),
                           gr.update(), gr.update(), gr.update(), None)
            shown = (shown + present.literal(text)).strip()
            history = history + [{"user": prompt, "answer": shown, "shown": shown, "ids": []}]
            yield (_chat(history), history, f"window analysis done: {present.plural(windows, 'window')}",
                   gr.update(), gr.update(), gr.update(), None)
        except Exception as e:
            yield _chat(history), history, shown_error(e, "analysing the song"), gr.update(), gr.update(), \
                gr.update(), None

    def _walk_prep(files, segments_text, prompt, history):
        svc = holder.svc
        clips = svc.clips(_songs(files, segments_text))
        return svc, clips, svc.prepare(_turns(history, prompt or "…"), clips)

    def walk_mask(files, segments_text, prompt, history, mask_start, mask_len):
        """The mask slice alone (no model work): it follows the two mask controls."""
        try:
            start = inputs.whole(mask_start, "mask slice: first position", 0, 10**9)
            n = inputs.whole(mask_len, "mask slice: positions", 1, 10**9)
            return teach.mask_view(_walk_prep(files, segments_text, prompt, history)[2], start, n)
        except Exception as e:
            return None, shown_error(e, "drawing the mask")

    def walk_budget(files, segments_text, prompt, history, seconds, max_new):
        """Step 7 alone (arithmetic on the config): it follows the duration slider."""
        try:
            svc, _, prep = _walk_prep(files, segments_text, prompt, history)
            secs = inputs.real(seconds, "song duration", 1, svc.cfg.max_audio_s)
            n_new = inputs.whole(max_new, "max new tokens", 1, inputs.MAX_NEW_TOKENS)
        except Exception as e:
            return shown_error(e, "working out the budget")
        return teach.budget_md(svc, prep, secs, n_new)

    def walk(files, segments_text, prompt, history, seconds, max_new, mask_start, mask_len):
        """Every step; the audio step runs the encoder, so this goes through the model queue."""
        try:
            svc, clips, prep = _walk_prep(files, segments_text, prompt, history)
            secs = inputs.real(seconds, "song duration", 1, svc.cfg.max_audio_s)
            n_new = inputs.whole(max_new, "max new tokens", 1, inputs.MAX_NEW_TOKENS)
            start = inputs.whole(mask_start, "mask slice: first position", 0, 10**9)
            n = inputs.whole(mask_len, "mask slice: positions", 1, 10**9)
            mel, audio_text = teach.audio_md(svc, clips)
        except Exception as e:
            return shown_error(e, "walking through the question"), None, "", "", None, "", "", []
        img, mask_text = teach.mask_view(prep, start, n)
        return (teach.tokens_md(svc, prompt or "…", len(clips)), mel, audio_text, teach.splice_md(prep), img,
                mask_text, teach.budget_md(svc, prep, secs, n_new), [])

    def next_token(files, segments_text, prompt, history, generated, temperature, top_k, top_p, seed, advance):
        svc = holder.svc
        generated = list(generated or [])
        try:
            s = inputs.sampling(1, temperature, top_k, top_p, seed)
            clips = svc.clips(_songs(files, segments_text))
            prep = svc.prepare(_turns(history, prompt or "…"), clips)
            prep.layout.check_fits(len(generated) + 1)
            text, chosen = teach.next_token_md(svc, prep, generated, s.temperature, s.top_k, s.top_p, s.seed)
        except Exception as e:
            return shown_error(e, "computing the next token"), generated
        return text, generated + [chosen] if advance else generated

    def explain_answer(history, layer, head, token):
        """The attention map of the last answer, on the songs that answer heard (kept with its
        turn), whatever the song list shows now."""
        svc = holder.svc
        past = [h for h in (history or []) if h.get("ids")]
        if not past:
            return None, "Ask a question about a song first: the map explains the last answer.", gr.update(), gr.update()
        try:
            i = max(k for k, h in enumerate(history) if h.get("ids"))
            songs = _songs_of(history[i])
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

    # uploads, pictures and traces in gradio's cache go once they are ``files_s`` old
    with gr.Blocks(title="mufun: how MuFun hears a song",
                   delete_cache=(min(600, limits.files_s), limits.files_s)) as demo:
        demo.traces = traces
        gr.Markdown("# mufun · see, hear and teach how MuFun works")
        history = gr.State([], time_to_live=limits.idle_s)  # a conversation idle this long is forgotten
        with gr.Accordion("Model", open=False):
            model_info = gr.Markdown(model_markdown(holder))
            with gr.Row(visible=holder.allow_switch):
                choice = gr.Dropdown([f"{loading.EMBEDDED} (embedded)", *loading.KNOWN_HUB_IDS],
                                     value=f"{loading.EMBEDDED} (embedded)", label="Model")
                custom = gr.Textbox(label="…or a local folder / other Hub id", placeholder="/path/to/MuFun-Instruct")
                quantize = gr.Radio(list(loading.QUANTIZE), value="none", label="Quantize Qwen3")
                device_map = gr.Radio(["auto", "cpu", "cuda"], value="auto", label="Device map")
            load_btn = gr.Button("Load model", visible=holder.allow_switch)
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(file_count="multiple", file_types=list(SOUNDFILE_FORMATS + FFMPEG_FORMATS),
                                label="Songs (the k-th <audio> tag takes song k)")
                mic = gr.Audio(sources=["microphone"], type="filepath", label="Record a song")
                add_mic = gr.Button("Add recording to songs", size="sm")
                segments = gr.Textbox(label="Segments (one per line: SONG: START-END seconds)", placeholder="1: 10-40")
                info = gr.Markdown(elem_classes=["mufun-songs"])
            with gr.Column(scale=2):
                chat = gr.Chatbot(label="Chat", height=360, latex_delimiters=[])
                prompt = gr.Textbox(label="Question", value="Which note is played?", lines=2)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    stop = gr.Button("Stop")
                    regen = gr.Button("Regenerate")
                    clear = gr.Button("Clear")
                    long_btn = gr.Button("Analyse a long song in windows")
                status = gr.Markdown()
                with gr.Accordion("Sampling", open=False):
                    with gr.Row():
                        max_new = Slider(1, 512, 64, step=1, label="max new tokens")
                        temperature = Slider(0, 2, 0, step=0.05, label="temperature (0 = greedy)")
                        top_k = Slider(0, 200, 0, step=1, label="top-k (0 = off)")
                        top_p = Slider(0.05, 1, 1, step=0.01, label="top-p")
                        seed = Number(-1, label="seed (-1 = random)")
                trace = gr.File(label="Trace of the last turn (JSON)")
        waves = picture("Waveforms of the songs as the model hears them, with the 30 s chunk boundaries (red)")
        gr.Examples([[[p], q] for p, q in examples], [files, prompt], label="Examples (synthesized clips)")
        with gr.Tab("Token layout"):
            budget = gr.HTML()
            layout = gr.HTML()
        with gr.Tab("Walkthrough"):
            gr.Markdown("From your question and song to a sampled answer, one step at a time, on the loaded model. "
                        "Uses the songs, segments and question above.")
            walk_btn = gr.Button("Walk through my song and question", variant="primary")
            step_tokens = gr.Markdown()
            with gr.Row():
                with gr.Column():
                    mel_img = picture("log-mel of the first chunk (low pitches at the bottom)")
            step_audio = gr.Markdown()
            step_splice = gr.Markdown()
            with gr.Row():
                wmask_start = Number(0, label="mask slice: first position")
                wmask_len = Slider(2, 48, 16, step=1, label="mask slice: positions")
            with gr.Row():
                with gr.Column():
                    wmask_img = picture("mask slice: row = query, column = key")
                step_mask = gr.Markdown()
            walk_ids = gr.State([])
            with gr.Row():
                w_temp = Slider(0, 2, 0, step=0.05, label="temperature (0 = greedy)")
                w_topk = Slider(0, 100, 0, step=1, label="top-k (0 = off)")
                w_topp = Slider(0.05, 1, 1, step=0.01, label="top-p")
                w_seed = Number(0, label="seed (-1 = random)")
            with gr.Row():
                next_btn = gr.Button("Next token")
                reshape_btn = gr.Button("Show the distribution (no step)")
            step_next = gr.Markdown()
            w_seconds = Slider(1, 3600, 200, step=1, label="7 · song duration (s)")
            step_budget = gr.Markdown()
        with gr.Tab("What the answer heard"):
            gr.Markdown("Attention from the last answer to each second of the song(s), from a separate pass "
                        "that records attention weights.")
            with gr.Row():
                att_layer = gr.Dropdown(["all"], value="all", label="layer")
                att_head = gr.Dropdown(["all"] + [str(h) for h in range(holder.svc.cfg.text.num_attention_heads)],
                                       value="all", label="head")
                att_token = gr.Dropdown(["all"], value="all", label="answer token")
            att_btn = gr.Button("Explain the last answer", variant="primary")
            att_img = picture("attention on the song timeline")
            att_md = gr.Markdown()
        with gr.Tab("Attention mask"):
            gr.Markdown("Row = query position, column = key position; a cell is coloured where the query may "
                        "attend (causal: keys at or before the query). Colour = the key's block: "
                        "text, audio of each song, answer. Black lines: exact block edges.")
            with gr.Row():
                with gr.Column():
                    mask_full = picture("whole sequence")
                with gr.Column():
                    mask_zoom = picture("zoom")
            with gr.Row():
                zoom_start = Number(0, label="zoom: first position")
                zoom_len = Slider(8, 512, 32, step=1, label="zoom: positions")

        # everything that runs the model shares one queue: one at a time on the local engine, many
        # streams at once when a vLLM server batches them (the encoder and splice still take turns)
        queue = {"concurrency_id": "model", "concurrency_limit": holder.streams}
        prev_inputs = [files, segments, prompt, history, max_new, zoom_start, zoom_len]
        prev_outputs = [budget, layout, mask_full, mask_zoom]
        ask_inputs = [files, segments, prompt, history, max_new, temperature, top_k, top_p, seed, chat]
        ask_outputs = [chat, history, status, budget, layout, mask_full, trace]

        for comp in (files, segments):
            comp.change(song_info, [files, segments], [info, waves], concurrency_limit=4)
        for comp in (files, segments, prompt, max_new, zoom_start, zoom_len):
            comp.change(preview, prev_inputs, prev_outputs, concurrency_limit=4, show_progress="hidden")

        def add_recording(rec, current):
            if not rec:
                return gr.update()
            paths = [f if isinstance(f, str) else f.name for f in (current or [])]
            return paths + [rec]

        add_mic.click(add_recording, [mic, files], [files])
        ask_gpu = on_gpu(ask)
        go = send.click(ask_gpu, ask_inputs, ask_outputs, **queue)
        sub = prompt.submit(ask_gpu, ask_inputs, ask_outputs, **queue)
        stop.click(None, None, None, cancels=[go, sub])

        def drop_last(h):
            h = list(h or [])
            return h[:-1], h[-1]["user"].split("\n", 1)[-1] if h else gr.update(), _chat(h[:-1])

        regen.click(drop_last, [history], [history, prompt, chat]).then(
            ask_gpu, ask_inputs, ask_outputs, **queue)
        clear.click(lambda: ([], [], "", None), None, [chat, history, status, trace])
        long_btn.click(on_gpu(long_song), ask_inputs, ask_outputs, **queue)
        walk_inputs = [files, segments, prompt, history, w_seconds, max_new, wmask_start, wmask_len]
        walk_btn.click(on_gpu(walk), walk_inputs, [step_tokens, mel_img, step_audio, step_splice, wmask_img, step_mask,
                                          step_budget, walk_ids], **queue)
        for comp in (wmask_start, wmask_len):
            comp.change(walk_mask, [files, segments, prompt, history, wmask_start, wmask_len], [wmask_img, step_mask],
                        show_progress="hidden")
        w_seconds.change(walk_budget, [files, segments, prompt, history, w_seconds, max_new], [step_budget],
                         show_progress="hidden")
        next_token_gpu = on_gpu(next_token)
        nt_inputs = [files, segments, prompt, history, walk_ids, w_temp, w_topk, w_topp, w_seed]
        next_btn.click(lambda *a: next_token_gpu(*a, True), nt_inputs, [step_next, walk_ids], api_name="next_token",
                       **queue)
        reshape_btn.click(lambda *a: next_token_gpu(*a, False), nt_inputs, [step_next, walk_ids],
                          api_name="reshape", **queue)
        for comp in (w_temp, w_topk, w_topp):
            comp.release(lambda *a: next_token_gpu(*a, False), nt_inputs, [step_next, walk_ids],
                         **queue)
        att_inputs = [history, att_layer, att_head, att_token]
        att_btn.click(on_gpu(explain_answer), att_inputs, [att_img, att_md, att_layer, att_token],
                      **queue)
        for comp in (att_layer, att_head, att_token):
            comp.input(on_gpu(explain_answer), att_inputs, [att_img, att_md, att_layer, att_token],
                       **queue)

        load_btn.click(on_gpu(load_model), [choice, custom, quantize, device_map], [model_info], concurrency_id="model",
                       concurrency_limit=1)
        demo.load(preview, prev_inputs, prev_outputs)
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
    allow = switching_allowed(args.allow_model_switch, args.host, os.environ)
    try:
        svc = MuFunService.load(args.model, loading.LoadOptions(device_map=args.device_map, quantize=args.quantize),
                                engine=args.engine, vllm_url=args.vllm_url)
    except UserError as e:
        raise SystemExit(f"error: {for_user(e)}") from None
    streams = args.streams or (16 if args.engine == "vllm" else 1)
    holder = Holder(svc, allow, streams)
    try:
        limits = Limits.from_env()
    except UserError as e:
        raise SystemExit(f"error: {for_user(e)}") from None
    traces = TraceStore(limits.traces)
    traces.remove_on_exit()
    from gradio.utils import get_upload_folder

    keep_sweeping(Path(get_upload_folder()), min(600, limits.files_s), limits.files_s)
    demo = create_demo(holder, limits, traces)
    demo.queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port, share=False,
                                                   max_file_size=args.max_upload, css=CSS,
                                                   allowed_paths=[str(traces.folder)],
                                                   state_session_capacity=limits.sessions)


if __name__ == "__main__":
    main()
