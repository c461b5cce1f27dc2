"""Import of TF1 checkpoints written by openai/glow's train.py (tf.train.Saver, no meta graph).

Our variables carry OpenAI's names (docs/openai_glow.md, "Variable names"), so the map is
the identity on names (glow_prior.models.weights.assign_by_name): `model/0/3/f1/l_1/W` in the
checkpoint is the variable of that name in our model, with the same shape and the same
(OpenAI) parameterisation: logs scaled by 1/3, edge-padding input channel last, W[in, out],
interleaved coupling and split-prior outputs, halves in the top prior. Polyak shadows
(`<name>/ExponentialMovingAverage`) can be imported instead of the raw weights; optimizer
slots (`Variable_*`) are ignored.

What the checkpoint fixes (depth, levels, width, permutation, coupling, learntop, ycond,
image channels) is inferred from the variable names and shapes and cross-checked against
any value the caller states; the image size and n_bits_x are not stored in the weights.
"""
import functools
import os
import re

import tensorflow as tf

from glow_prior.config import DataConfig, GlowConfig, PriorConfig, RunSpec, TrainConfig
from glow_prior.errors import CheckpointError, RunDirError
from glow_prior.models.glow import build_glow
from glow_prior.models.priors import build_prior
from glow_prior.runs.rundir import CHECKPOINT_DIR, RunDir
from glow_prior.models.weights import assign_by_name

EMA_SUFFIX = "/ExponentialMovingAverage"

def read_checkpoint(prefix):
    """{name: array} of every variable in the TF1 checkpoint at `prefix`."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in shapes}
    except (tf.errors.OpError, ValueError, IndexError, OSError) as error:
        # A truncated data file surfaces as IndexError ("Read less bytes than requested").
        raise CheckpointError(
            f"cannot read OpenAI Glow checkpoint '{prefix}' (give the prefix, e.g. "
            f".../model_best_loss.ckpt, with its .index and .data files beside it): "
            f"{error}") from error


def model_parameters(values, use_polyak=False):
    """The model/* parameters keyed by parameter name; with use_polyak, each parameter's
    Polyak average where it has one and the stored value otherwise, as openai's
    polyak_swap does (variables without an average: the shuffle permutation's indices,
    the LU factorisation's P and sign_S)."""
    params = {name: value for name, value in values.items()
              if name.startswith("model/") and not name.endswith(EMA_SUFFIX)}
    if not params:
        raise CheckpointError("the checkpoint holds no model/* parameters")
    if use_polyak:
        averaged = {name: values[name + EMA_SUFFIX] for name in params
                    if name + EMA_SUFFIX in values}
        if not averaged:
            raise CheckpointError("the checkpoint holds no Polyak averages "
                                  f"(<name>{EMA_SUFFIX}); import it without --use_polyak")
        params.update(averaged)
    return params


def infer_architecture(params):
    """Architecture facts the weights determine, as GlowConfig field values."""
    steps = {}
    for name in params:
        match = re.match(r"model/(\d+)/(\d+)/", name)
        if match:
            steps.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    if not steps or 0 not in steps:
        raise CheckpointError("no flow steps model/<level>/<step>/ in the checkpoint")
    n_levels = max(steps) + 1
    depth = max(steps[0]) + 1
    if any(steps.get(level) != set(range(depth)) for level in range(n_levels)):
        raise CheckpointError(f"levels have unequal numbers of steps: {steps}")
    channels = params["model/0/0/actnorm_center/b"].shape[-1]
    if "model/0/0/invconv/W" in params:
        permutation, lu = 2, False
    elif "model/0/0/invconv/L" in params:
        permutation, lu = 2, True
    elif "model/0/0/shuffle/indices" in params:
        permutation, lu = 1, False
    else:
        permutation, lu = 0, False
    n_out = params["model/0/0/f1/l_last/W"].shape[-1]
    facts = {
        "n_levels": n_levels,
        "depth": depth,
        "width": int(params["model/0/0/f1/l_1/W"].shape[-1]),
        "flow_permutation": permutation,
        "lu_decomposed": lu,
        "flow_coupling": 1 if n_out == channels else 0,
        "learntop": "model/prior/p/W" in params,
        "ycond": "model/prior/y_emb/W" in params,
        "multiscale": n_levels == 1 or "model/pool0/conv/W" in params,
        "image_channels": channels // 4,
        "has_classifier": "model/classifier/W" in params,
    }
    if facts["ycond"]:
        facts["n_y"] = int(params["model/prior/y_emb/W"].shape[0])
    return facts


def cross_check(inferred, stated):
    """Raises CheckpointError where a stated hyperparameter contradicts the weights."""
    conflicts = [f"{key}: stated {value}, checkpoint has {inferred[key]}"
                 for key, value in stated.items()
                 if key in inferred and value is not None and value != inferred[key]]
    if conflicts:
        raise CheckpointError("hyperparameters do not match the checkpoint: "
                                    + "; ".join(conflicts))


def assign_parameters(model, params, source="the OpenAI checkpoint"):
    """Assigns every model/* variable of `model` from `params`; all must match exactly."""
    assign_by_name(model, params, source, prefix="model/")
    model.initialized.assign(True)


def import_checkpoint(prefix, logdir, image_size, dataset, use_polyak, given, stated):
    """Imports the checkpoint at `prefix` into a new run directory `logdir`; returns the
    written checkpoint's path. `given`: a GlowConfig with the command line's values
    (n_bits_x, weight_y); `stated`: the hyperparameters the user stated, cross-checked."""
    params = model_parameters(read_checkpoint(prefix), use_polyak)
    facts = infer_architecture(params)
    cross_check(facts, stated)
    architecture = GlowConfig(
        n_levels=facts["n_levels"], depth=facts["depth"], width=facts["width"],
        flow_permutation=facts["flow_permutation"], flow_coupling=facts["flow_coupling"],
        lu_decomposed=facts["lu_decomposed"], learntop=facts["learntop"],
        ycond=facts["ycond"],
        # A classifier exists only with weight_y > 0 (OpenAI's conditional runs use 0.01).
        weight_y=(given.weight_y or 0.01) if facts["has_classifier"] else 0.0,
        n_bits_x=given.n_bits_x, multiscale=facts["multiscale"],
    ).for_data((image_size, image_size, facts["image_channels"]), facts.get("n_y", 10))
    prior = PriorConfig()
    model = build_glow(architecture, functools.partial(build_prior, prior))
    assign_parameters(model, params, f"checkpoint {prefix}")
    run = RunDir(logdir).lock()
    try:
        if tf.train.latest_checkpoint(run.file(CHECKPOINT_DIR)) is not None:
            raise RunDirError(f"{logdir} already holds a run; import into a new --logdir")
        run.write_spec(RunSpec(model="glow", architecture=architecture, prior=prior,
                               data=DataConfig(dataset=dataset), training=TrainConfig(),
                               imported_from={"checkpoint": os.path.abspath(prefix),
                                              "polyak": use_polyak}))
        return run.checkpoint_manager(model=model).save(checkpoint_number=0)
    finally:
        run.close()
