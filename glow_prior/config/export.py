"""Settings of moving models in and out: SavedModel export and OpenAI checkpoint import."""
import dataclasses

from glow_prior.config.fields import Config, option


@dataclasses.dataclass(frozen=True)
class ExportOptions(Config):
    logdir: str = option(None, "Run directory of the model.", required=True)
    export_dir: str = option(None, "Output folder of the SavedModel.", required=True)
    use_polyak: bool = option(False, "Export the Polyak-averaged weights.")
    seed: int = option(0, "Seed of the VAE's importance sampling in log_prob.")
    detector: str = option("", "A detector folder (fit_detector) whose decision becomes the "
                           "`detect` signature (scores computable in the graph only).")
    overwrite: bool = option(False, "Replace an existing export in --export_dir.")
    allow_other_weights: bool = option(False, "Export --detector even when it was fitted on "
                                       "other weights than the exported ones.")


@dataclasses.dataclass(frozen=True)
class ImportOptions(Config):
    checkpoint: str = option(None, "Checkpoint prefix (.../model_best_loss.ckpt).",
                             required=True)
    logdir: str = option(None, "Run directory to create.", required=True)
    image_size: int = option(None, "Side of the square images the model was trained on.",
                             required=True, lower=1)
    dataset: str = option(None, "tfds name of the training data (for evaluate_ood).")
    use_polyak: bool = option(False, "Import the Polyak averages instead of the weights.")
