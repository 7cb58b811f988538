"""The trained UDDM as an associative memory (DESIGN §3, measured by the instruments of §4).

:class:`UDDM` wraps a trained denoiser behind :class:`amlab.memory.MemoryBase`: ``fit`` trains
one on the stored sequences (or loads it from the cache of trained models), ``retrieve`` runs
the reverse process from the corruption level ``t`` (about ``round(1000 t)`` steps, then
noise removal), and ``conditional`` is the network's ``p_θ(x_0 | x_t, t)``. Everything is
read from the EMA weights. It is likelihood-based: there is no energy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from amlab._validation import check_positive_int, check_unit_interval
from amlab.corruption import LogLinearSchedule
from amlab.device import autocast, default_device, make_generator
from amlab.memory import MemoryBase, NotFittedError, Retrieval
from amlab.models.uddm.checkpoint import (
    CheckpointError,
    cache_key,
    cached_run_dir,
    load_denoiser,
)
from amlab.models.uddm.diffusion import NelboEstimate, as_denoiser
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.sample import denoise, generate, reverse_step
from amlab.models.uddm.train import TrainConfig, TrainResult, train, validation_nelbo

__all__ = ["UDDM"]


class UDDM(MemoryBase):
    """A uniform discrete diffusion LM used as a memory of its training sequences.

    Args:
        train_config: how to train in :meth:`fit` (default :class:`TrainConfig` ``()``, the toy
            preset). Its ``seed`` seeds training; the ``generator`` handed to ``fit`` is not
            used, so that a trained model is identified by its configuration and data.
        cache_dir: root of the cache of trained models (default ``$AMLAB_CACHE`` or
            ``~/.cache/amlab``); a model is stored under a hash of the configuration and the
            training sequences, and an interrupted training run resumes from its checkpoint.
        use_cache: set False to train in memory without reading or writing the cache.
        n_steps: reverse steps of :meth:`retrieve` (default ``round(1000 t)``, DESIGN §4).
        greedy: take the argmax of each reverse step (True) or sample it (ancestral).
        device: where the network runs (default: CUDA when available).
        tokenizer: saved with the model (``to_dict()``), for decoding later.
        progress: show the training progress bar.
        batch_size: sequences per network call in :meth:`retrieve` and :meth:`conditional`.
    """

    name = "uddm"
    has_energy = False

    def __init__(
        self,
        train_config: TrainConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        n_steps: int | None = None,
        greedy: bool = True,
        device: str | torch.device | None = None,
        tokenizer: Any = None,
        progress: bool = False,
        batch_size: int = 512,
    ) -> None:
        super().__init__()
        if train_config is not None and not isinstance(train_config, TrainConfig):
            raise ValueError(f"train_config must be a TrainConfig, got {type(train_config).__name__}")
        self.train_config = train_config or TrainConfig()
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        if n_steps is not None and (isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 0):
            raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
        self.n_steps = n_steps
        self.greedy = bool(greedy)
        self.device = default_device(device)
        self.tokenizer = tokenizer
        self.progress = progress
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.schedule = LogLinearSchedule(self.train_config.schedule_eps)
        self.network: Denoiser | None = None
        self.checkpoint_dir: Path | None = None
        self.train_result: TrainResult | None = None
        self.tokenizer_dict: dict[str, Any] | None = None

    # -- building ----------------------------------------------------------------------
    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        config = self.train_config.replace(device=str(self.device))  # not part of the hash
        dcfg = config.resolve_denoiser(self.vocab_size, self.seq_len)
        run_dir = None
        if self.use_cache:
            run_dir = cached_run_dir(cache_key(config.config_hash(), dcfg, patterns), self.cache_dir)
            try:
                net, ckpt = load_denoiser(run_dir, self.device)
            except CheckpointError:
                pass  # not cached yet (or a broken entry): train, resuming where possible
            else:
                if ckpt.step == config.steps:
                    self._adopt(net, run_dir, ckpt.tokenizer)
                    return
        kwargs = dict(vocab_size=self.vocab_size, tokenizer=self.tokenizer, progress=self.progress)
        try:
            result = train(config, patterns, out_dir=run_dir, **kwargs)
        except CheckpointError:
            result = train(config, patterns, out_dir=run_dir, resume=False, **kwargs)
        self.train_result = result
        tok = self.tokenizer.to_dict() if self.tokenizer is not None else None
        self._adopt(result.ema, run_dir, tok)

    def _adopt(self, net: Denoiser, where: Path | None, tokenizer: dict[str, Any] | None) -> None:
        self.network = net.to(self.device).eval()
        self.checkpoint_dir = where
        self.tokenizer_dict = tokenizer

    @classmethod
    def from_network(
        cls,
        network: Denoiser,
        *,
        seq_len: int | None = None,
        train_config: TrainConfig | None = None,
        **options: Any,
    ) -> UDDM:
        """A memory around an already trained network (e.g. ``train(...).ema``).

        ``seq_len`` is the length of the sequences it works on (default the network's
        ``config.seq_len``); ``options`` are those of the constructor.
        """
        if not isinstance(network, Denoiser):
            raise ValueError(f"network must be a Denoiser, got {type(network).__name__}")
        memory = cls(train_config, **options)
        memory.vocab_size = network.config.vocab_size
        length = network.config.seq_len if seq_len is None else check_positive_int("seq_len", seq_len)
        if length > network.config.seq_len:
            raise ValueError(f"seq_len {length} exceeds the network's seq_len {network.config.seq_len}")
        memory.seq_len = length
        memory._adopt(network, None, None)
        return memory

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        n_steps: int | None = None,
        greedy: bool = True,
        device: str | torch.device | None = None,
        batch_size: int = 512,
    ) -> UDDM:
        """A memory around the EMA network of a checkpoint (no stored patterns attached).

        Raises:
            CheckpointError: the checkpoint is missing or damaged.
        """
        dev = default_device(device)
        net, ckpt = load_denoiser(path, dev)
        memory = cls.from_network(
            net,
            seq_len=int(ckpt.meta.get("seq_len", ckpt.denoiser_config.seq_len)),
            train_config=TrainConfig.from_dict(ckpt.train_config),
            n_steps=n_steps,
            greedy=greedy,
            device=dev,
            batch_size=batch_size,
        )
        memory._adopt(net, ckpt.directory, ckpt.tokenizer)
        return memory

    def _check_fitted(self) -> None:
        if self.network is None:
            raise NotFittedError("UDDM has no network: call fit() or UDDM.from_checkpoint() first")

    # -- the network as a denoiser ---------------------------------------------------------
    def _chunks(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(x.to(self.device).split(self.batch_size))

    def _generator(self, generator: torch.Generator | None) -> torch.Generator | None:
        """``generator`` if it lives on the network's device, else one seeded from it."""
        if generator is None or generator.device.type == self.device.type:
            return generator
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return make_generator(seed, self.device)

    @torch.no_grad()
    def _log_probs(self, x: torch.Tensor, t: float) -> torch.Tensor:
        assert self.network is not None
        times = torch.full((x.shape[0],), t, device=x.device)
        with autocast(self.device):
            return as_denoiser(self.network)(x, times)

    # -- the memory interface --------------------------------------------------------------
    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """``p_θ(x_0^ℓ = v | x_t = x, t)`` of the EMA network, float32 ``(B, L, V)``."""
        states = self._states(x)
        t = check_unit_interval("t", t)
        out = [self._log_probs(chunk, t).exp() for chunk in self._chunks(states)]
        return torch.cat(out).to(states.device)

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One reverse step from ``t`` to ``t − Δt`` (``Δt = t / n_steps``, default 10⁻³);
        at ``t = 0`` the noise removal ``argmax x̂``."""
        states = self._states(x)
        t = check_unit_interval("t", t)
        if t == 0.0:
            return self._denoise(states, 0.0, 0, None)
        n = self.n_steps if self.n_steps else max(1, round(1000 * t))
        s = max(t - t / n, 0.0)
        gen = self._generator(generator)
        denoiser = as_denoiser(self.network)
        with autocast(self.device):
            out = [
                reverse_step(
                    denoiser, chunk, t, s, greedy=self.greedy, generator=gen, schedule=self.schedule
                )
                for chunk in self._chunks(states)
            ]
        return torch.cat(out).to(states.device)

    def _denoise(
        self, states: torch.Tensor, t: float, n_steps: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        assert self.network is not None
        denoiser = as_denoiser(self.network)
        out = []
        with torch.no_grad(), autocast(self.device):
            for chunk in self._chunks(states):
                out.append(
                    denoise(
                        denoiser,
                        chunk,
                        t_start=t,
                        n_steps=n_steps,
                        greedy=self.greedy,
                        generator=generator,
                        schedule=self.schedule,
                    )
                )
        return torch.cat(out).to(states.device)

    def retrieve(
        self,
        x: torch.Tensor,
        *,
        t: float = 0.0,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Retrieval:
        """The reverse process from level ``t`` then noise removal (DESIGN §3, §4).

        ``n_steps`` reverse steps (default ``round(1000 t)``), at most ``max_steps`` if given.
        A finite procedure: ``converged`` is all True and ``steps`` counts the reverse steps
        plus the noise-removal step.
        """
        states = self._states(x)
        t = check_unit_interval("t", t)
        n = self.n_steps if self.n_steps is not None else round(1000 * t)
        if max_steps is not None:
            n = min(n, check_positive_int("max_steps", max_steps))
        if t == 0.0:
            n = 0
        final = self._denoise(states, t, n, self._generator(generator))
        batch = states.shape[0]
        return Retrieval(
            states=final,
            converged=torch.ones(batch, dtype=torch.bool, device=final.device),
            steps=torch.full((batch,), n + 1, dtype=torch.long, device=final.device),
        )

    def generate(
        self,
        n: int,
        *,
        n_steps: int = 1000,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` sequences from pure noise at t = 1 (ancestral by default), int64 ``(n, L)``."""
        self._check_fitted()
        assert self.network is not None
        n = check_positive_int("n", n)
        with torch.no_grad(), autocast(self.device):
            out = generate(
                as_denoiser(self.network),
                n,
                self.seq_len,
                self.vocab_size,
                n_steps=check_positive_int("n_steps", n_steps),
                greedy=greedy,
                generator=self._generator(generator),
                device=self.device,
                schedule=self.schedule,
            )
        return out.cpu()

    def nelbo(self, x: torch.Tensor, *, n_samples: int = 1, seed: int = 0) -> NelboEstimate:
        """Per-token NELBO of the sequences ``x`` under the EMA network (DESIGN §3)."""
        states = self._states(x)
        assert self.network is not None
        return validation_nelbo(
            self.network,
            states,
            schedule=self.schedule,
            seed=seed,
            micro_batch=self.batch_size,
            n_samples=check_positive_int("n_samples", n_samples),
        )
