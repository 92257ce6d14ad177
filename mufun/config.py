"""MuFun configuration as frozen data: read a released ``config.json``, derive every number.

A released MuFun checkpoint (``model_type: tinyllava``) nests a Qwen3 ``text_config`` and a
Whisper ``vision_config``. Everything the UI shows (tokens per chunk, feature width, hidden
size, context limit) is *derived* here from those fields, never typed in elsewhere.

>>> cfg = MuFunConfig.real()
>>> cfg.tokens_per_chunk, cfg.feature_dim, cfg.connector_hidden, cfg.hidden_size
(300, 5120, 10240, 4096)
>>> cfg.chunk_samples, cfg.mel_frames_per_chunk
(480000, 3000)
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

# Whisper's front end: fixed by the feature extractor, not by the checkpoint.
SAMPLE_RATE = 16_000
HOP_LENGTH = 160
N_FFT = 400
CONV_STRIDE = 2  # Whisper conv2 halves the mel frames

REAL_TAPS = (0, 7, 15, 32)
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"


def _pick(cls, d: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls) if f.name != "raw"}
    return {k: v for k, v in d.items() if k in names}


@dataclass(frozen=True)
class TextConfig:
    """The Qwen3 language model (``text_config``)."""

    vocab_size: int = 151936
    hidden_size: int = 4096
    num_hidden_layers: int = 36
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    head_dim: int = 128
    intermediate_size: int = 12288
    max_position_embeddings: int = 32768
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False
    bos_token_id: int = 151643
    eos_token_id: int = 151643
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TextConfig":
        out = cls(**_pick(cls, d))
        rope = d.get("rope_parameters") or {}
        if "rope_theta" not in d and "rope_theta" in rope:
            out = replace(out, rope_theta=rope["rope_theta"])
        return replace(out, raw=dict(d))

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "raw"}
        base = {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "hidden_act": "silu",
                "attention_bias": False, "attention_dropout": 0.0, "torch_dtype": "bfloat16"}
        return {**base, **dict(self.raw), **d}

    @property
    def kv_bytes_per_token_bf16(self) -> int:
        """K and V, every layer, 2 bytes each: 147 456 for Qwen3-8B."""
        return 2 * self.num_hidden_layers * self.num_key_value_heads * self.head_dim * 2


@dataclass(frozen=True)
class EncoderConfig:
    """The Whisper audio encoder (``vision_config`` in the released layout)."""

    d_model: int = 1280
    encoder_layers: int = 32
    encoder_attention_heads: int = 20
    encoder_ffn_dim: int = 5120
    num_mel_bins: int = 128
    max_source_positions: int = 1500
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EncoderConfig":
        return replace(cls(**_pick(cls, d)), raw=dict(d))

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "raw"}
        base = {"model_type": "whisper", "activation_function": "gelu", "scale_embedding": False,
                "decoder_layers": 1, "decoder_attention_heads": self.encoder_attention_heads,
                "decoder_ffn_dim": self.encoder_ffn_dim, "torch_dtype": "bfloat16"}
        return {**base, **dict(self.raw), **d}


_CONNECTOR = re.compile(r"^blp_(\d+)i_(\d+)x$")


@dataclass(frozen=True)
class MuFunConfig:
    """A whole MuFun checkpoint's numbers; every derived number is a property."""

    name: str = "MuFun-8B"
    text: TextConfig = field(default_factory=TextConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    connector_type: str = "blp_4i_2x"
    tap_layers: tuple[int, ...] = REAL_TAPS
    pool_stride: int = 5
    image_token_index: int = -200
    tokenizer_model_max_length: int = 4096
    pad_token: str = ENDOFTEXT
    min_remainder_s: float = 0.5  # a last chunk of at most this many seconds is dropped
    max_audio_s: float = 3600.0  # files longer than this are refused from their header
    answers_text_questions: bool = True  # False: trained only on questions about a sound (MuFun-Tiny)
    shortest_beat_s: float | None = None  # tempos learned only from beats this long or longer (MuFun-Tiny)

    def __post_init__(self) -> None:
        m = _CONNECTOR.match(self.connector_type)
        if not m:
            raise ValueError(f"unsupported connector_type {self.connector_type!r} (expected blp_<n>i_<m>x)")
        if int(m.group(1)) != len(self.tap_layers):
            raise ValueError(f"connector {self.connector_type} expects {m.group(1)} tapped layers, "
                             f"config has {len(self.tap_layers)}: {self.tap_layers}")
        if not all(0 <= t <= self.encoder.encoder_layers for t in self.tap_layers):
            raise ValueError(f"tap layers {self.tap_layers} outside 0..{self.encoder.encoder_layers}")
        if self.encoder.max_source_positions % self.pool_stride:
            raise ValueError("encoder frames must divide by the pool stride")

    # -- derived numbers -------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def mel_frames_per_chunk(self) -> int:
        return self.encoder.max_source_positions * CONV_STRIDE

    @property
    def chunk_samples(self) -> int:
        return self.mel_frames_per_chunk * HOP_LENGTH

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_samples / SAMPLE_RATE

    @property
    def min_remainder_samples(self) -> int:
        return int(round(self.min_remainder_s * SAMPLE_RATE))

    @property
    def frames_per_chunk(self) -> int:
        return self.encoder.max_source_positions

    @property
    def tokens_per_chunk(self) -> int:
        return self.frames_per_chunk // self.pool_stride

    @property
    def feature_dim(self) -> int:
        return self.encoder.d_model * len(self.tap_layers)

    @property
    def connector_multiplier(self) -> int:
        return int(_CONNECTOR.match(self.connector_type).group(2))

    @property
    def connector_hidden(self) -> int:
        return self.feature_dim * self.connector_multiplier

    @property
    def hidden_size(self) -> int:
        return self.text.hidden_size

    @property
    def context_limit(self) -> int:
        """The hard positional limit of the language model."""
        return self.text.max_position_embeddings

    @property
    def trained_length(self) -> int:
        """The sequence length the checkpoint was fine-tuned at."""
        return self.tokenizer_model_max_length

    # -- presets and (de)serialisation -------------------------------------------------------
    @classmethod
    def real(cls) -> "MuFunConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "MuFunConfig":
        """Same structure as ``real`` (300 tokens per 30 s chunk, 4 taps, blp_4i_2x, Qwen3
        vocabulary), small widths: runs on a laptop CPU. Attention heads are 32 wide (2 query
        heads sharing 1 KV head, grouped like the real model's 32/8): serving engines such as
        vLLM refuse heads narrower than 32. The encoder's heads are 32 wide too (2 of them):
        on a CPU its attention over 1 500 frames costs less in two heads than in four narrower."""
        text = TextConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=1, head_dim=32, intermediate_size=192,
                          max_position_embeddings=4096, tie_word_embeddings=True)
        enc = EncoderConfig(d_model=64, encoder_layers=4, encoder_attention_heads=2, encoder_ffn_dim=256)
        return cls(name="MuFun-Tiny", text=text, encoder=enc, tap_layers=(0, 1, 2, 4),
                   tokenizer_model_max_length=2048, answers_text_questions=False, shortest_beat_s=8.0)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "MuFun") -> "MuFunConfig":
        if d.get("model_type") not in (None, "tinyllava", "mufun"):
            raise ValueError(f"not a MuFun config: model_type {d.get('model_type')!r}")
        for key in ("text_config", "vision_config"):
            if key not in d:
                raise ValueError(f"config.json has no {key!r}: not a MuFun checkpoint")
        kw: dict[str, Any] = {"name": d.get("mufun_name", name),
                              "text": TextConfig.from_dict(d["text_config"]),
                              "encoder": EncoderConfig.from_dict(d["vision_config"])}
        for k in ("connector_type", "image_token_index", "tokenizer_model_max_length", "pad_token",
                  "pool_stride"):
            if d.get(k) is not None:
                kw[k] = d[k]
        if d.get("tap_layers") is not None:
            kw["tap_layers"] = tuple(d["tap_layers"])
        if d.get("mufun_answers_text_questions") is not None:
            kw["answers_text_questions"] = bool(d["mufun_answers_text_questions"])
        if d.get("mufun_shortest_beat_s") is not None:
            kw["shortest_beat_s"] = float(d["mufun_shortest_beat_s"])
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | Path) -> "MuFunConfig":
        path = Path(path)
        return cls.from_dict(json.loads(path.read_text()), name=path.parent.name or "MuFun")

    def to_dict(self) -> dict[str, Any]:
        """The released ``config.json`` layout (without ``auto_map``: no remote code)."""
        return {
            "model_type": "tinyllava",
            "architectures": ["TinyLlavaForConditionalGeneration"],
            "mufun_name": self.name,
            "text_config": self.text.to_dict(),
            "vision_config": self.encoder.to_dict(),
            "connector_type": self.connector_type,
            "tap_layers": list(self.tap_layers),
            "pool_stride": self.pool_stride,
            "image_token_index": self.image_token_index,
            "tokenizer_model_max_length": self.tokenizer_model_max_length,
            "pad_token": self.pad_token,
            "mufun_answers_text_questions": self.answers_text_questions,
            **({"mufun_shortest_beat_s": self.shortest_beat_s} if self.shortest_beat_s else {}),
            "use_cache": False,
        }

    def summary(self) -> dict[str, Any]:
        """The key numbers, for people: all read from this config."""
        return {
            "model": self.name,
            "audio tokens per 30 s chunk": self.tokens_per_chunk,
            "encoder": f"Whisper d_model {self.encoder.d_model}, {self.encoder.encoder_layers} layers, "
                       f"{self.encoder.encoder_attention_heads} heads, {self.encoder.num_mel_bins} mel bins",
            "tapped layers": list(self.tap_layers),
            "feature width (taps x d_model)": self.feature_dim,
            "connector": f"{self.connector_type}: {self.feature_dim} -> {self.connector_hidden} -> {self.hidden_size}",
            "LLM": f"Qwen3 hidden {self.hidden_size}, {self.text.num_hidden_layers} layers, "
                   f"{self.text.num_attention_heads} heads / {self.text.num_key_value_heads} KV heads",
            "vocabulary rows": self.text.vocab_size,
            "context limit (positions)": self.context_limit,
            "fine-tuned length": self.trained_length,
            "KV cache bytes per token (bf16)": self.text.kv_bytes_per_token_bf16,
        }
