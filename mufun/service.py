"""One owner for model state: the loaded MuFun, its audio cache and a lock.

Per-user state (songs, history) stays with the caller; this object is shared by all users.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterator, Sequence

import torch

from mufun import loading
from mufun.audio import Clip
from mufun.cache import AudioCache
from mufun.generate import Done, Sampling, Step, stream
from mufun.pipeline import Prepared, SongInput, clip_features, load_clips, prepare
from mufun.prompt import Turn, eos_ids


class MuFunService:
    def __init__(self, loaded: loading.Loaded, cache: AudioCache | None = None):
        self.loaded = loaded
        self.cache = cache or AudioCache()
        self.lock = threading.RLock()  # short sections: encoding, splicing (never held across a yield)
        self.decoding = threading.Lock()  # one decode or attention pass at a time

    @classmethod
    def load(cls, source: str = loading.EMBEDDED, opts: loading.LoadOptions | None = None,
             progress=None) -> "MuFunService":
        return cls(loading.load(source, opts, progress))

    @property
    def cfg(self):
        return self.loaded.cfg

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @property
    def model_key(self) -> str:
        L = self.loaded
        return f"{L.folder}|{L.revision}|{L.quantize}|{L.dtype}"

    # -- reading --------------------------------------------------------------------------------
    def clips(self, songs: Sequence[SongInput]) -> list[Clip]:
        return load_clips(songs, self.cfg)

    def prepare(self, turns: Sequence[Turn], clips: Sequence[Clip], generated_ids: Sequence[int] = ()) -> Prepared:
        strings = [self.tokenizer.decode([i]) for i in generated_ids]
        return prepare(turns, clips, self.cfg, self.tokenizer, generated_ids, strings)

    def _encode(self, clips: Sequence[Clip]) -> list[torch.Tensor]:
        feats = torch.from_numpy(clip_features(clips, self.cfg))  # (chunks, n_mels, 3000)
        rows = self.loaded.model.encode_audio(feats)  # (chunks, 300, H)
        out, i = [], 0
        for c in clips:
            n = c.n_chunks(self.cfg)
            out.append(rows[i:i + n].reshape(-1, rows.shape[-1]))  # (n * 300, H)
            i += n
        return out

    def audio_rows(self, clips: Sequence[Clip]) -> torch.Tensor | None:
        if not clips:
            return None
        with self.lock:
            rows = self.cache.rows(self.model_key, clips, self._encode)
        return torch.cat(rows, 0)

    def inputs(self, prep: Prepared) -> dict:
        rows = self.audio_rows(prep.clips)
        with self.lock:
            return self.loaded.model.inputs(list(prep.tokens.input_ids), rows, prep.tokens_per_file)

    # -- asking ---------------------------------------------------------------------------------
    def ask(self, turns: Sequence[Turn], clips: Sequence[Clip], sampling: Sampling,
            should_stop: Callable[[], bool] | None = None) -> Iterator[Prepared | Step | Done]:
        """Yields the Prepared sequence first, then a Step per token, then Done."""
        prep = self.prepare(turns, clips)
        prep.layout.check_fits(sampling.max_new_tokens)
        yield prep
        inputs = self.inputs(prep)
        # A server may resume this generator on another thread between tokens: the decode lock
        # is a plain Lock (any thread may release it), never the thread-owned RLock.
        with self.decoding:
            yield from stream(self.loaded.model.language_model, inputs, self.tokenizer, eos_ids(self.tokenizer),
                              sampling, should_stop)

    def trace(self, prep: Prepared, done: Done, steps: Sequence[Step], sampling: Sampling) -> dict:
        """The JSON trace of one turn (the CLI's --json and the app's export)."""
        lay = prep.layout
        return {
            "model": {"source": self.loaded.source, "kind": self.loaded.kind, "revision": self.loaded.revision,
                      "name": self.cfg.name, "quantization": self.loaded.quantize,
                      "dtype": str(self.loaded.dtype).replace("torch.", "")},
            "prompt": prep.tokens.text,
            "input_ids": list(prep.tokens.input_ids),
            "audio": [{"source": c.source, "duration_s": round(c.duration_s, 3),
                       "segment": list(c.segment) if c.segment else None,
                       "chunks": c.n_chunks(self.cfg), "tokens": c.tokens(self.cfg),
                       "warnings": list(c.warnings)} for c in prep.clips],
            "sequence_length": lay.sequence_length,
            "budget": lay.budget(sampling.max_new_tokens).as_dict(),
            "sampling": {k: getattr(sampling, k) for k in sampling.__dataclass_fields__},
            "generated_ids": list(done.ids),
            "text": done.text,
            "steps": [{"id": s.id, "token": s.token, **({"top": [[i, round(p, 6)] for i, p in s.top]} if s.top else {})}
                      for s in steps],
            "stats": {**done.stats, "audio_tokens": sum(c.tokens(self.cfg) for c in prep.clips),
                      "encoder_calls_total": self.cache.encoder_calls},
        }
