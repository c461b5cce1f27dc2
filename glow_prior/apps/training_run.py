"""What the training binaries (train_glow, train_realnvp, train_vae, train_tabular) do
once their flags are checked: strategy, lock, data, record, train."""
import os

from glow_prior import data, distribute, training
from glow_prior.config import RunSpec
from glow_prior.data.tabular import load_tabular
from glow_prior.rundir import RunDir


def load_experiment(model_kind, args):
    """(RunSpec, train set, test set, negatives or None) of the parsed command line."""
    negative = getattr(args, "negative", None)
    if model_kind == "tabular":
        splits = load_tabular(args.data)
        train_set, test_set = splits.train, splits.test
    else:
        train_set, test_set = data.load_train_test(args.data)
    n_classes = int(train_set.y.max()) + 1 if len(train_set.y) else 1
    architecture = args.architecture.for_data(train_set.x.shape[1:], n_classes)
    negatives = None
    if negative is not None and negative.active:
        negatives = data.ood_split(negative.dataset, args.data, "train",
                                   shape=train_set.x.shape[1:])
    spec = RunSpec(model=model_kind, architecture=architecture, prior=args.prior,
                   data=args.data, training=args.training,
                   **({"negative_training": negative} if negative is not None else {}))
    return spec, train_set, test_set, negatives


def train(model_kind, args, show_progress=True):
    """Trains into --logdir and returns the last epoch's record; the strategy comes first
    (multi-worker collectives must be set up before any other TensorFlow work), then the
    run directory's lock, then the data."""
    strategy = distribute.make_strategy(args.training.strategy,
                                        list(args.training.devices) or None)
    run = RunDir(args.run.logdir)
    if training.is_chief(strategy):
        run.lock()
    try:
        spec, train_set, test_set, negatives = load_experiment(model_kind, args)
        return training.train_model(spec, run, args.run, train_set, test_set, negatives,
                                    strategy, show_progress)
    finally:
        run.close()


def next_steps(model_kind, logdir):
    """What a finished training prints: where the run is and the commands that use it."""
    ood = "" if model_kind == "tabular" else " --ood_datasets=mnist  # or other OOD sets"
    return "\n".join([
        f"Run directory: {logdir} (hparams.json, checkpoints/, train.txt, test.txt, "
        "training_curve.png, tensorboard/)",
        "Next:",
        f"  evaluate_ood --logdir={logdir}{ood}",
        f"  export_savedmodel --logdir={logdir} --export_dir=EXPORT_DIR",
        f"  tensorboard --logdir={os.path.join(logdir, 'tensorboard')}"])
