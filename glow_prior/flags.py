"""Shared absl flag definitions: openai/glow's hyperparameter names and defaults, plus ours.

Binaries call the define_* functions for the flag groups they need, then turn the parsed
flags into config objects with the *_config() functions. Flags can be given on the command
line or in flagfiles (--flagfile=configs/...).
"""
from absl import flags

from glow_prior import distribute
from glow_prior.data import DataConfig
from glow_prior.models.glow import GlowConfig
from glow_prior.priors import ASSIGNMENTS, KINDS, LAYOUTS, PriorConfig
from glow_prior.training import TrainConfig

FLAGS = flags.FLAGS


def define_run_flags():
    flags.DEFINE_string("logdir", "./logs", "Run directory (checkpoints, logs, reports).")
    flags.DEFINE_integer("seed", 0, "Random seed (data order, noise, initialisation).")


def define_data_flags():
    flags.DEFINE_string("dataset", "fashion_mnist",
                        "tfds dataset: mnist, fashion_mnist, cifar10, svhn_cropped, celeb_a.")
    flags.DEFINE_string("data_dir", None, "tfds data_dir (default ~/tensorflow_datasets).")
    flags.DEFINE_list("labels", [], "Train and test only on these labels (e.g. 1,7).")
    flags.DEFINE_integer("subset", 0, "Random subset of this many training images (0: all).")
    flags.DEFINE_integer("image_size", -1, "Pad/average-pool square images to this size "
                         "(-1: native size).")
    flags.DEFINE_integer("kmeans_clusters", 0, "Cluster each label's training images into "
                         "this many k-means++ clusters (0: off).")
    flags.DEFINE_integer("kmeans_keep", 0, "Cluster number (by decreasing size) to keep.")


def define_glow_flags():
    flags.DEFINE_integer("n_levels", 3, "Number of levels (squeeze + steps).", lower_bound=1)
    flags.DEFINE_integer("depth", 32, "Flow steps per level.", lower_bound=1)
    flags.DEFINE_integer("width", 512, "Hidden channels of the coupling networks.",
                         lower_bound=1)
    flags.DEFINE_integer("flow_permutation", 2, "0: reverse, 1: shuffle, 2: invertible 1x1 "
                         "convolution.", lower_bound=0, upper_bound=2)
    flags.DEFINE_bool("lu_decomposed", False, "LU-parameterised invertible 1x1 convolutions.")
    flags.DEFINE_integer("flow_coupling", 0, "0: additive, 1: affine coupling.",
                         lower_bound=0, upper_bound=1)
    flags.DEFINE_bool("learntop", False, "Learn the top prior's mean and scale.")
    flags.DEFINE_bool("ycond", False, "Class-conditional top prior.")
    flags.DEFINE_float("weight_y", 0.0, "Weight of the class prediction loss (with ycond).")
    flags.DEFINE_integer("n_bits_x", 8, "Bits per pixel.", lower_bound=1, upper_bound=8)
    flags.DEFINE_float("scale_offset", 0.0, "Added to the affine coupling scale "
                       "sigmoid(h + 2); Kamoi et al. use 0.1.")
    flags.DEFINE_bool("multiscale", True, "Split off half of the latent after each level "
                      "(OpenAI); false: one block, no split (Kamoi et al.).")
    flags.DEFINE_bool("three_axis_1x1", False, "Three invertible 1x1 convolutions over the "
                      "height, width and channel axes of the top latent (Kamoi et al.).")


def define_prior_flags():
    flags.DEFINE_enum("prior", "standard", KINDS, "Prior over the latent.")
    flags.DEFINE_integer("n_components", 2, "Mixture components.", lower_bound=1)
    flags.DEFINE_enum("prior_layout", "two_sided", LAYOUTS, "Placement of component means: "
                      "two_sided [+-d/2,0,..], line [d*k,0,..], onehot d*e_k.")
    flags.DEFINE_float("prior_distance", 100.0, "The distance d of --prior_layout.")
    flags.DEFINE_string("prior_means", "", "Explicit means: ';'-separated rows of leading "
                        "coordinates, e.g. '50;-50' (overrides --prior_layout).")
    flags.DEFINE_float("prior_beta", 4.0, "Power of the generalized Gaussian mixture.")
    flags.DEFINE_enum("assignment", "labels", ASSIGNMENTS, "How training examples are "
                      "assigned to components.")
    flags.DEFINE_string("label_map", "", "LABEL:COMPONENT pairs, e.g. '1:0,7:1' (default: "
                        "sorted labels numbered 0, 1, ...).")


def define_training_flags():
    flags.DEFINE_string("restore_path", "", "Start from the weights of this run directory "
                        "(skips the data-dependent init).")
    flags.DEFINE_integer("n_batch_train", 64, "Training batch size (global).", lower_bound=1)
    flags.DEFINE_integer("n_batch_test", 50, "Evaluation batch size.", lower_bound=1)
    flags.DEFINE_integer("n_batch_init", 256, "Images for the data-dependent init.",
                         lower_bound=1)
    flags.DEFINE_enum("optimizer", "adamax", ["adamax", "adam"], "Optimizer.")
    flags.DEFINE_float("lr", 0.001, "Base learning rate.")
    flags.DEFINE_float("beta1", 0.9, "Adam(ax) first-moment decay.")
    flags.DEFINE_float("polyak_epochs", 1.0, "beta2 = 1 - 1/(its_per_epoch*polyak_epochs), "
                       "also the Polyak averaging decay.")
    flags.DEFINE_float("weight_decay", 1.0, "Multiplicative weight decay (1.0: off).")
    flags.DEFINE_integer("epochs", 1000000, "Epochs (passes over the training set).",
                         lower_bound=1)
    flags.DEFINE_float("epochs_warmup", 10.0, "Epochs of linear learning-rate warm-up.")
    flags.DEFINE_integer("epochs_full_valid", 50, "Evaluate the test set every this many "
                         "epochs (and at the end).", lower_bound=1)
    flags.DEFINE_integer("epochs_full_sample", 50, "Write samples every this many epochs.",
                         lower_bound=1)
    flags.DEFINE_float("dal", -1.0, "Random width/height shift fraction for augmentation "
                       "(-1: 0.1 for cifar10 as in OpenAI, else 0).")
    flags.DEFINE_float("checkpoint_secs", 600.0, "Also checkpoint mid-epoch this often.")
    flags.DEFINE_bool("xla", False, "Compile the training step with XLA.")
    flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")


def data_config():
    return DataConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                      labels=tuple(int(label) for label in FLAGS.labels),
                      subset=FLAGS.subset, seed=FLAGS.seed, image_size=FLAGS.image_size,
                      kmeans_clusters=FLAGS.kmeans_clusters, kmeans_keep=FLAGS.kmeans_keep)


def glow_config(image_shape, n_y):
    return GlowConfig(
        image_shape=tuple(int(d) for d in image_shape), n_levels=FLAGS.n_levels,
        depth=FLAGS.depth, width=FLAGS.width, flow_permutation=FLAGS.flow_permutation,
        flow_coupling=FLAGS.flow_coupling, lu_decomposed=FLAGS.lu_decomposed,
        learntop=FLAGS.learntop, ycond=FLAGS.ycond, weight_y=FLAGS.weight_y, n_y=n_y,
        n_bits_x=FLAGS.n_bits_x, scale_offset=FLAGS.scale_offset,
        multiscale=FLAGS.multiscale, three_axis_1x1=FLAGS.three_axis_1x1, seed=FLAGS.seed)


def _parse_means(spec):
    if not spec:
        return None
    return tuple(tuple(float(v) for v in row.split(",")) for row in spec.split(";"))


def prior_config():
    return PriorConfig(kind=FLAGS.prior, n_components=FLAGS.n_components,
                       layout=FLAGS.prior_layout, distance=FLAGS.prior_distance,
                       explicit_means=_parse_means(FLAGS.prior_means), beta=FLAGS.prior_beta,
                       assignment=FLAGS.assignment, label_map=FLAGS.label_map,
                       assignment_seed=FLAGS.seed)


def train_config():
    dal = FLAGS.dal if FLAGS.dal >= 0 else (0.1 if FLAGS.dataset == "cifar10" else 0.0)
    return TrainConfig(
        n_batch_train=FLAGS.n_batch_train, n_batch_test=FLAGS.n_batch_test,
        n_batch_init=FLAGS.n_batch_init, optimizer=FLAGS.optimizer, lr=FLAGS.lr,
        beta1=FLAGS.beta1, polyak_epochs=FLAGS.polyak_epochs,
        weight_decay=FLAGS.weight_decay, epochs=FLAGS.epochs,
        epochs_warmup=FLAGS.epochs_warmup, epochs_full_valid=FLAGS.epochs_full_valid,
        epochs_full_sample=FLAGS.epochs_full_sample, dal=dal, seed=FLAGS.seed,
        checkpoint_secs=FLAGS.checkpoint_secs, xla=FLAGS.xla, strategy=FLAGS.strategy,
        restore_path=FLAGS.restore_path)
