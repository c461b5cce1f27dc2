"""The Python API: what a researcher calls from a notebook, and what the binaries call once
they have parsed their flags (glow_prior.apps: flags -> config objects -> one call here).

Models and data:

    import glow_prior
    from glow_prior.config import GlowConfig, PriorConfig, TrainConfig

    model = glow_prior.build(GlowConfig(n_levels=2, depth=4, width=32),
                             example_shape=(28, 28, 1))      # a tfd.Distribution
    glow_prior.train(GlowConfig(n_levels=2, depth=4, width=32), "runs/mine", images,
                     labels=labels, test_data=test_images,
                     training=TrainConfig(epochs=2, n_batch_train=64))
    model = glow_prior.load("runs/mine")
    result = glow_prior.evaluate(model, test_images, {"digits": ood_images})
    detector = glow_prior.fit_detector(model, train_images, held_out_images)

`train` takes the model as config objects or as a model built with `build`, and the data as
the user's arrays (uint8 images, float vectors), a finite tf.data.Dataset, or a named
dataset's config (glow_prior.config.DataConfig / TabularDataConfig, what the binaries
pass); its run directory gets the same record, resume, checkpoint and progress guarantees
as the binaries' (glow_prior.runs.train). Every seed is an int or a pair
(glow_prior.seeds); models follow TFP's shape semantics (glow_prior.models.base).
"""
import os

from glow_prior import data as datasets
from glow_prior import files
from glow_prior.config import NegativeTrainingConfig, PriorConfig, RunConfig, TrainConfig
from glow_prior.data import preprocess
from glow_prior.errors import InputError
from glow_prior.models import scoring
from glow_prior.models.base import FLOW_TERMS, IMAGES
from glow_prior.models.registry import build
from glow_prior.ood.detector import Detector
from glow_prior.ood.evaluate import evaluate_arrays
from glow_prior.reports import visualize
from glow_prior.runs import detectors, export, openai_import
from glow_prior.runs import evaluate as run_evaluation
from glow_prior.runs.detectors import load_detector, save_detector
from glow_prior.runs.load import load_model
from glow_prior.runs.train import TrainingData, train_run

__all__ = ["build", "detect_file", "evaluate", "evaluate_run", "export_run", "fit_detector",
           "fit_run_detector", "import_openai", "load", "load_detector", "save_detector",
           "score_file", "train", "visualize_run"]

NAMED_DATA = ("DataConfig", "TabularDataConfig")


def load(logdir, use_polyak=False, dtype="float32", checkpoint=""):
    """The model of a run directory (trained with a train_* binary or glow_prior.train, or
    an imported OpenAI Glow checkpoint), its newest checkpoint restored and verified.

    Returns a glow_prior.models.base.DensityModel: a `tfd.Distribution` over the run's
    examples (uint8 images, or vectors of `dtype`) with log_prob, sample, statistics,
    encode/decode; `model.run_spec` is the run's record (hparams.json). use_polyak: the
    Polyak-averaged weights; dtype: "float32" or "float64", the precision the model
    computes in; checkpoint: "" (the newest), "best" (the best by validation bits/dim, for
    runs with a validation set) or a checkpoint's name ("ckpt-200").
    """
    return load_model(logdir, use_polyak=use_polyak, float_dtype=dtype,
                      checkpoint=checkpoint)[0]


def train(model, logdir, data, *, labels=None, components=None, test_data=None,
          test_labels=None, prior=None, training=None, negatives=None,
          negative_training=None, run=None, name="arrays", show_progress=True):
    """Trains a model into the run directory `logdir` and returns the last epoch's record
    (a dict: epoch, step, loss, bits_x, test_log_likelihood, ...). A rerun resumes; a rerun
    with other settings or other data is refused (glow_prior.runs.train).

    model: config objects (GlowConfig, RealNVPConfig, VAEConfig, TabularFlowConfig), or a
      model built with glow_prior.build (trained in place);
    data: uint8 images [N, H, W, C] or float vectors [N, D] (numpy), a finite
      tf.data.Dataset of them (or of (examples, labels) pairs), or a named dataset's config
      (DataConfig, TabularDataConfig: its train and test splits are loaded by name);
    labels / components: each example's class label and assigned prior component (mixture
      priors: by default from the labels, as PriorConfig.assignment says);
    test_data / test_labels: examples evaluated at the end (and every epochs_full_valid
      epochs);
    prior: a PriorConfig (default: the model's, else the standard normal); training: a
      TrainConfig; negatives / negative_training: Kirichenko et al.'s negative training on
      these examples (a NegativeTrainingConfig's threshold); run: a RunConfig (its logdir
      is `logdir`: allow_changes, resume_from, progress and summary intervals); name: what
      in-memory data is called in the record.
    """
    architecture = getattr(model, "architecture", model)
    instance = model if architecture is not model else None
    if instance is not None:
        if prior is not None and prior != instance.prior_config:
            raise InputError("the model was built with another prior than `prior`; build it "
                             "with that prior, or leave `prior` out")
        prior = instance.prior_config
    training = training or TrainConfig()
    negative = negative_training or NegativeTrainingConfig()
    run = (run or RunConfig()).replace(logdir=str(logdir))
    if type(data).__name__ in NAMED_DATA:
        if any(v is not None for v in (labels, components, test_data, test_labels, negatives)):
            raise InputError("a named dataset brings its own labels, test split and negative "
                             "set; give arrays to pass your own")
        source = TrainingData(config=data)
    else:
        source = TrainingData(train=data, labels=labels, components=components,
                              test=test_data, test_labels=test_labels, negatives=negatives,
                              name=name)
    return train_run(architecture, prior or PriorConfig(), source, training, negative, run,
                     show_progress, instance)


def evaluate(model, in_distribution, ood, scores=("default",), train=None, seed=0,
             batch_size=256, dequantize=True, background=None, ensemble=(), reference=None,
             bootstrap_resamples=1000):
    """`model` as an OOD detector on arrays: every requested score's per-example values and
    AUROC, AUPR_IN, AUPR_OUT and FPR@95 against each OOD set (an OODResult: `.auroc(score)`,
    `.interval(score)`, `.table()`: every metric with its 95% bootstrap interval from
    `bootstrap_resamples` resamples, 0 for none). in_distribution: test examples; ood: an
    array or {name: array}; scores:
    names, 'default' or 'all' (glow_prior.ood); train: training-distribution examples the
    scores fit on (default: a seeded half of in_distribution, the other half then being
    the test set). Labels, for class-conditional models, as (x, y) pairs."""
    return evaluate_arrays(model, in_distribution, ood, scores, train, seed, batch_size,
                           dequantize, background, tuple(ensemble), reference,
                           bootstrap_resamples)


def fit_detector(model, train, calibration, score="log_likelihood", tpr=0.95, **options):
    """A Detector of `model`'s `score` fitted on in-distribution `train` examples, its
    threshold keeping a fraction `tpr` of the held-out in-distribution `calibration`
    examples (glow_prior.ood.detector; options: output, seed, batch_size, dequantize,
    background, ensemble, labels). Save it with save_detector."""
    return Detector.fit(model, train, calibration, score, tpr, **options)


# ------------------------------------------------ run directories (what binaries call)
def _file_labels(model, y, path):
    """(labels for `model`, a note or ""): a class-conditional model uses the file's labels
    `y`; any other model ignores them, and the note says so."""
    if model.conditional or y is None:
        return y, ""
    return None, (f"note: {path} holds labels 'y'; this model is not class-conditional, so "
                  "they are not used\n")

def evaluate_run(options):
    """evaluate_ood: the OOD evaluation of a run directory, written as its report
    (options: glow_prior.config.evaluation.EvaluateOptions); returns the report dict."""
    return run_evaluation.evaluate_and_report(options)


def fit_run_detector(options):
    """fit_detector: a detector fitted on a run's data and saved in RUN/detectors/NAME
    (options: glow_prior.config.evaluation.DetectorOptions); returns its summary text."""
    return detectors.fit_for_run(options)


def score_file(options):
    """score: per-image log-likelihoods and bits/dim of an .npz of images under a run's
    model, written to options.output (glow_prior.config.evaluation.ScoreFileOptions);
    returns a one-line summary."""
    x, y = preprocess.read_image_archive(options.images)
    model, _ = load_model(options.logdir, use_polyak=options.use_polyak)
    y, note = _file_labels(model, y, options.images)
    scoring.check_inputs(model, x, y, f"images in {options.images}")
    scores = scoring.score(model, x, options.batch_size, seed=options.seed,
                           dequantize=options.dequantization == "uniform", y=y)
    files.write_npz(options.output, log_likelihood=scores.log_likelihood,
                    bits_per_dim=scores.bits_per_dim)
    return (f"{note}Scored {len(x)} images: mean {scores.bits_per_dim.mean():.4f} bits/dim -> "
            f"{options.output}")


def detect_file(options):
    """detect: a saved detector applied to an .npz of examples, its decisions written to
    options.output (glow_prior.config.evaluation.DetectOptions); returns a summary."""
    x, y = preprocess.read_image_archive(options.images)
    detector = load_detector(options.detector, use_polyak=options.use_polyak,
                             allow_other_weights=options.allow_other_weights)
    y, note = _file_labels(detector.model, y, options.images)
    scoring.check_inputs(detector.model, x, y, f"examples in {options.images}")
    decision = detector.predict(x, y)
    data = decision["data"]
    files.write_npz(options.output, **data)
    return (f"{note}{int(data['is_outlier'].sum())} of {len(x)} flagged as outliers by "
            f"{decision['meta']['name']} (threshold {detector.threshold:.6g}, kept TPR "
            f"{detector.settings['tpr']}) -> {options.output}")


def export_run(options):
    """export_savedmodel: a run's model (and detector) as a SavedModel
    (glow_prior.config.export.ExportOptions); returns the signatures' names."""
    model, spec = load_model(options.logdir, use_polyak=options.use_polyak)
    detector = None
    if options.detector:
        detector = load_detector(options.detector, model, use_polyak=options.use_polyak,
                                 allow_other_weights=options.allow_other_weights)
    return export.export(model, spec, options.export_dir, options.seed, detector,
                         options.overwrite)


def import_openai(options, architecture, stated):
    """import_openai_checkpoint: an openai/glow checkpoint as a run directory
    (glow_prior.config.export.ImportOptions; architecture: a GlowConfig; stated: the
    architecture settings the user gave, checked against the checkpoint); returns its
    path."""
    return openai_import.import_checkpoint(options.checkpoint, options.logdir,
                                           options.image_size, options.dataset,
                                           options.use_polyak, architecture, stated)


def visualize_run(options):
    """visualize: Kirichenko et al.'s figures of an image flow's run
    (glow_prior.config.evaluation.VisualizeOptions); returns the output folder."""
    model, spec = load_model(options.logdir)
    if not (model.supports(FLOW_TERMS) and model.supports(IMAGES)):
        raise InputError("visualize needs an image flow (Glow or RealNVP) run")
    _, test, ood = datasets.evaluation_sets(spec, [options.ood_dataset],
                                           options.data_dir)
    out = options.output_dir or os.path.join(options.logdir, "visualize")
    visualize.write_figures(model, test.x[:options.n_images],
                            ood[options.ood_dataset].x[:options.n_images],
                            options.ood_dataset, out, options.noise_draws,
                            options.max_couplings, options.temperature, options.seed)
    return out
