"""One owner for model state: the loaded MuFun, its audio cache and a lock.

Per-user state (songs, history) stays with the caller; this object is shared by all users.
"""
from __future__ import annotations

import math
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from mufun import loading
from mufun.audio import Clip
from mufun.cache import AudioCache
from mufun.engines import LocalEngine, VLLMEngine, served_dtype
from mufun.errors import UserError
from mufun.export import fingerprint
from mufun.generate import Done, Sampling, Step
from mufun.pipeline import Prepared, SongInput, clip_features, load_clips, prepare
from mufun.prompt import Turn, eos_ids

ENGINES = ("local", "vllm")


class MuFunService:
    def __init__(self, loaded: loading.Loaded, cache: AudioCache | None = None, engine=None):
        self.loaded = loaded
        self.cache = cache or AudioCache()
        self.lock = threading.RLock()  # short sections: encoding, splicing (never held across a yield)
        self.engine = engine or LocalEngine(loaded.model.language_model, loaded.tokenizer, eos_ids(loaded.tokenizer))
        # one local decode or attention pass at a time (the local engine's lock)
        self.decoding = getattr(self.engine, "lock", None) or threading.Lock()

    @classmethod
    def load(cls, source: str = loading.EMBEDDED, opts: loading.LoadOptions | None = None,
             progress=None, engine: str = "local", vllm_url: str | None = None) -> "MuFunService":
        """The model from ``source``; with ``engine="vllm"`` only what the splice needs is loaded
        here and answers come from the vLLM server at ``vllm_url`` serving the same checkpoint."""
        if engine not in ENGINES:
            raise UserError(f"engine {engine!r}: use one of {', '.join(ENGINES)}")
        if engine == "local":
            return cls(loading.load(source, opts, progress))
        if not vllm_url:
            raise UserError("the vLLM engine needs the server's URL (--vllm-url or MUFUN_VLLM_URL)")
        opts = replace(opts or loading.LoadOptions(), decoder=False)
        loaded = loading.load(source, opts, progress)
        remote = VLLMEngine(vllm_url, loaded.tokenizer, eos_ids(loaded.tokenizer), served_dtype(loaded.cfg.hidden_size),
                            expected_model=served_name(loaded.folder))
        return cls(loaded, engine=remote)

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
        yield from self.engine.stream(self.inputs(prep), sampling, should_stop)

    def next_token_logits(self, prep: Prepared, generated: Sequence[int]) -> tuple[torch.Tensor, str]:
        """The next token's logits after the prompt and ``generated``, from the engine, and a note
        on what they cover: every vocabulary row (local), or the server's top 20 (vLLM, which
        returns top log-probabilities, not whole distributions)."""
        from mufun import walkthrough as W

        lm = self.loaded.model.language_model
        inputs = self.inputs(prep)
        if self.engine.holds_decoder:
            with self.decoding:
                return W.next_token_logits(lm, inputs, list(generated)), ""
        top = self.engine.next_token(W.extend(lm, inputs, list(generated)), top=20)
        logits = torch.full((self.cfg.text.vocab_size,), float("-inf"))
        for i, p in top:
            logits[i] = math.log(max(p, 1e-30))
        return logits, (f"From the vLLM server's top {len(top)} log-probabilities: the rest of the "
                        f"{self.cfg.text.vocab_size:,} rows is not sent, so these {len(top)} are renormalised.")

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


def served_name(folder: Path) -> str:
    """The name ``serve-lm`` gives the exported decoder of ``folder``: the app checks it is talking
    to the same checkpoint's decoder."""
    return f"mufun-lm-{fingerprint(folder)}"
