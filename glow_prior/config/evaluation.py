"""Settings of evaluating trained runs: OOD evaluation, detectors, scoring image files and
Kirichenko et al.'s figures (the evaluate_ood, fit_detector, detect, score and visualize
binaries, and the same calls from Python, glow_prior.api)."""
import dataclasses

from glow_prior.config.common import threads_option
from glow_prior.config.fields import Config, option

CALIBRATIONS = ("auto", "held_out", "test_half")


@dataclasses.dataclass(frozen=True)
class EvaluateOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    ood_datasets: tuple = option((), "OOD datasets (tfds names, constant, noise, "
                                 "other_labels; for tabular runs their own OOD sets).")
    data_dir: str = option(None, "tfds data_dir (overrides the run's).")
    dataset: str = option(None, "In-distribution dataset, for runs that do not record it "
                          "(imported OpenAI checkpoints).")
    n_eval: int = option(0, "Score at most this many examples per set (0: all).", lower=0)
    dequantization: str = option("uniform", "Test-time noise.", choices=("none", "uniform"))
    seed: int = option(0, "Seed of the dequantisation noise and subsets.")
    batch_size: int = option(256, "Evaluation batch size.", lower=1)
    use_polyak: bool = option(False, "Evaluate the Polyak-averaged weights.")
    checkpoint: str = option("", "The checkpoint to evaluate: '' (the newest), 'best' (the "
                             "best by validation bits/dim) or a name (ckpt-200).")
    output_dir: str = option(None, "Where reports go (default: --logdir).")
    importance_samples: int = option(0, "VAE runs: importance samples per image (0: the "
                                     "run's own setting).", lower=0)
    scores: tuple = option(("default",), "OOD scores: 'default' (every score the model "
                           "supports with the given background model / ensemble, except the "
                           "expensive ones: likelihood regret and the gradient scores), "
                           "'all' (those too), or names.")
    background_logdir: str = option("", "Run directory of the background model of the "
                                    "likelihood ratio (trained with --perturbation_rate).")
    ensemble_logdirs: tuple = option((), "Run directories of 3 or more models of this "
                                     "config with other seeds (WAIC); may include --logdir.")
    regret_steps: int = option(100, "Likelihood regret: Adam steps re-optimising the "
                               "encoder per input.", lower=1)
    regret_lr: float = option(1e-4, "Likelihood regret: Adam learning rate.", lower=0.0)
    bootstrap_resamples: int = option(1000, "Resamples of every metric's 95% bootstrap "
                                      "interval (in-distribution and OOD test examples "
                                      "resampled separately; 0: no intervals).", lower=0)
    threads: int = threads_option()


@dataclasses.dataclass(frozen=True)
class DetectorOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    score: str = option("log_likelihood", "The OOD score (a glow_prior.ood score name).")
    output: str = option("", "The score's output to threshold (e.g. level_1; default: the "
                         "score's first).")
    tpr: float = option(0.95, "In-distribution true-positive rate the threshold keeps.",
                        lower=0.0, upper=1.0)
    name: str = option("", "Folder name under RUN/detectors (default: the output's name).")
    n_fit: int = option(2000, "Training images the score is fitted on (0: all).", lower=0)
    calibration: str = option("auto", "Held-out in-distribution images of the threshold: "
                              "held_out (training images outside the run's --subset), "
                              "test_half (a seeded half of the test split; the other half "
                              "checks the rate), auto (held_out where the run has them).",
                              choices=CALIBRATIONS)
    ood_datasets: tuple = option((), "OOD sets to report the flagged fraction of.")
    background_logdir: str = option("", "Background model (likelihood_ratio).")
    ensemble_logdirs: tuple = option((), "Ensemble members (waic).")
    data_dir: str = option(None, "tfds data_dir (overrides the run's).")
    dequantization: str = option("uniform", "Test-time noise.", choices=("none", "uniform"))
    seed: int = option(0, "Seed of the noise and the splits.")
    batch_size: int = option(256, "Evaluation batch size.", lower=1)
    use_polyak: bool = option(False, "Use the Polyak-averaged weights.")
    regret_steps: int = option(100, "Likelihood regret: Adam steps per input.", lower=1)
    regret_lr: float = option(1e-4, "Likelihood regret: Adam learning rate.", lower=0.0)
    threads: int = threads_option()


@dataclasses.dataclass(frozen=True)
class DetectOptions(Config):
    detector: str = option(None, "Detector folder written by fit_detector.", required=True)
    images: str = option(None, "Input .npz with the examples under key 'x'.", required=True)
    output: str = option(None, "Output .npz path.", required=True)
    use_polyak: bool = option(False, "Use the run's Polyak-averaged weights (as fitted).")
    allow_other_weights: bool = option(False, "Apply the detector even to weights other than "
                                       "those it was fitted on (its threshold may then not "
                                       "keep its true-positive rate).")
    threads: int = threads_option()


@dataclasses.dataclass(frozen=True)
class ScoreFileOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    images: str = option(None, "Input .npz with uint8 images under key 'x'.", required=True)
    output: str = option(None, "Output .npz path.", required=True)
    dequantization: str = option("uniform", "none: x on its bin's lower edge; uniform: "
                                 "U[0, 1/n_bins) noise.", choices=("none", "uniform"))
    seed: int = option(0, "Seed of the dequantisation noise.")
    batch_size: int = option(64, "Images per batch.", lower=1)
    use_polyak: bool = option(False, "Score with the Polyak-averaged weights.")


@dataclasses.dataclass(frozen=True)
class VisualizeOptions(Config):
    logdir: str = option(None, "Run directory of an image flow.", required=True)
    ood_dataset: str = option("mnist", "OOD dataset (tfds name, constant or noise).")
    data_dir: str = option(None, "tfds data_dir (overrides the run's).")
    output_dir: str = option(None, "Default: LOGDIR/visualize.")
    n_images: int = option(4, "Images per set.", lower=1)
    noise_draws: int = option(40, "Dequantisation draws averaged in latents.png.", lower=1)
    max_couplings: int = option(12, "Coupling layers shown in couplings.png.", lower=1)
    temperature: float = option(0.7, "Temperature of samples and resampled latents.",
                                lower=0.0)
    seed: int = option(0, "Seed.")
