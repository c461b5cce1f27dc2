"""One optimizer step under a tf.distribute strategy, applied only when it is finite.

`TrainStep(batch, step_index)` computes, on every replica, the objective's loss and
statistics on that replica's slice of the global batch (seeded by the global step and the
replica, so the loss does not depend on the number of replicas), its gradients, and whether
loss and gradients are finite everywhere; the host then applies the update (gradient
clipping to `max_grad_norm` where set, weight decay, optimizer, Polyak average) only if
they are. The statistics' grad_norm is the norm before clipping. Two compiled functions: a tf.cond around
apply_gradients would do this in one graph, but MirroredStrategy cannot aggregate
gradients inside a conditional branch.
"""
import tensorflow as tf
import tf_keras

from glow_prior.models.batch import Batch


class TrainStep:
    """model: a glow_prior model; objective: glow_prior.training.objectives; optimizer: a
    tf_keras optimizer (or LossScaleOptimizer); polyak / polyak_decay: the weights'
    average and its decay; config: the TrainConfig (l2_regularization, weight_decay, xla);
    step_seed: global step -> the batch's stateless seed."""

    def __init__(self, model, objective, optimizer, polyak, polyak_decay, config, strategy,
                 step_seed):
        self.model, self.objective, self.optimizer = model, objective, optimizer
        self.polyak, self.polyak_decay = polyak, polyak_decay
        self.config, self.strategy, self.step_seed = config, strategy, step_seed
        self._compute = self._apply = None

    def global_step(self):
        """The optimizer's step count."""
        return int(self.optimizer.iterations.numpy())

    def learning_rate(self):
        """The optimizer's current learning rate (of the warm-up schedule)."""
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        return float(optimizer.learning_rate.numpy())

    def __call__(self, batch):
        """One optimizer step on a (distributed) batch at the current global step:
        returns (statistics, applied). Not applied when loss or gradients are not finite."""
        if self._compute is None:
            self._build()
        step_index = tf.constant(self.global_step(), tf.int64)
        stats, grads, finite = self._compute(batch, step_index)
        if bool(finite):
            self._apply(grads)
        return stats, bool(finite)

    def compute_graph(self, batch):
        """The graph of the compiled gradient computation for batches like `batch` (for
        counting its operations)."""
        if self._compute is None:
            self._build()
        return self._compute.get_concrete_function(batch, tf.constant(0, tf.int64)).graph

    def batch_loss(self, batch):
        """The loss of the current weights on a batch (forward pass only), as a float."""
        stats = self.strategy.run(lambda b: self.objective(
            self.model, Batch.from_mapping(b), tf.constant([0, 0], tf.int64))[1], args=(batch,))
        return float(self.strategy.reduce("MEAN", stats["loss"], axis=None))

    def _replica_gradients(self, batch, seed):
        model, optimizer = self.model, self.optimizer
        variables = model.trainable_variables
        replicas = self.strategy.num_replicas_in_sync
        loss_scaled = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        seed = tf.random.experimental.stateless_fold_in(
            seed, tf.distribute.get_replica_context().replica_id_in_sync_group)
        with tf.GradientTape() as tape:
            loss, stats = self.objective(model, Batch.from_mapping(batch), seed)
            if self.config.l2_regularization > 0:
                loss += self.config.l2_regularization * tf.add_n(
                    [tf.reduce_sum(tf.square(v)) for v in variables])
            scaled = loss / replicas
            if loss_scaled:
                scaled = optimizer.get_scaled_loss(scaled)
        grads = tape.gradient(scaled, variables)
        checked = [loss]
        if loss_scaled:
            # Dynamic loss scaling skips steps with overflowing gradients by itself.
            grads = optimizer.get_unscaled_gradients(grads)
        else:
            checked += [grad for grad in grads if grad is not None]
        # NaN/Inf anywhere makes its zero-weighted sum NaN; finite values give 0 (a float
        # reduction: oneDNN has no boolean kernels without AVX-512 and says so on stderr).
        poison = tf.add_n([tf.reduce_sum(tf.cast(value, tf.float32) * 0.0) for value in checked])
        # The norm of this replica's gradient of the batch loss (the summaries' grad_norm).
        stats = dict(stats, grad_norm=tf.linalg.global_norm(
            [g for g in grads if g is not None]) * replicas)
        return stats, grads, tf.cast(tf.logical_not(tf.math.is_finite(poison)), tf.float32)

    def _replica_apply(self, grads):
        variables = self.model.trainable_variables
        aggregated = {}
        if self.config.max_grad_norm > 0:
            grads = self._clipped(grads)
            aggregated = {"skip_gradients_aggregation": True}
        if self.config.weight_decay != 1.0:
            for v in variables:
                v.assign(v * self.config.weight_decay)
        self.optimizer.apply_gradients(zip(grads, variables), **aggregated)
        self.polyak.update(self.polyak_decay)

    def _clipped(self, grads):
        """The global gradient (summed over replicas) scaled to at most max_grad_norm, on
        every replica (so the optimizer must not sum it again)."""
        present = [g for g in grads if g is not None]
        if self.strategy.num_replicas_in_sync > 1:
            present = tf.distribute.get_replica_context().all_reduce("SUM", present)
        clipped = iter(tf.clip_by_global_norm(present, self.config.max_grad_norm)[0])
        return [None if g is None else next(clipped) for g in grads]

    def _build(self):
        strategy = self.strategy

        @tf.function(jit_compile=self.config.xla or None)
        def compute(batch, step_index):
            stats, grads, failures = strategy.run(
                self._replica_gradients, args=(batch, self.step_seed(step_index)))
            stats = {k: strategy.reduce("MEAN", v, axis=None) for k, v in stats.items()}
            return stats, grads, tf.equal(strategy.reduce("SUM", failures, axis=None), 0.0)

        @tf.function
        def apply(grads):
            strategy.run(self._replica_apply, args=(grads,))

        self._compute, self._apply = compute, apply
