"""Choices the operator of a server makes once, at start-up, for every visitor.

Switching models loads weights for everyone who shares the server: on a public Space that is a
17 GB download on a stranger's click, or a folder on the server's disk. So it is on by default
only for a person running the app for themselves on their own machine.

>>> switching_allowed("auto", "127.0.0.1", {})
True
>>> switching_allowed("auto", "0.0.0.0", {}), switching_allowed("auto", "127.0.0.1", {"SPACE_ID": "a/b"})
(False, False)
>>> switching_allowed("on", "0.0.0.0", {"SPACE_ID": "a/b"}), switching_allowed("off", "localhost", {})
(True, False)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from mufun.errors import UserError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SWITCH_CHOICES = ("auto", "on", "off")


def switching_allowed(setting: str, host: str, env: Mapping[str, str]) -> bool:
    """``auto``: on when the app listens on this machine only and does not run on a Space."""
    setting = (setting or "auto").strip().lower()
    if setting in ("on", "1", "true", "yes"):
        return True
    if setting in ("off", "0", "false", "no"):
        return False
    if setting != "auto":
        raise UserError(f"model switching {setting!r}: use one of {', '.join(SWITCH_CHOICES)}")
    return host in LOCAL_HOSTS and not env.get("SPACE_ID")


@dataclass(frozen=True)
class Limits:
    """What one server keeps, so it runs for weeks: sessions, their idle time, files.

    ``sessions``: the most browser tabs or API clients whose state is kept (least recently used
    dropped first; gradio's ``state_session_capacity``). ``idle_s``: a conversation not touched for
    this long is forgotten (``gr.State`` time to live). ``files_s``: uploads, pictures and traces
    in gradio's cache are deleted this long after they were made (``delete_cache``), and the oldest
    go first whenever the cache holds more than ``files_mb``. ``traces``: the most JSON traces kept
    in the app's own folder.
    """

    sessions: int = 256
    idle_s: int = 2 * 3600
    files_s: int = 3600
    traces: int = 200
    files_mb: int = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Limits":
        def num(name: str, default: int) -> int:
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = int(raw)
            except ValueError:
                raise UserError(f"{name}={raw!r}: give a whole number") from None
            if value < 1:
                raise UserError(f"{name}={raw!r}: give a number of at least 1")
            return value

        d = cls()
        return cls(num("MUFUN_SESSIONS", d.sessions), num("MUFUN_IDLE_S", d.idle_s),
                   num("MUFUN_FILES_S", d.files_s), num("MUFUN_TRACES", d.traces), num("MUFUN_FILES_MB", d.files_mb))
