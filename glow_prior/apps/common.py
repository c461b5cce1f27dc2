"""Pieces the application modules share (TensorFlow-free)."""
import os

from glow_prior.apps import cli
from glow_prior.config import DataConfig, NegativeTrainingConfig
from glow_prior.config.run import training_sections


def check_prior_labels(args):
    """The label map must cover exactly the trained labels."""
    args.prior.check_labels(args.data.labels)


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


def training_app(name, doc, model_kind, architecture, data=DataConfig, negative=True):
    """The App of a training binary: run, data, architecture, prior, training (and
    negative-training) flags; the body is one call, glow_prior.api.train."""
    sections = training_sections(architecture, data, negative)

    def run(args):
        from glow_prior import api  # TensorFlow loads here
        api.train(args.architecture, args.run.logdir, args.data, prior=args.prior,
                  training=args.training,
                  negative_training=getattr(args, "negative", NegativeTrainingConfig()),
                  run=args.run)
        print(next_steps(model_kind, args.run.logdir), flush=True)

    checks = (check_prior_labels,) if data is DataConfig else ()
    return cli.App(name, doc, sections, run, checks)
