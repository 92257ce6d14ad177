"""Audio-embedding cache: the same song (same samples, segment and model) is encoded once.

Bounded by bytes, least recently used out first. ``encoder_calls`` counts real encoder runs.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable, Sequence

import torch

from mufun.audio import Clip


def clip_key(clip: Clip) -> str:
    """Digest of the 16 kHz samples the encoder sees (so: file bytes + segment)."""
    h = hashlib.blake2b(clip.samples.tobytes(), digest_size=16)
    return h.hexdigest()


class AudioCache:
    def __init__(self, max_bytes: int = 512 * 2**20):
        self.max_bytes = max_bytes
        self._rows: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.encoder_calls = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._bytes = 0

    def rows(self, model_key: str, clips: Sequence[Clip],
             encode: Callable[[Sequence[Clip]], list[torch.Tensor]]) -> list[torch.Tensor]:
        """Per clip (tokens, H) rows; the missing clips are encoded together in one call."""
        keys = [(model_key, clip_key(c)) for c in clips]
        with self._lock:
            found = {k: self._rows[k] for k in keys if k in self._rows}
            for k in found:
                self._rows.move_to_end(k)
            self.hits += sum(1 for k in keys if k in found)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo:
            fresh = encode([clips[i] for i in todo])
            self.encoder_calls += 1
            for i, rows in zip(todo, fresh):
                found[keys[i]] = rows
                self._put(keys[i], rows)
        return [found[k] for k in keys]

    def _put(self, key: tuple[str, str], rows: torch.Tensor) -> None:
        size = rows.numel() * rows.element_size()
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._rows:
                return
            self._rows[key] = rows
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._rows.popitem(last=False)
                self._bytes -= old.numel() * old.element_size()
