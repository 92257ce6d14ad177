"""``python -m mufun layout|ask|export-lm|serve-lm``: what the model reads, its streamed answer
(from the local engine or a vLLM server), and MuFun's decoder exported and served on vLLM."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mufun.audio import AudioError
from mufun.checkpoint import CheckpointError
from mufun.errors import UserError, for_user
from mufun.prompt import PromptError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="tiny", help="'tiny' (embedded), a checkpoint folder, or a Hub id")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--audio", action="append", default=[], metavar="FILE", help="a song; repeat for several")
    p.add_argument("--segment", action="append", nargs=3, default=[], metavar=("INDEX", "START", "END"),
                   help="use only [START, END] seconds of song INDEX (0-based); END may be 'end'")
    p.add_argument("--prompt", required=True, help="the question; <audio> marks where each song goes")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m mufun", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lay = sub.add_parser("layout", help="show the interleaved token layout of songs and a prompt")
    _common(lay)
    ask = sub.add_parser("ask", help="ask about songs; streams the answer")
    _common(ask)
    ask.add_argument("--max-new-tokens", type=int, default=128)
    ask.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    ask.add_argument("--top-k", type=int, default=0)
    ask.add_argument("--top-p", type=float, default=1.0)
    ask.add_argument("--repetition-penalty", type=float, default=1.0)
    ask.add_argument("--seed", type=int, default=None)
    ask.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    ask.add_argument("--quantize", choices=["none", "int8", "nf4"], default="none")
    ask.add_argument("--device-map", default="auto", help="auto | cpu | cuda")
    ask.add_argument("--top-logits", type=int, default=0, help="record the top K next-token probabilities")
    ask.add_argument("--windows", action="store_true",
                     help="a song too long for the budget: ask per window of it, then combine the parts")
    ask.add_argument("--engine", default=os.environ.get("MUFUN_ENGINE", "local"), choices=["local", "vllm"],
                     help="who decodes: this process, or a vLLM server (python -m mufun serve-lm)")
    ask.add_argument("--vllm-url", default=os.environ.get("MUFUN_VLLM_URL"), help="the vLLM server, with --engine vllm")
    ex = sub.add_parser("export-lm", help="write MuFun's Qwen3 decoder as a plain Qwen3 checkpoint folder")
    ex.add_argument("--model", default="tiny", help="'tiny' (embedded), a checkpoint folder, or a Hub id")
    ex.add_argument("--revision", default=None)
    ex.add_argument("--out", required=True, type=Path, help="the folder to write")
    sv = sub.add_parser("serve-lm", help="serve MuFun's decoder on vLLM (127.0.0.1), for --engine vllm")
    sv.add_argument("--model", default="tiny", help="'tiny' (embedded), a checkpoint folder, or a Hub id")
    sv.add_argument("--revision", default=None)
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--python", default=os.environ.get("MUFUN_VLLM_PYTHON"),
                    help="the vLLM environment's python (scripts/install_vllm.sh DIR makes DIR/bin/python)")
    sv.add_argument("vllm_args", nargs=argparse.REMAINDER, help="-- then extra arguments for vLLM (e.g. -tp 2)")
    return ap


def _songs(args) -> list:
    from mufun.pipeline import SongInput

    segs: dict[int, tuple] = {}
    for idx, start, end in args.segment:
        try:
            i = int(idx)
            seg = (float(start), None if end.lower() in ("end", "none") else float(end))
        except ValueError:
            raise AudioError(f"--segment {idx} {start} {end}: INDEX must be an integer, START and END seconds")
        if not 0 <= i < len(args.audio):
            raise AudioError(f"--segment {i}: there {'is' if len(args.audio) == 1 else 'are'} "
                             f"{len(args.audio)} song(s), numbered from 0")
        segs[i] = seg
    return [SongInput(p, segs.get(i)) for i, p in enumerate(args.audio)]


def cmd_layout(args) -> int:
    from pathlib import Path

    from mufun.config import MuFunConfig
    from mufun.loading import resolve
    from mufun.pipeline import load_clips, prepare
    from mufun.prompt import Turn, load_tokenizer

    folder, _, _ = resolve(args.model, args.revision)
    try:
        cfg = MuFunConfig.from_json(Path(folder) / "config.json")
    except ValueError as e:
        raise CheckpointError(str(e))
    tok = load_tokenizer(str(folder))
    clips = load_clips(_songs(args), cfg)
    prep = prepare([Turn(args.prompt)], clips, cfg, tok)
    lay = prep.layout
    if args.json:
        d = lay.as_dict()
        d["model"] = args.model
        d["prompt"] = prep.tokens.text
        d["budget"] = lay.budget().as_dict()
        for a, c in zip(d["audio"], clips):
            a["warnings"] = list(c.warnings)
        d["warnings"] = prep.warnings
        print(json.dumps(d))
        return 0
    from mufun.viz import layout_table

    _warn(prep.warnings)
    print(layout_table(lay))
    return 0


def cmd_ask(args) -> int:
    from mufun.generate import Done, Sampling, Step
    from mufun.loading import LoadOptions
    from mufun.pipeline import Prepared
    from mufun.prompt import Turn
    from mufun.service import MuFunService

    from mufun.inputs import seed

    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.repetition_penalty,
                        seed(args.seed), args.top_logits)
    svc = MuFunService.load(args.model, LoadOptions(device_map=args.device_map, dtype=args.dtype,
                                                    quantize=args.quantize, revision=args.revision),
                            engine=args.engine, vllm_url=args.vllm_url)
    clips = svc.clips(_songs(args))
    if args.windows:
        return _ask_windows(svc, args, clips, sampling)
    prep, steps, done = None, [], None
    for ev in svc.ask([Turn(args.prompt)], clips, sampling):
        if isinstance(ev, Prepared):
            prep = ev
            _warn(prep.warnings)
        elif isinstance(ev, Step):
            steps.append(ev)
            if not args.json and ev.delta:
                print(ev.delta, end="", flush=True)
        elif isinstance(ev, Done):
            done = ev
    if args.json:
        print(json.dumps(svc.trace(prep, done, steps, sampling)))
    else:
        print()
        s = done.stats
        print(f"[{s['answer_tokens']} tokens, stop: {s['stop_reason']}, first token {s['time_to_first_token_s']:.2f} s, "
              f"{s['tokens_per_s'] or 0:.1f} tokens/s]", file=sys.stderr)
    return 0


def _warn(warnings) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _ask_windows(svc, args, clips, sampling) -> int:
    from mufun.generate import Done, Step
    from mufun.longaudio import Stage, Tally, analyse

    if len(clips) != 1:
        raise PromptError("--windows takes exactly one --audio song")
    stages, tally = [], None
    for ev in analyse(svc, args.prompt, clips[0], sampling):
        if isinstance(ev, Tally):
            tally = ev
            if not args.json:
                print(f"\n[combined] {ev.text}", end="", flush=True)
        elif isinstance(ev, Stage):
            stages.append({"title": ev.title, "sequence_length": ev.prepared.layout.sequence_length,
                           "input_ids": list(ev.prepared.tokens.input_ids)})
            if not args.json:
                print(f"\n[{ev.index + 1}/{ev.total}] {ev.title}: ", end="", flush=True)
        elif isinstance(ev, Step) and not args.json and ev.delta:
            print(ev.delta, end="", flush=True)
        elif isinstance(ev, Done):
            stages[-1]["text"] = ev.text
            stages[-1]["stats"] = ev.stats
    n_windows = len(stages) - (1 if stages[-1]["title"].startswith("the model's summary") else 0)
    if args.json:
        print(json.dumps({"model": args.model, "windows": stages[:n_windows],
                          "combined": {"text": tally.text, "most_common": tally.most_common} if tally else None,
                          "summary": stages[n_windows] if n_windows < len(stages) else None}))
    else:
        print()
    return 0


def cmd_export(args) -> int:
    from mufun.export import export_lm
    from mufun.loading import resolve

    folder, _, _ = resolve(args.model, args.revision)
    out = export_lm(folder, args.out)
    print(f"wrote {out}: a Qwen3ForCausalLM checkpoint (config, safetensors, tokenizer) from {args.model}")
    return 0


def cmd_serve(args) -> int:
    from mufun.config import MuFunConfig
    from mufun.loading import resolve
    from mufun.serve import serve_forever, start
    from mufun.service import served_name

    folder, _, _ = resolve(args.model, args.revision)
    cfg = MuFunConfig.from_json(folder / "config.json")
    extra = [a for a in args.vllm_args if a != "--"]
    name = served_name(folder)
    print(f"exporting {args.model} (cached) and starting vLLM on 127.0.0.1:{args.port}…", file=sys.stderr, flush=True)
    proc, url = start(folder, cfg, name, args.port, args.python, extra)
    return serve_forever(proc, url, name)


def main(argv: list[str] | None = None) -> int:

    args = parser().parse_args(argv)
    try:
        return {"layout": cmd_layout, "ask": cmd_ask, "export-lm": cmd_export, "serve-lm": cmd_serve}[args.cmd](args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a user's mistake gets its message; anything else a short sentence
        if not isinstance(e, UserError) and os.environ.get("MUFUN_DEBUG"):
            raise
        msg = for_user(e, f"running '{args.cmd}'")
        if getattr(args, "json", False):
            print(json.dumps({"error": msg, "type": type(e).__name__ if isinstance(e, UserError) else "InternalError"}))
        print(f"error: {msg}" + ("" if isinstance(e, UserError) else " (MUFUN_DEBUG=1 shows the details)"),
              file=sys.stderr)
        return 2 if isinstance(e, UserError) else 1
