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
