"""What a user is told when something goes wrong: the project's own words, never a library's.

Every error a person can cause (a file, a segment, a question, a setting, a model to load) is a
``UserError`` whose message was written for them. ``for_user`` is the one way a message reaches
the page or the terminal: a ``UserError`` keeps its words with any absolute path cut to its last
part; anything else (a bug, a library failure) becomes a short sentence that names no internals.

>>> for_user(UserError("/tmp/gradio/3f2a/song.wav: the file is empty (0 bytes)"))
'song.wav: the file is empty (0 bytes)'
>>> for_user(OverflowError("Overflow when unpacking long long"), "answering")
'Something went wrong inside the app while answering; nothing was kept. Try again, or change the input.'
"""
from __future__ import annotations

import re


class UserError(ValueError):
    """A problem with what the user gave; the message is written for the person who gave it."""


# An absolute POSIX or Windows path, possibly quoted: keep only its last component.
_PATH = re.compile(r"(?:(?<=^)|(?<=[\s'\"(\[=:]))(?:/[^\s'\"()\[\],:/]+)+/?|[A-Za-z]:\\(?:[^\s'\"\\]+\\?)+")


def strip_paths(text: str) -> str:
    """Replace every absolute path in ``text`` by its file or folder name.

    >>> strip_paths("Error opening '/tmp/gradio/ab12/noise.ogg': bad")
    "Error opening 'noise.ogg': bad"
    >>> strip_paths("a 10-40 s segment, 1/2 of it")
    'a 10-40 s segment, 1/2 of it'
    """
    def last(m: re.Match) -> str:
        parts = [p for p in re.split(r"[/\\]", m.group(0)) if p]
        return parts[-1] if parts else m.group(0)

    return _PATH.sub(last, text)


def show_number(v) -> str:
    """A number as a message shows it: grouped digits, short even when huge.

    >>> show_number(2**64), show_number(10**40), show_number(0.25)
    ('18,446,744,073,709,551,616', 'a 41-digit number', '0.25')
    """
    if isinstance(v, int):
        return f"{v:,}" if len(str(abs(v))) <= 24 else f"a {len(str(abs(v)))}-digit number"
    return f"{v:g}"


def for_user(e: BaseException, doing: str = "working on it") -> str:
    """The message a person sees for ``e``."""
    if isinstance(e, UserError):
        return strip_paths(str(e))
    return (f"Something went wrong inside the app while {doing}; nothing was kept. "
            f"Try again, or change the input.")
