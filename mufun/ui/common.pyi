"""What every area of the page shares: the page's shared components, the model's holder,
the fields that let our checks speak, pictures with captions, and the small conversions between
the page's values and mufun's."""
from __future__ import annotations

import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from mufun import present
from mufun.errors import UserError, for_user
from mufun.pictures import CSS as PICTURES_CSS
from mufun.pipeline import SongInput, display_name, parse_segments
from mufun.prompt import Turn

SWITCH_OFF = ("Switching models is turned off on this server by its operator (`--allow-model-switch` / "
              "`MUFUN_ALLOW_MODEL_SWITCH`): every visitor shares the model shown here.")
EXPIRED = ("⚠️ The server no longer remembers this conversation: it was idle too long or the server restarted. "
           "Press Clear to start again (the songs are still here).")
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
.mufun-step h3{margin:0}
""" + PICTURES_CSS


class Holder:
    """The one owner of the loaded model; swapping models takes its lock. ``allow_switch`` is the
    operator's choice (``mufun.serving``): when off, nobody can swap the model."""

    def __init__(self, svc, allow_switch: bool = True, streams: int = 1):
        self.svc = svc
        self.allow_switch = allow_switch and svc.engine.holds_decoder  # a vLLM server serves one model
        self.streams = streams
        self.lock = threading.Lock()

    def swap(self, source: str, opts, progress=None):
        from mufun import loading
        from mufun.service import MuFunService

        if not self.allow_switch:
            raise loading.LoadError(SWITCH_OFF)
        new = MuFunService.load(source, opts, progress)
        with self.lock:
            self.svc = new
        return new

    @property
    def queue(self) -> dict:
        """Everything that runs the model shares one queue: one at a time on the local engine, many
        streams at once when a vLLM server batches them."""
        return {"concurrency_id": "model", "concurrency_limit": self.streams}


@dataclass
class Page:
    """Components more than one area reads: the songs, the question, the conversation."""

    files: Any = None
    segments: Any = None
    prompt: Any = None
    history: Any = None
    max_new: Any = None
    chat: Any = None
    tabs: Any = None
    extra: dict = field(default_factory=dict)


def shown_error(e: BaseException, doing: str) -> str:
    """A failure for the page: the user's mistake in our words; a bug logged here, named to the
    user in one sentence."""
    if not isinstance(e, UserError):
        traceback.print_exception(e, file=sys.stderr)
    return f"⚠️ {for_user(e, doing)}"

from gradio.events import Dependency

class Slider(gr.Slider):
    """gradio's slider, drawn the same (a template of it), whose value reaches the handler as sent:
    the handler checks it (``mufun.inputs``) and answers an API caller out of range in our words."""

    is_template = True

    def preprocess(self, payload):
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Number(gr.Number):
    """gradio's number field, drawn the same, neither rounded nor bounded before our checks."""

    is_template = True

    def preprocess(self, payload):
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def picture(caption: str, **kw) -> gr.Image:
    """An image with its caption above it: gradio's own label would sit over the picture's top."""
    gr.Markdown(caption, elem_classes=["mufun-caption"])
    return gr.Image(show_label=False, type="pil", buttons=["download", "fullscreen"], **kw)


def songs_from(files, segments_text) -> list[SongInput]:
    paths = [f if isinstance(f, str) else f.name for f in (files or [])]
    segs = parse_segments(segments_text, len(paths))
    return [SongInput(p, segs.get(i), name=f"{i + 1}. {display_name(p)}") for i, p in enumerate(paths)]


def turns_from(history: list[dict], prompt: str) -> list[Turn]:
    return [Turn(h["user"], h["answer"]) for h in history] + [Turn(prompt)]


def chat_messages(history: list[dict], pending: tuple[str, str] | None = None) -> list[dict]:
    """Every message shown exactly as written (``present.literal``): nothing a person or the model
    typed is rendered as markdown or HTML."""
    msgs = []
    for h in history:
        msgs += [{"role": "user", "content": present.literal(h["user"])},
                 {"role": "assistant", "content": h.get("shown") or present.literal(h["answer"])}]
    if pending:
        msgs += [{"role": "user", "content": present.literal(pending[0])},
                 {"role": "assistant", "content": pending[1]}]
    return msgs


def songs_of(turn: dict) -> list[SongInput]:
    """The songs a past answer heard, kept with its turn."""
    return [SongInput(path, tuple(seg) if seg else None, name) for path, seg, name in turn.get("songs", [])]


def kept(songs: list[SongInput]) -> list:
    return [[s.path, list(s.segment) if s.segment else None, s.name] for s in songs]


def on_gpu(fn, duration: int = 120):
    """On a ZeroGPU Space (the ``spaces`` package present and active) hold a GPU while ``fn``
    runs; elsewhere ``spaces.GPU`` returns ``fn`` as it is, and without the package so do we."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)