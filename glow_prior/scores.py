"""Likelihood-based OOD scores, each oriented so that higher = more in-distribution.

Every scorer reads per-example statistics of the model (glow_prior.models.base:
log-likelihood, log|det J|, log prior, latent norm, per-component and per-level terms, the
VAE's ELBO terms), computed once per evaluated set, plus what it alone needs (a background
model, an ensemble, the raw images). Log-likelihoods are in nats of the discrete image
(OpenAI's convention for flows, importance-sampled for the VAE).

* log_likelihood: log p(x).
* typicality (Nalisnick et al. 2019, "Detecting out-of-distribution inputs to deep generative
  models using typicality"): -| -log p(x) - H |, H the mean negative log-likelihood of a
  reference set from the training distribution; the batch test scores batches of M inputs
  drawn without replacement by -| mean(-log p) - H | (`typicality_batches`).
* likelihood_ratio (Ren et al. 2019, "Likelihood ratios for out-of-distribution
  detection"): log p_model(x) - log p_background(x), the background model trained on
  inputs with each pixel replaced by a uniform random value with probability mu
  (--perturbation_rate) and L2 regularisation (--l2_regularization).
* input_complexity_png / input_complexity_jpeg2000 (Serra et al. 2020, "Input complexity and
  out-of-distribution detection with likelihood-based generative models"): their
  S(x) = -log2 p(x) - L(x), L(x) the length in bits of the losslessly compressed image, is
  higher for OOD inputs; the score is -S(x) = log2 p(x) + L(x). Compressors: Pillow's PNG at
  compression level 9 and lossless JPEG 2000 (OpenJPEG).
* waic (Choi et al. 2018, "WAIC, but why?"): E_k[log p_k(x)] - Var_k[log p_k(x)] over an
  ensemble of K independently seeded models (the variance over members, ddof = 0).
* dose_kde / dose_ocsvm (Morningstar et al. 2021, "Density of states estimation for
  out-of-distribution detection"): the model's per-example statistics (flows: log-likelihood,
  log|det J|, log prior, latent norm; VAE: log-likelihood, ELBO, reconstruction, KL),
  standardised on the training set, scored by a kernel density fitted on the training
  set's statistics (bandwidth by 5-fold cross-validation of the log-likelihood) and by a
  one-class SVM (nu 0.1, RBF kernel).
* max_component / component_confidence (mixture priors): max_k log p_k(x) with each
  component as the prior, and the posterior probability of the most likely component
  under uniform weights, max_k p_k(x) / sum_j p_j(x).
* level_k (multi-scale flows with a standard prior): level k's share of log p(x)
  (Schirrmeister et al. 2020 found the last level's alone a better OOD score for Glow).
* likelihood_regret (VAE; Xiao et al. 2020, "Likelihood regret: an out-of-distribution
  detection score for variational auto-encoder"): the ELBO after re-optimising the encoder
  on the input alone minus the ELBO of the trained encoder, negated.
"""
import dataclasses
import io
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras
from PIL import Image
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, IMAGES, LEVELS, POSTERIOR

tfd = tfp.distributions

ORIENTATION = ("every score is oriented so that higher = more in-distribution; "
               "in-distribution is the positive class")
TYPICALITY_BATCH_SIZES = (1, 2, 5, 10)
DOSE_STATISTICS = ("log_likelihood", "log_det", "log_prior", "latent_norm", "elbo",
                   "reconstruction", "kl")
COMPRESSORS = {"png": dict(format="PNG", optimize=True, compress_level=9),
               "jpeg2000": dict(format="JPEG2000", irreversible=False)}


@dataclasses.dataclass
class ScoreInputs:
    """What the scorers read. Per set name ('test' and every OOD set): `statistics`
    ({statistic: array}) and `examples` (the raw inputs); `reference`: statistics of
    training-distribution data for typicality; `train`: statistics of training data for
    DoSE; optional per-set `background` log-likelihoods [N], `ensemble` log-likelihoods
    [K, N] and `regret` (likelihood regret) [N]."""

    statistics: dict
    examples: dict
    reference: dict
    train: dict
    background: dict = None
    ensemble: dict = None
    regret: dict = None


# ---------------------------------------------------------------------------- formulas
def typicality(log_likelihood, entropy):
    """-| -log p(x) - H |."""
    return -np.abs(-np.asarray(log_likelihood, np.float64) - entropy)


def typicality_batches(log_likelihood, entropy, batch_size, seed):
    """Scores of batches of `batch_size` inputs drawn without replacement (a seeded
    permutation, the remainder dropped): -| mean(-log p) - H |."""
    values = np.asarray(log_likelihood, np.float64)
    order = np.random.default_rng(seed).permutation(len(values))
    n = len(values) // batch_size * batch_size
    if n == 0:
        raise InputError(f"fewer than {batch_size} examples for the typicality batch test")
    batches = values[order[:n]].reshape(-1, batch_size)
    return -np.abs(-batches.mean(axis=1) - entropy)


def waic(ensemble_log_likelihoods):
    """mean - variance over the members (axis 0) of [K, N] log-likelihoods."""
    values = np.asarray(ensemble_log_likelihoods, np.float64)
    return values.mean(axis=0) - values.var(axis=0)


def component_confidence(component_log_likelihoods):
    """max_k p_k / sum_j p_j from [N, K] log-likelihoods (uniform weights cancel)."""
    values = np.asarray(component_log_likelihoods, np.float64)
    top = values.max(axis=1, keepdims=True)
    return 1.0 / np.exp(values - top).sum(axis=1)


def compressed_bits(images, compressor):
    """Length in bits of each uint8 image [N, H, W, C] compressed losslessly by Pillow."""
    options = COMPRESSORS[compressor]
    lengths = []
    for image in np.asarray(images):
        picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        buffer = io.BytesIO()
        picture.save(buffer, **options)
        lengths.append(8 * buffer.getbuffer().nbytes)
    return np.asarray(lengths, np.float64)


def input_complexity(log_likelihood, bits):
    """log2 p(x) + L(x) (= -S(x) of Serra et al.)."""
    return np.asarray(log_likelihood, np.float64) / math.log(2.0) + bits


class DoSE:
    """Morningstar et al.'s density of states: one-class models of the statistics."""

    def __init__(self, train_statistics, seed=0):
        self.names = [name for name in DOSE_STATISTICS if name in train_statistics]
        features = self.features(train_statistics)
        search = GridSearchCV(KernelDensity(), {"bandwidth": np.logspace(-1.5, 1.0, 12)},
                              cv=5)
        self.kde = make_pipeline(StandardScaler(), search).fit(features)
        self.svm = make_pipeline(StandardScaler(), OneClassSVM(nu=0.1, gamma="scale")).fit(
            features)
        del seed  # both fits are deterministic

    def features(self, statistics):
        return np.stack([np.asarray(statistics[n], np.float64) for n in self.names], axis=1)

    def kde_score(self, statistics):
        return self.kde.score_samples(self.features(statistics))

    def svm_score(self, statistics):
        return self.svm.decision_function(self.features(statistics))


# ------------------------------------------------------------------------------ registry
def available(model, background=False, ensemble=False):
    """The scores this model supports (with a background model / an ensemble), in report
    order."""
    names = ["log_likelihood", "typicality"]
    if background:
        names.append("likelihood_ratio")
    if model.supports(IMAGES):
        names += [f"input_complexity_{c}" for c in COMPRESSORS]
    if ensemble:
        names.append("waic")
    names += ["dose_kde", "dose_ocsvm"]
    if model.supports(COMPONENTS):
        names += ["max_component", "component_confidence"]
    if model.supports(LEVELS):
        names += [f"level_{k}" for k in range(len(model.flow.latent_shapes))]
    if model.supports(POSTERIOR):
        names.append("likelihood_regret")
    return names


def requested(model, which, background=False, ensemble=False):
    """The scores to compute for --scores=`which` (empty, 'all' or 'default': every score
    the model supports with the given extra models; or names, each of which must apply)."""
    supported = available(model, background, ensemble)
    if tuple(which) in ((), ("all",), ("default",)):
        return supported
    for name in which:
        if name not in supported:
            why = {"likelihood_ratio": "needs --background_logdir",
                   "waic": "needs --ensemble_logdirs (3 or more runs)"}.get(
                       name, "does not apply to this model")
            raise InputError(f"score '{name}' {why}; this model supports "
                             f"{', '.join(supported)}")
    return list(which)


def compute(names, inputs, set_names):
    """{score: {set: per-example scores}} for every set in `set_names`."""
    entropy = -float(np.mean(inputs.reference["log_likelihood"]))
    dose = DoSE(inputs.train) if {"dose_kde", "dose_ocsvm"} & set(names) else None
    results = {}
    for name in names:
        results[name] = {}
        for set_name in set_names:
            stats = inputs.statistics[set_name]
            ll = stats["log_likelihood"]
            if name == "log_likelihood":
                value = ll
            elif name == "typicality":
                value = typicality(ll, entropy)
            elif name == "likelihood_ratio":
                value = np.asarray(ll, np.float64) - inputs.background[set_name]
            elif name.startswith("input_complexity_"):
                bits = compressed_bits(inputs.examples[set_name],
                                       name.removeprefix("input_complexity_"))
                value = input_complexity(ll, bits)
            elif name == "waic":
                value = waic(inputs.ensemble[set_name])
            elif name == "dose_kde":
                value = dose.kde_score(stats)
            elif name == "dose_ocsvm":
                value = dose.svm_score(stats)
            elif name == "max_component":
                value = np.asarray(stats["component_log_likelihood"]).max(axis=1)
            elif name == "component_confidence":
                value = component_confidence(stats["component_log_likelihood"])
            elif name == "likelihood_regret":
                value = -np.asarray(inputs.regret[set_name])
            else:  # level_k
                value = stats[name]
            results[name][set_name] = np.asarray(value, np.float64)
    return results, entropy


# ---------------------------------------------------------------------- likelihood regret
def _per_example_forward(layers, params, x):
    """The Keras encoder `layers` (Conv2D, BatchNormalization in inference mode, ReLU,
    Flatten, Dense) applied to each example x[b] with its own weights params[i][b]:
    convolutions as image patches times per-example kernels."""
    h = x
    for layer, weights in zip(layers, params):
        if isinstance(layer, tf_keras.layers.Conv2D):
            kernel, bias = weights
            size, stride = layer.kernel_size[0], layer.strides[0]
            patches = tf.image.extract_patches(h, [1, size, size, 1], [1, stride, stride, 1],
                                               [1, 1, 1, 1], layer.padding.upper())
            flat = tf.reshape(kernel, [tf.shape(kernel)[0], -1, kernel.shape[-1]])
            h = tf.einsum("bhwk,bko->bhwo", patches, flat) + bias[:, None, None, :]
        elif isinstance(layer, tf_keras.layers.BatchNormalization):
            gamma, beta = weights
            normalised = (h - layer.moving_mean) * tf.math.rsqrt(layer.moving_variance
                                                                 + layer.epsilon)
            h = normalised * gamma[:, None, None, :] + beta[:, None, None, :]
        elif isinstance(layer, tf_keras.layers.ReLU):
            h = tf.nn.relu(h)
        elif isinstance(layer, tf_keras.layers.Flatten):
            h = tf.reshape(h, [tf.shape(h)[0], -1])
        elif isinstance(layer, tf_keras.layers.Dense):
            kernel, bias = weights
            h = tf.einsum("bi,bio->bo", h, kernel) + bias
        else:
            raise TypeError(f"likelihood regret cannot run encoder layer {layer.name}")
    return h


def _trainable(layer):
    if isinstance(layer, tf_keras.layers.BatchNormalization):
        return [layer.gamma, layer.beta]
    if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):
        return [layer.kernel, layer.bias]
    return []


class LikelihoodRegret:
    """Batched likelihood regret of a VAE: every input gets its own copy of the encoder,
    re-optimised with Adam on its ELBO (one reparameterised sample per step); the ELBO is
    measured with `eval_samples` fixed samples (common random numbers) every `eval_every`
    steps and the best value is kept, so the re-optimised ELBO is never below the trained
    encoder's. regret = best ELBO - ELBO of the trained encoder (>= 0)."""

    def __init__(self, model, steps=100, lr=1e-4, eval_samples=4, eval_every=10):
        self.model, self.steps, self.lr = model, int(steps), float(lr)
        self.eval_samples, self.eval_every = int(eval_samples), int(eval_every)
        self.layers = [layer for layer in model.encoder.layers
                       if not isinstance(layer, tf_keras.layers.InputLayer)]
        self._run = tf.function(self._optimise, reduce_retracing=True)

    def _posterior(self, params, x_in):
        h = _per_example_forward(self.layers, params, x_in)
        mean, log_variance = tf.split(h, 2, axis=-1)
        return tfd.Independent(tfd.Normal(mean, tf.exp(0.5 * log_variance)), 1)

    def _elbo(self, params, x, x_in, eps):
        """ELBO per example averaged over the samples mean + std * eps, eps [S, B, L]."""
        posterior = self._posterior(params, x_in)
        z = posterior.distribution.loc + posterior.distribution.scale * eps
        samples = tf.shape(eps)[0]
        flat = tf.reshape(z, [-1, z.shape[-1]])
        tiled = tf.reshape(tf.tile(x[None], [samples, 1, 1, 1, 1]), [-1, *x.shape[1:]])
        log_px = tf.reshape(self.model.decoder_log_likelihood(tiled, flat), [samples, -1])
        log_pz = tf.reshape(self.model.prior.log_prob(flat), [samples, -1])
        return tf.reduce_mean(log_px + log_pz - posterior.log_prob(z), axis=0)

    def _optimise(self, x, params, seed):
        x_in = preprocess.to_flow_input(x, 8)
        batch, latent = tf.shape(x)[0], self.model.config.latent_dim
        eval_eps = tf.random.stateless_normal([self.eval_samples, batch, latent], seed)
        initial = self._elbo(params, x, x_in, eval_eps)
        best = initial
        first = tf.nest.map_structure(tf.zeros_like, params)
        second = tf.nest.map_structure(tf.zeros_like, params)
        for step in tf.range(1, self.steps + 1):
            step_seed = tf.random.experimental.stateless_fold_in(seed, step)
            eps = tf.random.stateless_normal([1, batch, latent], step_seed)
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss = -tf.reduce_sum(self._elbo(params, x, x_in, eps))
            grads = tape.gradient(loss, params)
            t = tf.cast(step, tf.float32)
            first = tf.nest.map_structure(lambda m, g: 0.9 * m + 0.1 * g, first, grads)
            second = tf.nest.map_structure(lambda v, g: 0.999 * v + 0.001 * g * g, second,
                                           grads)
            rate = self.lr * tf.sqrt(1.0 - 0.999 ** t) / (1.0 - 0.9 ** t)
            params = tf.nest.map_structure(lambda p, m, v: p - rate * m / (tf.sqrt(v) + 1e-8),
                                           params, first, second)
            if step % self.eval_every == 0 or step == self.steps:
                best = tf.maximum(best, self._elbo(params, x, x_in, eval_eps))
        return best - initial, initial, best

    def __call__(self, x, seed=0, batch_size=100):
        """Regret of every input of uint8 images x, in batches."""
        regrets = []
        for start in range(0, len(x), batch_size):
            batch = tf.convert_to_tensor(x[start:start + batch_size])
            size = int(batch.shape[0])
            params = [[tf.tile(w[None], [size] + [1] * len(w.shape)) for w in _trainable(layer)]
                      for layer in self.layers]
            regret, _, _ = self._run(batch, params, tf.constant([seed, start], tf.int64))
            regrets.append(regret.numpy())
        return np.concatenate(regrets)
