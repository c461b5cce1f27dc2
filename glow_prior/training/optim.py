"""OpenAI Glow's optimisation schedule (train.py / optim.py) and the Polyak average.

Learning rate linearly warmed up from 0 over `epochs_warmup` epochs; Adamax (default) or
Adam with beta2 = 1 - 1/(its_per_epoch * polyak_epochs), the same beta2 as the decay of a
Polyak average of the weights. tf_keras' Adamax/Adam are used; OpenAI's hand-written Adamax
additionally multiplies the step by sqrt(1 - beta2^t), a slower start on top of the warm-up.
"""
import tensorflow as tf
import tf_keras


class WarmupSchedule(tf_keras.optimizers.schedules.LearningRateSchedule):
    """OpenAI's lr_t = lr * min(1, n_processed / (n_train * epochs_warmup))."""

    def __init__(self, lr, warmup_steps):
        self.lr = float(lr)
        self.warmup_steps = float(warmup_steps)

    def __call__(self, step):
        if self.warmup_steps <= 0:
            return tf.constant(self.lr)
        fraction = tf.cast(step + 1, tf.float32) / self.warmup_steps
        return self.lr * tf.minimum(1.0, fraction)

    def get_config(self):
        """The schedule's settings (Keras serialisation)."""
        return {"lr": self.lr, "warmup_steps": self.warmup_steps}


def make_optimizer(config, its_per_epoch):
    """(optimizer, Polyak decay) for a TrainConfig; both use OpenAI's beta2 unless
    config.beta2 is set."""
    beta2 = 1.0 - 1.0 / (its_per_epoch * config.polyak_epochs)
    if config.beta2 >= 0:
        beta2 = config.beta2
    schedule = WarmupSchedule(config.lr, config.epochs_warmup * its_per_epoch)
    common = dict(learning_rate=schedule, beta_1=config.beta1, beta_2=beta2, epsilon=1e-8)
    if config.optimizer == "adamw":
        return tf_keras.optimizers.AdamW(weight_decay=config.adamw_weight_decay,
                                         **common), beta2
    if config.optimizer == "rmsprop":
        return tf_keras.optimizers.RMSprop(learning_rate=schedule), beta2
    cls = tf_keras.optimizers.Adamax if config.optimizer == "adamax" else \
        tf_keras.optimizers.Adam
    return cls(**common), beta2


class PolyakAverage(tf.Module):
    """Exponential moving averages of the trainable variables (OpenAI's optim.polyak).

    shadow <- decay * shadow + (1 - decay) * value after every optimizer step. OpenAI
    evaluates and saves the raw weights; the averages are kept in checkpoints and can be
    swapped in for evaluation (`use_polyak`).
    """

    def __init__(self, variables):
        super().__init__(name="polyak")
        self._targets = list(variables)
        # Every replica computes the same update from synchronised weights.
        self.shadows = [tf.Variable(v, trainable=False, name=v.name.split(":")[0] + "/ema",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                        for v in self._targets]

    def update(self, decay):
        """shadow <- decay * shadow + (1 - decay) * value, for every variable."""
        for shadow, value in zip(self.shadows, self._targets):
            shadow.assign(decay * shadow + (1.0 - decay) * value)

    def copy_from_model(self):
        """Sets the averages to the current weights (after the init or a restore)."""
        for shadow, value in zip(self.shadows, self._targets):
            shadow.assign(value)

    def copy_to_model(self):
        """Replaces the weights by their averages (evaluation with use_polyak)."""
        for shadow, value in zip(self.shadows, self._targets):
            value.assign(shadow)
