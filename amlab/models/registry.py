"""Model names as used on the command line, and how to build each one.

The registry imports each model lazily, so ``amlab --help`` stays fast and a model whose
optional pieces are missing fails only when it is asked for, with a message saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from amlab.memory import AssociativeMemory

__all__ = ["MODELS", "ModelSpec", "build_model", "parse_model_names"]


@dataclass(frozen=True)
class ModelSpec:
    """A named model: where its class lives and a one-line summary for ``--help``."""

    name: str
    target: str
    summary: str
    defaults: tuple[tuple[str, Any], ...] = ()

    def build(self, **options: Any) -> AssociativeMemory:
        """Instantiate the model with its defaults overridden by ``options``."""
        module_name, _, cls_name = self.target.rpartition(".")
        cls = getattr(import_module(module_name), cls_name)
        return cls(**{**dict(self.defaults), **options})


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "hopfield",
            "amlab.models.hopfield.Hopfield",
            "classical Hopfield (Hebbian; Potts for V > 2), asynchronous zero-temperature updates",
        ),
        ModelSpec(
            "dense",
            "amlab.models.dense.DenseAssociativeMemory",
            "dense associative memory (Krotov–Hopfield), polynomial F(z) = z^3",
        ),
        ModelSpec(
            "modern",
            "amlab.models.modern.ModernHopfield",
            "continuous modern Hopfield (Ramsauer et al.) on one-hot tokens",
        ),
        ModelSpec(
            "pl",
            "amlab.models.pseudolikelihood.PseudoLikelihoodNetwork",
            "pseudo-likelihood spin network (asymmetric couplings, no energy)",
        ),
        ModelSpec(
            "uddm",
            "amlab.models.uddm.memory.UDDM",
            "uniform discrete diffusion LM (trained transformer denoiser, no energy)",
        ),
        ModelSpec(
            "uddm-empirical",
            "amlab.models.uddm.empirical.EmpiricalUDDM",
            "closed-form UDDM of the training set (leave-one-out denoiser)",
        ),
    )
}


def parse_model_names(names: str | list[str]) -> list[str]:
    """Split ``"hopfield,uddm"`` into known model names; reject unknown ones with the valid list."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out = [n.strip().lower() for n in items if n.strip()]
    if not out:
        raise ValueError(f"no model named; choose from: {', '.join(MODELS)}")
    unknown = [n for n in out if n not in MODELS]
    if unknown:
        raise ValueError(
            f"unknown model name(s): {', '.join(unknown)}; valid names are: {', '.join(MODELS)}"
        )
    if len(set(out)) != len(out):
        raise ValueError(f"a model is named twice in {names!r}")
    return out


def build_model(name: str, **options: Any) -> AssociativeMemory:
    """Build the model registered as ``name`` (see :data:`MODELS`)."""
    (key,) = parse_model_names([name])
    return MODELS[key].build(**options)
