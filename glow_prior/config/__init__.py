"""Configuration: the dataclasses every flag, default and hparams.json entry comes from.

TensorFlow-free, so binaries parse and check their command line before importing it.
"""
from glow_prior.config.data import (
                                    ArraysConfig,
                                    IMAGE_DATASETS,
                                    OTHER_LABELS,
                                    SYNTHETIC_IMAGE_SETS,
                                    TABULAR_DATASETS,
                                    DataConfig,
                                    TabularDataConfig,
)
from glow_prior.config.fields import Config, check, derived, option
from glow_prior.config.model import (
                                    REALNVP_MASKS,
                                    GlowConfig,
                                    RealNVPConfig,
                                    TabularFlowConfig,
                                    VAEConfig,
)
from glow_prior.config.prior import ASSIGNMENTS, KINDS, LAYOUTS, PriorConfig
from glow_prior.config.run import ARCHITECTURES, RESUMABLE, RunSpec
from glow_prior.config.training import (
                                    MIXED_PRECISION,
                                    OPTIMIZERS,
                                    STRATEGIES,
                                    NegativeTrainingConfig,
                                    RunConfig,
                                    TrainConfig,
)

__all__ = ["ARCHITECTURES", "ASSIGNMENTS", "ArraysConfig", "Config", "DataConfig", "GlowConfig",
           "IMAGE_DATASETS", "KINDS", "LAYOUTS", "MIXED_PRECISION", "NegativeTrainingConfig",
           "OPTIMIZERS", "OTHER_LABELS", "PriorConfig", "REALNVP_MASKS", "RESUMABLE",
           "RealNVPConfig", "RunConfig", "RunSpec", "STRATEGIES", "SYNTHETIC_IMAGE_SETS",
           "TABULAR_DATASETS", "TabularDataConfig", "TabularFlowConfig", "TrainConfig",
           "VAEConfig", "check", "derived", "option"]
