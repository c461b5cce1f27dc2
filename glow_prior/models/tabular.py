"""RealNVP on vectors: tabular data, image embeddings and synthetic points.

n_couplings VectorAffineCoupling layers with alternating half masks and MLP st-networks
(Kirichenko et al. 2020, App. K.1: 8 couplings, 1 hidden layer of 256 units for UCI data,
3 x 512 for embeddings; Kamoi et al. 2019, Section 3.1: 4 couplings on the synthetic
mixtures). The prior is any glow_prior.models.priors.Prior over the D-dim latent.
"""
import numpy as np

from glow_prior.bijectors.base import FlowChain, FlowContext
from glow_prior.bijectors.conditioners import MLP
from glow_prior.bijectors.couplings import Coupling, TanhScale, VectorHalves
from glow_prior.models.flow_model import FlowModel


def _coupling(config, index, rng):
    partition = VectorHalves(config.num_dims, index % 2)
    scope = f"coupling{index}"
    net = MLP(f"{scope}/st", partition.n_kept, config.hidden_layers, config.hidden_units,
              2 * partition.n_changed, rng)
    return Coupling(partition, net, TanhScale(scope, [partition.n_changed]),
                    name="vector_coupling", event_ndims=1)


def build_tabular(config, prior_fn, context=None, float_dtype="float32"):
    """A FlowModel for glow_prior.config.TabularFlowConfig `config`."""
    rng = np.random.RandomState(config.seed)
    couplings = [_coupling(config, index, rng) for index in range(config.n_couplings)]
    context = context or FlowContext()
    return FlowModel(FlowChain(couplings, name="tabular_flow", context=context),
                     prior_fn(config.num_dims), (config.num_dims,), context, n_bits_x=None,
                     float_dtype=float_dtype)
