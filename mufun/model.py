"""MuFun on stock transformers modules: Whisper encoder taps, pooling, BLP connector, merge.

Module names follow the released checkpoints, so their state dict loads as it is:
``language_model.`` (Qwen3ForCausalLM), ``vision_tower._vision_tower.`` (WhisperEncoder),
``connector._connector.linear1/2.``.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import Qwen3Config, Qwen3ForCausalLM, WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from mufun.config import MuFunConfig
from mufun.layout import PLACEHOLDER, expand_ids


class TappedWhisperEncoder(nn.Module):
    """The stock Whisper encoder, keeping only the tapped hidden states.

    Tap 0 is the input to layer 0 (conv stem + positions), tap k the output of layer k, and the
    last layer's tap is taken after the final layer norm, as ``hidden_states[k]`` of the stock
    encoder numbers them. Forward hooks keep 4 tensors instead of all 33.
    """

    def __init__(self, cfg: MuFunConfig):
        super().__init__()
        wcfg = WhisperConfig(**cfg.encoder.to_dict())
        self._vision_tower = WhisperEncoder(wcfg)
        self.taps = tuple(cfg.tap_layers)
        self._n_layers = cfg.encoder.encoder_layers
        self._kept: dict[int, torch.Tensor] = {}
        layers = self._vision_tower.layers
        for t in self.taps:
            if t == 0:
                layers[0].register_forward_pre_hook(self._keep_input(0))
            elif t < self._n_layers:
                layers[t - 1].register_forward_hook(self._keep_output(t))

    def _keep_input(self, t: int):
        def hook(module, args):
            self._kept[t] = args[0]
        return hook

    def _keep_output(self, t: int):
        def hook(module, args, output):
            self._kept[t] = output[0] if isinstance(output, tuple) else output
        return hook

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, n_mels, 3000) log-mel -> (N, 1500, len(taps) * d_model)."""
        self._kept.clear()
        try:
            last = self._vision_tower(features).last_hidden_state  # (N, 1500, d) after layer_norm
            kept = [last if t == self._n_layers else self._kept[t] for t in self.taps]
        finally:
            self._kept.clear()
        return torch.cat(kept, dim=-1)


class _BLP(nn.Module):
    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_hidden)
        self.act = nn.GELU()  # exact (erf) GELU
        self.linear2 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.act(self.linear1(x)))


class BLPConnector(nn.Module):
    """``blp_4i_2x``: AvgPool1d(5) over time, then Linear + GELU + Linear."""

    def __init__(self, cfg: MuFunConfig):
        super().__init__()
        self.pool = nn.AvgPool1d(cfg.pool_stride, cfg.pool_stride)
        self._connector = _BLP(cfg.feature_dim, cfg.connector_hidden, cfg.hidden_size)

    def forward(self, taps: torch.Tensor) -> torch.Tensor:
        """(N, 1500, F) -> (N, 300, H)."""
        pooled = self.pool(taps.transpose(1, 2)).transpose(1, 2)  # (N, 300, F)
        return self._connector(pooled)


class MuFunModel(nn.Module):
    def __init__(self, cfg: MuFunConfig):
        super().__init__()
        self.cfg = cfg
        self.language_model = Qwen3ForCausalLM(Qwen3Config(**cfg.text.to_dict()))
        self.vision_tower = TappedWhisperEncoder(cfg)
        self.connector = BLPConnector(cfg)

    @property
    def audio_device(self) -> torch.device:
        return self.connector._connector.linear2.weight.device

    @property
    def audio_dtype(self) -> torch.dtype:
        return self.connector._connector.linear2.weight.dtype

    @torch.no_grad()
    def encode_audio(self, features: torch.Tensor) -> torch.Tensor:
        """All chunks of all files in one batch: (N, n_mels, 3000) -> (N, 300, H)."""
        enc = self.vision_tower._vision_tower
        p = enc.conv1.weight
        taps = self.vision_tower(features.to(p.device, p.dtype))  # (N, 1500, 4 * d)
        c = self.connector._connector.linear1.weight
        return self.connector(taps.to(c.device, c.dtype))

    def embed(self, input_ids: list[int], audio_rows: torch.Tensor | None, tokens_per_file: list[int]) -> torch.Tensor:
        """Spliced ids (one -200 per file) + audio rows (sum(tokens_per_file), H) -> (1, L, H).

        The llava merge: embed the text, mark the placeholder positions, ``masked_scatter``
        the audio rows in, and fail with both counts when they differ.
        """
        ids = torch.tensor(expand_ids(input_ids, tokens_per_file), dtype=torch.long)
        emb_layer = self.language_model.get_input_embeddings()
        ids = ids.to(emb_layer.weight.device)
        is_audio = ids == PLACEHOLDER  # (L,)
        embeds = emb_layer(ids.masked_fill(is_audio, 0)).unsqueeze(0)  # (1, L, H)
        n_rows = 0 if audio_rows is None else audio_rows.shape[0]
        if int(is_audio.sum()) != n_rows:
            raise ValueError(f"audio placeholders: {int(is_audio.sum())} positions but {n_rows} audio embeddings")
        if n_rows:
            mask = is_audio.view(1, -1, 1).expand_as(embeds)
            embeds = embeds.masked_scatter(mask, audio_rows.to(embeds.device, embeds.dtype))
        return embeds

    def inputs(self, input_ids: list[int], audio_rows: torch.Tensor | None, tokens_per_file: list[int]) -> dict:
        """``inputs_embeds``, ``attention_mask``, ``position_ids`` for ``Qwen3ForCausalLM``."""
        embeds = self.embed(input_ids, audio_rows, tokens_per_file)
        L = embeds.shape[1]
        dev = embeds.device
        return {"inputs_embeds": embeds,
                "attention_mask": torch.ones(1, L, dtype=torch.long, device=dev),
                "position_ids": torch.arange(L, device=dev).unsqueeze(0)}


def param_counts(model: MuFunModel) -> dict[str, int]:
    def n(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())
    return {"language_model": n(model.language_model), "audio_encoder": n(model.vision_tower),
            "connector": n(model.connector), "total": n(model)}
