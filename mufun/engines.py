"""Who decodes the answer: one narrow interface, two engines, the same events.

``LocalEngine`` is today's loop (``generate.stream``) on the model this process holds: right for
one person on a laptop. ``VLLMEngine`` hands the spliced ``(L, H)`` embeddings to a vLLM server
(``/v1/completions`` with ``prompt_embeds``, streamed) that batches many users, pages its KV
cache and scales to several GPUs and nodes. Both yield ``Step`` per token and one ``Done``, so
the app, the CLI and the walkthrough never know which one runs. The choice is made once, at
start-up.
"""
from __future__ import annotations

import base64
import io
import json
import math
import threading
import time
from typing import Callable, Iterator

import torch

from mufun.errors import UserError
from mufun.generate import Detokenizer, Done, Sampling, Step, finish, stream


class EngineError(UserError):
    """The serving engine failed; the message says what the person can do."""


class LocalEngine:
    """The model in this process; one answer at a time (the decode lock)."""

    name = "local"
    holds_decoder = True

    def __init__(self, lm, tokenizer, eos_ids: tuple[int, ...]):
        self.lm, self.tokenizer, self.eos_ids = lm, tokenizer, eos_ids
        # a server may resume a generator on another thread: a plain Lock, never the thread-owned RLock
        self.lock = threading.Lock()

    def stream(self, inputs: dict, sampling: Sampling,
               should_stop: Callable[[], bool] | None = None) -> Iterator[Step | Done]:
        with self.lock:
            yield from stream(self.lm, inputs, self.tokenizer, self.eos_ids, sampling, should_stop)

    def describe(self) -> dict:
        return {"engine": "local", "detail": "this process decodes, one answer at a time"}


def served_dtype(hidden_size: int) -> torch.dtype:
    """The dtype ``serve-lm`` serves and the client sends: float32 for a small decoder such as
    MuFun-Tiny's (exact, and cheap), bfloat16 (the released weights' dtype) for MuFun's.

    >>> served_dtype(64), served_dtype(4096)
    (torch.float32, torch.bfloat16)
    """
    return torch.float32 if hidden_size <= 1024 else torch.bfloat16


def encode_embeds(embeds: torch.Tensor, dtype: torch.dtype) -> str:
    """``(L, H)`` as vLLM reads ``prompt_embeds``: a ``torch.save``d tensor, base64."""
    buf = io.BytesIO()
    torch.save(embeds.detach().to("cpu", dtype).contiguous(), buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _token_id(s: str) -> int:
    """vLLM names tokens ``token_id:N`` when asked ``return_tokens_as_token_ids``."""
    return int(s.rsplit(":", 1)[1])


FINISH = {"stop": "eos", "length": "max_new_tokens"}


class VLLMEngine:
    """A vLLM OpenAI-compatible server fed MuFun's own spliced embeddings."""

    name = "vllm"
    holds_decoder = False

    def __init__(self, url: str, tokenizer, eos_ids: tuple[int, ...], dtype: torch.dtype,
                 expected_model: str | None = None, timeout_s: float = 120.0):
        import httpx

        self.url = url.rstrip("/")
        self.tokenizer, self.eos_ids, self.dtype, self.timeout_s = tokenizer, eos_ids, dtype, timeout_s
        self.http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self.model, self.max_model_len = self._model(expected_model)

    def _model(self, expected: str | None) -> tuple[str, int | None]:
        try:
            r = self.http.get(f"{self.url}/v1/models")
            r.raise_for_status()
            data = r.json()["data"]
        except Exception:
            raise EngineError(f"the language-model server at {self.url} is not answering: start it with "
                              f"`python -m mufun serve-lm --model ...`, or use the local engine") from None
        names = [m["id"] for m in data]
        if expected and expected not in names:
            raise EngineError(f"the server at {self.url} serves {', '.join(names) or 'nothing'}, not this app's "
                              f"model ({expected}): start serve-lm with the same --model as the app")
        m = next(m for m in data if not expected or m["id"] == expected)
        return m["id"], m.get("max_model_len")

    def describe(self) -> dict:
        return {"engine": "vllm", "url": self.url, "served_model": self.model, "max_model_len": self.max_model_len,
                "dtype": str(self.dtype).replace("torch.", "")}

    def request(self, inputs: dict, sampling: Sampling, top: int) -> dict:
        if sampling.repetition_penalty != 1.0:
            raise EngineError("a repetition penalty needs the local engine: vLLM would count the prompt's ids, "
                              "which an embeddings-only prompt does not have")
        embeds = inputs["inputs_embeds"][0]  # (L, H)
        body = {"model": self.model, "prompt_embeds": encode_embeds(embeds, self.dtype),
                "max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "top_k": sampling.top_k, "stream": True,
                "stop_token_ids": list(self.eos_ids), "skip_special_tokens": True,
                "return_tokens_as_token_ids": True, "logprobs": max(1, top)}
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return body

    def stream(self, inputs: dict, sampling: Sampling,
               should_stop: Callable[[], bool] | None = None) -> Iterator[Step | Done]:
        """Streamed ``/v1/completions``; closing the connection (Stop, or this generator closed)
        aborts the request on the server and frees its slot."""
        import httpx

        t_start, t_first = time.perf_counter(), None
        L = inputs["inputs_embeds"].shape[1]
        body = self.request(inputs, sampling, sampling.top_logits)
        ids: list[int] = []
        text = Detokenizer(self.tokenizer)
        reason = None
        try:
            with self.http.stream("POST", f"{self.url}/v1/completions", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    raise EngineError(f"the language-model server refused the request (HTTP {r.status_code}"
                                      f"{': ' + _reason(r) if _reason(r) else ''})")
                for line in r.iter_lines():
                    if should_stop is not None and should_stop():
                        reason = "cancelled"
                        break
                    if not line.startswith("data: "):
                        continue
                    if line == "data: [DONE]":
                        break
                    choice = json.loads(line[6:])["choices"][0]
                    lp = choice.get("logprobs") or {}
                    tops = lp.get("top_logprobs") or [None] * len(lp.get("tokens") or [])
                    for tok, alts in zip(lp.get("tokens") or [], tops):
                        nxt = _token_id(tok)
                        ids.append(nxt)
                        t_first = t_first or time.perf_counter()
                        ranked = sorted(((_token_id(k), math.exp(v)) for k, v in (alts or {}).items()),
                                        key=lambda kv: -kv[1])[:sampling.top_logits]
                        yield Step(len(ids) - 1, nxt, self.tokenizer.convert_ids_to_tokens(nxt), text.add(nxt),
                                   tuple(ranked))
                    if choice.get("finish_reason"):
                        reason = FINISH.get(choice["finish_reason"], choice["finish_reason"])
        except EngineError:
            raise
        except httpx.TimeoutException:
            raise EngineError(f"the language-model server at {self.url} did not answer within "
                              f"{self.timeout_s:.0f} s; nothing was kept") from None
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, IndexError, ValueError):
            raise EngineError(f"the connection to the language-model server at {self.url} broke mid-answer; "
                              f"nothing was kept. Ask again.") from None
        if reason is None:  # the stream ended with no finish reason: cut off, whatever the socket said
            raise EngineError(f"the connection to the language-model server at {self.url} broke mid-answer; "
                              f"nothing was kept. Ask again.")
        yield finish(self.tokenizer, ids, reason, t_start, t_first, L)

    def next_token(self, inputs: dict, top: int = 20) -> list[tuple[int, float]]:
        """The next token's top-``top`` candidates and probabilities (one token, greedy)."""
        done_steps = [ev for ev in self.stream(inputs, Sampling(max_new_tokens=1, top_logits=top))
                      if isinstance(ev, Step)]
        return list(done_steps[0].top) if done_steps else []


def _reason(r) -> str:
    """A server's refusal in a few words of ours: the kind of problem, not its text."""
    try:
        msg = str(r.json().get("error", {}).get("message", "")) if r.content else ""
    except Exception:
        return ""
    low = msg.lower()
    if "context length" in low or "max_model_len" in low or "maximum" in low and "token" in low:
        return "the question and answer are longer than the server's context"
    if "prompt_embeds" in low or "prompt embeds" in low:
        return "the server does not take prompt embeddings (start it with --enable-prompt-embeds)"
    return ""
