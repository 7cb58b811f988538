"""The DDiT importer against an independent reference written from the MDLM / Duo description.

The reference below is written from the architecture's description (not from amlab's module):
its own LayerNorm, sinusoidal σ features, rotate-half rotary embedding and attention, on a
plain dict of tensors named as in a Lightning checkpoint. amlab's logits must equal it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from amlab.models.uddm import UDDM, CheckpointError, load_dit_checkpoint
from amlab.models.uddm.dit_checkpoint import safe_load

V, D, BLOCKS, HEADS, COND, L = 11, 16, 2, 2, 12, 10


def _param_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """The DDiT's parameters in registration order (the order of the EMA list)."""
    shapes = [("vocab_embed.embedding", (V, D)),
              ("sigma_map.mlp.0.weight", (COND, 256)), ("sigma_map.mlp.0.bias", (COND,)),
              ("sigma_map.mlp.2.weight", (COND, COND)), ("sigma_map.mlp.2.bias", (COND,))]  # fmt: skip
    for i in range(BLOCKS):
        b = f"blocks.{i}."
        shapes += [(b + "norm1.weight", (D,)), (b + "attn_qkv.weight", (3 * D, D)),
                   (b + "attn_out.weight", (D, D)), (b + "norm2.weight", (D,)),
                   (b + "mlp.0.weight", (4 * D, D)), (b + "mlp.0.bias", (4 * D,)),
                   (b + "mlp.2.weight", (D, 4 * D)), (b + "mlp.2.bias", (D,)),
                   (b + "adaLN_modulation.weight", (6 * D, COND)), (b + "adaLN_modulation.bias", (6 * D,))]  # fmt: skip
    shapes += [("output_layer.norm_final.weight", (D,)), ("output_layer.linear.weight", (V, D)),
               ("output_layer.linear.bias", (V,)), ("output_layer.adaLN_modulation.weight", (2 * D, COND)),
               ("output_layer.adaLN_modulation.bias", (2 * D,))]  # fmt: skip
    return shapes


def _random_weights(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in _param_shapes():
        scale = 1.0 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.3
        w = torch.randn(shape, generator=gen) * scale
        out[name] = 1.0 + w if "norm" in name else w
    return out


# -- the reference, written from the description ---------------------------------------------
def _layer_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * weight


def _rotate(x: torch.Tensor) -> torch.Tensor:
    """x cos + rotate_half(x) sin over positions, x of shape (B, L, H, hd)."""
    hd = x.shape[-1]
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(x.shape[1], dtype=torch.float64)[:, None] * inv[None]
    ang = torch.cat([ang, ang], dim=-1)[None, :, None, :]
    half = torch.cat([-x[..., hd // 2:], x[..., : hd // 2]], dim=-1)
    return x * torch.cos(ang) + half * torch.sin(ang)


def _reference_logits(w: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    w = {k: v.double() for k, v in w.items()}
    sigma = -torch.log(1 - (1 - 1e-3) * t.double())
    k = torch.arange(128, dtype=torch.float64)
    arg = sigma[:, None] * torch.exp(-math.log(10000.0) * k / 128)[None]
    feats = torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)
    lin = lambda h, name, bias=True: h @ w[name + ".weight"].T + (w[name + ".bias"] if bias else 0)
    silu = torch.nn.functional.silu
    c = silu(lin(silu(lin(feats, "sigma_map.mlp.0")), "sigma_map.mlp.2"))
    h = w["vocab_embed.embedding"][x]
    batch, length, _ = h.shape
    for i in range(BLOCKS):
        b = f"blocks.{i}."
        mod = lin(c, b + "adaLN_modulation")[:, None, :]
        sh1, sc1, g1, sh2, sc2, g2 = (mod[..., j * D:(j + 1) * D] for j in range(6))
        a = _layer_norm(h, w[b + "norm1.weight"]) * (1 + sc1) + sh1
        qkv = lin(a, b + "attn_qkv", bias=False).view(batch, length, 3, HEADS, D // HEADS)
        q, kk, v = _rotate(qkv[:, :, 0]), _rotate(qkv[:, :, 1]), qkv[:, :, 2]
        scores = torch.einsum("bqhd,bkhd->bhqk", q, kk) / math.sqrt(D // HEADS)
        att = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(batch, length, D)
        h = h + g1 * lin(att, b + "attn_out", bias=False)
        m = _layer_norm(h, w[b + "norm2.weight"]) * (1 + sc2) + sh2
        gelu = torch.nn.functional.gelu(lin(m, b + "mlp.0"), approximate="tanh")
        h = h + g2 * lin(gelu, b + "mlp.2")
    mod = lin(c, "output_layer.adaLN_modulation")[:, None, :]
    out = _layer_norm(h, w["output_layer.norm_final.weight"]) * (1 + mod[..., D:]) + mod[..., :D]
    return lin(out, "output_layer.linear")


# -- checkpoints --------------------------------------------------------------------------------
def _checkpoint(raw: dict[str, torch.Tensor], ema: dict[str, torch.Tensor] | None, **extra: object) -> dict:
    hd = D // HEADS
    state = {"backbone." + k: v for k, v in raw.items()}
    state["backbone.rotary_emb.inv_freq"] = 1.0 / 10000 ** (torch.arange(0, hd, 2).float() / hd)
    ckpt: dict = {"epoch": 0, "global_step": 7, "pytorch-lightning_version": "2.3.0", "state_dict": state,
                  "hyper_parameters": {"config": {"model": {"n_heads": HEADS}}}, **extra}  # fmt: skip
    if ema is not None:
        ckpt["ema"] = {"decay": 0.9999, "num_updates": 7, "shadow_params": [ema[n] for n, _ in _param_shapes()]}
    return ckpt


@pytest.fixture
def weights() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return _random_weights(0), _random_weights(1)


@pytest.mark.parametrize("use_ema", [True, False])
def test_logits_equal_the_reference(tmp_path: Path, weights, use_ema: bool) -> None:
    raw, ema = weights
    path = tmp_path / "model.ckpt"
    torch.save(_checkpoint(raw, ema), path)
    memory = load_dit_checkpoint(path, ema=use_ema, seq_len=L, device="cpu")
    assert isinstance(memory, UDDM) and (memory.vocab_size, memory.seq_len) == (V, L)
    x = torch.randint(0, V, (3, L), generator=torch.Generator().manual_seed(2))
    for t in (0.0, 0.1, 0.5, 0.9, 1.0):
        times = torch.full((3,), t)
        got = memory.network(x, times).double()
        want = _reference_logits(ema if use_ema else raw, x, times)
        assert torch.allclose(got, want, atol=1e-5, rtol=0), (t, (got - want).abs().max())
        other = _reference_logits(raw if use_ema else ema, x, times)
        assert (got - other).abs().max() > 1e-2  # the two weight sets are told apart
    probs = memory.conditional(x, t=0.5)
    assert torch.allclose(probs.double(), _reference_logits(ema if use_ema else raw, x, torch.full((3,), 0.5)).softmax(-1), atol=1e-5)


def test_heads_come_from_the_argument_or_the_record(tmp_path: Path, weights) -> None:
    raw, ema = weights
    ckpt = _checkpoint(raw, ema)
    ckpt["hyper_parameters"] = {}
    path = tmp_path / "bare.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="pass n_heads"):
        load_dit_checkpoint(path, seq_len=L)
    memory = load_dit_checkpoint(path, n_heads=HEADS, seq_len=L)
    x, t = torch.randint(0, V, (2, L)), torch.full((2,), 0.3)
    assert torch.allclose(memory.network(x, t).double(), _reference_logits(ema, x, t), atol=1e-5)


def test_missing_ema_wrong_shape_and_missing_key_are_named(tmp_path: Path, weights) -> None:
    raw, ema = weights
    path = tmp_path / "x.ckpt"
    torch.save(_checkpoint(raw, None), path)
    with pytest.raises(CheckpointError, match=r"no EMA weights .*ema=False"):
        load_dit_checkpoint(path, seq_len=L)
    load_dit_checkpoint(path, ema=False, seq_len=L)  # the raw weights still load

    bad = dict(raw, **{"blocks.1.attn_out.weight": torch.zeros(D, D + 1)})
    torch.save(_checkpoint(bad, ema), path)
    with pytest.raises(CheckpointError, match=r"backbone\.blocks\.1\.attn_out\.weight has shape \(16, 17\)"):
        load_dit_checkpoint(path, ema=False, seq_len=L)

    gone = {k: v for k, v in raw.items() if k != "blocks.0.mlp.2.bias"}
    torch.save(_checkpoint(gone, ema), path)
    with pytest.raises(CheckpointError, match=r"lack backbone\.blocks\.0\.mlp\.2\.bias"):
        load_dit_checkpoint(path, ema=False, seq_len=L)

    ckpt = _checkpoint(raw, ema)
    ckpt["ema"]["shadow_params"] = ckpt["ema"]["shadow_params"][:-1]
    torch.save(ckpt, path)
    n = len(_param_shapes())
    with pytest.raises(CheckpointError, match=f"holds {n - 1} tensors, the DDiT has {n} parameters"):
        load_dit_checkpoint(path, seq_len=L)

    torch.save({"state_dict": {"model.w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match=r"lacks backbone\.vocab_embed\.embedding"):
        load_dit_checkpoint(path)


class _Payload:
    """Unpickling this would run ``os.system`` and create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_checkpoint_is_refused_without_running(tmp_path: Path, weights) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save(_checkpoint(*weights, callbacks={"x": _Payload(marker)}), path)
    with pytest.raises(CheckpointError) as info:
        load_dit_checkpoint(path, seq_len=L)
    assert not marker.exists()
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "posix.system" in message
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        safe_load(tmp_path / "absent.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        safe_load(tmp_path / "junk.ckpt")


# -- the seed paper's packing and the probe command ------------------------------------------
WORDS = ["the", "cat", "sat", "on", "mat", "dog"]


def _vocab(tmp_path: Path) -> Path:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8")
    return path


def _text(tmp_path: Path, n_lines: int = 60) -> Path:
    gen = torch.Generator().manual_seed(5)
    lines = [" ".join(WORDS[int(i)] for i in torch.randint(0, 6, (int(n) ,), generator=gen))
             for n in torch.randint(3, 7, (n_lines,), generator=gen)]  # fmt: skip
    path = tmp_path / "my.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_wrap_packs_cls_body_sep(tmp_path: Path) -> None:
    from tokenizers import BertWordPieceTokenizer

    from amlab.data.pretrained import PretrainedTokenizer, wrap_sequences

    tok = PretrainedTokenizer(_vocab(tmp_path))
    assert tok.vocab_size == V and tok.encode("The cat SAT") == [5, 6, 7]
    seqs, report = wrap_sequences("the cat\n\nsat on the mat\ndog", tok, seq_len=5)
    # stream: the cat [SEP] sat on the mat [SEP] dog [SEP] = 10 tokens -> 3 bodies of 3, 1 left
    assert seqs.tolist() == [[2, 5, 6, 3, 3], [2, 7, 8, 5, 3], [2, 9, 3, 10, 3]]
    assert (report.kept, report.tokens, report.tail_tokens, report.lines_read) == (3, 10, 1, 3)
    with pytest.raises(ValueError, match="no sequences of length 128"):
        wrap_sequences("the cat", tok)
    BertWordPieceTokenizer(str(tmp_path / "vocab.txt")).save(str(tmp_path / "tokenizer.json"))
    from_json = PretrainedTokenizer(tmp_path / "tokenizer.json")
    assert from_json.encode("The cat SAT") == [5, 6, 7] and from_json.token_id("[SEP]") == 3
    with pytest.raises(ValueError, match="no tokenizer file"):
        PretrainedTokenizer(tmp_path / "absent.txt")


def test_probe_runs_on_a_ckpt(tmp_path: Path, weights) -> None:
    from typer.testing import CliRunner

    from amlab.cli import app

    path = tmp_path / "X.ckpt"
    torch.save(_checkpoint(*weights), path)
    flags = ["probe", "--checkpoint", str(path), "--tokenizer-file", str(_vocab(tmp_path)), "--data", str(_text(tmp_path)),
             "-L", str(L), "--n-test", "8", "--n-probe", "4", "--n-generated", "2", "--n-random", "2",
             "--n-recovery", "0", "--out", str(tmp_path / "probe")]  # fmt: skip
    result = CliRunner().invoke(app, flags)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "framed by [CLS] ... [SEP]" in text and "DDiT, EMA weights, V = 11, L = 10" in text and "verdict:" in text
    assert (tmp_path / "probe" / "probe.json").is_file()
    missing = CliRunner().invoke(app, ["probe", str(path), "--data", str(_text(tmp_path))])
    assert missing.exit_code == 2 and "--tokenizer-file" in " ".join(missing.output.split())
