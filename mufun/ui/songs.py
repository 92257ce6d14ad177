"""Songs: upload several or record one, a segment per song, what each costs, every waveform with
its 30 s chunk boundaries."""
from __future__ import annotations

import gradio as gr

from mufun import present
from mufun.audio import FFMPEG_FORMATS, SOUNDFILE_FORMATS
from mufun.ui.common import Holder, Page, shown_error, songs_from
from mufun.viz import waveforms_image


def build(holder: Holder, page: Page) -> None:
    page.files = gr.File(file_count="multiple", file_types=list(SOUNDFILE_FORMATS + FFMPEG_FORMATS),
                         label="Songs (the k-th <audio> tag takes song k)")
    mic = gr.Audio(sources=["microphone"], type="filepath", label="Record a song")
    add_mic = gr.Button("Add recording to songs", size="sm")
    page.segments = gr.Textbox(label="Segments (one per line: SONG: START-END seconds)", placeholder="1: 10-40")
    info = gr.Markdown(elem_classes=["mufun-songs"])
    page.extra["song_info"] = info

    def song_info(files, segments_text):
        svc = holder.svc
        try:
            clips = svc.clips(songs_from(files, segments_text))
        except Exception as e:
            return shown_error(e, "reading the songs"), None
        return present.songs_table(clips, svc.cfg), waveforms_image(clips, svc.cfg)

    def add_recording(rec, current):
        if not rec:
            return gr.update()
        return [f if isinstance(f, str) else f.name for f in (current or [])] + [rec]

    page.extra["song_info_fn"] = song_info
    add_mic.click(add_recording, [mic, page.files], [page.files])


def wire(page: Page, waves) -> None:
    """The song table and the waveforms follow the songs and segments (4 previews at a time)."""
    for comp in (page.files, page.segments):
        comp.change(page.extra["song_info_fn"], [page.files, page.segments], [page.extra["song_info"], waves],
                    concurrency_limit=4)
