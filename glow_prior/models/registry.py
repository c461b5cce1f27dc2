"""Building models: from config objects in Python, or from a run's record (a RunSpec).

    from glow_prior.config import GlowConfig, PriorConfig
    from glow_prior.models.registry import build   # or glow_prior.build
    model = build(GlowConfig(n_levels=2, depth=4, width=32), example_shape=(28, 28, 1),
                  prior=PriorConfig(kind="gaussian_mixture", distance=100.0))

`build` fills in what the data determines (the example shape, the number of classes of a
class-conditional Glow, the VAE's latent size) with the config's `for_data`, so an
architecture that cannot fit the data is refused here. The model remembers its settings
(`model.architecture`, `model.prior_config`), which is what glow_prior.train records when
it is given a model instance. Models compute in float32 or float64 (`dtype`); the weights
are float32 either way.
"""
import functools

from glow_prior.bijectors.base import FlowContext
from glow_prior.config import ARCHITECTURES, PriorConfig
from glow_prior.errors import InputError
from glow_prior.models.glow import build_glow
from glow_prior.models.priors import build_prior
from glow_prior.models.realnvp import build_realnvp
from glow_prior.models.tabular import build_tabular
from glow_prior.models.vae import VAE
from glow_prior.models.weights import assign_by_name, values_by_name


def _build_vae(config, prior_fn, context=None, float_dtype="float32"):
    del context  # Keras layers: no flow context
    return VAE(config, prior_fn(config.latent_dim), float_dtype)


BUILDERS = {"glow": build_glow, "realnvp": build_realnvp, "tabular": build_tabular,
            "vae": _build_vae}


def kind_of(architecture):
    """The model kind ("glow", "realnvp", "vae", "tabular") of an architecture config."""
    for kind, config_class in ARCHITECTURES.items():
        if isinstance(architecture, config_class):
            return kind
    raise InputError(f"{type(architecture).__name__} is not a model's settings; give one of "
                     f"{', '.join(c.__name__ for c in ARCHITECTURES.values())}")


def _example_shape(architecture):
    shape = getattr(architecture, "image_shape", None)
    return shape if shape is not None else (architecture.num_dims,)


def _construct(kind, architecture, prior, dtype, mixed_precision, gradient_checkpointing):
    model = BUILDERS[kind](architecture, functools.partial(build_prior, prior),
                           FlowContext(mixed_precision, gradient_checkpointing), dtype)
    model.architecture, model.prior_config = architecture, prior
    return model


def build(architecture, example_shape=None, prior=PriorConfig(), n_classes=None,
          dtype="float32", mixed_precision="none", gradient_checkpointing=False):
    """An untrained model from config objects.

    architecture: GlowConfig, RealNVPConfig, VAEConfig or TabularFlowConfig;
    example_shape: the shape of one example ([H, W, C] images, [D] vectors; default: the
    config's own); prior: a PriorConfig; n_classes: the classes of a class-conditional
    (ycond) Glow (default: the config's n_y); dtype: "float32" or "float64";
    mixed_precision / gradient_checkpointing: as the TrainConfig settings (training).
    Training initialises it from data (`model.initialize(x)`) before the first step.
    """
    kind = kind_of(architecture)
    if not isinstance(prior, PriorConfig):
        raise InputError(f"prior must be a PriorConfig, got {type(prior).__name__}")
    shape = tuple(example_shape) if example_shape is not None else _example_shape(architecture)
    classes = n_classes if n_classes is not None else getattr(architecture, "n_y", None)
    architecture = architecture.for_data(shape, classes)
    return _construct(kind, architecture, prior, dtype, mixed_precision,
                      gradient_checkpointing)


def build_model(spec, mixed_precision="none", float_dtype="float32",
                gradient_checkpointing=False):
    """The (untrained) model a glow_prior.config.RunSpec describes, computing in
    `float_dtype` (float32 or float64); gradient_checkpointing: backprop through its flow's
    levels by inversion (training only)."""
    return _construct(spec.model, spec.architecture, spec.prior, float_dtype, mixed_precision,
                      gradient_checkpointing)


def copy_model(model, dtype=None):
    """A second model with the settings and weights of `model` (built with `build` or
    loaded from a run), computing in `dtype` (default: the same); TFP's copy() cannot
    carry a model's variables over."""
    architecture = getattr(model, "architecture", None)
    if architecture is None:
        raise InputError("this model does not record its settings (build it with "
                         "glow_prior.build or load it from a run to copy it)")
    context = getattr(model, "context", None)
    copy = _construct(kind_of(architecture), architecture, model.prior_config,
                      dtype or model.float_dtype.name,
                      "none" if context is None or context.compute_dtype is None
                      else context.compute_dtype.name,
                      bool(context and context.gradient_checkpointing))
    assign_by_name(copy, values_by_name(model), "the model copied")
    if hasattr(model, "initialized"):
        copy.initialized.assign(model.initialized)
    return copy
