"""Models from their record: build the model a RunSpec describes, load a run's weights."""
import functools

import tensorflow as tf

from glow_prior.bijectors.base import FlowContext
from glow_prior.errors import RunDirError
from glow_prior.models.base import as_float_dtype
from glow_prior.models.glow import build_glow
from glow_prior.models.realnvp import build_realnvp
from glow_prior.models.tabular import build_tabular
from glow_prior.models.vae import VAE
from glow_prior.optim import PolyakAverage
from glow_prior.priors import build_prior
from glow_prior.rundir import RunDir
from glow_prior.weights import assign_by_name, values_by_name


def _build_vae(config, prior_fn, context=None, float_dtype="float32"):
    del context  # Keras layers: no flow context
    return VAE(config, prior_fn(config.latent_dim), float_dtype)


BUILDERS = {"glow": build_glow, "realnvp": build_realnvp, "tabular": build_tabular,
            "vae": _build_vae}


def build_model(spec, mixed_precision="none", float_dtype="float32",
                gradient_checkpointing=False):
    """The (untrained) model a glow_prior.config.RunSpec describes, computing in
    `float_dtype` (float32 or float64); gradient_checkpointing: backprop through its flow's
    levels by inversion (training only)."""
    return BUILDERS[spec.model](spec.architecture, functools.partial(build_prior, spec.prior),
                                FlowContext(mixed_precision, gradient_checkpointing),
                                float_dtype)


def load_model(logdir, use_polyak=False, float_dtype="float32"):
    """(model, spec) with the newest checkpoint of `logdir` restored (verified, strict).

    float_dtype: the precision the returned model computes in. Checkpoints hold float32
    weights; for float64 the restored weights are copied by name into a model built in
    float64 (a model for evaluation: training always runs in float32)."""
    run = RunDir(logdir)
    spec = run.read_spec()
    model = build_model(spec)
    objects = {"model": model}
    polyak = PolyakAverage(model.trainable_variables) if use_polyak else None
    if polyak is not None:
        objects["polyak"] = polyak
    path, _, _ = run.find_checkpoint()
    if path is None:
        raise RunDirError(f"{logdir} has no checkpoint in checkpoints/")
    if use_polyak and not any(name.startswith("polyak/")
                              for name, _ in tf.train.list_variables(path)):
        how = ("it was imported from an OpenAI checkpoint without --use_polyak; import it "
               "again with --use_polyak for the averages") if spec.imported_from else \
            "it has no averaged weights"
        raise RunDirError(f"{logdir} holds no Polyak averages ({how}); drop --use_polyak")
    run.restore(run.checkpoint_manager(**objects), path, partial=True, verified=True)
    if polyak is not None:
        polyak.copy_to_model()
    if as_float_dtype(float_dtype) != model.float_dtype:
        copy = build_model(spec, float_dtype=float_dtype)
        assign_by_name(copy, values_by_name(model), f"run {logdir}")
        model = copy
    return model, spec
