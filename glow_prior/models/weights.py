"""Model weights addressed by variable name: the one way weights move between models.

OpenAI checkpoint import and --restore_path both copy weights by name and shape; every
missing, unexpected or mismatched variable is reported (a permuted, re-ordered or
differently coupled model never loads silently). Names are unique within a model: Glow's
are OpenAI's (model/0/3/f1/l_1/W, ...), RealNVP's coupling<i>/..., the VAE's
encoder_conv1/kernel, ...
"""
import hashlib

import numpy as np

from glow_prior.errors import CheckpointError

SKIPPED = ("initialized",)  # bookkeeping, not weights


def variable_name(variable):
    """A variable's name without TensorFlow's ':0' suffix."""
    return variable.name.split(":")[0]


def variables_by_name(model, prefix=""):
    """{name: variable} of the model's weights (names starting with `prefix`)."""
    named = {}
    for variable in model.variables:
        name = variable_name(variable)
        if name in SKIPPED or not name.startswith(prefix):
            continue
        if name in named:
            raise CheckpointError(f"two variables of the model are named {name}; weights "
                                  "cannot be matched by name")
        named[name] = variable
    return named


def values_by_name(model, prefix=""):
    """{name: numpy value} of the model's weights (names starting with `prefix`)."""
    return {name: v.numpy() for name, v in variables_by_name(model, prefix).items()}


def _listed(names, limit=8):
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def assign_by_name(model, values, source, prefix=""):
    """Assigns every weight of `model` (with `prefix`) from {name: array} `values`.

    Raises CheckpointError listing missing, unexpected and shape-mismatched variables;
    nothing is assigned unless everything matches.
    """
    ours = variables_by_name(model, prefix)
    theirs = {name: value for name, value in values.items() if name.startswith(prefix)
              and name not in SKIPPED}
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    mismatched = sorted(f"{name} {tuple(np.shape(theirs[name]))} vs "
                        f"{tuple(ours[name].shape)}" for name in set(ours) & set(theirs)
                        if tuple(np.shape(theirs[name])) != tuple(ours[name].shape))
    problems = [f"{what}: {_listed(names)}" for what, names in (
        (f"missing in {source}", missing), (f"not in the model but in {source}", unexpected),
        ("shapes differ (theirs vs ours)", mismatched)) if names]
    if problems:
        raise CheckpointError(f"the weights of {source} do not fit this model; "
                              + "; ".join(problems))
    for name, variable in ours.items():
        variable.assign(np.asarray(theirs[name]).astype(variable.dtype.as_numpy_dtype))


def weights_fingerprint(model):
    """The first 16 hex digits of a SHA-256 over the model's weights (names, shapes and
    values, in name order): what a fitted detector records of the weights it was fitted on,
    so that it is never applied to other weights unnoticed."""
    digest = hashlib.sha256()
    for name, value in sorted(values_by_name(model).items()):
        value = np.ascontiguousarray(value)
        digest.update(f"{name}{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]
