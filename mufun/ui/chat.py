"""The conversation: ask (streamed token by token), stop, regenerate, clear, sampling settings,
the window analysis of a long song, and each answer's JSON trace."""
from __future__ import annotations

import gradio as gr

from mufun import inputs, present
from mufun.generate import Done, Step
from mufun.longaudio import Stage, Tally, analyse
from mufun.prompt import PromptError
from mufun.ui.common import (EXPIRED, Holder, Number, Page, Slider, chat_messages, kept, on_gpu, shown_error,
                             songs_from, turns_from)
from mufun.viz import budget_html, layout_html, mask_image


def build(holder: Holder, page: Page, traces, idle_s: int) -> None:
    page.chat = gr.Chatbot(label="Chat", height=360, latex_delimiters=[])
    page.prompt = gr.Textbox(label="Question", value="Which note is played?", lines=2)
    with gr.Row():
        send = gr.Button("Ask", variant="primary")
        stop = gr.Button("Stop")
        regen = gr.Button("Regenerate")
        clear = gr.Button("Clear")
        long_btn = gr.Button("Analyse a long song in windows")
    status = gr.Markdown()
    with gr.Accordion("Sampling", open=False):
        with gr.Row():
            page.max_new = Slider(1, 512, 64, step=1, label="max new tokens")
            temperature = Slider(0, 2, 0, step=0.05, label="temperature (0 = greedy)")
            top_k = Slider(0, 200, 0, step=1, label="top-k (0 = off)")
            top_p = Slider(0.05, 1, 1, step=0.01, label="top-p")
            seed = Number(-1, label="seed (-1 = random)")
    trace = gr.File(label="Trace of the last turn (JSON)")
    page.history = gr.State([], time_to_live=idle_s)  # a conversation idle this long is forgotten
    page.extra.update(status=status, trace=trace, controls=(send, stop, regen, clear, long_btn),
                      sampling=(temperature, top_k, top_p, seed))
    page.extra["handlers"] = (ask_handler(holder, traces), long_song_handler(holder))


def ask_handler(holder: Holder, traces):
    def ask(files, segments_text, prompt, history, max_new, temperature, top_k, top_p, seed, shown=None):
        svc = holder.svc
        history = list(history or [])
        if shown and not history:  # the page shows a conversation the server has forgotten
            yield shown, history, EXPIRED, gr.update(), gr.update(), gr.update(), None
            return
        try:
            songs = songs_from(files, segments_text)
            clips = svc.clips(songs)
            sampling = inputs.sampling(max_new, temperature, top_k, top_p, seed)
            events = svc.ask(turns_from(history, prompt), clips, sampling)
            prep = next(events)
        except Exception as e:
            yield chat_messages(history), history, shown_error(e, "reading the question"), gr.update(), \
                gr.update(), gr.update(), None
            return
        user_text = prep.tokens.text.rsplit("USER: ", 1)[1].rsplit(" ASSISTANT:", 1)[0]
        notes = present.answer_notes(prep.warnings)
        yield (chat_messages(history, (user_text, "")), history, "generating…" + notes,
               budget_html(prep.layout, sampling.max_new_tokens), layout_html(prep.layout), mask_image(prep.layout),
               None)
        steps, text = [], ""
        try:
            for ev in events:
                if isinstance(ev, Step):
                    steps.append(ev)
                    text += ev.delta
                    yield (chat_messages(history, (user_text, present.literal(text))), history, "generating…" + notes,
                           gr.update(), gr.update(), gr.update(), None)
                elif isinstance(ev, Done):
                    grown = svc.prepare(turns_from(history, prompt), clips, ev.ids).layout
                    history = history + [{"user": user_text, "answer": ev.text, "ids": list(ev.ids),
                                          "songs": kept(songs)}]
                    path = traces.write(svc.trace(prep, ev, steps, sampling))
                    yield (chat_messages(history), history, present.answer_status(ev.stats, prep.warnings),
                           budget_html(grown, 0), layout_html(grown), mask_image(grown), str(path))
        except Exception as e:  # the model failed mid-stream: tell the user, keep serving, keep nothing
            yield chat_messages(history), history, shown_error(e, "generating the answer"), gr.update(), \
                gr.update(), gr.update(), None
    return ask


def long_song_handler(holder: Holder):
    def long_song(files, segments_text, prompt, history, max_new, temperature, top_k, top_p, seed, shown=None):
        """Window analysis: the question per window of the song, then the parts combined."""
        svc = holder.svc
        history = list(history or [])
        if shown and not history:
            yield shown, history, EXPIRED, gr.update(), gr.update(), gr.update(), None
            return
        try:
            clips = svc.clips(songs_from(files, segments_text))
            if len(clips) != 1:
                raise PromptError("Window analysis takes exactly one song: remove the others or use segments.")
            sampling = inputs.sampling(max_new, temperature, top_k, top_p, seed)
            shown_md, text, windows = "", "", 0
            for ev in analyse(svc, prompt, clips[0], sampling):
                if isinstance(ev, Stage):
                    shown_md, text = shown_md + present.literal(text), ""
                    windows += bool(ev.prepared.clips)
                    shown_md += f"\n\n**{present.literal(ev.title)}:** "
                    yield (chat_messages(history, (prompt, shown_md.strip())), history, f"window analysis: step "
                           f"{ev.index + 1} of {ev.total}", budget_html(ev.prepared.layout, sampling.max_new_tokens),
                           layout_html(ev.prepared.layout), mask_image(ev.prepared.layout), None)
                elif isinstance(ev, Tally):
                    shown_md, text = shown_md + present.literal(text), ""
                    shown_md += f"\n\n**Combined:** {present.literal(ev.text)}"
                elif isinstance(ev, Step):
                    text += ev.delta
                    yield (chat_messages(history, (prompt, (shown_md + present.literal(text)).strip())), history,
                           gr.update(), gr.update(), gr.update(), gr.update(), None)
            shown_md = (shown_md + present.literal(text)).strip()
            history = history + [{"user": prompt, "answer": shown_md, "shown": shown_md, "ids": []}]
            yield (chat_messages(history), history, f"window analysis done: {present.plural(windows, 'window')}",
                   gr.update(), gr.update(), gr.update(), None)
        except Exception as e:
            yield chat_messages(history), history, shown_error(e, "analysing the song"), gr.update(), gr.update(), \
                gr.update(), None
    return long_song


def wire(holder: Holder, page: Page, budget, layout, mask_full) -> None:
    send, stop, regen, clear, long_btn = page.extra["controls"]
    temperature, top_k, top_p, seed = page.extra["sampling"]
    ask, long_song = page.extra["handlers"]
    status, trace = page.extra["status"], page.extra["trace"]
    ask_inputs = [page.files, page.segments, page.prompt, page.history, page.max_new, temperature, top_k, top_p,
                  seed, page.chat]
    ask_outputs = [page.chat, page.history, status, budget, layout, mask_full, trace]
    ask_gpu = on_gpu(ask)
    go = send.click(ask_gpu, ask_inputs, ask_outputs, api_name="ask", **holder.queue)
    sub = page.prompt.submit(ask_gpu, ask_inputs, ask_outputs, **holder.queue)
    stop.click(None, None, None, cancels=[go, sub])

    def drop_last(h):
        h = list(h or [])
        return h[:-1], h[-1]["user"].split("\n", 1)[-1] if h else gr.update(), chat_messages(h[:-1])

    regen.click(drop_last, [page.history], [page.history, page.prompt, page.chat]).then(
        ask_gpu, ask_inputs, ask_outputs, **holder.queue)
    clear.click(lambda: ([], [], "", None), None, [page.chat, page.history, status, trace])
    long_btn.click(on_gpu(long_song), ask_inputs, ask_outputs, api_name="long_song", **holder.queue)
