"""The UDDM denoiser: a bidirectional, time-conditioned transformer.

``Denoiser(config)(x_t, t)`` returns logits of ``p_θ(x_0^ℓ | x_t, t)`` for every position.
The architecture is the diffusion-transformer recipe of the uniform diffusion LMs (Schiff et
al., arXiv 2412.10193): token embeddings, rotary position embeddings on queries and keys,
pre-norm blocks whose LayerNorms are modulated (shift, scale, gate — "adaLN-Zero") by an
embedding of the noise level ``t``, and full (non-causal) attention through
:func:`torch.nn.functional.scaled_dot_product_attention`, which picks a fused kernel on CUDA
by itself. It runs in fp32 on CPU and under bf16 autocast on CUDA; no optional kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from amlab._validation import as_tokens
from amlab.corruption import check_levels
from amlab.models.uddm.config import DenoiserConfig

__all__ = ["Denoiser"]


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: ``x · (1 + scale) + shift`` with per-sequence ``(B, d)`` shift and scale."""
    return x * (1 + scale[:, None]) + shift[:, None]


def sinusoidal_features(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``[cos(x ω_k), sin(x ω_k)]`` with ``ω_k = 10000^(−k / ⌊dim/2⌋)``, float32 ``(B, dim)``.

    The timestep features of the diffusion transformers (Peebles & Xie 2023, after GLIDE);
    an odd ``dim`` is padded with one zero.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(10_000.0) * torch.arange(half, device=x.device, dtype=torch.float32) / half
    )
    args = x.float()[:, None] * freqs[None]
    feats = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(feats, (0, 1)) if dim % 2 else feats


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``1000 t`` followed by a two-layer MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_features(1000.0 * t.float(), self.dim))


class Rotary(nn.Module):
    """Rotary position embedding (RoPE) applied to queries and keys ``(B, H, L, head_dim)``."""

    def __init__(self, head_dim: int, max_len: int) -> None:
        super().__init__()
        inv_freq = 1.0 / 10_000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.arange(max_len, dtype=torch.float32)[:, None] * inv_freq[None]
        self.register_buffer("cos", torch.cos(angles), persistent=False)
        self.register_buffer("sin", torch.sin(angles), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-2]
        return self._rotate(x, self.cos[:length], self.sin[:length])

    def at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The rotation of single vectors ``x`` ``(K, H, 1, head_dim)`` at ``positions`` ``(K,)``."""
        return self._rotate(x, self.cos[positions][:, None, None], self.sin[positions][:, None, None])

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero time modulation."""

    def __init__(self, config: DenoiserConfig, rotary: Rotary) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.rotary = rotary
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False)
        assert config.d_ff is not None  # resolved by DenoiserConfig.__post_init__
        self.mlp = nn.Sequential(
            nn.Linear(d, config.d_ff),
            nn.GELU(approximate="tanh"),
            nn.Dropout(config.dropout),
            nn.Linear(config.d_ff, d),
        )
        self.modulation = nn.Linear(config.time_embed_dim, 6 * d)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).chunk(6, dim=-1)
        batch, length, d = x.shape
        h = _modulate(self.norm1(x), shift1, scale1)
        q, k, v = self.qkv(h).view(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(
            self.rotary(q),
            self.rotary(k),
            v,
            dropout_p=self.dropout if self.training else 0.0,
        )
        x = x + gate1[:, None] * self.proj(att.transpose(1, 2).reshape(batch, length, d))
        return x + gate2[:, None] * self.mlp(_modulate(self.norm2(x), shift2, scale2))

    def forward_at(self, x: torch.Tensor, cond: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The block's output ``(K, d)`` at the positions ``(rows[k], cols[k])`` only.

        Keys and values are computed at every position, queries, the attention output and the
        feed-forward layer only where asked: what :meth:`forward` gives there, at a fraction
        of the cost when few positions are asked for.
        """
        mods = self.modulation(cond).chunk(6, dim=-1)
        batch, length, d = x.shape
        w_q, w_kv = self.qkv.weight.split([d, 2 * d])
        h = _modulate(self.norm1(x), mods[0], mods[1])
        k, v = F.linear(h, w_kv).view(batch, length, 2, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        q = F.linear(h[rows, cols], w_q).view(-1, self.n_heads, 1, d // self.n_heads)
        att = F.scaled_dot_product_attention(self.rotary.at(q, cols), self.rotary(k)[rows], v[rows])
        _, _, gate1, shift2, scale2, gate2 = (m[rows] for m in mods)
        out = x[rows, cols] + gate1 * self.proj(att.reshape(-1, d))
        return out + gate2 * self.mlp(self.norm2(out) * (1 + scale2) + shift2)


class Denoiser(nn.Module):
    """Bidirectional transformer ``(x_t (B, L), t (B,)) → logits (B, L, V)``.

    The logits define ``x̂ = p_θ(x_0 | x_t, t)`` position by position; use
    :func:`amlab.models.uddm.diffusion.as_denoiser` to turn the module into the
    log-probability callable that the loss and the samplers take. The final projection is
    zero-initialised, so an untrained network predicts the uniform distribution.
    """

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        if not isinstance(config, DenoiserConfig):
            raise ValueError(f"config must be a DenoiserConfig, got {type(config).__name__}")
        self.config = config
        d = config.d_model
        self.embed = nn.Embedding(config.vocab_size, d)
        self.positions = nn.Embedding(config.seq_len, d) if config.learned_positions else None
        if self.positions is not None:
            nn.init.normal_(self.positions.weight, std=0.02)
        self.time = TimeEmbedding(config.time_embed_dim)
        rotary = Rotary(config.head_dim, config.seq_len)
        self.blocks = nn.ModuleList(Block(config, rotary) for _ in range(config.n_layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False)
        self.modulation_out = nn.Linear(config.time_embed_dim, 2 * d)
        self.head = nn.Linear(d, config.vocab_size)
        for layer in (self.modulation_out, self.head):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, *, validate: bool = True, at: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of ``p_θ(x_0 | x_t, t)``, float32 ``(B, L, V)``, or ``(K, V)`` at the ``K``
        positions ``at`` selects.

        Args:
            x_t: noisy tokens, int ``(B, L)`` with ``L ≤ config.seq_len``.
            t: noise levels in [0, 1], shape ``(B,)`` (or a scalar, shared by the batch).
            validate: check the tokens and levels (each check reads a value back from the
                device). Callers that validated their inputs once at their boundary — the
                training loop, the samplers of :class:`~amlab.models.uddm.memory.UDDM` —
                pass False, so a forward pass has no host synchronisation; ``t`` must then
                be a float tensor of shape ``(B,)`` on the network's device.
            at: bool ``(B, L)``; when given, only the logits at its True positions are
                computed, in row-major order (``x_t[at]``'s order). The last block then runs
                its queries, attention output and feed-forward layer at those positions only
                (:meth:`Block.forward_at`): the same numbers as the full pass up to float
                rounding, for the samplers that need ``x̂`` at a few positions per sequence.

        Raises:
            ValueError: tokens outside the vocabulary, a sequence longer than
                ``config.seq_len``, or ``t`` that is NaN, outside [0, 1] or of the wrong shape.
        """
        cfg = self.config
        if validate:
            x_t = as_tokens(x_t, cfg.vocab_size, name="x_t", device=self.embed.weight.device)
            t = check_levels(t, x_t.shape[0], x_t.device)[:, 0]
        if x_t.shape[1] > cfg.seq_len:
            raise ValueError(
                f"x_t has sequences of length {x_t.shape[1]}, longer than the network's "
                f"seq_len = {cfg.seq_len}"
            )
        t = t.float() if cfg.time_conditioned else torch.zeros_like(t, dtype=torch.float32)
        cond = F.silu(self.time(t))
        x = self.embed(x_t)
        if self.positions is not None:
            x = x + self.positions.weight[: x_t.shape[1]]
        shift, scale = self.modulation_out(cond).chunk(2, dim=-1)
        if at is None:
            for block in self.blocks:
                x = block(x, cond)
            return self.head(_modulate(self.norm_out(x), shift, scale)).float()
        if at.shape != x_t.shape:
            raise ValueError(f"at must have the shape of x_t {tuple(x_t.shape)}, got {tuple(at.shape)}")
        for block in self.blocks[:-1]:
            x = block(x, cond)
        rows, cols = at.nonzero(as_tuple=True)
        x = self.blocks[-1].forward_at(x, cond, rows, cols)
        return self.head(self.norm_out(x) * (1 + scale[rows]) + shift[rows]).float()

    def num_parameters(self) -> int:
        """Total number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Model FLOPs per token of one forward + backward pass, for MFU.

        ``6 · N + 12 · n_layers · L · d_model`` (Kaplan et al. 2020; PaLM appendix B), where N
        excludes the token and position embeddings (lookups, not matmuls) and the second term counts the
        attention score and value products at sequence length ``L`` (default ``seq_len``).
        """
        cfg = self.config
        length = cfg.seq_len if seq_len is None else seq_len
        lookups = self.embed.weight.numel()
        if self.positions is not None:
            lookups += self.positions.weight.numel()
        n_matmul = self.num_parameters() - lookups
        return 6.0 * n_matmul + 12.0 * cfg.n_layers * length * cfg.d_model
