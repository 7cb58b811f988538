"""The uniform discrete diffusion language model: network, loss, samplers,
training, checkpoints, the memory wrapper and the closed-form empirical twin.

The training loop is :func:`amlab.models.uddm.train.train` (not re-exported here, so that the
name keeps pointing at its module).
"""

from amlab.models.uddm.checkpoint import CheckpointError, load_checkpoint, load_denoiser
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.diffusion import (
    NelboEstimate,
    as_denoiser,
    diffusion_loss,
    discrete_time_nelbo,
    nelbo,
    sample_times,
)
from amlab.models.uddm.dit import DitConfig, DitDenoiser
from amlab.models.uddm.dit_checkpoint import load_dit_checkpoint
from amlab.models.uddm.empirical import (
    EmpiricalPosterior,
    EmpiricalUDDM,
    LeaveOneOutDenoiser,
    beta_t,
)
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.posterior import reverse_posterior
from amlab.models.uddm.sample import denoise, generate, reverse_step
from amlab.models.uddm.train import TrainResult
from amlab.models.uddm.train_config import TrainConfig

__all__ = [
    "UDDM",
    "CheckpointError",
    "Denoiser",
    "DenoiserConfig",
    "DitConfig",
    "DitDenoiser",
    "EmpiricalPosterior",
    "EmpiricalUDDM",
    "LeaveOneOutDenoiser",
    "NelboEstimate",
    "TrainConfig",
    "TrainResult",
    "as_denoiser",
    "beta_t",
    "denoise",
    "diffusion_loss",
    "discrete_time_nelbo",
    "generate",
    "load_checkpoint",
    "load_denoiser",
    "load_dit_checkpoint",
    "nelbo",
    "reverse_posterior",
    "reverse_step",
    "sample_times",
]
