"""Where a MuFun comes from (the embedded model, a local folder, the Hub) and how it is placed.

Placement goes through Accelerate (empty init, ``load_checkpoint_in_model``, ``dispatch_model``);
quantization through bitsandbytes on the Qwen3 decoder linears only: the Whisper encoder, the
connector and ``lm_head`` stay unquantized. Nothing here ever runs remote code.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mufun.checkpoint import INDEX, SINGLE, CheckpointError, check_keys, expected_keys, weight_map
from mufun.config import MuFunConfig
from mufun.errors import UserError
from mufun.model import MuFunModel

EMBEDDED = "tiny"
KNOWN_HUB_IDS = ("Yi3852/MuFun-Instruct", "Yi3852/MuFun-Base", "Yi3852/MuFun-ACEStep", "Yi3852/MuFun-ABC")
HUB_PATTERNS = ["config.json", "*.safetensors", INDEX, "vocab.json", "merges.txt", "tokenizer_config.json",
                "added_tokens.json", "special_tokens_map.json", "generation_config.json"]
QUANTIZE = ("none", "int8", "nf4")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# bitsandbytes notes at every int8 matmul that fp32 inputs are cast to fp16, and on CPU (at
# import) that an optional kernels package is absent, falling back; neither is actionable.
for _name in ("bitsandbytes.autograd._functions", "bitsandbytes.backends.cpu.ops"):
    logging.getLogger(_name).setLevel(logging.ERROR)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


class LoadError(UserError):
    """A model that cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class LoadOptions:
    device_map: str | dict = "auto"  # auto | cpu | cuda | {module: device}
    dtype: str | None = None  # None: bfloat16 on GPU, float32 on CPU
    quantize: str = "none"  # none | int8 | nf4
    max_memory: dict | None = None
    offload_folder: str | None = None
    revision: str | None = None
    decoder: bool = True  # False: only what the splice needs (a serving engine holds the decoder)


@dataclass
class Loaded:
    model: MuFunModel
    tokenizer: Any
    cfg: MuFunConfig
    source: str
    kind: str  # embedded | local | hub
    folder: Path
    revision: str | None
    device_map: dict
    quantize: str
    dtype: torch.dtype
    notes: list[str] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"

    def report(self) -> dict[str, Any]:
        """What was loaded, where, in which precision, and how much memory it takes."""
        dtypes = Counter(str(p.dtype).replace("torch.", "") for p in self.model.parameters())
        by_device: Counter = Counter()
        for p in self.model.parameters():
            by_device[str(p.device)] += p.numel() * p.element_size()
        for b in self.model.buffers():
            by_device[str(b.device)] += b.numel() * b.element_size()
        return {"source": self.source, "kind": self.kind, "revision": self.revision,
                "device_map": {k or "(all)": str(v) for k, v in self.device_map.items()},
                "dtype": str(self.dtype).replace("torch.", ""), "parameter_dtypes": dict(dtypes),
                "quantization": self.quantize, "quantized_linears": sum(1 for _ in quantized_modules(self.model)),
                "memory_bytes": dict(by_device), "memory_total_bytes": sum(by_device.values()),
                "notes": list(self.notes)}


# -- sources -------------------------------------------------------------------------------------
def resolve(source: str, revision: str | None = None) -> tuple[Path, str, str | None]:
    """(folder, kind, revision) for ``tiny``, a local folder, or a Hub repo id."""
    if source in (EMBEDDED, "embedded", "", None):
        from mufun.embedded import embedded_checkpoint

        return embedded_checkpoint(), "embedded", None
    p = Path(source).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists():
            raise LoadError(f"{p}: a folder without config.json is not a MuFun checkpoint")
        return p, "local", None
    if p.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise LoadError(f"{source}: no such checkpoint folder")
    if not _REPO_ID.match(source):
        raise LoadError(f"{source!r} is not a model: use {EMBEDDED!r}, a local checkpoint folder, or a Hub id "
                        f"such as {KNOWN_HUB_IDS[0]}")
    return hub_snapshot(source, revision), "hub", revision or "main"


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """Download (or find in the local cache) only the files a MuFun needs; fail fast offline."""
    import huggingface_hub as hf
    from huggingface_hub import errors as hfe

    token = os.environ.get("HF_TOKEN") or None
    advice = (f"Pre-download it (huggingface-cli download {repo_id}) and pass the folder, "
              f"or use the embedded model ({EMBEDDED!r}).")
    try:
        path = hf.snapshot_download(repo_id, revision=revision, allow_patterns=HUB_PATTERNS, token=token,
                                    etag_timeout=5)
    except hfe.GatedRepoError:
        raise LoadError(f"{repo_id} is gated: accept its terms on the Hub and set HF_TOKEN.") from None
    except hfe.RepositoryNotFoundError:
        raise LoadError(f"{repo_id}: no such model on the Hub, or it is private (set HF_TOKEN). "
                        f"Known MuFun models: {', '.join(KNOWN_HUB_IDS)}.") from None
    except hfe.RevisionNotFoundError:
        raise LoadError(f"{repo_id}: revision {revision!r} does not exist.") from None
    except hfe.OfflineModeIsEnabled:  # a ConnectionError: before the cut-off clause
        raise LoadError(f"{repo_id} is not in the local cache and offline mode is on (HF_HUB_OFFLINE). "
                        f"{advice}") from None
    except (ConnectionError, TimeoutError) as e:
        raise LoadError(f"The download of {repo_id} was cut off or the Hub stopped answering "
                        f"({type(e).__name__}). Load again to resume: files already downloaded are kept. "
                        f"{advice}") from None
    except (hfe.LocalEntryNotFoundError, OSError):
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        why = "offline mode is on (HF_HUB_OFFLINE)" if offline else "the Hub cannot be reached"
        raise LoadError(f"{repo_id} is not in the local cache and {why}. {advice}") from None
    except Exception as e:  # e.g. HTTP errors surfaced as other types: never show the token
        raise LoadError(f"{repo_id}: download failed ({type(e).__name__}). {advice}") from None
    return Path(path)


# -- placement -------------------------------------------------------------------------------------
def pick_dtype(opts: LoadOptions) -> torch.dtype:
    if opts.dtype:
        if opts.dtype not in DTYPES:
            raise LoadError(f"dtype {opts.dtype!r}: choose one of {', '.join(DTYPES)}")
        return DTYPES[opts.dtype]
    return torch.bfloat16 if torch.cuda.is_available() and opts.device_map != "cpu" else torch.float32


def pick_device_map(model: MuFunModel, opts: LoadOptions, dtype: torch.dtype) -> dict:
    dm = opts.device_map
    if isinstance(dm, dict):
        return dict(dm)
    if dm == "cpu" or (dm == "auto" and not torch.cuda.is_available()):
        return {"": "cpu"}
    if dm == "cuda":
        if not torch.cuda.is_available():
            raise LoadError("device map 'cuda' asked for, but no CUDA GPU is available: use 'cpu' or 'auto'")
        return {"": 0}
    if dm == "auto":
        from accelerate import infer_auto_device_map

        return infer_auto_device_map(model, max_memory=opts.max_memory, dtype=dtype,
                                     no_split_module_classes=["Qwen3DecoderLayer", "WhisperEncoderLayer"])
    raise LoadError(f"device map {dm!r}: use auto, cpu, cuda or a dict")


def quantize_linears(model: MuFunModel, mode: str, compute_dtype: torch.dtype) -> None:
    """Swap the Qwen3 decoder's nn.Linear for bitsandbytes layers (on the meta device)."""
    from accelerate.utils import BnbQuantizationConfig
    from accelerate.utils.bnb import replace_with_bnb_layers

    qcfg = BnbQuantizationConfig(load_in_8bit=mode == "int8", load_in_4bit=mode == "nf4",
                                 bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                                 torch_dtype=compute_dtype, skip_modules=[])
    from accelerate import init_empty_weights

    with init_empty_weights():
        replace_with_bnb_layers(model.language_model.model.layers, qcfg, modules_to_not_convert=[])


def quantized_modules(model: torch.nn.Module):
    """(name, layer) for every bitsandbytes layer in ``model``. None can exist before bitsandbytes
    is imported, and importing it adds about 2 s to the app's start (it sets up torch.compile), so
    an unquantized model never imports it."""
    bnb = sys.modules.get("bitsandbytes")
    if bnb is None:
        return
    for name, m in model.named_modules():
        if isinstance(m, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)):
            yield name, m


def _device_for(key: str, device_map: dict):
    best = max((m for m in device_map if m == "" or key == m or key.startswith(m + ".")), key=len)
    return device_map[best]


def load_quantized(model: MuFunModel, folder: Path, wm: dict[str, str], device_map: dict, dtype: torch.dtype) -> None:
    """Stream every tensor to its device; bitsandbytes weights quantize as they move (CPU or GPU)."""
    from mufun.checkpoint import iter_tensors

    place_tensors(model, iter_tensors(folder, wm), device_map, dtype)


def place_tensors(model: MuFunModel, tensors, device_map: dict, dtype: torch.dtype) -> None:
    """Put each (key, tensor) where ``device_map`` says; quantized linears quantize on the way."""
    from accelerate.utils import set_module_tensor_to_device

    quantized = dict(quantized_modules(model))
    for key, tensor in tensors:
        mod_name, _, pname = key.rpartition(".")
        device = _device_for(key, device_map)
        mod = quantized.get(mod_name)
        if mod is not None and pname == "weight":
            old = mod.weight
            kwargs = {k: getattr(old, k) for k in ("has_fp16_weights", "quant_type", "blocksize",
                                                   "compress_statistics", "quant_storage") if hasattr(old, k)}
            mod.weight = type(old)(tensor.to(dtype), requires_grad=False, **kwargs).to(device)
        else:
            set_module_tensor_to_device(model, key, device, value=tensor, dtype=dtype)


def load_folder(folder: Path, opts: LoadOptions) -> tuple[MuFunModel, MuFunConfig, dict, torch.dtype]:
    from accelerate import dispatch_model, init_empty_weights
    from accelerate.utils import load_checkpoint_in_model

    if opts.quantize not in QUANTIZE:
        raise LoadError(f"quantize {opts.quantize!r}: choose one of {', '.join(QUANTIZE)}")
    try:
        cfg = MuFunConfig.from_json(folder / "config.json")
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{folder.name}/config.json: {e}") from None
    wm = weight_map(folder)
    dtype = pick_dtype(opts)
    with init_empty_weights(include_buffers=False):
        model = MuFunModel(cfg)
    check_keys(set(wm), expected_keys(model, cfg))
    if not opts.decoder:  # the encoder, the connector and the token embeddings: what the splice needs
        model.language_model.model.layers = torch.nn.ModuleList()
        model.language_model.lm_head = torch.nn.Identity()
        wm = {k: f for k, f in wm.items() if k in model.state_dict()}
    if opts.quantize != "none" and opts.decoder:
        quantize_linears(model, opts.quantize, dtype)
    device_map = pick_device_map(model, opts, dtype)
    if "disk" in device_map.values() and not opts.offload_folder:
        raise LoadError("the device map offloads to disk: give an offload folder")
    if opts.quantize != "none" and "disk" in device_map.values():
        raise LoadError("quantized weights cannot be offloaded to disk: give the GPU/CPU more memory or use no quantization")
    try:
        if opts.quantize == "none" and opts.decoder:
            target = folder / INDEX if (folder / INDEX).exists() else folder / SINGLE
            load_checkpoint_in_model(model, str(target), device_map=device_map, dtype=dtype,
                                     offload_folder=opts.offload_folder, strict=False)
        else:  # tensor by tensor: quantized linears quantize on the way; absent layers are never read
            load_quantized(model, folder, wm, device_map, dtype)
    except CheckpointError:
        raise
    except Exception:
        raise CheckpointError(f"{folder.name}: the weights could not be read: a shard may be corrupt or "
                              f"truncated.") from None
    if cfg.text.tie_word_embeddings and opts.decoder:
        model.language_model.lm_head.weight = model.language_model.model.embed_tokens.weight
    meta = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if meta and "disk" not in device_map.values():
        raise CheckpointError(f"weights left unloaded: {', '.join(meta[:8])}")
    if len(set(device_map.values())) > 1:
        model = dispatch_model(model, device_map=device_map, offload_dir=opts.offload_folder)
    model.eval()
    return model, cfg, device_map, dtype


def load(source: str = EMBEDDED, opts: LoadOptions | None = None, progress=None) -> Loaded:
    """Load a MuFun from ``tiny``, a folder or a Hub id; errors are LoadError / CheckpointError.

    ``progress(fraction, message)``, when given, hears each stage (Hub downloads also show
    huggingface_hub's own tqdm bars).
    """
    from mufun.prompt import load_tokenizer

    def stage(f: float, msg: str) -> None:
        if progress is not None:
            progress(f, msg)

    opts = opts or LoadOptions()
    stage(0.0, f"finding {source or EMBEDDED}")
    folder, kind, revision = resolve(source, opts.revision)
    stage(0.5, f"placing weights ({opts.quantize}, device map {opts.device_map})")
    model, cfg, device_map, dtype = load_folder(folder, opts)
    stage(0.9, "reading the tokenizer")
    try:
        tok = load_tokenizer(str(folder))
    except Exception:
        raise CheckpointError(f"{folder.name}: the tokenizer files could not be read") from None
    notes = []
    if (folder / "config.json").read_text().find('"auto_map"') >= 0:
        notes.append("config.json names remote code (auto_map); it was ignored: stock transformers modules are used")
    stage(1.0, "loaded")
    return Loaded(model, tok, cfg, source or EMBEDDED, kind, folder, revision, device_map, opts.quantize, dtype, notes)
