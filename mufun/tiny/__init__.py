"""MuFun-Tiny's training side: the synthesizer of labelled clips, the trainer, its probes and the
evaluator. The runtime never imports this package, except ``mufun.examples`` for the sounds of
the app's examples.

    python -m mufun.tiny.train --out assets/mufun-tiny
    python -m mufun.tiny.eval --per-kind 40 --ablate
"""
