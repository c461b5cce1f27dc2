"""Optimisation, objective and run-control settings of the training binaries."""
import dataclasses

from glow_prior.config.common import seed_option, threads_option
from glow_prior.config.data import check_image_set_name
from glow_prior.config.fields import Config, check, option
from glow_prior.errors import InputError

OPTIMIZERS = ("adamax", "adam", "adamw", "rmsprop")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("none", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """Optimisation and bookkeeping settings (OpenAI train.py names where they exist)."""

    n_batch_train: int = option(64, "Training batch size (global).", lower=1)
    n_batch_test: int = option(50, "Evaluation batch size.", lower=1)
    n_batch_init: int = option(256, "Images for the data-dependent init.", lower=1)
    optimizer: str = option("adamax", "Optimizer.", choices=OPTIMIZERS)
    lr: float = option(0.001, "Base learning rate.", lower=0.0)
    beta1: float = option(0.9, "Adam(ax) first-moment decay.", lower=0.0, upper=1.0)
    beta2: float = option(-1.0, "Adam(ax) second-moment decay (< 0: OpenAI's "
                          "1 - 1/(its_per_epoch * polyak_epochs)).", upper=1.0)
    polyak_epochs: float = option(1.0, "beta2 = 1 - 1/(its_per_epoch*polyak_epochs), also "
                                  "the Polyak averaging decay.", lower=0.0)
    weight_decay: float = option(1.0, "Multiplicative weight decay (1.0: off).", lower=0.0,
                                 upper=1.0)
    adamw_weight_decay: float = option(0.0, "Decoupled weight decay of AdamW.", lower=0.0)
    l2_regularization: float = option(0.0, "lambda of an L2 penalty lambda * sum w^2 added to "
                                      "the loss (Ren et al.'s background models).", lower=0.0)
    max_grad_norm: float = option(0.0, "Clip the gradient to this global norm (in the loss's "
                                  "units, bits/dim) before the update; 0: off (OpenAI). "
                                  "flows_ood clips at 100 nats, 0.18 bits/dim for 28x28 "
                                  "images (Kirichenko et al.'s negative training).", lower=0.0)
    epochs: int = option(1000000, "Epochs (passes over the training set).", lower=1)
    epochs_warmup: float = option(10.0, "Epochs of linear learning-rate warm-up.", lower=0.0)
    validation_fraction: float = option(
        0.0, "Hold out this fraction of the training examples (seeded by --seed) as a "
        "validation set, evaluated every --epochs_full_valid epochs; the checkpoint with the "
        "best validation bits/dim is kept in checkpoints/best (0: none).", lower=0.0,
        upper=0.5)
    early_stopping: int = option(0, "Stop when the validation bits/dim has not improved for "
                                 "this many evaluations (needs --validation_fraction; 0: "
                                 "train all --epochs).", lower=0)
    epochs_full_valid: int = option(50, "Evaluate the test set every this many epochs.",
                                    lower=1)
    epochs_full_sample: int = option(50, "Write samples every this many epochs.", lower=1)
    dal: float = option(-1.0, "Random width/height shift fraction for augmentation (-1: 0.1 "
                        "for cifar10 as in OpenAI, else 0).", lower=-1.0, upper=1.0)
    perturbation_rate: float = option(0.0, "Replace each pixel by a uniform random value with "
                                      "this probability (Ren et al.'s background model, "
                                      "0.1-0.3; 0: off).", lower=0.0, upper=1.0)
    seed: int = seed_option()
    checkpoint_secs: float = option(600.0, "Also checkpoint mid-epoch this often.", lower=0.0)
    restore_path: str = option("", "Start from the weights of this run directory (matched "
                               "by variable name; skips the data-dependent init).")
    n_sample: int = option(16, "Samples written every epochs_full_sample epochs.", lower=0)
    xla: bool = option(False, "Compile the training step with XLA.")
    strategy: str = option("default", "tf.distribute strategy.", choices=STRATEGIES)
    devices: tuple = option((), "Devices of a mirrored strategy (default: all local GPUs).")
    mixed_precision: str = option("none", "Compute the convolutions in this dtype (log-dets "
                                  "and priors stay float32); for GPUs/TPUs.",
                                  choices=MIXED_PRECISION)
    gradient_checkpointing: bool = option(
        False, "OpenAI's memory-saving gradients, done by inversion: the backward pass "
        "rebuilds each flow step's input from its output instead of keeping the "
        "activations, so activation memory no longer grows with --depth (3-5x less at "
        "depth 8-32; the step is 1.3-1.6x slower on CPU; README: memory by depth). Off by "
        "default (the CPU configs are not memory-bound); the paper flagfiles turn it on, "
        "as openai/glow's default does.")

    @check("early_stopping", "validation_fraction")
    def _early_stopping_needs_validation(self):
        if self.early_stopping and not self.validation_fraction:
            raise InputError("--early_stopping needs a validation set: set "
                             "--validation_fraction (e.g. 0.1)")

    @check("dal", "perturbation_rate")
    def _one_augmentation(self):
        if self.dal > 0 and self.perturbation_rate > 0:
            raise InputError("--dal and --perturbation_rate cannot be combined")

    def augment_shift(self, dataset):
        """OpenAI's --dal: 0.1 for CIFAR-10 unless set."""
        if self.dal >= 0:
            return self.dal
        return 0.1 if dataset == "cifar10" else 0.0


# The negative-training set of a run trained from Python on in-memory examples is recorded
# as this prefix and the examples' fingerprint.
IN_MEMORY_PREFIX = "arrays:"


@dataclasses.dataclass(frozen=True)
class NegativeTrainingConfig(Config):
    """Kirichenko et al. (2020) eq. 7: also minimise the likelihood of another dataset."""

    dataset: str = option("", "Negative training (Kirichenko et al. eq. 7): also minimise "
                          "the likelihood of this dataset's training images (empty: off).",
                          flag="negative_dataset")
    threshold: float = option(-30000.0, "c: only OOD images with log-likelihood above c "
                              "(nats) are pushed down (-30000 for MNIST/Fashion-MNIST, "
                              "-100000 for CIFAR/SVHN/CelebA).", flag="negative_threshold")

    @check("dataset")
    def _known(self):
        if self.dataset and not self.dataset.startswith(IN_MEMORY_PREFIX):
            check_image_set_name(self.dataset, "--negative_dataset")

    @property
    def active(self):
        """Whether negative training is on."""
        return bool(self.dataset)


@dataclasses.dataclass(frozen=True)
class RunConfig(Config):
    """Where a training process writes, and how it treats an existing run directory."""

    logdir: str = option("./logs", "Run directory (checkpoints, logs, reports).")
    resume_from: str = option("", "Resume from this checkpoint of the run directory (e.g. "
                              "ckpt-200) instead of the newest.")
    allow_changes: tuple = option((), "Settings allowed to differ from the run directory's "
                                  "record on resume (e.g. lr), recorded in its history.")
    progress_secs: float = option(30.0, "Without a terminal, print a progress line this "
                                  "often (seconds).", lower=0.0)
    summary_steps: int = option(20, "Write the per-step TensorBoard scalars (train/loss, "
                                "bits_per_dim, learning_rate, grad_norm, images_per_s) "
                                "every this many steps (and at the first step and "
                                "each epoch's last).", lower=1)
    threads: int = threads_option()

    @check("logdir")
    def _named_logdir(self):
        if not self.logdir or not self.logdir.strip():
            raise InputError("--logdir is empty; give the run directory's path")
