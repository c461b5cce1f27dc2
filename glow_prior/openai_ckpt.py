"""Import of TF1 checkpoints written by openai/glow's train.py (tf.train.Saver, no meta graph).

Our variables carry OpenAI's names (section 3.10 of ../shared/references/openai_glow_notes.md),
so the map is the identity on names: `model/0/3/f1/l_1/W` in the checkpoint is the variable
of that name in our model, with the same shape and the same (OpenAI) parameterisation:
logs scaled by 1/3, edge-padding input channel last, W[in, out], interleaved coupling and
split-prior outputs, halves in the top prior. Polyak shadows (`<name>/ExponentialMovingAverage`)
can be imported instead of the raw weights; optimizer slots (`Variable_*`) are ignored.

What the checkpoint fixes (depth, levels, width, permutation, coupling, learntop, ycond,
image channels) is inferred from the variable names and shapes and cross-checked against
any value the caller states; the image size and n_bits_x are not stored in the weights.
"""
import re

import numpy as np
import tensorflow as tf

EMA_SUFFIX = "/ExponentialMovingAverage"


class CheckpointImportError(RuntimeError):
    """The checkpoint cannot be read or does not match the model."""


def read_checkpoint(prefix):
    """{name: array} of every variable in the TF1 checkpoint at `prefix`."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        return {name: reader.get_tensor(name) for name in shapes}
    except (tf.errors.OpError, ValueError, IndexError, OSError) as error:
        # A truncated data file surfaces as IndexError ("Read less bytes than requested").
        raise CheckpointImportError(
            f"cannot read OpenAI Glow checkpoint '{prefix}' (give the prefix, e.g. "
            f".../model_best_loss.ckpt, with its .index and .data files beside it): "
            f"{error}") from error


def model_parameters(values, use_polyak=False):
    """The model/* parameters (or their Polyak averages) keyed by parameter name."""
    params = {}
    for name, value in values.items():
        if not name.startswith("model/"):
            continue
        if name.endswith(EMA_SUFFIX) == use_polyak:
            params[name[:-len(EMA_SUFFIX)] if use_polyak else name] = value
    if not params:
        what = "Polyak averages" if use_polyak else "model/* parameters"
        raise CheckpointImportError(f"the checkpoint holds no {what}")
    return params


def infer_architecture(params):
    """Architecture facts the weights determine, as GlowConfig field values."""
    steps = {}
    for name in params:
        match = re.match(r"model/(\d+)/(\d+)/", name)
        if match:
            steps.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    if not steps or 0 not in steps:
        raise CheckpointImportError("no flow steps model/<level>/<step>/ in the checkpoint")
    n_levels = max(steps) + 1
    depth = max(steps[0]) + 1
    if any(steps.get(level) != set(range(depth)) for level in range(n_levels)):
        raise CheckpointImportError(f"levels have unequal numbers of steps: {steps}")
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
    """Raises CheckpointImportError where a stated hyperparameter contradicts the weights."""
    conflicts = [f"{key}: stated {value}, checkpoint has {inferred[key]}"
                 for key, value in stated.items()
                 if key in inferred and value is not None and value != inferred[key]]
    if conflicts:
        raise CheckpointImportError("hyperparameters do not match the checkpoint: "
                                    + "; ".join(conflicts))


def assign_parameters(model, params):
    """Assigns every model/* variable of `model` from `params`; all must match exactly."""
    ours = {v.name.split(":")[0]: v for v in model.variables if v.name.startswith("model/")}
    missing = sorted(set(ours) - set(params))
    unused = sorted(set(params) - set(ours))
    if missing or unused:
        raise CheckpointImportError(
            "the checkpoint and the model differ: " +
            (f"missing in checkpoint {missing[:5]}{'...' if len(missing) > 5 else ''} "
             if missing else "") +
            (f"not in the model {unused[:5]}{'...' if len(unused) > 5 else ''}"
             if unused else ""))
    for name, variable in ours.items():
        value = np.asarray(params[name])
        if tuple(value.shape) != tuple(variable.shape):
            raise CheckpointImportError(f"{name}: checkpoint shape {value.shape}, model "
                                        f"shape {tuple(variable.shape)}")
        variable.assign(value.astype(variable.dtype.as_numpy_dtype))
    model.initialized.assign(True)
