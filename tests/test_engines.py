"""The vLLM client against a stub OpenAI-compatible server on 127.0.0.1: the events it yields,
finish reasons, Stop aborting the request, and every failure (server down, refusal, timeout, a
stream cut mid-answer) as a clear message. The real server is tests/test_vllm.py."""
from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from mufun.engines import EngineError, VLLMEngine, encode_embeds
from mufun.generate import Done, Sampling, Step

MODEL = "mufun-lm-test"


class Stub(BaseHTTPRequestHandler):
    mode = "ok"
    tokens = [785, 5185, 374, 362, 19, 13, 151645]
    bodies: list = []
    disconnected = threading.Event()

    def log_message(self, *a):
        pass

    def _json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._json(200, {"data": [{"id": MODEL, "max_model_len": 4096}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.bodies.append(body)
        if self.mode == "refuse":
            return self._json(400, {"error": {"message": "This model's maximum context length is 4096 tokens."}})
        if self.mode == "slow":
            time.sleep(3)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        n = body["max_tokens"]
        toks = self.tokens[:n] if self.mode != "long" else [785] * n
        try:
            for k, t in enumerate(toks):
                last = k == len(toks) - 1
                finish = None if not last else ("stop" if t == 151645 else "length")
                if self.mode == "cut" and k == 2:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                top = {f"token_id:{t}": -0.1, f"token_id:{t + 1}": -2.5}
                chunk = {"choices": [{"index": 0, "text": "x", "finish_reason": finish,
                                      "logprobs": {"tokens": [f"token_id:{t}"], "token_logprobs": [-0.1],
                                                   "top_logprobs": [top]}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                if self.mode == "long":
                    time.sleep(0.05)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            Stub.disconnected.set()


@pytest.fixture
def stub():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    Stub.mode, Stub.bodies = "ok", []
    Stub.disconnected.clear()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture
def inputs():
    return {"inputs_embeds": torch.randn(1, 12, 64)}


def _run(engine, inputs, sampling, stop=None):
    return list(engine.stream(inputs, sampling, stop))


def test_events_finish_reasons_and_the_request(stub, tokenizer, inputs):
    eng = VLLMEngine(stub, tokenizer, (151645, 151643), torch.float32, expected_model=MODEL)
    evs = _run(eng, inputs, Sampling(max_new_tokens=16, temperature=0.7, top_k=5, top_p=0.9, seed=7, top_logits=2))
    steps, done = [e for e in evs if isinstance(e, Step)], evs[-1]
    assert isinstance(done, Done) and done.stop_reason == "eos" and list(done.ids) == Stub.tokens
    assert done.text == tokenizer.decode(Stub.tokens, skip_special_tokens=True).strip()
    assert "".join(s.delta for s in steps).strip() == done.text  # deltas come from our own detokenizer
    assert steps[0].top[0][0] == Stub.tokens[0] and abs(steps[0].top[0][1] - 0.904837) < 1e-5
    b = Stub.bodies[-1]
    assert (b["model"], b["temperature"], b["top_k"], b["top_p"], b["seed"]) == (MODEL, 0.7, 5, 0.9, 7)
    assert b["stop_token_ids"] == [151645, 151643] and b["return_tokens_as_token_ids"] and b["stream"]
    sent = torch.load(io.BytesIO(base64.b64decode(b["prompt_embeds"])))
    assert sent.dtype == torch.float32 and torch.equal(sent, inputs["inputs_embeds"][0])
    short = _run(eng, inputs, Sampling(max_new_tokens=3))
    assert short[-1].stop_reason == "max_new_tokens" and len(short[-1].ids) == 3
    assert "seed" not in Stub.bodies[-1]


def test_bf16_embeddings_travel_as_bf16():
    t = torch.randn(5, 8)
    back = torch.load(io.BytesIO(base64.b64decode(encode_embeds(t, torch.bfloat16))))
    assert back.dtype == torch.bfloat16 and back.shape == (5, 8)


def test_stop_aborts_the_request_on_the_server(stub, tokenizer, inputs):
    Stub.mode = "long"
    eng = VLLMEngine(stub, tokenizer, (151645,), torch.float32)
    seen = []
    evs = _run(eng, inputs, Sampling(max_new_tokens=200), stop=lambda: len(seen) >= 3 or seen.append(1) is not None
               and False)
    assert evs[-1].stop_reason == "cancelled" and len(evs[-1].ids) < 200
    assert Stub.disconnected.wait(5)  # the server saw the client go: vLLM aborts the request there


@pytest.mark.parametrize("mode,msg", [
    ("refuse", "refused the request (HTTP 400: the question and answer are longer than the server's context)"),
    ("cut", "broke mid-answer; nothing was kept"),
    ("slow", "did not answer within 1 s; nothing was kept"),
])
def test_failures_are_clear_messages(stub, tokenizer, inputs, mode, msg):
    eng = VLLMEngine(stub, tokenizer, (151645,), torch.float32, timeout_s=1)
    Stub.mode = mode
    with pytest.raises(EngineError) as e:
        _run(eng, inputs, Sampling(max_new_tokens=8))
    assert msg in str(e.value) and "Traceback" not in str(e.value)


def test_server_down_and_wrong_model_and_local_only_settings(stub, tokenizer, inputs):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(EngineError, match="is not answering: start it with `python -m mufun serve-lm"):
        VLLMEngine(dead, tokenizer, (151645,), torch.float32)
    with pytest.raises(EngineError, match="not this app's model"):
        VLLMEngine(stub, tokenizer, (151645,), torch.float32, expected_model="mufun-lm-other")
    eng = VLLMEngine(stub, tokenizer, (151645,), torch.float32)
    with pytest.raises(EngineError, match="repetition penalty needs the local engine"):
        _run(eng, inputs, Sampling(max_new_tokens=4, repetition_penalty=1.2))
