"""A trained run's model, loaded from its run directory (glow_prior.load)."""
import tensorflow as tf

from glow_prior.errors import RunDirError
from glow_prior.models.base import as_float_dtype
from glow_prior.models.registry import build_model
from glow_prior.models.weights import assign_by_name, values_by_name
from glow_prior.runs.rundir import RunDir
from glow_prior.training.optim import PolyakAverage


def load_model(logdir, use_polyak=False, float_dtype="float32", checkpoint=""):
    """(model, spec) with the newest checkpoint of `logdir` restored (verified, strict), or
    `checkpoint` ("best": the best by validation bits/dim; "ckpt-N": that one).

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
    path, _, _ = run.find_checkpoint(checkpoint)
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
    model.run_spec, model.checkpoint_path = spec, path
    return model, spec
