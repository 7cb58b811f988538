"""The DDiT denoiser of the MDLM / Duo code, the network of the seed paper's released models.

``DitDenoiser(config)(x_t, t)`` computes the function of the ``DIT`` backbone of MDLM (Sahoo
et al., arXiv 2406.07524) and Duo (Sahoo et al., arXiv 2506.10892), so that a checkpoint
written by that code (:func:`amlab.models.uddm.dit_checkpoint.load_dit_checkpoint`) runs
under amlab's instruments. It differs from amlab's own :class:`~amlab.models.uddm.network.Denoiser`
in these points, each one piece of its own here:

* it is conditioned on ``σ = −log α_t`` (the schedule ``α_t = 1 − (1 − ε) t``, ε = 10⁻³),
  not on ``1000 t``: 256 sinusoidal features of σ, Linear–SiLU–Linear to ``cond_dim``, then a
  SiLU (``sigma_map``);
* its LayerNorms carry a weight (no bias); its MLPs have biases;
* its rotary embedding rotates the two halves of each head (``rotate_half``), not
  interleaved pairs; values are not rotated;
* the token embedding (``vocab_embed``) is a free ``V × d`` matrix, untied from the output
  projection, and there is no absolute position embedding.

The module names mirror the checkpoint's (``vocab_embed.embedding``, ``sigma_map.mlp``,
``blocks.<i>.{norm1, attn_qkv, attn_out, norm2, mlp, adaLN_modulation}``,
``output_layer.{norm_final, linear, adaLN_modulation}``), and so does the order in which the
parameters are registered: EMA weights are stored as a list in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from amlab._validation import as_tokens, check_positive_int
from amlab.corruption import LogLinearSchedule, check_levels
from amlab.models.uddm.network import Rotary, _modulate, sinusoidal_features

__all__ = ["FREQUENCY_FEATURES", "DitConfig", "DitDenoiser"]

#: Width of the sinusoidal σ features of ``sigma_map`` (the DiT timestep embedder's default).
FREQUENCY_FEATURES = 256


@dataclass
class DitConfig:
    """Sizes of a DDiT backbone.

    Attributes:
        vocab_size: V.
        seq_len: L, the longest sequence accepted (the rotary tables are built to this length).
        d_model: hidden width (``hidden_size`` in the MDLM/Duo configs).
        n_layers: transformer blocks (``n_blocks``).
        n_heads: attention heads; ``d_model / n_heads`` must be even.
        cond_dim: width of the σ embedding that drives the adaLN modulation.
        schedule_eps: ε of ``α_t = 1 − (1 − ε) t``, which turns ``t`` into ``σ = −log α_t``.
    """

    vocab_size: int
    seq_len: int
    d_model: int
    n_layers: int
    n_heads: int
    cond_dim: int
    schedule_eps: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "d_model", "n_layers", "n_heads", "cond_dim"):
            setattr(self, name, check_positive_int(name, getattr(self, name)))
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"d_model = {self.d_model} must split into n_heads = {self.n_heads} heads of even width"
            )
        LogLinearSchedule(self.schedule_eps)  # checks ε

    @property
    def head_dim(self) -> int:
        """Width of one attention head, ``d_model / n_heads``."""
        return self.d_model // self.n_heads


class HalfRotary(Rotary):
    """Rotary embedding on the two halves of each head: ``x cos θ + rotate_half(x) sin θ``
    with ``rotate_half(x₁, x₂) = (−x₂, x₁)`` (the GPT-NeoX pairing; same frequencies as
    :class:`~amlab.models.uddm.network.Rotary`, base 10000)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-2]
        cos, sin = self.cos[:length].to(x.dtype), self.sin[:length].to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class SigmaEmbedding(nn.Module):
    """``σ ↦ Linear(SiLU(Linear(sinusoidal_256(σ))))`` (the SiLU on the output is applied by the caller)."""

    def __init__(self, cond_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(FREQUENCY_FEATURES, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim)
        )

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_features(sigma, FREQUENCY_FEATURES))


class VocabEmbedding(nn.Module):
    """A free ``V × d`` embedding matrix (``vocab_embed.embedding``)."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(vocab_size, dim))
        nn.init.normal_(self.embedding, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding[x]


class DitBlock(nn.Module):
    """Pre-norm block: ``x + g₁ · attn(mod(norm₁ x)) → x + g₂ · mlp(mod(norm₂ x))``, with
    (shift, scale, gate) × 2 from ``adaLN_modulation(c)`` in that order."""

    def __init__(self, config: DitConfig, rotary: HalfRotary) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.rotary = rotary
        self.norm1 = nn.LayerNorm(d, bias=False)
        self.attn_qkv = nn.Linear(d, 3 * d, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.norm2 = nn.LayerNorm(d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))
        self.adaLN_modulation = nn.Linear(config.cond_dim, 6 * d)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(cond).chunk(6, dim=-1)
        batch, length, d = x.shape
        h = _modulate(self.norm1(x), shift1, scale1)
        q, k, v = self.attn_qkv(h).view(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(self.rotary(q), self.rotary(k), v)
        x = x + gate1[:, None] * self.attn_out(att.transpose(1, 2).reshape(batch, length, d))
        return x + gate2[:, None] * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class DitOutput(nn.Module):
    """``linear(mod(norm_final x))`` with (shift, scale) from ``adaLN_modulation(c)``."""

    def __init__(self, config: DitConfig) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(config.d_model, bias=False)
        self.linear = nn.Linear(config.d_model, config.vocab_size)
        self.adaLN_modulation = nn.Linear(config.cond_dim, 2 * config.d_model)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(cond).chunk(2, dim=-1)
        return self.linear(_modulate(self.norm_final(x), shift, scale))


class DitDenoiser(nn.Module):
    """The DDiT backbone as an amlab denoiser: ``(x_t (B, L), t (B,)) → logits (B, L, V)``.

    ``t`` is amlab's noise level in [0, 1]; the network sees ``σ = −log α_t``. The logits'
    softmax is ``p_θ(x_0 | x_t, t)``, as in Duo's uniform-state parameterisation.
    """

    def __init__(self, config: DitConfig) -> None:
        super().__init__()
        if not isinstance(config, DitConfig):
            raise ValueError(f"config must be a DitConfig, got {type(config).__name__}")
        self.config = config
        self.schedule = LogLinearSchedule(config.schedule_eps)
        self.vocab_embed = VocabEmbedding(config.vocab_size, config.d_model)
        self.sigma_map = SigmaEmbedding(config.cond_dim)
        self.rotary_emb = HalfRotary(config.head_dim, config.seq_len)
        self.blocks = nn.ModuleList(DitBlock(config, self.rotary_emb) for _ in range(config.n_layers))
        self.output_layer = DitOutput(config)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """``σ = −log α_t``, the network's time input."""
        return -torch.log(self.schedule.alpha(t.float()))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """Logits of ``p_θ(x_0 | x_t, t)``, float32 ``(B, L, V)``; ``validate`` as for
        :meth:`amlab.models.uddm.network.Denoiser.forward`."""
        cfg = self.config
        if validate:
            x_t = as_tokens(x_t, cfg.vocab_size, name="x_t", device=self.vocab_embed.embedding.device)
            t = check_levels(t, x_t.shape[0], x_t.device)[:, 0]
        if x_t.shape[1] > cfg.seq_len:
            raise ValueError(
                f"x_t has sequences of length {x_t.shape[1]}, longer than the network's seq_len = {cfg.seq_len}"
            )
        cond = F.silu(self.sigma_map(self.sigma(t)))
        x = self.vocab_embed(x_t)
        for block in self.blocks:
            x = block(x, cond)
        return self.output_layer(x, cond).float()
