"""Pieces the application modules share (TensorFlow-free)."""
from glow_prior import cli
from glow_prior.config import DataConfig
from glow_prior.config.run import training_sections


def check_prior_labels(args):
    """The label map must cover exactly the trained labels."""
    args.prior.check_labels(args.data.labels)


def training_app(name, doc, model_kind, architecture, data=DataConfig, negative=True):
    """The App of a training binary: run, data, architecture, prior, training (and
    negative-training) flags; the body is glow_prior.apps.training_run.train."""
    sections = training_sections(architecture, data, negative)

    def run(args):
        from glow_prior.apps import training_run
        training_run.train(model_kind, args)
        print(training_run.next_steps(model_kind, args.run.logdir), flush=True)

    checks = (check_prior_labels,) if data is DataConfig else ()
    return cli.App(name, doc, sections, run, checks)
