"""Benchmarks (a script, not a test): ratios measured in one run, on this machine.

    python scripts/bench.py [--model tiny] [--new-tokens 48] [--repeats 5] [--json]
    python scripts/bench.py --full-size [--quantize none int8 nf4] [--layers N]   # a CUDA GPU

Default mode, on whatever model loads (the embedded one by default):
  (a) pipeline overhead: prompt + layout + splice + our streaming decode, against bare
      ``Qwen3ForCausalLM.generate`` on the same ``inputs_embeds``, same number of new tokens;
  (b) streaming vs non-streaming decode: our per-token loop (events, text deltas) against
      ``generate``'s, per decoded token after the first;
  (c) time to first token for a repeated question about the same song against the first one,
      and how many encoder calls the repeat made;
  (d) layout + mask data for a 5-minute song.
``--full-size`` builds the real MuFun-8B architecture with random weights on the GPU (nothing is
downloaded) and reports encoder ms per chunk, prefill ms for ~2000 tokens, decode tokens/s and
the achieved weight bandwidth, for bf16 (none), int8 and nf4. ``--preset tiny --device cpu`` runs the
same code on the tiny architecture (a smoke test of this script).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers.generation.streamers import BaseStreamer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mufun import audio, loading, viz  # noqa: E402
from mufun.config import MuFunConfig  # noqa: E402
from mufun.generate import Done, Sampling, stream  # noqa: E402
from mufun.prompt import Turn, load_tokenizer, qwen3_tokenizer_dir  # noqa: E402
from mufun.service import MuFunService  # noqa: E402
from mufun.precision import lm_bytes  # noqa: E402
from mufun.tiny.synth import tone  # noqa: E402


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up."""
    fn()
    out = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class TokenTimes(BaseStreamer):
    """When ``generate`` hands over each token (first the prompt, then one per step)."""

    def __init__(self):
        self.at: list[float] = []

    def put(self, value) -> None:
        sync()
        self.at.append(time.perf_counter())

    def end(self) -> None:
        pass


def song_clip(cfg: MuFunConfig, seconds: float, name: str) -> audio.Clip:
    x = tone([440.0, 554.37, 659.25], seconds, "sawtooth")[0] * 0.3
    return audio.load_array(x, 16_000, cfg, source=name)


# -- default mode --------------------------------------------------------------------------------
def bench_pipeline(svc: MuFunService, new_tokens: int, repeats: int) -> dict:
    cfg, tok = svc.cfg, svc.tokenizer
    lm = svc.loaded.model.language_model
    clip = song_clip(cfg, 45.0, "song-45s.wav")
    turns = [Turn("What is the tempo of this clip?")]
    s = Sampling(max_new_tokens=new_tokens)
    svc.audio_rows([clip])  # encoded once; (a) and (b) are about the text side

    def pipeline():
        prep = svc.prepare(turns, [clip])
        inputs = svc.inputs(prep)
        ids = [ev.id for ev in stream(lm, inputs, tok, (), s) if not isinstance(ev, Done)]
        return ids

    inputs = svc.inputs(svc.prepare(turns, [clip]))

    def bare():
        with torch.inference_mode():
            return lm.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                               use_cache=True, eos_token_id=None, pad_token_id=tok.pad_token_id)

    same = pipeline() == bare()[0].tolist()[-new_tokens:]
    t_pipe = timed(pipeline, repeats)
    t_bare = timed(bare, repeats)
    # (b) decode only: the time between successive tokens after the first, for both (a
    # difference of two whole timings could come out negative on a busy machine)
    steps: list[float] = []
    bare_steps: list[float] = []

    def ours_decode():
        last = None
        gaps = []
        for ev in stream(lm, inputs, tok, (), s):
            now = time.perf_counter()
            if last is not None and not isinstance(ev, Done):
                gaps.append(now - last)
            last = now
        steps.append(sum(gaps) / len(gaps))

    def bare_decode():
        ticks = TokenTimes()
        with torch.inference_mode():
            lm.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                        use_cache=True, eos_token_id=None, pad_token_id=tok.pad_token_id, streamer=ticks)
        gaps = [b - a for a, b in zip(ticks.at[1:], ticks.at[2:])]  # at[0]: the prompt, at[1]: token 1
        bare_steps.append(sum(gaps) / len(gaps))

    timed(ours_decode, repeats)
    timed(bare_decode, repeats)
    ours_tok = statistics.median(steps)
    bare_tok = statistics.median(bare_steps)
    return {"sequence_length": int(inputs["inputs_embeds"].shape[1]), "new_tokens": new_tokens,
            "same_tokens": same, "pipeline_s": t_pipe, "bare_generate_s": t_bare,
            "a_pipeline_over_bare": t_pipe / t_bare,
            "ours_decode_ms_per_token": ours_tok * 1e3, "bare_decode_ms_per_token": bare_tok * 1e3,
            "b_stream_over_nonstream": ours_tok / bare_tok}


def bench_repeat(svc: MuFunService) -> dict:
    clip = song_clip(svc.cfg, 45.0, "repeat-45s.wav")
    svc.cache.clear()

    def ttft() -> float:
        t = time.perf_counter()
        for ev in svc.ask([Turn("Which note is played?")], [clip], Sampling(max_new_tokens=2)):
            if not hasattr(ev, "layout"):
                sync()
                return time.perf_counter() - t
        raise RuntimeError("no token")

    before = svc.cache.encoder_calls
    first = ttft()
    mid = svc.cache.encoder_calls
    again = statistics.median([ttft() for _ in range(3)])
    return {"first_ttft_s": first, "repeat_ttft_s": again, "c_repeat_over_first": again / first,
            "encoder_calls_first": mid - before, "encoder_calls_repeat": svc.cache.encoder_calls - mid}


def bench_layout(svc: MuFunService, repeats: int) -> dict:
    clip = song_clip(svc.cfg, 300.0, "song-5min.wav")
    turns = [Turn("Describe this song: genre, tempo, instruments and mood.")]

    def run():
        prep = svc.prepare(turns, [clip])
        viz.mask_image(prep.layout, 512)
        return prep

    prep = run()
    t = timed(run, max(repeats, 20))
    return {"tokens": prep.layout.sequence_length, "audio_tokens": clip.tokens(svc.cfg), "d_layout_mask_ms": t * 1e3}


# -- full size -----------------------------------------------------------------------------------
def random_model(cfg: MuFunConfig, mode: str, device: str, dtype: torch.dtype):
    """The architecture with random weights made where they live; linears quantize on the way."""
    from accelerate import init_empty_weights

    from mufun.model import MuFunModel

    with init_empty_weights(include_buffers=False):
        model = MuFunModel(cfg)
    if mode != "none":
        loading.quantize_linears(model, mode, dtype)
    tied = cfg.text.tie_word_embeddings
    shapes = [(k, p.shape) for k, p in model.state_dict(keep_vars=True).items()
              if p.device.type == "meta" and not (tied and k == "language_model.lm_head.weight")]

    def tensors():
        g = torch.Generator(device=device).manual_seed(0)
        for k, shape in shapes:
            yield k, (torch.randn(shape, generator=g, device=device, dtype=dtype) * 0.02)

    loading.place_tensors(model, tensors(), {"": device}, dtype)
    if tied:
        model.language_model.lm_head.weight = model.language_model.model.embed_tokens.weight
    return model.eval()


def bench_full(cfg: MuFunConfig, modes: list[str], device: str, prefill_tokens: int, new_tokens: int,
               repeats: int) -> list[dict]:
    dtype = torch.bfloat16 if device != "cpu" else torch.float32
    tok = load_tokenizer(str(qwen3_tokenizer_dir()))
    rows = []
    for mode in modes:
        model = random_model(cfg, mode, device, dtype)
        lm = model.language_model
        feats = torch.randn(4, cfg.encoder.num_mel_bins, cfg.mel_frames_per_chunk, device=device)
        enc_ms = timed(lambda: model.encode_audio(feats), repeats) / 4 * 1e3
        x = torch.randn(1, prefill_tokens, cfg.hidden_size, device=device, dtype=dtype) * 0.02
        inputs = {"inputs_embeds": x, "attention_mask": torch.ones(1, prefill_tokens, dtype=torch.long, device=device),
                  "position_ids": torch.arange(prefill_tokens, device=device).unsqueeze(0)}

        def prefill():
            with torch.inference_mode():
                lm(**inputs, use_cache=False, logits_to_keep=1)

        pre_ms = timed(prefill, repeats) * 1e3
        stats = []
        timed(lambda: stats.append([ev for ev in stream(lm, inputs, tok, (), Sampling(max_new_tokens=new_tokens))
                                    if isinstance(ev, Done)][0].stats), repeats)
        tps = statistics.median(s["tokens_per_s"] for s in stats)
        b = lm_bytes(model)
        rows.append({"precision": mode if mode != "none" else str(dtype).replace("torch.", ""), "encoder_ms_per_chunk": enc_ms, "prefill_tokens": prefill_tokens,
                     "prefill_ms": pre_ms, "decode_tokens_per_s": tps, "lm_weight_GB": b / 1e9,
                     "achieved_GB_per_s": b * tps / 1e9,
                     "peak_gpu_GB": torch.cuda.max_memory_allocated() / 1e9 if device != "cpu" else None})
        model = lm = prefill = None  # free the weights before the next precision
        if device != "cpu":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=loading.EMBEDDED)
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--full-size", action="store_true")
    p.add_argument("--preset", choices=["real", "tiny"], default="real")
    p.add_argument("--layers", type=int, default=0, help="full size: keep only this many Qwen3 layers (0 = all)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--quantize", nargs="+", default=["none", "int8", "nf4"], choices=list(loading.QUANTIZE))
    p.add_argument("--prefill-tokens", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.new_tokens < 3:
        p.error("--new-tokens must be at least 3 (decode speed is the time between tokens after the first)")
    out: dict = {"machine": machine()}
    if a.full_size:
        if a.device != "cpu" and not torch.cuda.is_available():
            print("--full-size needs a CUDA GPU (or --preset tiny --device cpu for a smoke run)", file=sys.stderr)
            return 2
        cfg = MuFunConfig.real() if a.preset == "real" else MuFunConfig.tiny()
        if a.layers:
            import dataclasses

            cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, num_hidden_layers=a.layers))
        out["full_size"] = bench_full(cfg, a.quantize, a.device, a.prefill_tokens, a.new_tokens, a.repeats)
        out["config"] = f"{cfg.name}: {cfg.summary()['LLM']}"
    else:
        svc = MuFunService.load(a.model)
        out["model"] = f"{svc.cfg.name} ({a.model})"
        out["pipeline"] = bench_pipeline(svc, a.new_tokens, a.repeats)
        out["repeat"] = bench_repeat(svc)
        out["layout"] = bench_layout(svc, a.repeats)
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"machine: {out['machine']}")
    if a.full_size:
        print(out["config"])
        print("| precision | encoder ms/chunk | prefill ms (tokens) | decode tok/s | LM weights GB | achieved GB/s |")
        print("|---|---|---|---|---|---|")
        for r in out["full_size"]:
            print(f"| {r['precision']} | {r['encoder_ms_per_chunk']:.1f} | {r['prefill_ms']:.1f} ({r['prefill_tokens']}) "
                  f"| {r['decode_tokens_per_s']:.1f} | {r['lm_weight_GB']:.2f} | {r['achieved_GB_per_s']:.1f} |")
        return 0
    pl, rp, ly = out["pipeline"], out["repeat"], out["layout"]
    print(f"model: {out['model']}; sequence {pl['sequence_length']} tokens, {pl['new_tokens']} new tokens")
    print(f"(a) pipeline / bare generate      {pl['a_pipeline_over_bare']:.3f}x  "
          f"({pl['pipeline_s'] * 1e3:.0f} ms vs {pl['bare_generate_s'] * 1e3:.0f} ms; same tokens: {pl['same_tokens']})"
          f"  goal <= 1.05x")
    print(f"(b) streaming / non-streaming     {pl['b_stream_over_nonstream']:.3f}x  "
          f"({pl['ours_decode_ms_per_token']:.2f} vs {pl['bare_decode_ms_per_token']:.2f} ms per decoded token)"
          f"  goal <= 1.05x")
    print(f"(c) repeat TTFT / first TTFT      {rp['c_repeat_over_first']:.3f}x  "
          f"({rp['repeat_ttft_s'] * 1e3:.0f} ms vs {rp['first_ttft_s'] * 1e3:.0f} ms); encoder calls "
          f"{rp['encoder_calls_first']} then {rp['encoder_calls_repeat']}  goal 0 on repeat")
    print(f"(d) layout + mask, 5-minute song  {ly['d_layout_mask_ms']:.1f} ms for {ly['tokens']} tokens "
          f"({ly['audio_tokens']} audio)  goal <= 20 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
