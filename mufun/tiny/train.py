"""Train MuFun-Tiny on synthetic songs, through the modules the app runs.

    python -m mufun.tiny.train --out assets/mufun-tiny [--steps 2900] [--batch 3] [--seed 0] [--settle-steps 600]

Audio goes the app's way: ``audio.load_array`` (segment, resample) -> ``pipeline.clip_features``
(Whisper log-mel per 30 s chunk) -> ``MuFunModel`` (encoder taps, pooling, connector) ->
``MuFunModel.embed`` (placeholder splice) -> ``Qwen3ForCausalLM``. The prompt is the trained
template from ``pipeline.prepare``; the loss covers the answer and its ``<|im_end|>``.

Training-only probes help the sound reach the answer sooner (deep supervision of the encoder
and connector): for every clip, one linear layer per question kind reads the mean audio
embedding (over the rows that hold real audio) and is trained to name the label; another per
kind reads every real row on its own and is trained to name the same label; and for beat clips
one more reads every audio row and is trained to say whether a hit starts in its 100 ms (its loss
counts ``ONSET_WEIGHT`` times, 1 in the recipe).
Without that onset probe the tempo never reached the embeddings: a tempo is a count of hits
over time, and the mean alone gave no gradient towards detecting them. Without the per-row
probes the tempo sat in the mean of the rows but hardly in any one row, and the two-layer LLM,
which reads the rows through attention, answered as if it counted hits: short clips were heard
one label too slow. The probes are thrown away; the saved model answers only through the LLM
reading the spliced embeddings, as in the app. Everything is trained from scratch; the run is
deterministic for a seed and thread count. ``--bf16-encoder`` runs the encoder and connector
under bfloat16 autocast (their weights stay float32): faster steps, not the shipped recipe.

After the main run, settling: ``SETTLE_STEPS`` steps from its saved weights at ``SETTLE_LR``,
with a fresh optimizer and without the probes, on ``SETTLE_CLIPS`` new clips in which half the
beat tracks' hits stop dead, a quarter lie over digital silence, a fifth are played on ticks, half
are laid out on the grid as a plain sequencer lays them, and half the clips' peaks lie at the
edge of their loudness label (``SETTLE``). The main run alone hears the click of a sound cut off
mid-decay as one more beat, a loud tick as quiet, and a sequencer's beat (every hit where one
100 ms audio row ends) one label too fast; settling teaches it otherwise, without the cost of
training on such tracks from the start (README "Settling" and "Beats on the grid").
"""
from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mufun import audio
from mufun.checkpoint import INDEX, check_keys, expected_keys, iter_tensors, save, weight_map
from mufun.config import IM_END, MuFunConfig
from mufun.model import MuFunModel
from mufun.pipeline import clip_features, prepare
from mufun.prompt import Turn, load_tokenizer, qwen3_tokenizer_dir
from mufun.tiny import synth


@dataclass
class Example:
    family: str
    labels: dict[str, str]
    clip: audio.Clip
    features: torch.Tensor  # (chunks, n_mels, 3000) float16
    onsets: tuple[float, ...] = ()  # hit starts, seconds into the clip as the model hears it
    sound: str = ""  # what played it (``synth.Song.sound``) and how it was stored


RATES, RATE_SHARE = (16_000, 22_050, 44_100, 48_000), (0.4, 0.15, 0.3, 0.15)
CODECS, CODEC_SHARE = ("wav", "flac", "ogg", "mp3"), (0.7, 0.1, 0.1, 0.1)


def make_example(family: str, rng: np.random.Generator, cfg: MuFunConfig, hits: tuple[str, ...] = synth.HITS,
                 peak: tuple[float, float] | None = None, seconds: float | None = None,
                 rough: synth.Rough = synth.Rough(), whole: bool = False, **fixed: str) -> Example:
    """A synthetic clip as the app would read it: at 16, 22.05, 44.1 or 48 kHz, mono or stereo,
    sometimes stored as FLAC, Ogg Vorbis or MP3 and decoded back by the app's own decoder, sometimes
    a segment of a longer recording (never with ``whole``: the same draws, the whole clip heard).
    Beat tracks are played on ``hits`` only. ``seconds``: how long the model hears it (else drawn
    by ``synth.pick_seconds``)."""
    rate = int(rng.choice(RATES, p=RATE_SHARE))
    drawn = synth.pick_seconds(rng, family, rough)  # drawn either way, so a seed keeps its rate and segment draw
    seconds = drawn if seconds is None else float(seconds)
    segment = None
    if rng.random() < 0.2:  # cut a segment out of a longer recording
        start = float(rng.uniform(0.5, 10))
        tail = float(rng.uniform(0.5, 5))
        if not whole:
            segment = (start, start + seconds)
            seconds = start + seconds + tail
    song = synth.make_song(family, rng, seconds=seconds, rate=rate, hits=hits, peak=peak, rough=rough, **fixed)
    codec = str(rng.choice(CODECS, p=CODEC_SHARE))
    if codec == "wav":
        clip = audio.load_array(song.samples, song.rate, cfg, source=f"{family}.wav", segment=segment)
    else:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"{family}.{codec}"
            synth.write_file(path, song.samples, song.rate)
            clip = audio.load(path, cfg, segment)
    feats = torch.from_numpy(clip_features([clip], cfg)).to(torch.float16)
    lo, hi = segment or (0.0, seconds)
    onsets = tuple(t - lo for t in song.onsets if lo <= t < hi)
    stereo = " stereo" if song.samples.ndim == 2 else ""
    return Example(family, song.labels, clip, feats, onsets, f"{song.sound}{stereo} {rate} Hz {codec}")


def played_on(ex: Example) -> tuple[str, ...]:
    """The hit families a beat track's clip was played on (none for tones and chords)."""
    return tuple(ex.sound.split()[0].split("+")) if ex.family == "beat" else ()


def without(examples: list[Example], hold_out: tuple[str, ...]) -> list[Example]:
    """``examples`` less the beat tracks played on a family in ``hold_out``."""
    return [ex for ex in examples if not set(hold_out) & set(played_on(ex))]


# how often each family is drawn (and how many clips it gets): tempo is the slowest kind to learn,
# notes a semitone apart come next; chords add only timbre and loudness (their quality is not learned).
# scripts/explore_tiny.py compared 0.6/0.3/0.1 with this on a GPU: notes came out better, tempo no worse.
FAMILY_SHARE = {"beat": 0.55, "tone": 0.37, "chord": 0.08}


def _one_thread() -> None:
    """A data worker uses one core: the pool's processes share the machine's cores between them."""
    torch.set_num_threads(1)


Job = tuple[str, np.random.SeedSequence, tuple[str, ...], synth.Rough]


def example_from_job(job: Job) -> Example:
    """One clip of the pool from its entry in ``pool_jobs``."""
    family, seq, hits, rough = job
    return make_example(family, np.random.default_rng(seq), MuFunConfig.tiny(), hits, rough=rough)


def pool_jobs(n_clips: int, seed: int, hits: tuple[str, ...] = synth.HITS,
              shares: dict[str, float] | None = None, rough: synth.Rough = synth.Rough()) -> list[Job]:
    """The clips ``build_pool`` makes, in order: (family, the clip's own seed, hit families, how
    rough its beat tracks may be)."""
    shares = shares or FAMILY_SHARE
    rng = np.random.default_rng(seed)
    sizes = {f: max(1, round(n_clips * shares[f])) if shares[f] > 0 else 0 for f in synth.FAMILY_KINDS}
    order = [f for f in synth.FAMILY_KINDS for _ in range(sizes[f])]
    order = [order[i] for i in rng.permutation(len(order))]
    return [(fam, seq, hits, rough) for fam, seq in zip(order, np.random.SeedSequence(seed).spawn(len(order)))]


def build_pool(n_clips: int, seed: int, cfg: MuFunConfig, log=print, hits: tuple[str, ...] = synth.HITS,
               workers: int | None = None, shares: dict[str, float] | None = None,
               rough: synth.Rough = synth.Rough()) -> dict[str, list[Example]]:
    """``n_clips`` examples, made on every core, each family's count by ``shares``. Each clip has
    its own seed (spawned from ``seed``), so the pool is the same whatever the number of workers."""
    jobs = pool_jobs(n_clips, seed, hits, shares, rough)
    pool: dict[str, list[Example]] = {f: [] for f in synth.FAMILY_KINDS}
    t0 = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(jobs) > 8:
            ex = stack.enter_context(ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                         initializer=_one_thread))
            made = ex.map(example_from_job, jobs, chunksize=16)
        else:
            made = map(example_from_job, jobs)
        for i, example in enumerate(made):
            pool[example.family].append(example)
            if (i + 1) % max(1, len(jobs) // 5) == 0:
                log(f"  data {i + 1}/{len(jobs)} clips ({time.perf_counter() - t0:.0f} s)")
    return pool


def sample_clip(pool: dict[str, list[Example]], rng: np.random.Generator,
                shares: dict[str, float] | None = None) -> Example:
    shares = shares or FAMILY_SHARE
    fams = list(pool)
    fam = fams[int(rng.choice(len(fams), p=[shares[f] for f in fams]))]
    return pool[fam][int(rng.integers(len(pool[fam])))]


def questions_for(ex: Example, rng: np.random.Generator):
    """Every question kind the clip carries, each as (turns, target answer) with a random
    phrasing; one in five has an earlier turn about the same clip. The encoder runs once for all."""
    out = []
    for kind in synth.FAMILY_KINDS[ex.family]:
        turns = []
        if rng.random() < 0.2:
            other = str(rng.choice([k for k in synth.FAMILY_KINDS[ex.family] if k != kind]))
            turns.append(Turn(str(rng.choice(synth.QUESTIONS[other])), synth.answer(other, ex.labels[other])))
        turns.append(Turn(str(rng.choice(synth.QUESTIONS[kind]))))
        out.append((turns, synth.answer(kind, ex.labels[kind])))
    return out


# weight of the per-row probes (every audio row names the clip's labels) against the mean probes
ROW_WEIGHT = 1.0
# weight of the onset probe's loss beside the label probes' (--onset-weight, train(onset_weight=)):
# 3 heard the exam's tempo better than 1 in two runs of each on a GPU, but its run on this CPU (LO)
# was worse on every count but one than the shipped LT (README "The onset probe weighed 3x"): the
# recipe keeps 1
ONSET_WEIGHT = 1.0
# exploring only (scripts/explore_tiny.py sets it; the shipped recipe keeps 0): the share of beat
# clips whose log-mel loses one or two bands of 8-32 mel bins (set to the chunk's floor, as a
# sound with nothing in that band) while training
FREQ_MASK = 0.0


def mask_bands(features: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A copy of one clip's log-mel (chunks, mels, frames) with one or two bands of 8-32 mel bins
    set to each chunk's floor (the level of digital silence in Whisper's scaling)."""
    out = features.clone()
    floor = out.amin(dim=(1, 2), keepdim=True)
    for _ in range(int(rng.integers(1, 3))):
        width = int(rng.integers(8, 33))
        lo = int(rng.integers(0, out.shape[1] - width + 1))
        out[:, lo:lo + width] = floor
    return out


def probes(cfg: MuFunConfig) -> torch.nn.ModuleDict:
    heads = {k: torch.nn.Linear(cfg.hidden_size, len(v)) for k, v in synth.LABELS.items()}
    rows = {f"row_{k}": torch.nn.Linear(cfg.hidden_size, len(v)) for k, v in synth.LABELS.items()}
    return torch.nn.ModuleDict({**heads, **rows, "onset": torch.nn.Linear(cfg.hidden_size, 1)})


def onset_targets(ex: Example, n_rows: int, per_second: float) -> torch.Tensor:
    """1.0 for every audio row (1 / ``per_second`` s of sound) in which a hit starts."""
    rows = [int(t * per_second) for t in ex.onsets]
    y = torch.zeros(n_rows)
    y[[r for r in rows if r < n_rows]] = 1.0
    return y


def real_rows(ex: Example, rows_per_chunk: int) -> int:
    """How many of the clip's audio rows hold sound (the rest pad its last 30 s chunk)."""
    n = ex.features.shape[0] * rows_per_chunk
    return max(1, min(n, math.ceil(ex.clip.used_s * (rows_per_chunk / 30))))


def probe_loss(heads: torch.nn.ModuleDict, clips: list[Example], rows: torch.Tensor,
               onset_weight: float = ONSET_WEIGHT) -> torch.Tensor:
    """Cross-entropy of each kind's probe on the clip's mean audio embedding and of its row probe
    on every real row (the two averaged together), plus the onset probe's binary cross-entropy
    on every real row of a beat clip."""
    losses, onset, c = [], [], 0
    per_second = rows.shape[1] / 30
    dev = rows.device
    for ex in clips:
        n = ex.features.shape[0]
        real = real_rows(ex, rows.shape[1])
        r = rows[c:c + n].reshape(-1, rows.shape[-1])[:real]  # (real, H)
        c += n
        v = r.mean(0)
        for kind in synth.FAMILY_KINDS[ex.family]:
            gold = torch.tensor(synth.LABELS[kind].index(ex.labels[kind]), device=dev)
            losses.append(F.cross_entropy(heads[kind](v)[None], gold[None]))
            if ROW_WEIGHT:
                losses.append(ROW_WEIGHT * F.cross_entropy(heads[f"row_{kind}"](r), gold.expand(len(r))))
        if ex.family == "beat":
            onset.append(F.binary_cross_entropy_with_logits(heads["onset"](r).squeeze(-1),
                                                            onset_targets(ex, real, per_second).to(dev)))
    loss = torch.stack(losses).mean()
    return loss + onset_weight * torch.stack(onset).mean() if onset else loss


def embed_many(model: MuFunModel, items: list[tuple[list[int], torch.Tensor, list[int]]]) -> list[torch.Tensor]:
    """``model.embed`` for many (ids, audio rows, tokens per file) at once: the sequences are laid
    end to end, spliced in one call and cut apart again, each (L_i, H). A call per sequence would
    build the 151 936-row embedding gradient once per sequence (a step 1.09x as long, measured by
    ``scripts/train_bench.py``)."""
    ids = [i for q, _, _ in items for i in q]
    per_file = [n for _, _, t in items for n in t]
    lengths = [len(q) - len(t) + sum(t) for q, _, t in items]
    return list(model.embed(ids, torch.cat([a for _, a, _ in items]), per_file)[0].split(lengths))


def batch_loss(model: MuFunModel, clips: list[Example], rng: np.random.Generator, cfg: MuFunConfig,
               tok, heads: torch.nn.ModuleDict | None = None, with_acc: bool = True,
               bf16: bool = False, onset_weight: float = ONSET_WEIGHT) -> tuple[torch.Tensor, float | None]:
    """Cross-entropy on the answer tokens only (the 151 936-row head runs on those rows alone),
    and the share of answer tokens the model's top choice gets right (``with_acc``: an argmax
    over the vocabulary, 2 % of a step, so training asks only when it prints). ``bf16``: the
    encoder and connector compute in bfloat16 (autocast; the weights stay float32)."""
    im_end = tok.convert_tokens_to_ids(IM_END)
    dev = model.audio_device
    feats = torch.cat([mask_bands(ex.features, rng) if FREQ_MASK and ex.family == "beat" and rng.random() < FREQ_MASK
                       else ex.features for ex in clips]).to(dev).float()  # (chunks, n_mels, 3000)
    # encode_audio runs under no_grad; training calls the same two modules with gradients
    with torch.autocast(feats.device.type, dtype=torch.bfloat16, enabled=bf16):
        rows = model.connector(model.vision_tower(feats))  # (chunks, 300, H)
    rows = rows.float()
    items, targets = [], []
    c = 0
    for ex in clips:
        n = ex.features.shape[0]
        clip_rows = rows[c:c + n].reshape(-1, rows.shape[-1])  # (n * 300, H)
        c += n
        for turns, ans in questions_for(ex, rng):
            prep = prepare(turns, [ex.clip], cfg, tok)
            target = tok(" " + ans, add_special_tokens=False)["input_ids"] + [im_end]
            items.append((list(prep.tokens.input_ids) + target, clip_rows, prep.tokens_per_file))
            targets.append(target)
    seqs = embed_many(model, items)
    L = max(s.shape[0] for s in seqs)
    H = seqs[0].shape[1]
    x = torch.zeros(len(seqs), L, H, device=dev)
    mask = torch.zeros(len(seqs), L, dtype=torch.long, device=dev)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = s
        mask[i, :len(s)] = 1
    pos = torch.arange(L, device=dev).unsqueeze(0).expand(len(seqs), L)
    h = model.language_model.model(inputs_embeds=x, attention_mask=mask, position_ids=pos).last_hidden_state
    pick, gold = [], []
    for i, (s, t) in enumerate(zip(seqs, targets)):
        first = len(s) - len(t) - 1  # the position that predicts the first answer token
        pick.append(h[i, first:first + len(t)])
        gold.extend(t)
    logits = model.language_model.lm_head(torch.cat(pick))  # (answer tokens, vocab)
    gold_t = torch.tensor(gold, device=dev)
    loss = F.cross_entropy(logits.float(), gold_t)
    acc = float((logits.detach().argmax(-1) == gold_t).float().mean()) if with_acc else None
    if heads is not None:
        loss = loss + probe_loss(heads, clips, rows, onset_weight)
    return loss, acc


@dataclass
class Late:
    """Clips that replace some of a run's beat draws from step ``from_step`` on: each beat track
    drawn then is swapped, with probability ``share``, for one of ``clips`` (``rng`` decides, so
    the run's other draws stay as they were)."""
    clips: list[Example]
    from_step: int
    share: float
    rng: np.random.Generator

    def swap(self, ex: Example, step: int) -> Example:
        if step >= self.from_step and ex.family == "beat" and self.clips and self.rng.random() < self.share:
            return self.clips[int(self.rng.integers(len(self.clips)))]
        return ex


def param_groups(model: MuFunModel, params: list[torch.Tensor], lr: float, lm_scale: float = 1.0):
    """What the optimizer steps: ``params`` as they are (``lm_scale`` 1, the recipe), or two groups,
    the LLM's decoder layers at ``lr`` x ``lm_scale`` and the rest at ``lr``."""
    if lm_scale == 1:
        return params
    layers = {id(q) for q in model.language_model.model.layers.parameters()}
    return [{"params": [q for q in params if id(q) in layers], "lr": lr * lm_scale},
            {"params": [q for q in params if id(q) not in layers], "lr": lr}]


def fit(model: MuFunModel, pool: dict[str, list[Example]], steps: int, batch: int, lr: float,
        rng: np.random.Generator, cfg: MuFunConfig, tok, heads: torch.nn.ModuleDict | None = None, log=print,
        shares: dict[str, float] | None = None, bf16: bool = False,
        onset_weight: float = ONSET_WEIGHT, late: Late | None = None, lm_lr_scale: float = 1.0) -> None:
    """``steps`` AdamW steps on clips drawn from ``pool``: a warm-up, then a cosine from ``lr`` down
    to a tenth of it. ``heads``: the training-only probes, trained beside the model (None: the
    answers' loss alone; ``onset_weight``: the onset probe's weight among them); ``late``: beat
    tracks that replace some beat draws late in the run; ``lm_lr_scale``: the LLM's decoder layers
    learn at that many times ``lr`` (``param_groups``; exploring only)."""
    params = [*model.parameters(), *(heads.parameters() if heads is not None else ())]
    model.train()
    # fused: one kernel over all tensors, 11 ms a step here against 51 ms for the default loop
    opt = torch.optim.AdamW(param_groups(model, params, lr, lm_lr_scale), lr=lr, betas=(0.9, 0.98), weight_decay=0.0, fused=True)
    warm = max(1, min(100, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))))
    t0 = time.perf_counter()
    ema_loss = None
    for step in range(1, steps + 1):
        clips = [sample_clip(pool, rng, shares) for _ in range(batch)]
        if late is not None:
            clips = [late.swap(ex, step) for ex in clips]
        show = step % 25 == 0 or step == steps
        loss, acc = batch_loss(model, clips, rng, cfg, tok, heads, with_acc=show, bf16=bf16,
                               onset_weight=onset_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema_loss = float(loss.detach()) if ema_loss is None else 0.95 * ema_loss + 0.05 * float(loss.detach())
        if show:
            el = time.perf_counter() - t0
            log(f"step {step}/{steps}  loss {ema_loss:.3f}  token acc {acc:.3f}  "
                f"lr {sched.get_last_lr()[0]:.2e}  {el / 60:.1f} min (eta {el / step * (steps - step) / 60:.1f})")
    model.eval()


def load_weights(folder: Path, cfg: MuFunConfig) -> MuFunModel:
    """A MuFunModel (float32) holding the weights a training run saved in ``folder``."""
    model = MuFunModel(cfg)
    wm = weight_map(Path(folder))
    check_keys(set(wm), expected_keys(model, cfg))
    model.load_state_dict(dict(iter_tensors(Path(folder), wm)), strict=False)  # lm_head is tied, not saved
    model.language_model.tie_weights()
    return model


# how the main run's beat tracks are made beyond the plain draw (``synth.Rough``): none
MAIN = synth.Rough()

# Settling: after the main run, a short second run from its saved weights (a fresh optimizer, no
# probes) on a new pool in which half the beat tracks' hits stop dead, a quarter lie over digital
# silence, a fifth are played on ticks and half are laid out on the grid, the way plain synthesizers
# and sequencers make beats, half the clips' peaks lie at the edge of their loudness label, and
# beats are drawn more often. The main run alone hears the click where a sound is cut off as one
# more beat, a loud tick (little energy for its peak) as quiet (README "Settling"), and a beat whose
# every hit starts where a 100 ms audio row ends one label too fast (README "Beats on the grid": a
# grid share of 0.5 over 600 steps, sGS, against 0.3, 0.7 and 1.0 and 300 or 900 steps); the
# settling pool's seed is the run's seed + SETTLE_SEED.
SETTLE = synth.Rough(cut=0.5, cut_db=(6.0, 45.0), silent=0.25, spike=0.2, edge=0.5, grid=0.5)
SETTLE_STEPS = 600
SETTLE_LR = 5e-4  # 1e-3 answered worse (README "Settling": s5)
# settling's pool: 1 350 clips, so each is drawn about 1.3 times in 600 steps of 3 (450, drawn 4 times
# each, answered worse on both settling seeds tried: README "A larger settling pool")
SETTLE_CLIPS = 1350
SETTLE_SHARE = {"beat": 0.68, "tone": 0.25, "chord": 0.07}
SETTLE_SEED = 100

# Late cuts (``--late-clips``; tried, not the recipe: README "Late cuts"): in the main run's second
# half (from step LATE_FROM x steps), a share of the beat draws are beat tracks whose every hit
# stops dead 12-40 dB below its peak, 30 % of them over digital silence (``late_clips`` of them,
# made with the pool from the run's seed + LATE_SEED). The onset probe, still trained then, marks
# only where hits start, so the encoder learns that a cut is no beat. Drawn from the start (run Y)
# such tracks slowed the learning of tempo; settling alone (300 steps, no probes) does not teach a
# long sound's cut 20-26 dB down to pass.
LATE = synth.Rough(cut=1.0, cut_db=(12.0, 40.0), silent=0.3)
LATE_CLIPS, LATE_FROM, LATE_SHARE, LATE_SEED = 400, 0.5, 0.4, 200


def machine() -> str:
    """What a run's bits depend on besides its seed: the CPU (its math libraries pick their kernels
    by it), the thread count and the numeric packages. The same command gave the shipped weights bit
    for bit on one machine and other bits, within the recipe's spread of answers, on another (README
    "Reproducing")."""
    info = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    cpu = info.get("model name") or platform.machine()
    if info.get("model"):
        cpu += f" (family {info.get('cpu family', '?')} model {info['model']})"
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, "
            f"{torch.backends.cpu.get_cpu_capability()} kernels, torch {torch.__version__}, numpy {np.__version__}")


def train(out: Path, steps: int, batch: int, lr: float, seed: int, n_clips: int, log=print,
          hold_out: tuple[str, ...] = (), device: str = "cpu", workers: int | None = None,
          shares: dict[str, float] | None = None, pool: dict[str, list[Example]] | None = None,
          bf16: bool = False, settle_steps: int = 0, settle_lr: float = SETTLE_LR, settle_clips: int = SETTLE_CLIPS,
          settle_from: Path | None = None, settle_pool: dict[str, list[Example]] | None = None,
          onset_weight: float = ONSET_WEIGHT, late_clips: int = 0,
          late_pool: list[Example] | None = None, late_share: float = LATE_SHARE,
          lm_lr_scale: float = 1.0) -> Path:
    """Train from scratch and save to ``out``, then settle (``settle_steps``; 0: no settling);
    beat tracks never use the hit families in ``hold_out``. ``shares``: how often each family is
    drawn (default ``FAMILY_SHARE``); ``pool``: the main run's clips made earlier (``build_pool``),
    else they are made here. ``settle_from``: skip the main run and settle the weights saved in
    that folder; ``settle_pool``: settling's clips made earlier; ``onset_weight``: the onset probe's
    weight in the main run; ``late_clips``: how many cut beat tracks the main run's second half
    draws from (``LATE``; 0: none), ``late_pool``: those made earlier, ``late_share``: the share of
    beat draws they replace; ``lm_lr_scale``: the main run's decoder layers learn at that many
    times ``lr`` (exploring only: 2x and 4x did not read the rows better on a GPU over four seeds,
    README "How the LLM reads the rows"; the recipe keeps 1). The shipped weights are trained on
    the CPU (``device`` "cuda" is for exploring)."""
    shares = shares or FAMILY_SHARE
    start = time.perf_counter()
    torch.manual_seed(seed)
    cfg = MuFunConfig.tiny()
    tok = load_tokenizer(str(qwen3_tokenizer_dir()))
    unknown = set(hold_out) - set(synth.HITS)
    if unknown:
        raise SystemExit(f"unknown hit families {sorted(unknown)}: choose from {', '.join(synth.HITS)}")
    hits = tuple(h for h in synth.HITS if h not in hold_out)
    log(f"MuFun-Tiny: {cfg.summary()['LLM']}; {cfg.summary()['encoder']}; beats on {', '.join(hits)}")
    log(f"machine: {machine()}")
    if settle_from is None:
        if pool is None:
            pool = build_pool(n_clips, seed, cfg, log, hits, workers, shares, MAIN)
        else:  # clips made earlier: drop the beat tracks played on a held-out family
            pool = {f: without(exs, hold_out) for f, exs in pool.items()}
        if late_pool is None and late_clips:
            late_pool = build_pool(late_clips, seed + LATE_SEED, cfg, log, hits, workers,
                                   {"beat": 1.0, "tone": 0.0, "chord": 0.0}, LATE)["beat"]
        elif late_pool is not None:
            late_pool = without(late_pool, hold_out)
        data_s = time.perf_counter() - start
        model = MuFunModel(cfg).to(device)
        t0 = time.perf_counter()
        if onset_weight != ONSET_WEIGHT:
            log(f"onset probe weighed {onset_weight:g} (the recipe: {ONSET_WEIGHT:g})")
        late = Late(late_pool, int(LATE_FROM * steps), late_share, np.random.default_rng(seed + LATE_SEED + 1)) \
            if late_pool else None
        if late is not None:
            log(f"late cuts: from step {late.from_step}, {late_share:.0%} of beat draws from {len(late_pool)} cut tracks")
        fit(model, pool, steps, batch, lr, np.random.default_rng(seed + 1), cfg, tok, probes(cfg).to(device),
            log, shares, bf16, onset_weight, late, lm_lr_scale)
        save(model.cpu(), cfg, out, qwen3_tokenizer_dir(), shards=1)
        log(f"saved {out}: data {data_s:.0f} s, steps {(time.perf_counter() - t0) / 60:.1f} min, "
            f"{(time.perf_counter() - start) / 60:.1f} min in all")
        settle_from = out
    if settle_steps:
        t1 = time.perf_counter()
        rough = settle_pool if settle_pool is not None else \
            build_pool(settle_clips, seed + SETTLE_SEED, cfg, log, hits, workers, SETTLE_SHARE, SETTLE)
        model = load_weights(settle_from, cfg).to(device)
        t2 = time.perf_counter()
        log(f"settling {settle_from}: {settle_steps} steps on rough beats (cut, over silence, ticks, on the grid) and loudness edges")
        fit(model, rough, settle_steps, batch, settle_lr, np.random.default_rng(seed + SETTLE_SEED + 1), cfg, tok,
            None, log, SETTLE_SHARE, bf16)
        save(model.cpu(), cfg, out, qwen3_tokenizer_dir(), shards=1)
        log(f"saved {out} settled: data {t2 - t1:.0f} s, steps {(time.perf_counter() - t2) / 60:.1f} min, "
            f"{(time.perf_counter() - start) / 60:.1f} min in all")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mufun.tiny.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("assets/mufun-tiny"))
    # many small steps: at the same CPU time, 2 500 steps of 3 clips learned notes and tempo better
    # than 1 400 of 6 or 1 900 of 4 (scripts/explore_tiny.py; README "MuFun-Tiny"); the encoder's
    # two 32-wide heads (MuFunConfig.tiny) make a step cheaper, so 2 900 fit the same 26 minutes
    p.add_argument("--steps", type=int, default=2900)
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clips", type=int, default=3000, help="synthetic clips made before training")
    p.add_argument("--late-clips", type=int, default=0,
                   help=f"cut beat tracks drawn in the main run's second half (0, the recipe: none; tried: {LATE_CLIPS})")
    p.add_argument("--late-share", type=float, default=LATE_SHARE,
                   help="the share of the second half's beat draws they replace (default %(default)s)")
    p.add_argument("--hold-out-hits", default="", help="comma-separated hit families beat tracks never use "
                   f"(to test on them later): {', '.join(synth.HITS)}")
    p.add_argument("--device", default="cpu", help="cpu (the shipped recipe) or cuda (to explore faster)")
    p.add_argument("--workers", type=int, default=None, help="processes making the clips (default: every core)")
    # bf16 autocast in the encoder and connector: a step 1.16-1.34x as fast on this CPU
    # (scripts/train_bench.py --bf16), but LBT (this recipe with the flag) answered the exam a
    # little worse than LT (README "A cheaper step"): the shipped recipe stays float32
    p.add_argument("--bf16-encoder", action="store_true", help="run the encoder and connector in bfloat16")
    p.add_argument("--onset-weight", type=float, default=ONSET_WEIGHT,
                   help="weight of the onset probe in the main run's loss (the recipe: %(default)s)")
    p.add_argument("--settle-steps", type=int, default=SETTLE_STEPS, help="steps of settling after the main run (0: none)")
    p.add_argument("--settle-lr", type=float, default=SETTLE_LR)
    p.add_argument("--settle-clips", type=int, default=SETTLE_CLIPS, help="synthetic clips made for settling")
    p.add_argument("--settle-from", type=Path, default=None,
                   help="skip the main run: settle the weights a main run saved in this folder")
    a = p.parse_args(argv)
    if a.settle_steps < 0 or a.steps < 1 or a.late_clips < 0:
        p.error("--steps must be 1 or more, --settle-steps and --late-clips 0 or more")
    if not 0 <= a.late_share <= 1:
        p.error("--late-share must lie between 0 and 1")
    if not a.onset_weight >= 0:
        p.error("--onset-weight must be 0 or more")
    if a.settle_from is not None and not (a.settle_from / INDEX).is_file():
        p.error(f"--settle-from: {a.settle_from.name or a.settle_from} holds no weights a training run saved")
    hold = tuple(h.strip() for h in a.hold_out_hits.split(",") if h.strip())
    train(a.out, a.steps, a.batch, a.lr, a.seed, a.clips, log=lambda s: print(s, flush=True), hold_out=hold,
          device=a.device, workers=a.workers, bf16=a.bf16_encoder, settle_steps=a.settle_steps,
          settle_lr=a.settle_lr, settle_clips=a.settle_clips, settle_from=a.settle_from,
          onset_weight=a.onset_weight, late_clips=a.late_clips, late_share=a.late_share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
