"""The trained UDDM as an associative memory.

:class:`UDDM` wraps a trained denoiser: ``fit`` trains one on the stored sequences (or loads
it from the cache of trained models), ``step``/``retrieve`` run the reverse process from the
corruption level ``t`` (about ``round(1000 t)`` steps on the grid, then noise removal; see
:mod:`amlab.models.uddm.reverse`), and ``conditional`` is the network's ``p_θ(x_0 | x_t, t)``.
Everything is read from the EMA weights. It is likelihood-based: there is no energy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from amlab._validation import check_positive_int, check_unit_interval
from amlab.corruption import LogLinearSchedule
from amlab.device import autocast, default_device, make_generator
from amlab.memory import NotFittedError
from amlab.models.uddm.checkpoint import (
    CheckpointError,
    cache_key,
    cached_run_dir,
    load_denoiser,
)
from amlab.models.uddm.diffusion import NelboEstimate, as_denoiser
from amlab.models.uddm.dit import DitDenoiser
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.reverse import ReverseProcessMemory
from amlab.models.uddm.sample import GRID_STEPS, NoiseRemoval, denoise, generate
from amlab.models.uddm.train import TrainConfig, TrainResult, continuable_run, train, validation_nelbo

__all__ = ["UDDM"]


class UDDM(ReverseProcessMemory):
    """A uniform discrete diffusion LM used as a memory of its training sequences.

    Args:
        train_config: how to train in :meth:`fit` (default :class:`TrainConfig` ``()``, the toy
            preset). Its ``seed`` seeds training; the ``generator`` handed to ``fit`` is not
            used, so that a trained model is identified by its configuration and data.
        cache_dir: root of the cache of trained models (default ``$AMLAB_CACHE`` or
            ``~/.cache/amlab``); a model is stored under a hash of the configuration and the
            training sequences, and an interrupted training run resumes from its checkpoint.
            Under a constant learning rate a higher cap ``steps`` continues the cached run of a
            lower one on the same path (:func:`~amlab.models.uddm.train.continuable_run`)
            instead of starting from step 0; the lower cap's entry stays as it was.
        use_cache: set False to train in memory without reading or writing the cache.
        greedy, grid_steps, noise_removal: the reverse process (see
            :class:`~amlab.models.uddm.reverse.ReverseProcessMemory`; ancestral by default).
        device: where the network runs (default: CUDA when available).
        tokenizer: saved with the model (``to_dict()``), for decoding later.
        progress: show the training progress bar.
        batch_size: sequences per network call in :meth:`retrieve` and :meth:`conditional`.
        held_out: held-out sequences whose NELBO training records beside the training NELBO
            (the validation history and the convergence curve); never trained on, and never
            used to stop (:mod:`amlab.models.uddm.convergence`).

    After :meth:`fit`, ``convergence`` holds the run's convergence record (curve, ``stopped_by``,
    step) when its configuration has a convergence rule, else None.
    """

    name = "uddm"

    def __init__(
        self,
        train_config: TrainConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        greedy: bool = False,
        grid_steps: int = GRID_STEPS,
        noise_removal: NoiseRemoval = "posterior",
        device: str | torch.device | None = None,
        tokenizer: Any = None,
        progress: bool = False,
        batch_size: int = 512,
        held_out: torch.Tensor | None = None,
    ) -> None:
        if train_config is not None and not isinstance(train_config, TrainConfig):
            raise ValueError(f"train_config must be a TrainConfig, got {type(train_config).__name__}")
        config = train_config or TrainConfig()
        super().__init__(
            greedy=greedy,
            grid_steps=grid_steps,
            noise_removal=noise_removal,
            schedule=LogLinearSchedule(config.schedule_eps),
        )
        self.train_config = config
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.device = default_device(device)
        self.tokenizer = tokenizer
        self.progress = progress
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.network: Denoiser | DitDenoiser | None = None
        self.checkpoint_dir: Path | None = None
        self.train_result: TrainResult | None = None
        self.tokenizer_dict: dict[str, Any] | None = None
        self.held_out = held_out
        self.convergence: dict[str, Any] | None = None

    # -- building ----------------------------------------------------------------------
    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        config = self.train_config.replace(device=str(self.device))  # not part of the hash
        dcfg = config.resolve_denoiser(self.vocab_size, self.seq_len)
        run_dir = donor = None
        if self.use_cache:
            run_dir = cached_run_dir(cache_key(config.config_hash(), dcfg, patterns), self.cache_dir)
            try:
                net, ckpt = load_denoiser(run_dir, self.device)
            except CheckpointError:
                # Not cached yet (or a broken entry): train, from a lower cap's run if one
                # lies on the same path, else from step 0.
                donor = continuable_run(run_dir.parent, config, dcfg, patterns)
            else:
                convergence = ckpt.meta.get("convergence") or {}
                if ckpt.step == config.steps or convergence.get("stopped_by") == "rule":
                    self.convergence = convergence or None
                    self._adopt(net, run_dir, ckpt.tokenizer)
                    return
        kwargs = dict(
            vocab_size=self.vocab_size, tokenizer=self.tokenizer, progress=self.progress,
            val_seqs=self.held_out,
        )
        try:
            result = train(config, patterns, out_dir=run_dir, continue_from=donor, **kwargs)
        except CheckpointError:  # a damaged entry (or donor): start afresh over it
            result = train(config, patterns, out_dir=run_dir, resume=False, **kwargs)
        self.train_result = result
        self.convergence = result.convergence
        tok = self.tokenizer.to_dict() if self.tokenizer is not None else None
        self._adopt(result.ema, run_dir, tok)

    def _adopt(self, net: Denoiser | DitDenoiser, where: Path | None, tokenizer: dict[str, Any] | None) -> None:
        self.network = net.to(self.device).eval()
        self.checkpoint_dir = where
        self.tokenizer_dict = tokenizer

    @classmethod
    def from_network(
        cls,
        network: Denoiser | DitDenoiser,
        *,
        seq_len: int | None = None,
        train_config: TrainConfig | None = None,
        **options: Any,
    ) -> UDDM:
        """A memory around an already trained network (e.g. ``train(...).ema``, or the DDiT
        of a released checkpoint: :func:`~amlab.models.uddm.dit_checkpoint.load_dit_checkpoint`).

        ``seq_len`` is the length of the sequences it works on (default the network's
        ``config.seq_len``); ``options`` are those of the constructor.
        """
        if not isinstance(network, (Denoiser, DitDenoiser)):
            raise ValueError(f"network must be a Denoiser or DitDenoiser, got {type(network).__name__}")
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
        greedy: bool = False,
        grid_steps: int = GRID_STEPS,
        noise_removal: NoiseRemoval = "posterior",
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
            greedy=greedy,
            grid_steps=grid_steps,
            noise_removal=noise_removal,
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
            return as_denoiser(self.network, validate=False)(x, times)

    # -- the memory interface --------------------------------------------------------------
    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """``p_θ(x_0^ℓ = v | x_t = x, t)`` of the EMA network, float32 ``(B, L, V)``."""
        states = self._states(x)
        t = check_unit_interval("t", t)
        out = [self._log_probs(chunk, t).exp() for chunk in self._chunks(states)]
        return torch.cat(out).to(states.device)

    def _reverse(
        self, states: torch.Tensor, t: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        assert self.network is not None
        denoiser = as_denoiser(self.network, validate=False)
        gen = self._generator(generator)
        out = []
        with torch.no_grad(), autocast(self.device):
            for chunk in self._chunks(states):
                out.append(
                    denoise(
                        denoiser,
                        chunk,
                        t_start=t,
                        greedy=self.greedy,
                        generator=gen,
                        grid_steps=self.grid_steps,
                        noise_removal=self.noise_removal,
                        schedule=self.schedule,
                    )
                )
        return torch.cat(out).to(states.device)

    def generate(
        self,
        n: int,
        *,
        greedy: bool = False,
        noise_removal: NoiseRemoval = "x0",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` sequences from pure noise at t = 1 on this memory's grid, int64 ``(n, L)``:
        ancestral, ending with the argmax of ``x̂`` by default (the samples of the entropy gap)."""
        self._check_fitted()
        assert self.network is not None
        n = check_positive_int("n", n)
        with torch.no_grad(), autocast(self.device):
            out = generate(
                as_denoiser(self.network, validate=False),
                n,
                self.seq_len,
                self.vocab_size,
                grid_steps=self.grid_steps,
                greedy=greedy,
                noise_removal=noise_removal,
                generator=self._generator(generator),
                device=self.device,
                schedule=self.schedule,
            )
        return out.cpu()

    def nelbo(self, x: torch.Tensor, *, n_samples: int = 1, seed: int = 0) -> NelboEstimate:
        """Per-token NELBO of the sequences ``x`` under the EMA network."""
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
