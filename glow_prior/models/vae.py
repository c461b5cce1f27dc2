"""The VAE of Kamoi et al. (2019), Appendix B, Tables 2 and 3, with a fixed (mixture) prior.

Encoder: five 5x5 convolutions (strides 2,1,2,1,2; channels 8,16,32,64,64), each followed by
batch normalisation and ReLU, then a dense layer to the mean and log-variance of a diagonal
Gaussian posterior (50 dims for 28x28 images, 100 for 32x32).

Decoder, Fashion-MNIST/MNIST (Table 2b): dense 3136 + ReLU, reshape 7x7x64, transposed 5x5
convolutions (stride 2 -> 14x14x64, stride 2 -> 28x28x32, stride 1 -> 28x28x64), each with
batch normalisation and ReLU, and a last transposed 4x4 convolution (stride 1) to 256 logits
per subpixel. Decoder, CIFAR-10/SVHN (Table 3b): the latent reshaped to 1x1x100, transposed
4x4 convolutions (stride 1 'valid' -> 4x4x64, stride 2 -> 8x8x32, -> 16x16x32) with batch
normalisation and ReLU, and a last stride-2 one to 32x32x(256x3) logits.

The tables list paddings that do not give these sizes (and Table 3 repeats Table 2's
reshape); we use 'same' padding throughout (the one 'valid' layer maps 1x1 to 4x4), which
yields exactly 28x28 / 32x32. Stride-1 'same' transposed convolutions are computed as
ordinary convolutions (the same family of maps, a flipped kernel), twice as fast on CPU.
Where the tables are silent we chose: ReLU also in the encoder, ReLU after the decoder's
dense layer, no activation on the logits.

Likelihood: each subpixel is an independent 256-way categorical (softmax over the logits),
so log p(x|z) is of the discrete image, in nats, comparable with the flows' log-likelihoods.

Training maximises the ELBO, log p(x|z) - KL(q(z|x) || p_k) with z ~ q reparameterised and
p_k the example's assigned prior component (the KL is analytic for Gaussian components,
a one-sample Monte Carlo estimate for generalized Gaussian ones); without assignments the
whole prior is used. Test log-likelihoods are importance-sampled with q as the proposal:

    log p(x) ~ logsumexp_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)] - log S,  z_s ~ q(z|x),

with p the uniform mixture, in chunks so that S = 5000 fits in memory. The S draws are
common random numbers: z_s = mean(x) + std(x) * eps_s with the same eps_s for every example,
so an image's estimate does not depend on the batch it is scored in.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from glow_prior.models import quantization
from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, ELBO_TERMS, IMAGES, POSTERIOR, DensityModel
from glow_prior.seeds import seed_pair

tfd = tfp.distributions
layers = tf_keras.layers

# Moving-average decay of batch normalisation's test-time statistics. Keras' 0.99 leaves
# them far from the batch statistics after short (CPU-sized) runs, and test log-likelihoods
# use them; 0.9 is PyTorch's and Chainer's default (the paper does not state it).
BATCH_NORM_MOMENTUM = 0.9


class _Layers:
    """Keras layers with seeded Glorot initialisers (seed, seed + 1, ...) and stable names
    (PREFIX_conv0, PREFIX_bn0, ...: variables are matched by name, e.g. by --restore_path,
    and Keras' automatic names depend on how many layers the process built before)."""

    def __init__(self, seed, prefix, dtype="float32"):
        self.seed = seed
        self.prefix = prefix
        self.dtype = dtype
        self.count = 0

    def _init(self):
        self.seed += 1
        return tf_keras.initializers.GlorotUniform(seed=self.seed)

    def _name(self, kind):
        self.count += 1
        return f"{self.prefix}_{kind}{self.count}"

    def conv(self, filters, kernel, stride, transpose=False, padding="same"):
        # A stride-1 'same' transposed convolution is a convolution with a flipped kernel
        # (the same family of maps); TF's CPU Conv2D kernel runs it twice as fast.
        use_transpose = transpose and (stride > 1 or padding != "same")
        conv = layers.Conv2DTranspose if use_transpose else layers.Conv2D
        return conv(filters, kernel, stride, padding=padding, kernel_initializer=self._init(),
                    name=self._name("conv"), dtype=self.dtype)

    def block(self, filters, kernel, stride, transpose=False, padding="same"):
        """Convolution, batch normalisation, ReLU."""
        return [self.conv(filters, kernel, stride, transpose, padding),
                layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM,
                                          name=self._name("bn"), dtype=self.dtype),
                layers.ReLU(dtype=self.dtype)]

    def dense(self, units):
        return layers.Dense(units, kernel_initializer=self._init(), name=self._name("dense"),
                            dtype=self.dtype)


def build_encoder(image_shape, latent_dim, seed=0, dtype="float32"):
    """The encoder of Table 2a/3a: five conv blocks and a dense layer to the posterior's
    mean and log-variance."""
    make, blocks = _Layers(seed, "encoder", dtype), []
    for filters, stride in zip((8, 16, 32, 64, 64), (2, 1, 2, 1, 2)):
        blocks += make.block(filters, 5, stride)
    return tf_keras.Sequential([layers.InputLayer(input_shape=image_shape, dtype=dtype),
                                *blocks, layers.Flatten(dtype=dtype),
                                make.dense(2 * latent_dim)], name="encoder")


def build_decoder(image_shape, latent_dim, seed=0, dtype="float32"):
    """The decoder of Table 2b (28x28) or 3b (32x32): latents to 256 logits per subpixel."""
    height, _, channels = image_shape
    logits, make = 256 * channels, _Layers(seed + 1000, "decoder", dtype)
    if height == 28:
        body = [make.dense(7 * 7 * 64), layers.ReLU(dtype=dtype),
                layers.Reshape((7, 7, 64), dtype=dtype),
                *make.block(64, 5, 2, True), *make.block(32, 5, 2, True),
                *make.block(64, 5, 1, True), make.conv(logits, 4, 1, True)]
    else:
        body = [layers.Reshape((1, 1, latent_dim), dtype=dtype),
                *make.block(64, 4, 1, True, padding="valid"), *make.block(32, 4, 2, True),
                *make.block(32, 4, 2, True), make.conv(logits, 4, 2, True)]
    return tf_keras.Sequential([layers.InputLayer(input_shape=(latent_dim,), dtype=dtype),
                                *body], name="decoder")


def importance_log_likelihood(log_joint, proposal, n_samples, chunk, seed, extra_shape=(),
                              reparameterize=None):
    """log (1/S) sum_s p(x, z_s) / q(z_s), z_s ~ q, accumulated over chunks of samples.

    log_joint: z [M, B, L] -> log p(x, z) [M, B, *extra_shape] (e.g. one column per prior
    component); proposal: a batch-[B] distribution q over z in R^L; chunk: samples per
    chunk (may be a tensor); reparameterize: standard-normal draws eps [M, 1, L] -> samples
    of q [M, B, L] (default: mean + std * eps, for q an Independent Normal). Returns
    [B, *extra_shape]. Common random numbers: eps [S, L] is drawn once from the stateless
    `seed` and serves every example, so an example's estimate does not depend on the batch
    it is in (nor on the chunk size, up to float rounding).
    """
    if reparameterize is None:
        normal = proposal.distribution
        reparameterize = lambda eps: normal.loc + normal.scale * eps  # noqa: E731
    dtype = proposal.dtype
    eps = tf.random.stateless_normal([n_samples, proposal.event_shape[-1]], seed, dtype=dtype)
    n_chunks = (n_samples + chunk - 1) // chunk
    shape = tf.concat([proposal.batch_shape_tensor(), tf.constant(extra_shape, tf.int32)], 0)

    def add_chunk(index, total):
        z = reparameterize(eps[index * chunk:(index + 1) * chunk, None, :])
        log_q = tf.reshape(proposal.log_prob(z),
                           tf.concat([tf.shape(z)[:2], tf.ones([len(extra_shape)], tf.int32)],
                                     0))
        weights = log_joint(z) - log_q
        return index + 1, tf.experimental.numpy.logaddexp(total,
                                                          tf.reduce_logsumexp(weights, axis=0))

    # An explicit loop: this runs inside TFP's log_prob, which AutoGraph does not convert.
    initial = tf.fill(shape, tf.constant(-math.inf, dtype))
    _, total = tf.while_loop(lambda index, _: index < n_chunks, add_chunk,
                             (tf.constant(0), initial),
                             shape_invariants=(tf.TensorShape([]),
                                               tf.TensorShape([None] * initial.shape.rank)))
    return total - math.log(n_samples)


class VAE(DensityModel):
    """The VAE with the interface of glow_prior.models.base: a distribution over uint8
    images. Its Keras layers compute in `float_dtype` (float32, or float64 for a copy of a
    trained model's weights, glow_prior.runs.load.load_model)."""

    conditional = False
    dequantized = False
    discrete = True

    def __init__(self, config, prior, float_dtype="float32", name="vae"):
        if config.latent_dim < 1:
            raise InputError("VAEConfig.latent_dim is 0, which means 'the paper's size for the "
                             "data' (50 for 28x28 images, 100 for 32x32): build the VAE with "
                             "glow_prior.build(VAEConfig(...), example_shape=...), or give "
                             "latent_dim")
        super().__init__(config.image_shape, True, float_dtype, name)
        if prior.latent_size != config.latent_dim:
            raise InputError(f"prior over {prior.latent_size} dims, latent has "
                             f"{config.latent_dim}")
        self.config = config
        self.prior = prior
        self.importance_samples = config.importance_samples
        dtype = self.float_dtype.name
        self.encoder = build_encoder(self.example_shape, config.latent_dim, config.seed, dtype)
        self.decoder = build_decoder(self.example_shape, config.latent_dim, config.seed, dtype)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    @property
    def capabilities(self):
        """ELBO_TERMS, POSTERIOR, IMAGES, and COMPONENTS for a mixture prior."""
        found = {ELBO_TERMS, POSTERIOR, IMAGES}
        if self.prior.n_components > 1:
            found.add(COMPONENTS)
        return frozenset(found)

    def posterior_parameters(self, x_uint8, training=False, encoder=None):
        """(mean, log-variance) of q(z|x) from `encoder` (default: the model's own; likelihood
        regret passes per-example copies)."""
        x = quantization.to_flow_input(x_uint8, 8, dtype=self.float_dtype)
        h = (encoder or self.encoder)(x, training=training)
        return tuple(tf.split(h, 2, axis=-1))

    def posterior(self, x_uint8, training=False):
        """q(z|x): independent Normals, like the prior's components, so
        tfd.kl_divergence is analytic."""
        mean, log_variance = self.posterior_parameters(x_uint8, training)
        return tfd.Independent(tfd.Normal(mean, tf.exp(0.5 * log_variance)), 1)

    def _logits(self, z, training=False):
        logits = self.decoder(z, training=training)
        return tf.reshape(logits, [-1, *self.example_shape, 256])

    def decoder_log_likelihood(self, x_uint8, z, training=False):
        """log p(x | z) [B] for z [B, L]: 256-way categorical per subpixel."""
        pixels = tfd.Categorical(logits=self._logits(z, training))
        return tf.reduce_sum(pixels.log_prob(tf.cast(x_uint8, tf.int32)), axis=[1, 2, 3])

    def kl(self, posterior, z, components=None):
        """KL(q(z|x) || p) per example: analytic for one Gaussian component, else the
        one-sample estimate log q(z) - log p(z) at z (mixtures, generalized Gaussians)."""
        means = tf.cast(self.prior.means, z.dtype)
        if components is None:
            if self.prior.n_components > 1:
                return posterior.log_prob(z) - self.prior.log_prob(z)
            component = self.prior.component(means[0])
        else:
            component = self.prior.component(tf.gather(means, components))
        try:
            return tfd.kl_divergence(posterior, component)
        except NotImplementedError:  # generalized Gaussian components
            return posterior.log_prob(z) - component.log_prob(z)

    def train_log_likelihood(self, batch, seed):
        """The ELBO per example (nats), with the assigned component's prior term."""
        posterior = self.posterior(batch.x, training=True)
        z = posterior.sample(seed=seed)
        return (self.decoder_log_likelihood(batch.x, z, training=True)
                - self.kl(posterior, z, batch.components))

    def _importance_per_component(self, x, seed, posterior):
        """[B, K] importance-sampled log p(x) with each prior component as the prior."""
        batch = tf.shape(x)[0]

        def log_joint(z):
            samples = tf.shape(z)[0]
            flat = tf.reshape(z, [-1, self.config.latent_dim])
            tiled = tf.tile(x[None], [samples, 1, 1, 1, 1])
            log_px = self.decoder_log_likelihood(tf.reshape(tiled, [-1, *self.example_shape]),
                                                 flat)
            joint = log_px[:, None] + self.prior.log_prob_per_component(flat)
            return tf.reshape(joint, [samples, batch, self.prior.n_components])

        chunk = tf.maximum(1, self.config.importance_chunk // tf.maximum(batch, 1))
        return importance_log_likelihood(log_joint, posterior, self.importance_samples, chunk,
                                         seed_pair(0 if seed is None else seed),
                                         extra_shape=(self.prior.n_components,))

    def _mixture(self, per_component):
        """log of the uniform mixture from per-component log-likelihoods [B, K]."""
        return tf.reduce_logsumexp(per_component, axis=-1) - math.log(self.prior.n_components)

    def _log_likelihood(self, x, labels, seed):
        """Importance-sampled log p(x) (nats) under the uniform mixture prior."""
        return self._mixture(self._importance_per_component(x, seed, self.posterior(x)))

    def log_prob_per_component(self, x, labels=None, seed=None):
        """[..., K] importance-sampled log-likelihoods, each component as the whole prior."""
        return self._per_example(
            lambda flat, _, flat_seed: self._importance_per_component(
                flat, flat_seed, self.posterior(flat)), x, labels, seed)

    def elbo_terms(self, x, seed, posterior=None):
        """(reconstruction, kl) of uint8 images x [B, ...] at one posterior sample, the same
        standard-normal draw (from `seed`) for every example."""
        posterior = posterior or self.posterior(x)
        eps = tf.random.stateless_normal(
            [self.config.latent_dim],
            tf.random.experimental.stateless_fold_in(seed_pair(0 if seed is None else seed),
                                                     10 ** 6), dtype=self.float_dtype)
        z = posterior.distribution.loc + posterior.distribution.scale * eps
        return self.decoder_log_likelihood(x, z), self.kl(posterior, z)

    def elbo(self, x, seed=None):
        """The one-sample ELBO of `statistics` [B] (nats)."""
        reconstruction, kl = self.elbo_terms(x, seed)
        return reconstruction - kl

    def _statistics(self, x, labels, seed):
        """log_likelihood (importance-sampled), elbo = reconstruction - kl (elbo_terms), and
        per-component log-likelihoods for mixture priors."""
        posterior = self.posterior(x)
        per_component = self._importance_per_component(x, seed, posterior)  # as log_prob
        reconstruction, kl = self.elbo_terms(x, seed, posterior)
        stats = {"log_likelihood": self._mixture(per_component), "elbo": reconstruction - kl,
                 "reconstruction": reconstruction, "kl": kl}
        if self.supports(COMPONENTS):
            stats["component_log_likelihood"] = per_component
        return stats

    def _encode(self, x, labels, seed):
        """Posterior means (what Kamoi et al. plot for VAEs)."""
        return self.posterior_parameters(x)[0]

    def _decode(self, z, labels):
        """Expected pixel values of p(x|z), as uint8 images."""
        probabilities = tf.nn.softmax(self._logits(z))
        expected = tf.reduce_sum(probabilities * tf.range(256, dtype=probabilities.dtype),
                                 axis=-1)
        return tf.cast(tf.clip_by_value(tf.round(expected), 0, 255), tf.uint8)

    def _draw(self, n, seed, temperature, labels):
        """Images x ~ p(x|z), z ~ the prior at `temperature`: every subpixel drawn from its
        256-way categorical (`decode` gives the expected image instead)."""
        prior_seed, pixel_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        z = self.prior.sample(n, prior_seed, temperature, dtype=self.float_dtype)
        pixels = tfd.Categorical(logits=self._logits(z)).sample(
            seed=tf.cast(tf.math.floormod(pixel_seed, 2 ** 31), tf.int32))
        return tf.cast(pixels, tf.uint8)
