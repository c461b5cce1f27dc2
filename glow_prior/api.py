"""The Python API: `glow_prior.load` and `glow_prior.train` (re-exported lazily by the
package, so that importing glow_prior does not import TensorFlow).

    import glow_prior
    glow_prior.train("glow", logdir="runs/tiny", labels=(1, 7), subset=512, epochs=1,
                     n_levels=2, depth=2, width=16)
    model = glow_prior.load("runs/tiny")          # a tfd.Distribution over uint8 images
    model.log_prob(images)                        # nats, any batch shape
    model.sample([2, 3], seed=1)                  # uint8 [2, 3, H, W, C]

Models follow TFP's shape semantics and glow_prior.models.base's conventions; every seed
is an int or a pair (glow_prior.seeds).
"""
import importlib

from absl import flags

from glow_prior.errors import InputError

TRAINING_BINARIES = ("glow", "realnvp", "vae", "tabular")


def load(logdir, use_polyak=False, dtype="float32"):
    """The model of a run directory (trained with a train_* binary or glow_prior.train, or
    an imported OpenAI Glow checkpoint), its newest checkpoint restored and verified.

    Returns a glow_prior.models.base.DensityModel: a `tfd.Distribution` over the run's
    examples (uint8 images, or vectors of `dtype`) with log_prob, sample, statistics,
    encode/decode and ood_scores; `model.run_spec` is the run's record (hparams.json).
    use_polyak: the Polyak-averaged weights; dtype: "float32" or "float64", the precision
    the model computes in.
    """
    from glow_prior.models.registry import load_model  # pylint: disable=import-outside-toplevel
    model, spec = load_model(logdir, use_polyak=use_polyak, float_dtype=dtype)
    model.run_spec = spec
    return model


def _flag(name, value):
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if isinstance(value, (list, tuple)):
        return f"--{name}={','.join(str(v) for v in value)}"
    return f"--{name}={value}"


def train(model, logdir, show_progress=True, **settings):
    """Trains a model into the run directory `logdir`, as `train_<model>` would with the
    flags `settings` (the binary's flag names: dataset, labels, subset, epochs, depth,
    width, prior, prior_distance, lr, flagfile, ...; lists as tuples, booleans as bools).
    A rerun resumes, exactly as the binary's. Returns the last epoch's record."""
    if model not in TRAINING_BINARIES:
        raise InputError(f"model must be one of {', '.join(TRAINING_BINARIES)}, got '{model}'")
    # pylint: disable=import-outside-toplevel
    from glow_prior.apps import training_run
    app = importlib.import_module(f"glow_prior.apps.train_{model}").APP
    argv = [app.name, f"--logdir={logdir}",
            *(_flag(name, value) for name, value in settings.items())]
    try:
        args = app.parse(argv)
    except flags.Error as error:
        raise InputError(str(error)) from error
    return training_run.train(model, args, show_progress=show_progress)
