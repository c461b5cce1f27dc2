"""RealNVP on vectors: tabular data, image embeddings and synthetic points.

n_couplings VectorAffineCoupling layers with alternating half masks and MLP st-networks
(Kirichenko et al. 2020, App. K.1: 8 couplings, 1 hidden layer of 256 units for UCI data,
3 x 512 for embeddings; Kamoi et al. 2019, Section 3.1: 4 couplings on the synthetic
mixtures). The prior is any glow_prior.priors.Prior over the D-dim latent.
"""
import dataclasses

import numpy as np

from glow_prior.bijectors.base import FlowChain
from glow_prior.bijectors.vector import VectorAffineCoupling
from glow_prior.models.flow_model import FlowModel


@dataclasses.dataclass(frozen=True)
class TabularFlowConfig:
    num_dims: int = 2
    n_couplings: int = 8
    hidden_layers: int = 1
    hidden_units: int = 256
    seed: int = 0

    def validate(self):
        if self.num_dims < 2 or self.n_couplings < 1 or self.hidden_layers < 1:
            raise ValueError("tabular flows need num_dims >= 2, n_couplings >= 1 and "
                             "hidden_layers >= 1")


def build_tabular(config, prior_fn):
    config.validate()
    rng = np.random.RandomState(config.seed)
    couplings = [VectorAffineCoupling(f"coupling{i}", config.num_dims, i % 2,
                                      config.hidden_layers, config.hidden_units, rng)
                 for i in range(config.n_couplings)]
    flow = FlowChain(couplings, name="tabular_flow")
    return FlowModel(flow, prior_fn(config.num_dims), (config.num_dims,), n_bits_x=None)
