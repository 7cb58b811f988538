"""The size of a UDDM denoiser, as a plain dataclass that round-trips through JSON.

The presets are the seed paper's model sizes (hidden width, blocks, heads), plus ``"toy"``,
a ≈0.4M-parameter two-block transformer that trains in about a minute on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from amlab._validation import check_finite, check_known_fields, check_positive_int

__all__ = ["DenoiserConfig", "PRESETS"]

#: Preset name → (d_model, n_layers, n_heads, time_embed_dim). ``toy`` uses a narrow time
#: embedding so that its adaLN modulation does not dominate a 0.4M-parameter model.
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "toy": (128, 2, 4, 32),
    "tiny": (256, 8, 8, 128),
    "small": (768, 12, 12, 128),
    "medium": (1024, 24, 16, 128),
}


@dataclass
class DenoiserConfig:
    """Architecture of the bidirectional transformer denoiser ``p_θ(x_0 | x_t, t)``.

    Attributes:
        vocab_size: V, the number of token values.
        seq_len: L, the longest sequence the network accepts.
        d_model: hidden width.
        n_layers: number of transformer blocks.
        n_heads: attention heads; ``d_model / n_heads`` must be even (rotary embeddings).
        d_ff: width of the feed-forward layer; ``None`` means ``4 · d_model``.
        dropout: dropout probability in attention and feed-forward layers, in [0, 1).
        time_embed_dim: width of the noise-level embedding that drives the adaLN modulation.
        learned_positions: add a learned absolute position embedding to the token embedding
            (on top of the rotary embedding in attention); it lets a small network tell the
            positions of a fixed-length sequence apart, which memorisation needs.
        time_conditioned: feed the noise level to the adaLN modulation (the default). With
            False the network sees a fixed level, so ``x̂ = p_θ(x_0 | x_t)`` does not depend
            on ``t`` — the time-free denoiser of the discrete diffusion codebases — and the
            ancestral sampler reuses ``x̂`` while a sequence is unchanged
            (:mod:`amlab.models.uddm.sample`): network calls then scale with token changes.
    """

    vocab_size: int
    seq_len: int
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    dropout: float = 0.0
    time_embed_dim: int = 128
    learned_positions: bool = True
    time_conditioned: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "d_model", "n_layers", "n_heads", "time_embed_dim"):
            setattr(self, name, check_positive_int(name, getattr(self, name)))
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {self.vocab_size}")
        self.d_ff = 4 * self.d_model if self.d_ff is None else check_positive_int("d_ff", self.d_ff)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"head dimension d_model / n_heads = {self.head_dim} must be even")
        self.dropout = check_finite("dropout", self.dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        for name in ("learned_positions", "time_conditioned"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head, ``d_model / n_heads``."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-ready dict (``d_ff`` resolved; ``time_conditioned``
        only when False, so the configurations written before it existed keep their hashes)."""
        out = dataclasses.asdict(self)
        if self.time_conditioned:
            del out["time_conditioned"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenoiserConfig:
        """Rebuild a configuration written by :meth:`to_dict`; unknown keys are an error."""
        return cls(**check_known_fields(cls, data))

    @classmethod
    def preset(cls, name: str, vocab_size: int, seq_len: int, **overrides: Any) -> DenoiserConfig:
        """A named size: ``toy`` (≈0.4M parameters), ``tiny``, ``small`` or ``medium``.

        ``tiny``/``small``/``medium`` are the seed paper's hidden width, depth and heads
        (256/8/8, 768/12/12, 1024/24/16). ``overrides`` replace any other field.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}")
        d_model, n_layers, n_heads, time_dim = PRESETS[name]
        fields = dict(d_model=d_model, n_layers=n_layers, n_heads=n_heads, time_embed_dim=time_dim)
        return cls(vocab_size=vocab_size, seq_len=seq_len, **{**fields, **overrides})
