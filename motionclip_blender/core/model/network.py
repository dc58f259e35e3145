"""The MotionCLIP transformer auto-encoder (Tevet et al. 2022).

Module and parameter names follow the official code (``encoder.muQuery``, ``encoder.skelEmbedding``,
``encoder.seqTransEncoder``, ``decoder.seqTransDecoder``, ``decoder.finallayer``) so that the paper's
checkpoints load by name; see ``checkpoint.import_official``. Tensors inside the model are
sequence-first (frames, batch, features) like ``nn.Transformer*`` with ``batch_first=False``.

- Encoder: per-frame features (25 x 6 = 150) -> linear embedding; learned mu and sigma query tokens are
  prepended, sinusoidal positions added, a transformer encoder runs with a padding mask, and the output
  at the mu token is the latent z (projected to the text space when ``latent_dim != d_model``).
- Decoder: queries are positional encodings over the requested frames, memory is z (one token), a
  transformer decoder and a final linear layer give the features of every frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import InputError
from ..config_io import from_dict_strict

from ..motion.skeleton import NUM_JOINTS

FEATURE_ROWS = NUM_JOINTS + 1  # 24 joint rotations + root translation
FEATURE_WIDTH = 6


@dataclass
class ModelConfig:
    d_model: int = 512
    latent_dim: int = 512  # the text/image embedding space; a projection is added if != d_model
    num_encoder_layers: int = 8
    num_decoder_layers: int = 8
    num_heads: int = 4
    ff_size: int = 1024
    dropout: float = 0.1
    activation: str = "gelu"
    max_frames: int = 5000
    # Decode from z / |z| (ours): the cosine losses fix only z's direction, so normalising makes a
    # unit text embedding as valid a decoder input as any motion latent. The paper's code decodes raw z.
    normalize_latent: bool = True
    # Pre-norm layers (LayerNorm before attention/MLP, a final LayerNorm): post-norm, the paper's setting,
    # sat on the mean-pose plateau for thousands of CPU steps (shared/notes/model-diagnosis.md).
    norm_first: bool = False
    # z becomes this many decoder memory tokens (a linear map each): with one token, cross-attention hands
    # every frame the same vector and all timing must come from the positional queries.
    latent_tokens: int = 1
    # The encoder reads and the decoder writes features standardised per channel (mean/std of the training
    # windows, stored in the checkpoint): raw, the root path in metres outweighs every joint's 6D rotation and
    # the pose is learnt last (a 20-window memorisation test: ankle swing 0.57 m vs 0.24 m after 400 steps).
    normalize_features: bool = False

    def __post_init__(self):
        for name in ("d_model", "latent_dim", "num_encoder_layers", "num_decoder_layers", "ff_size",
                     "num_heads", "latent_tokens", "max_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive whole number, got {value!r}")
        if self.d_model % self.num_heads:
            raise InputError(f"d_model {self.d_model} must be divisible by num_heads {self.num_heads}")
        if self.activation not in ("gelu", "relu"):
            raise InputError(f"activation must be 'gelu' or 'relu', got {self.activation!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @classmethod
    def paper(cls) -> "ModelConfig":
        """The paper's configuration (CLIP ViT-B/32 space, 512-d)."""
        return cls()

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return from_dict_strict(cls, data, "model config")

    def to_dict(self) -> dict:
        return asdict(self)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float, max_len: int):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        # not persistent: derived from the config, so checkpoints need not carry it
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.pe.shape[0]:
            raise InputError(f"sequence of {x.shape[0]} frames exceeds max_frames {self.pe.shape[0]}")
        return self.dropout(x + self.pe[: x.shape[0]])


class MotionEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.muQuery = nn.Parameter(torch.randn(1, cfg.d_model))
        self.sigmaQuery = nn.Parameter(torch.randn(1, cfg.d_model))
        self.skelEmbedding = nn.Linear(FEATURE_ROWS * FEATURE_WIDTH, cfg.d_model)
        self.sequence_pos_encoder = PositionalEncoding(cfg.d_model, cfg.dropout, cfg.max_frames + 2)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.num_heads, cfg.ff_size, cfg.dropout, cfg.activation,
                                           norm_first=cfg.norm_first)
        self.seqTransEncoder = nn.TransformerEncoder(layer, cfg.num_encoder_layers, enable_nested_tensor=False,
                                                     norm=nn.LayerNorm(cfg.d_model) if cfg.norm_first else None)
        self.latent_proj = nn.Linear(cfg.d_model, cfg.latent_dim) if cfg.latent_dim != cfg.d_model else None

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, 25, 6), mask (batch, frames) True on real frames -> z (batch, latent)."""
        batch, frames = features.shape[:2]
        x = self.skelEmbedding(features.reshape(batch, frames, -1).transpose(0, 1))
        queries = torch.stack([self.muQuery[0], self.sigmaQuery[0]])[:, None].expand(2, batch, -1)
        seq = self.sequence_pos_encoder(torch.cat([queries, x], dim=0))
        query_mask = torch.ones((batch, 2), dtype=torch.bool, device=mask.device)
        out = self.seqTransEncoder(seq, src_key_padding_mask=~torch.cat([query_mask, mask], dim=1))
        mu = out[0]
        return self.latent_proj(mu) if self.latent_proj is not None else mu


class MotionDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.d_model = cfg.d_model
        self.normalize_latent = cfg.normalize_latent
        self.sequence_pos_encoder = PositionalEncoding(cfg.d_model, cfg.dropout, cfg.max_frames)
        layer = nn.TransformerDecoderLayer(cfg.d_model, cfg.num_heads, cfg.ff_size, cfg.dropout, cfg.activation,
                                           norm_first=cfg.norm_first)
        self.seqTransDecoder = nn.TransformerDecoder(layer, cfg.num_decoder_layers,
                                                     norm=nn.LayerNorm(cfg.d_model) if cfg.norm_first else None)
        self.finallayer = nn.Linear(cfg.d_model, FEATURE_ROWS * FEATURE_WIDTH)
        self.latent_tokens = cfg.latent_tokens
        needs_map = cfg.latent_dim != cfg.d_model or cfg.latent_tokens > 1
        self.latent_unproj = nn.Linear(cfg.latent_dim, cfg.d_model * cfg.latent_tokens) if needs_map else None

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """z (batch, latent), mask (batch, frames) -> features (batch, frames, 25, 6), zero on padding."""
        batch, frames = mask.shape
        if self.normalize_latent:
            z = torch.nn.functional.normalize(z, dim=-1)
        memory = self.latent_unproj(z) if self.latent_unproj is not None else z
        memory = memory.reshape(batch, self.latent_tokens, self.d_model).transpose(0, 1)
        queries = self.sequence_pos_encoder(z.new_zeros((frames, batch, self.d_model)))
        out = self.seqTransDecoder(tgt=queries, memory=memory, tgt_key_padding_mask=~mask)
        out = self.finallayer(out).transpose(0, 1).reshape(batch, frames, FEATURE_ROWS, FEATURE_WIDTH)
        return out * mask[:, :, None, None]


class MotionCLIPModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = MotionEncoder(cfg)
        self.decoder = MotionDecoder(cfg)
        if cfg.normalize_features:
            self.register_buffer("feature_mean", torch.zeros(FEATURE_ROWS, FEATURE_WIDTH))
            self.register_buffer("feature_std", torch.ones(FEATURE_ROWS, FEATURE_WIDTH))

    def set_feature_stats(self, features: torch.Tensor, mask: torch.Tensor) -> None:
        """Per-channel mean and std of real frames of (batch, frames, 25, 6) features; channels that never
        change (the root row's padding) keep std 1. Stds are floored at 0.1 (a 6D component's change for a
        turn of about 6 degrees): a hinge joint's near-constant components (std 0.01) would otherwise turn a
        little twist in another capture convention, or the encoder's twist augmentation, into a 100x outlier."""
        real = features[mask]
        std = real.std(0)
        self.feature_mean.copy_(real.mean(0))
        self.feature_std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std.clamp(min=0.1)))

    def encode(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
        if self.config.normalize_features:
            features = (features - self.feature_mean) / self.feature_std
        return self.encoder(features, mask)

    def decode(self, z: torch.Tensor, frames: int | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            if frames is None or frames < 1:
                raise InputError("decode needs a positive frame count or a mask")
            mask = torch.ones((z.shape[0], frames), dtype=torch.bool, device=z.device)
        out = self.decoder(z, mask)
        if self.config.normalize_features:
            out = (out * self.feature_std + self.feature_mean) * mask[:, :, None, None]
        return out

    def forward(self, features: torch.Tensor, mask: torch.Tensor, text_latent: torch.Tensor | None = None):
        """-> (z, reconstruction, reconstruction decoded from ``text_latent`` or None). One forward for
        all paths, so DistributedDataParallel sees every parameter used in a step."""
        z = self.encode(features, mask)
        from_text = self.decode(text_latent, mask=mask) if text_latent is not None else None
        return z, self.decode(z, mask=mask), from_text


def lengths_to_mask(lengths: torch.Tensor, frames: int | None = None) -> torch.Tensor:
    frames = int(lengths.max()) if frames is None else frames
    return torch.arange(frames, device=lengths.device)[None] < lengths[:, None]


def convert_features(feats: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
    """Re-express (frames, 25, 6) features in another world frame: R' = C R C^T, t' = C t (legacy checkpoints
    work in SMPL's axes, this project in Blender's)."""
    from ..motion import rotations as R

    mats = R.rot6d_to_matrix(feats[:, :24])
    out = feats.clone()
    out[:, :24] = R.matrix_to_rot6d(change @ mats @ change.T)
    out[:, 24, :3] = feats[:, 24, :3] @ change.T
    return out
