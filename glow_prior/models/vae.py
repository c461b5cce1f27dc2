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

with p the uniform mixture, in chunks so that S = 5000 fits in memory.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, ELBO_TERMS, IMAGES, POSTERIOR, DensityModel

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

    def __init__(self, seed, prefix):
        self.seed = seed
        self.prefix = prefix
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
                    name=self._name("conv"))

    def block(self, filters, kernel, stride, transpose=False, padding="same"):
        """Convolution, batch normalisation, ReLU."""
        return [self.conv(filters, kernel, stride, transpose, padding),
                layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM,
                                          name=self._name("bn")), layers.ReLU()]

    def dense(self, units):
        return layers.Dense(units, kernel_initializer=self._init(), name=self._name("dense"))


def build_encoder(image_shape, latent_dim, seed=0):
    make, blocks = _Layers(seed, "encoder"), []
    for filters, stride in zip((8, 16, 32, 64, 64), (2, 1, 2, 1, 2)):
        blocks += make.block(filters, 5, stride)
    return tf_keras.Sequential([layers.InputLayer(input_shape=image_shape), *blocks,
                                layers.Flatten(), make.dense(2 * latent_dim)],
                               name="encoder")


def build_decoder(image_shape, latent_dim, seed=0):
    height, _, channels = image_shape
    logits, make = 256 * channels, _Layers(seed + 1000, "decoder")
    if height == 28:
        body = [make.dense(7 * 7 * 64), layers.ReLU(), layers.Reshape((7, 7, 64)),
                *make.block(64, 5, 2, True), *make.block(32, 5, 2, True),
                *make.block(64, 5, 1, True), make.conv(logits, 4, 1, True)]
    else:
        body = [layers.Reshape((1, 1, latent_dim)),
                *make.block(64, 4, 1, True, padding="valid"), *make.block(32, 4, 2, True),
                *make.block(32, 4, 2, True), make.conv(logits, 4, 2, True)]
    return tf_keras.Sequential([layers.InputLayer(input_shape=(latent_dim,)), *body],
                               name="decoder")


def importance_log_likelihood(log_joint, proposal, n_samples, chunk, seed, extra_shape=()):
    """log (1/S) sum_s p(x, z_s) / q(z_s), z_s ~ q, accumulated over chunks of samples.

    log_joint: z [M, B, L] -> log p(x, z) [M, B, *extra_shape] (e.g. one column per prior
    component); proposal: a batch-[B] distribution over z in R^L; chunk: samples per chunk
    (may be a tensor). Returns [B, *extra_shape]. Chunk i draws its samples with the
    stateless seed fold_in(seed, i).
    """
    n_chunks = (n_samples + chunk - 1) // chunk
    shape = tf.concat([proposal.batch_shape_tensor(), tf.constant(extra_shape, tf.int32)], 0)
    total = tf.fill(shape, tf.constant(-math.inf, tf.float32))
    for index in tf.range(n_chunks):
        size = tf.minimum(chunk, n_samples - index * chunk)
        z = proposal.sample(size, seed=tf.random.experimental.stateless_fold_in(seed, index))
        log_q = tf.reshape(proposal.log_prob(z),
                           tf.concat([tf.shape(z)[:2], tf.ones([len(extra_shape)], tf.int32)],
                                     0))
        weights = log_joint(z) - log_q
        total = tf.experimental.numpy.logaddexp(total, tf.reduce_logsumexp(weights, axis=0))
    return total - math.log(n_samples)


class VAE(DensityModel):
    """The VAE with the interface of glow_prior.models.base."""

    def __init__(self, config, prior, name="vae"):
        super().__init__(name=name)
        if prior.latent_size != config.latent_dim:
            raise InputError(f"prior over {prior.latent_size} dims, latent has "
                             f"{config.latent_dim}")
        self.config = config
        self.prior = prior
        self.event_shape = tuple(config.image_shape)
        self.num_dims = int(math.prod(self.event_shape))
        self.importance_samples = config.importance_samples
        self.encoder = build_encoder(self.event_shape, config.latent_dim, config.seed)
        self.decoder = build_decoder(self.event_shape, config.latent_dim, config.seed)
        # No data-dependent init: always initialised (kept for the trainer's interface).
        self.initialized = tf.Variable(True, trainable=False, name="initialized")

    conditional = False
    dequantized = False
    discrete = True

    @property
    def capabilities(self):
        found = {ELBO_TERMS, POSTERIOR, IMAGES}
        if self.prior.n_components > 1:
            found.add(COMPONENTS)
        return frozenset(found)

    def posterior(self, x_uint8, training=False):
        x = preprocess.to_flow_input(x_uint8, 8)
        h = self.encoder(x, training=training)
        mean, log_variance = tf.split(h, 2, axis=-1)
        # Independent Normals, like the prior's components, so tfd.kl_divergence is analytic.
        return tfd.Independent(tfd.Normal(mean, tf.exp(0.5 * log_variance)), 1)

    def _logits(self, z, training=False):
        logits = self.decoder(z, training=training)
        return tf.reshape(logits, [-1, *self.event_shape, 256])

    def decoder_log_likelihood(self, x_uint8, z, training=False):
        """log p(x | z) [B] for z [B, L]: 256-way categorical per subpixel."""
        pixels = tfd.Categorical(logits=self._logits(z, training))
        return tf.reduce_sum(pixels.log_prob(tf.cast(x_uint8, tf.int32)), axis=[1, 2, 3])

    def kl(self, posterior, z, components=None):
        """KL(q(z|x) || p) per example: analytic for one Gaussian component, else the
        one-sample estimate log q(z) - log p(z) at z (mixtures, generalized Gaussians)."""
        if components is None:
            if self.prior.n_components > 1:
                return posterior.log_prob(z) - self.prior.log_prob(z)
            component = self.prior.component(self.prior.means[0])
        else:
            component = self.prior.component(tf.gather(self.prior.means, components))
        try:
            return tfd.kl_divergence(posterior, component)
        except NotImplementedError:  # generalized Gaussian components
            return posterior.log_prob(z) - component.log_prob(z)

    def train_log_likelihood(self, x, seed, y=None, components=None, noise=None):
        """The ELBO per example (nats), with the assigned component's prior term."""
        del y, noise
        posterior = self.posterior(x, training=True)
        z = posterior.sample(seed=seed)
        return self.decoder_log_likelihood(x, z, training=True) - self.kl(posterior, z,
                                                                           components)

    def _importance_per_component(self, x, seed, posterior):
        """[B, K] importance-sampled log p(x) with each prior component as the prior."""
        batch = tf.shape(x)[0]

        def log_joint(z):
            samples = tf.shape(z)[0]
            flat = tf.reshape(z, [-1, self.config.latent_dim])
            tiled = tf.tile(x[None], [samples, 1, 1, 1, 1])
            log_px = self.decoder_log_likelihood(tf.reshape(tiled, [-1, *self.event_shape]),
                                                 flat)
            joint = log_px[:, None] + self.prior.log_prob_per_component(flat)
            return tf.reshape(joint, [samples, batch, self.prior.n_components])

        chunk = tf.maximum(1, self.config.importance_chunk // batch)
        return importance_log_likelihood(log_joint, posterior, self.importance_samples, chunk,
                                         seed, extra_shape=(self.prior.n_components,))

    def _mixture(self, per_component):
        """log of the uniform mixture from per-component log-likelihoods [B, K]."""
        return tf.reduce_logsumexp(per_component, axis=-1) - math.log(self.prior.n_components)

    def score(self, x, seed, dequantize=True, y=None):
        """Importance-sampled log p(x) (nats) under the uniform mixture prior."""
        del dequantize, y
        return self._mixture(self._importance_per_component(x, seed, self.posterior(x)))

    def log_likelihood_per_component(self, x, noise=None, y=None, seed=(0, 0)):
        """[B, K] importance-sampled log-likelihoods, each component as the whole prior."""
        del noise, y
        return self._importance_per_component(x, tf.constant(seed, tf.int64),
                                              self.posterior(x))

    def statistics(self, x, seed, dequantize=True, y=None):
        """log_likelihood (importance-sampled), elbo = reconstruction - kl (one posterior
        sample), and per-component log-likelihoods for mixture priors."""
        del dequantize, y
        posterior = self.posterior(x)
        per_component = self._importance_per_component(x, seed, posterior)  # as in score
        z = posterior.sample(seed=tf.random.experimental.stateless_fold_in(seed, 10 ** 6))
        reconstruction = self.decoder_log_likelihood(x, z)
        kl = self.kl(posterior, z)
        stats = {"log_likelihood": self._mixture(per_component), "elbo": reconstruction - kl,
                 "reconstruction": reconstruction, "kl": kl}
        if self.supports(COMPONENTS):
            stats["component_log_likelihood"] = per_component
        return stats

    def encode(self, x, noise=None, y=None):
        """Posterior means (what Kamoi et al. plot for VAEs)."""
        del noise, y
        return self.posterior(x).mean()

    def decode(self, z, y=None):
        """Expected pixel values of p(x|z), as uint8 images."""
        del y
        probabilities = tf.nn.softmax(self._logits(tf.convert_to_tensor(z, tf.float32)))
        expected = tf.reduce_sum(probabilities * tf.range(256, dtype=tf.float32), axis=-1)
        return tf.cast(tf.clip_by_value(tf.round(expected), 0, 255), tf.uint8)

    def sample(self, n, seed, temperature=1.0, y=None):
        return self.decode(self.prior.sample(n, seed, temperature), y)

    def initialize_from_batch(self, batch):
        del batch  # nothing data-dependent to initialise
