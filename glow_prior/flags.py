"""Shared absl flag definitions: openai/glow's hyperparameter names and defaults, plus ours.

Binaries call the define_* functions for the flag groups they need, then turn the parsed
flags into config objects with the *_config() functions. Flags can be given on the command
line or in flagfiles (--flagfile=configs/...).
"""
import functools
import types

from absl import flags

from glow_prior import distribute
from glow_prior.data import DataConfig
from glow_prior.models.glow import GlowConfig
from glow_prior.priors import ASSIGNMENTS, KINDS, LAYOUTS, PriorConfig
from glow_prior.data.tabular import DATASETS as TABULAR_DATASETS, TabularDataConfig
from glow_prior.models.realnvp import MASKS as REALNVP_MASKS, RealNVPConfig
from glow_prior.models.tabular import TabularFlowConfig
from glow_prior.models.vae import VAEConfig
from glow_prior.training import OPTIMIZERS, TrainConfig

FLAGS = flags.FLAGS


def _definer(fv):
    """DEFINE_* functions bound to the FlagValues `fv`: d.integer(...) etc."""
    kinds = ("string", "integer", "float", "bool", "list", "enum")
    return types.SimpleNamespace(**{kind: functools.partial(getattr(flags, f"DEFINE_{kind}"),
                                                            flag_values=fv) for kind in kinds})


def define_run_flags(fv=FLAGS):
    d = _definer(fv)
    d.string("logdir", "./logs", "Run directory (checkpoints, logs, reports).")
    d.integer("seed", 0, "Random seed (data order, noise, initialisation).")


def define_data_flags(fv=FLAGS):
    d = _definer(fv)
    d.string("dataset", "fashion_mnist",
             "tfds dataset: mnist, fashion_mnist, cifar10, svhn_cropped, celeb_a.")
    d.string("data_dir", None, "tfds data_dir (default ~/tensorflow_datasets).")
    d.list("labels", [], "Train and test only on these labels (e.g. 1,7).")
    d.integer("subset", 0, "Random subset of this many training images (0: all).")
    d.integer("image_size", -1, "Pad/average-pool square images to this size "
              "(-1: native size).")
    d.integer("kmeans_clusters", 0, "Cluster each label's training images into "
              "this many k-means++ clusters (0: off).")
    d.integer("kmeans_keep", 0, "Cluster number (by decreasing size) to keep.")


def define_tabular_data_flags(fv=FLAGS):
    d = _definer(fv)
    d.enum("dataset", "synthetic_2d", TABULAR_DATASETS, "Vector dataset.")
    d.string("tabular_path", None, "MiniBooNE_PID.txt, the HEPMASS folder, or the "
             "training embeddings .npz.")
    d.string("tabular_test_path", None, "Test embeddings .npz.")
    d.list("ood_paths", [], "OOD embeddings .npz files.")
    d.integer("in_class", 0, "Class trained on (the other class is OOD).")
    d.integer("n_train_points", 10000, "Synthetic training points.", lower_bound=1)
    d.integer("n_test_points", 2000, "Synthetic test / OOD points.", lower_bound=1)


def define_tabular_flow_flags(fv=FLAGS):
    d = _definer(fv)
    d.integer("n_couplings", 8, "Coupling layers.", lower_bound=1)
    d.integer("hidden_layers", 1, "Hidden layers of the st-network MLPs.",
              lower_bound=1)
    d.integer("hidden_units", 256, "Units per hidden layer.", lower_bound=1)


def tabular_data_config(fv=FLAGS):
    return TabularDataConfig(dataset=fv.dataset, path=fv.tabular_path,
                             test_path=fv.tabular_test_path,
                             ood_paths=tuple(fv.ood_paths), in_class=fv.in_class,
                             n_train=fv.n_train_points, n_test=fv.n_test_points,
                             seed=fv.seed)


def tabular_flow_config(num_dims, fv=FLAGS):
    return TabularFlowConfig(num_dims=int(num_dims), n_couplings=fv.n_couplings,
                             hidden_layers=fv.hidden_layers,
                             hidden_units=fv.hidden_units, seed=fv.seed)


def define_vae_flags(fv=FLAGS):
    d = _definer(fv)
    d.integer("latent_dim", 0, "Latent dimensions (0: 50 for 28x28 images, 100 for 32x32).",
              lower_bound=0)
    d.integer("importance_samples", 5000, "Importance samples of the test log-likelihood.",
              lower_bound=1)
    d.integer("importance_chunk", 512, "Images x samples per decoder call when scoring.",
              lower_bound=1)


def vae_config(image_shape, fv=FLAGS):
    latent_dim = fv.latent_dim or (50 if image_shape[0] == 28 else 100)
    return VAEConfig(image_shape=tuple(int(d) for d in image_shape), latent_dim=latent_dim,
                     importance_samples=fv.importance_samples,
                     importance_chunk=fv.importance_chunk, seed=fv.seed)


def define_realnvp_flags(fv=FLAGS):
    d = _definer(fv)
    d.enum("mask", "checkerboard", list(REALNVP_MASKS), "checkerboard: multi-scale RealNVP; "
           "checkerboard_single / horizontal / cycle: one scale of n_couplings couplings.")
    d.integer("n_scales", 2, "Scales of the multi-scale model.", lower_bound=1)
    d.integer("n_couplings", 8, "Couplings of the single-scale models.", lower_bound=1)
    d.integer("st_blocks", 6, "Residual blocks per st-network.", lower_bound=1)
    d.integer("st_width", 64, "Channels of the st-networks (doubled after each squeeze).",
              lower_bound=1)
    d.integer("bottleneck", 0, "st-network bottleneck dimension l (0: none).", lower_bound=0)
    d.float("logit_alpha", 0.05, "alpha of the logit preprocessing (0: off).")
    d.integer("n_bits_x", 8, "Bits per pixel.", lower_bound=1, upper_bound=8)


def realnvp_config(image_shape, fv=FLAGS):
    return RealNVPConfig(image_shape=tuple(int(d) for d in image_shape), mask=fv.mask,
                         n_scales=fv.n_scales, n_couplings=fv.n_couplings,
                         st_blocks=fv.st_blocks, st_width=fv.st_width,
                         bottleneck=fv.bottleneck, logit_alpha=fv.logit_alpha,
                         n_bits_x=fv.n_bits_x, seed=fv.seed)


def define_negative_training_flags(fv=FLAGS):
    d = _definer(fv)
    d.string("negative_dataset", "", "Negative training (Kirichenko et al. eq. 7): also "
             "minimise the likelihood of this dataset's training images (empty: off).")
    d.float("negative_threshold", -30000.0, "c: only OOD images with log-likelihood above c "
            "(nats) are pushed down (-30000 for MNIST/Fashion-MNIST, -100000 for CIFAR/SVHN/"
            "CelebA).")


def define_glow_flags(fv=FLAGS):
    d = _definer(fv)
    d.integer("n_levels", 3, "Number of levels (squeeze + steps).", lower_bound=1)
    d.integer("depth", 32, "Flow steps per level.", lower_bound=1)
    d.integer("width", 512, "Hidden channels of the coupling networks.",
              lower_bound=1)
    d.integer("flow_permutation", 2, "0: reverse, 1: shuffle, 2: invertible 1x1 "
              "convolution.", lower_bound=0, upper_bound=2)
    d.bool("lu_decomposed", False, "LU-parameterised invertible 1x1 convolutions.")
    d.integer("flow_coupling", 0, "0: additive, 1: affine coupling.",
              lower_bound=0, upper_bound=1)
    d.bool("learntop", False, "Learn the top prior's mean and scale.")
    d.bool("ycond", False, "Class-conditional top prior.")
    d.float("weight_y", 0.0, "Weight of the class prediction loss (with ycond).")
    d.integer("n_bits_x", 8, "Bits per pixel.", lower_bound=1, upper_bound=8)
    d.float("scale_offset", 0.0, "Added to the affine coupling scale "
            "sigmoid(h + 2); Kamoi et al. use 0.1.")
    d.bool("multiscale", True, "Split off half of the latent after each level "
           "(OpenAI); false: one block, no split (Kamoi et al.).")
    d.bool("three_axis_1x1", False, "Three invertible 1x1 convolutions over the "
           "height, width and channel axes of the top latent (Kamoi et al.).")


def define_prior_flags(fv=FLAGS):
    d = _definer(fv)
    d.enum("prior", "standard", KINDS, "Prior over the latent.")
    d.integer("n_components", 2, "Mixture components.", lower_bound=1)
    d.enum("prior_layout", "two_sided", LAYOUTS, "Placement of component means: "
           "two_sided [+-d/2,0,..], line [d*k,0,..], onehot d*e_k.")
    d.float("prior_distance", 100.0, "The distance d of --prior_layout.")
    d.string("prior_means", "", "Explicit means: ';'-separated rows of leading "
             "coordinates, e.g. '50;-50' (overrides --prior_layout).")
    d.float("prior_beta", 4.0, "Power of the generalized Gaussian mixture.")
    d.enum("assignment", "labels", ASSIGNMENTS, "How training examples are "
           "assigned to components.")
    d.string("label_map", "", "LABEL:COMPONENT pairs, e.g. '1:0,7:1' (default: "
             "sorted labels numbered 0, 1, ...).")


def define_training_flags(fv=FLAGS):
    d = _definer(fv)
    d.string("restore_path", "", "Start from the weights of this run directory "
             "(skips the data-dependent init).")
    d.integer("n_batch_train", 64, "Training batch size (global).", lower_bound=1)
    d.integer("n_batch_test", 50, "Evaluation batch size.", lower_bound=1)
    d.integer("n_batch_init", 256, "Images for the data-dependent init.",
              lower_bound=1)
    d.enum("optimizer", "adamax", list(OPTIMIZERS), "Optimizer.")
    d.float("adamw_weight_decay", 0.0, "Decoupled weight decay of AdamW.")
    d.float("lr", 0.001, "Base learning rate.")
    d.float("beta1", 0.9, "Adam(ax) first-moment decay.")
    d.float("beta2", -1.0, "Adam(ax) second-moment decay (< 0: OpenAI's 1 - 1/(its_per_epoch "
            "* polyak_epochs)).")
    d.float("polyak_epochs", 1.0, "beta2 = 1 - 1/(its_per_epoch*polyak_epochs), "
            "also the Polyak averaging decay.")
    d.float("weight_decay", 1.0, "Multiplicative weight decay (1.0: off).")
    d.integer("epochs", 1000000, "Epochs (passes over the training set).",
              lower_bound=1)
    d.float("epochs_warmup", 10.0, "Epochs of linear learning-rate warm-up.")
    d.integer("epochs_full_valid", 50, "Evaluate the test set every this many epochs.",
              lower_bound=1)
    d.integer("epochs_full_sample", 50, "Write samples every this many epochs.",
              lower_bound=1)
    d.float("dal", -1.0, "Random width/height shift fraction for augmentation "
            "(-1: 0.1 for cifar10 as in OpenAI, else 0).")
    d.float("checkpoint_secs", 600.0, "Also checkpoint mid-epoch this often.")
    d.bool("xla", False, "Compile the training step with XLA.")
    d.enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
    d.list("devices", [], "Devices of a mirrored strategy (default: all local GPUs).")
    d.enum("mixed_precision", "none", ["none", "bfloat16", "float16"], "Compute the "
           "convolutions in this dtype (log-dets and priors stay float32); for GPUs/TPUs.")


def data_config(fv=FLAGS):
    return DataConfig(dataset=fv.dataset, data_dir=fv.data_dir,
                      labels=tuple(int(label) for label in fv.labels),
                      subset=fv.subset, seed=fv.seed, image_size=fv.image_size,
                      kmeans_clusters=fv.kmeans_clusters, kmeans_keep=fv.kmeans_keep)


def glow_config(image_shape, n_y, fv=FLAGS):
    if not fv.ycond:
        n_y = GlowConfig.n_y  # unused without a class-conditional prior
    return GlowConfig(
        image_shape=tuple(int(d) for d in image_shape), n_levels=fv.n_levels,
        depth=fv.depth, width=fv.width, flow_permutation=fv.flow_permutation,
        flow_coupling=fv.flow_coupling, lu_decomposed=fv.lu_decomposed,
        learntop=fv.learntop, ycond=fv.ycond, weight_y=fv.weight_y, n_y=n_y,
        n_bits_x=fv.n_bits_x, scale_offset=fv.scale_offset,
        multiscale=fv.multiscale, three_axis_1x1=fv.three_axis_1x1, seed=fv.seed)


def _parse_means(spec):
    if not spec:
        return None
    return tuple(tuple(float(v) for v in row.split(",")) for row in spec.split(";"))


def prior_config(fv=FLAGS):
    if fv.prior == "standard":
        return PriorConfig(assignment_seed=fv.seed)  # the mixture settings do not apply
    return PriorConfig(kind=fv.prior, n_components=fv.n_components,
                       layout=fv.prior_layout, distance=fv.prior_distance,
                       explicit_means=_parse_means(fv.prior_means), beta=fv.prior_beta,
                       assignment=fv.assignment, label_map=fv.label_map,
                       assignment_seed=fv.seed)


def train_config(fv=FLAGS):
    dal = fv.dal if fv.dal >= 0 else (0.1 if fv["dataset"].value == "cifar10" else 0.0)
    return TrainConfig(
        n_batch_train=fv.n_batch_train, n_batch_test=fv.n_batch_test,
        n_batch_init=fv.n_batch_init, optimizer=fv.optimizer, lr=fv.lr,
        beta1=fv.beta1, beta2=fv.beta2, polyak_epochs=fv.polyak_epochs,
        weight_decay=fv.weight_decay, epochs=fv.epochs,
        epochs_warmup=fv.epochs_warmup, epochs_full_valid=fv.epochs_full_valid,
        epochs_full_sample=fv.epochs_full_sample, dal=dal, seed=fv.seed,
        checkpoint_secs=fv.checkpoint_secs, xla=fv.xla, strategy=fv.strategy,
        restore_path=fv.restore_path, adamw_weight_decay=fv.adamw_weight_decay,
        negative_threshold=fv["negative_threshold"].value if "negative_threshold" in fv
        else TrainConfig.negative_threshold,
        devices=tuple(fv.devices), mixed_precision=fv.mixed_precision)


def define_evaluation_flags(fv=FLAGS):
    d = _definer(fv)
    d.string("logdir", None, "Run directory of the model.")
    d.list("ood_datasets", [], "OOD datasets (tfds names for image models).")
    d.string("data_dir", None, "tfds data_dir (overrides the run's).")
    d.string("dataset", None, "In-distribution dataset, for runs that do not record it "
             "(imported OpenAI checkpoints).")
    d.integer("n_eval", 0, "Score at most this many examples per set (0: all).",
              lower_bound=0)
    d.enum("dequantization", "uniform", ["none", "uniform"], "Test-time noise.")
    d.integer("seed", 0, "Seed of the dequantisation noise and subsets.")
    d.integer("batch_size", 256, "Evaluation batch size.", lower_bound=1)
    d.bool("use_polyak", False, "Evaluate the Polyak-averaged weights.")
    d.string("output_dir", None, "Where reports go (default: --logdir).")
    d.integer("importance_samples", 0, "VAE runs: importance samples per image (0: the "
              "run's own setting).", lower_bound=0)


# The flag groups of each binary that reads flagfiles, in definition order.
BINARY_FLAGS = {
    "evaluate_ood": (define_evaluation_flags,),
    "train_glow": (define_run_flags, define_data_flags, define_glow_flags, define_prior_flags,
                   define_training_flags, define_negative_training_flags),
    "train_realnvp": (define_run_flags, define_data_flags, define_realnvp_flags,
                      define_prior_flags, define_training_flags,
                      define_negative_training_flags),
    "train_tabular": (define_run_flags, define_tabular_data_flags, define_tabular_flow_flags,
                      define_prior_flags, define_training_flags),
    "train_vae": (define_run_flags, define_data_flags, define_vae_flags, define_prior_flags,
                  define_training_flags),
}


def define_binary_flags(binary, fv=FLAGS):
    for define in BINARY_FLAGS[binary]:
        define(fv)


def parse_flagfile(binary, path, extra=()):
    """Parses a flagfile against the flags of `binary` into a fresh FlagValues (for tests
    and tools); unknown flags or bad values raise absl's errors."""
    fv = flags.FlagValues()
    define_binary_flags(binary, fv)
    fv([binary, f"--flagfile={path}", *extra])
    return fv
