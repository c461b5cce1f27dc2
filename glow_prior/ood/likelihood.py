"""OOD scores computed from a model's per-example statistics (and a background model or an
ensemble), each oriented so that higher = more in-distribution. Log-likelihoods are in
nats of the discrete image (OpenAI's convention for flows, importance-sampled for the VAE).

* log_likelihood: log p(x).
* typicality (Nalisnick et al. 2019, "Detecting out-of-distribution inputs to deep
  generative models using typicality"): -| -log p(x) - H |, H the mean negative
  log-likelihood of training-distribution examples (held-out ones where the run has
  them); its batch test scores batches of M inputs drawn without replacement by
  -| mean(-log p) - H | (outputs typicality_batch_M, one value per batch).
* likelihood_ratio (Ren et al. 2019, "Likelihood ratios for out-of-distribution
  detection"): log p_model(x) - log p_background(x), the background model trained on
  inputs with each pixel replaced by a uniform random value with probability mu
  (--perturbation_rate) and L2 regularisation (--l2_regularization).
* input_complexity_png / input_complexity_jpeg2000 (Serra et al. 2020, "Input complexity
  and out-of-distribution detection with likelihood-based generative models"): their
  S(x) = -log2 p(x) - L(x), L(x) the length in bits of the losslessly compressed image, is
  higher for OOD inputs; the score is -S(x) = log2 p(x) + L(x). Compressors: Pillow's PNG
  at compression level 9 and lossless JPEG 2000 (OpenJPEG).
* waic (Choi et al. 2018, "WAIC, but why?"): E_k[log p_k(x)] - Var_k[log p_k(x)] over an
  ensemble of K independently seeded models (the variance over members, ddof = 0).
* dose_kde / dose_ocsvm (Morningstar et al. 2021, "Density of states estimation for
  out-of-distribution detection"): the model's per-example statistics (flows:
  log-likelihood, log|det J|, log prior, latent norm; VAE: log-likelihood, ELBO,
  reconstruction, KL), standardised on the training set, scored by a kernel density fitted
  on the training set's statistics (bandwidth by 5-fold cross-validation of the
  log-likelihood) and by a one-class SVM (nu 0.1, RBF kernel).
* max_component / component_confidence (mixture priors): max_k log p_k(x) with each
  component as the prior, and the posterior probability of the most likely component
  under uniform weights, max_k p_k(x) / sum_j p_j(x).
* level_k (multi-scale flows with a standard prior): level k's share of log p(x)
  (Schirrmeister et al. 2020 found the last level's alone a better OOD score for Glow).
* level_llr_k (the same flows): the log-likelihood ratio between levels, our flow analogue
  of Havtorn et al.'s (2021, "Hierarchical VAEs know what they don't know") LLR^{>k}:
      llr_k(x) = sum_{j > k} level_j(x) / D_{>k} - sum_{j <= k} level_j(x) / D_{<=k}
  nats per dimension of the coarse levels (semantic) minus those of the fine levels
  (local pixel statistics, which dominate log p(x) and are shared across datasets);
  D_{>k} and D_{<=k} are the latent dimensions of each group.
"""
import io
import math

import numpy as np
import tensorflow as tf
from PIL import Image
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from glow_prior.errors import InputError
from glow_prior.models.base import COMPONENTS, IMAGES, LEVELS
from glow_prior.ood.base import Score, register

TYPICALITY_BATCH_SIZES = (1, 2, 5, 10)
DOSE_STATISTICS = ("log_likelihood", "log_det", "log_prior", "latent_norm", "elbo",
                   "reconstruction", "kl")
COMPRESSORS = {"png": dict(format="PNG", optimize=True, compress_level=9),
               "jpeg2000": dict(format="JPEG2000", irreversible=False)}


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


def level_likelihood_ratio(levels, sizes, k):
    """llr_k from per-level log-likelihood shares [L arrays or tensors] and latent sizes."""
    coarse = sum(levels[k + 1:]) / sum(sizes[k + 1:])
    fine = sum(levels[:k + 1]) / sum(sizes[:k + 1])
    return coarse - fine


class DoSE:
    """Morningstar et al.'s density of states: one-class models of the statistics.
    `folds`: of the KDE bandwidth's cross-validation (5, or fewer examples if fewer)."""

    def __init__(self, train_statistics, folds=5):
        self.names = [name for name in DOSE_STATISTICS if name in train_statistics]
        features = self.features(train_statistics)
        search = GridSearchCV(KernelDensity(), {"bandwidth": np.logspace(-1.5, 1.0, 12)},
                              cv=folds)
        self.kde = make_pipeline(StandardScaler(), search).fit(features)
        self.svm = make_pipeline(StandardScaler(), OneClassSVM(nu=0.1, gamma="scale")).fit(
            features)

    def features(self, statistics):
        """The statistics DoSE uses, as an [N, features] array."""
        return np.stack([np.asarray(statistics[n], np.float64) for n in self.names], axis=1)

    def kde_score(self, statistics):
        """The KDE's log-density of the examples' statistics."""
        return self.kde.score_samples(self.features(statistics))

    def svm_score(self, statistics):
        """The one-class SVM's decision value of the examples' statistics."""
        return self.svm.decision_function(self.features(statistics))


MIN_DOSE_EXAMPLES = 2


def fit_dose(inputs):
    """The DoSE models of the training statistics (shared by dose_kde and dose_ocsvm)."""
    def fit():
        train = inputs.statistics("train")
        n = len(train["log_likelihood"])
        if n < MIN_DOSE_EXAMPLES:
            raise InputError(f"DoSE needs at least {MIN_DOSE_EXAMPLES} training examples "
                             f"(got {n}; raise --n_eval)")
        return DoSE(train, folds=min(5, n))
    return inputs.cached(("dose",), fit)


# ------------------------------------------------------------------------------ scores
@register
class LogLikelihood(Score):
    name = "log_likelihood"
    in_graph = True

    def compute(self, inputs, set_name):
        return inputs.log_likelihood(set_name)

    def graph_values(self, model, statistics, background=None):
        return {self.name: statistics["log_likelihood"]}


@register
class Typicality(Score):
    name = "typicality"
    reference = "Nalisnick et al. 2019"

    def outputs(self, model):
        return [self.name] + [f"typicality_batch_{size}" for size in TYPICALITY_BATCH_SIZES]

    in_graph = True  # its per-example output

    def fit(self, inputs):
        self.entropy = -float(np.mean(inputs.log_likelihood(inputs.reference_set())))
        self.reference_set = inputs.reference_set()

    def fitted(self):
        where = ("held-out training examples" if self.reference_set == "reference"
                 else "the training examples scored")
        return {"entropy_nats": self.entropy, "reference": where}

    def graph_values(self, model, statistics, background=None):
        log_likelihood = tf.cast(statistics["log_likelihood"], tf.float64)
        return {self.name: -tf.abs(-log_likelihood - self.entropy)}

    def output_values(self, inputs, set_name, output):
        if output == self.name:  # per example: no batch test (which needs whole batches)
            return np.asarray(typicality(inputs.log_likelihood(set_name), self.entropy),
                              np.float64)
        return super().output_values(inputs, set_name, output)

    def compute(self, inputs, set_name):
        log_likelihood = inputs.log_likelihood(set_name)
        index = inputs.scored_sets.index(set_name)
        result = {self.name: typicality(log_likelihood, self.entropy)}
        for size in TYPICALITY_BATCH_SIZES:
            result[f"typicality_batch_{size}"] = typicality_batches(
                log_likelihood, self.entropy, size, [inputs.seed, size, index])
        return result


@register
class LikelihoodRatio(Score):
    name = "likelihood_ratio"
    reference = "Ren et al. 2019"
    needs = frozenset({"background"})
    in_graph = True

    def compute(self, inputs, set_name):
        return (np.asarray(inputs.log_likelihood(set_name), np.float64)
                - inputs.background_log_likelihood(set_name))

    def graph_values(self, model, statistics, background=None):
        return {self.name: tf.cast(statistics["log_likelihood"], tf.float64)
                - tf.cast(background["log_likelihood"], tf.float64)}


class _InputComplexity(Score):
    reference = "Serra et al. 2020"
    requires = frozenset({IMAGES})
    compressor = ""

    def compute(self, inputs, set_name):
        bits = compressed_bits(inputs.examples(set_name), self.compressor)
        return input_complexity(inputs.log_likelihood(set_name), bits)


@register
class InputComplexityPNG(_InputComplexity):
    name, compressor = "input_complexity_png", "png"


@register
class InputComplexityJPEG2000(_InputComplexity):
    name, compressor = "input_complexity_jpeg2000", "jpeg2000"


@register
class WAIC(Score):
    name = "waic"
    reference = "Choi et al. 2018"
    needs = frozenset({"ensemble"})

    def compute(self, inputs, set_name):
        return waic(inputs.ensemble_log_likelihoods(set_name))


@register
class DoSEKernelDensity(Score):
    name = "dose_kde"
    reference = "Morningstar et al. 2021"

    def fit(self, inputs):
        self.dose = fit_dose(inputs)

    def compute(self, inputs, set_name):
        return self.dose.kde_score(inputs.statistics(set_name))


@register
class DoSEOneClassSVM(DoSEKernelDensity):
    name = "dose_ocsvm"

    def compute(self, inputs, set_name):
        return self.dose.svm_score(inputs.statistics(set_name))


@register
class MaxComponent(Score):
    name = "max_component"
    requires = frozenset({COMPONENTS})
    in_graph = True

    def compute(self, inputs, set_name):
        return np.asarray(inputs.statistics(set_name)["component_log_likelihood"]).max(axis=1)

    def graph_values(self, model, statistics, background=None):
        return {self.name: tf.reduce_max(statistics["component_log_likelihood"], axis=-1)}


@register
class ComponentConfidence(Score):
    name = "component_confidence"
    requires = frozenset({COMPONENTS})
    in_graph = True

    def compute(self, inputs, set_name):
        return component_confidence(inputs.statistics(set_name)["component_log_likelihood"])

    def graph_values(self, model, statistics, background=None):
        values = tf.cast(statistics["component_log_likelihood"], tf.float64)
        top = tf.reduce_max(values, axis=-1, keepdims=True)
        return {self.name: 1.0 / tf.reduce_sum(tf.exp(values - top), axis=-1)}


@register
class Levels(Score):
    """level_k: level k's share of log p(x), one output per level."""

    name = "level_k"
    reference = "Schirrmeister et al. 2020"
    requires = frozenset({LEVELS})

    def outputs(self, model):
        return [f"level_{k}" for k in range(len(model.flow.latent_shapes))]

    in_graph = True

    def compute(self, inputs, set_name):
        stats = inputs.statistics(set_name)
        return {name: stats[name] for name in self.outputs(inputs.model)}

    def graph_values(self, model, statistics, background=None):
        return {name: statistics[name] for name in self.outputs(model)}


@register
class LevelLikelihoodRatio(Score):
    """level_llr_k for k = 0 .. L-2 (see the module docstring)."""

    name = "level_llr"
    reference = "Havtorn et al. 2021 (hierarchical LLR), as a flow analogue"
    requires = frozenset({LEVELS})

    def outputs(self, model):
        return [f"level_llr_{k}" for k in range(len(model.flow.latent_shapes) - 1)]

    in_graph = True

    def compute(self, inputs, set_name):
        stats = inputs.statistics(set_name)
        return self.graph_values(inputs.model, {k: np.asarray(v, np.float64)
                                                for k, v in stats.items()})

    def graph_values(self, model, statistics, background=None):
        """(Also the NumPy path: the same arithmetic on arrays.)"""
        levels = [statistics[f"level_{k}"] for k in range(len(model.flow.latent_shapes))]
        sizes = [h * w * c for h, w, c in model.flow.latent_shapes]
        return {f"level_llr_{k}": level_likelihood_ratio(levels, sizes, k)
                for k in range(len(levels) - 1)}
