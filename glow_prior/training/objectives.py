"""Training objectives.

All log-likelihoods are per example, in nats (OpenAI's convention for image flows: they
include -D log n_bins), and losses are in bits/dim:

    bits/dim = -log-likelihood / (D ln 2).

* MaximumLikelihood: OpenAI's loss, mean(bits_x + weight_y * bits_y). With a mixture prior
  and component assignments, log-likelihood uses the assigned component only (Kamoi et al.
  2019, Section 4).
* NegativeTraining: Kirichenko et al. (2020), eq. 7,

      (1/N_D) sum_{x in D} log p(x) - (1/N_OOD) sum_{x in OOD} log p(x) I[log p(x) > c],

  maximised; N_OOD counts the OOD examples above the threshold c. As a loss in bits/dim:
  mean in-distribution bits - mean over kept OOD examples of their bits (0 if none is above
  c). Kirichenko et al.'s code weights both halves by 0.5; the gradient direction is the
  same and we keep eq. 7's weights. With a mixture prior, in-distribution examples are
  scored by their assigned component (as in maximum likelihood) and the negatives by the
  whole mixture, the density they are tested under.
"""
import math

import tensorflow as tf

from glow_prior.models.batch import Batch
from glow_prior.models.scoring import bits_per_dim


class MaximumLikelihood:
    """Per-batch loss (bits/dim) and statistics for maximum-likelihood training."""

    def __init__(self, weight_y=0.0):
        self.weight_y = float(weight_y)

    def __call__(self, model, batch, seed):
        """(loss, statistics) of a Batch under `model`."""
        log_likelihood = model.train_log_likelihood(batch, seed)
        bits_x = bits_per_dim(log_likelihood, model.num_dims)
        loss = tf.reduce_mean(bits_x)
        stats = {"bits_x": tf.reduce_mean(bits_x)}
        if self.weight_y > 0 and getattr(model, "classifier", None) is not None:
            logits = model.class_logits(batch)
            labels = tf.cast(batch.labels, tf.int32)
            bits_y = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits) / math.log(2.0)
            loss += self.weight_y * tf.reduce_mean(bits_y)
            stats["bits_y"] = tf.reduce_mean(bits_y)
            stats["pred_loss"] = tf.reduce_mean(tf.cast(
                tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels),
                tf.float32))
        stats["loss"] = loss
        return loss, stats


class NegativeTraining:
    """Eq. 7 of Kirichenko et al.; batches carry in-distribution `x` and OOD `negatives`."""

    def __init__(self, threshold):
        self.threshold = float(threshold)

    def __call__(self, model, batch, seed):
        """(loss, statistics) of a Batch with negatives under `model`."""
        in_seed, ood_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        ll_in = model.train_log_likelihood(Batch(batch.x, components=batch.components,
                                                 noise=batch.noise), in_seed)
        ll_ood = model.train_log_likelihood(Batch(batch.negatives,
                                                  noise=batch.negative_noise), ood_seed)
        bits_in = bits_per_dim(ll_in, model.num_dims)
        bits_ood = bits_per_dim(ll_ood, model.num_dims)
        above = tf.cast(ll_ood > self.threshold, bits_ood.dtype)
        kept = tf.reduce_sum(above)
        ood_term = tf.math.divide_no_nan(tf.reduce_sum(bits_ood * above), kept)
        loss = tf.reduce_mean(bits_in) - ood_term
        return loss, {"loss": loss, "bits_x": tf.reduce_mean(bits_in),
                      "ood_bits_x": tf.reduce_mean(bits_ood), "ood_above_threshold": kept}
