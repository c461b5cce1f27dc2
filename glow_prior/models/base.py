"""The interface every model offers, and the capabilities only some have.

Every model (FlowModel for Glow, RealNVP and tabular flows; VAE) is a tf.Module with

* event_shape, num_dims, prior (a glow_prior.priors.Prior), `discrete` (pixel data whose
  log-likelihood is of the discrete image), `dequantized` (inputs get uniform noise),
  `conditional` (log-likelihoods need class labels);
* train_log_likelihood(x, seed, y, components, noise): what training maximises;
* score(x, seed, dequantize, y): the test-time log-likelihood, nats per example;
* statistics(x, seed, dequantize, y): {name: per-example tensor} with at least
  "log_likelihood" (the same numbers as score) and what the capabilities below add;
* encode(x) / decode(z) / sample(n, seed, temperature);
* initialize_from_batch(batch): the data-dependent init (a no-op where there is none);
* compiled(name): model.<name> as a tf.function, traced once per model.

Capabilities (`model.capabilities`, a frozenset) declare the rest:

* COMPONENTS: a mixture prior; statistics adds "component_log_likelihood" [B, K] (each
  component used as the whole prior) and log_likelihood_per_component exists;
* FLOW_TERMS: a flow; statistics adds "log_det" (log|det dz/dx|), "log_prior" (log p(z)) and
  "latent_norm" (||z||);
* LEVELS: a multi-scale flow that factors out latents between levels, with a factorised
  (standard) prior; statistics adds "level_k", each level's share of the log-likelihood
  (they sum to it);
* ELBO_TERMS / POSTERIOR: a VAE; statistics adds "elbo", "reconstruction" (E_q log p(x|z),
  one sample) and "kl"; `posterior(x)` exists;
* IMAGES: examples are images [H, W, C] (else vectors).
"""
import tensorflow as tf

COMPONENTS = "components"
FLOW_TERMS = "flow_terms"
LEVELS = "levels"
ELBO_TERMS = "elbo_terms"
POSTERIOR = "posterior"
IMAGES = "images"


class _FunctionCache:
    """tf.functions of one model (a plain object, so tf.Module does not track it)."""

    def __init__(self):
        self.functions = {}


class DensityModel(tf.Module):
    """Base of every model: the interface above, with the compiled-function cache."""

    def __init__(self, name):
        super().__init__(name=name)
        self._functions = _FunctionCache()

    @property
    def capabilities(self):
        raise NotImplementedError

    def supports(self, capability):
        return capability in self.capabilities

    def compiled(self, name):
        """tf.function of self.<name>, built once (shape-polymorphic in the batch)."""
        functions = self._functions.functions
        if name not in functions:
            functions[name] = tf.function(getattr(self, name), reduce_retracing=True)
        return functions[name]
