"""The record of an experiment: every setting that defines a run (hparams.json).

A run directory holds one experiment. `RunSpec` is what it records: the model kind, its
architecture, the prior and its assignment, the data, the optimisation settings and the
objective (negative training). A rerun into the same directory may change only the settings
in RESUMABLE (training longer, logging and checkpoint intervals, how the same computation
is executed); any other difference is refused, naming each setting and its two values,
unless the user lists it in --allow_changes (the change is then recorded in `history`).
"""
import dataclasses

from glow_prior.config.data import ArraysConfig, DataConfig, TabularDataConfig
from glow_prior.config.model import GlowConfig, RealNVPConfig, TabularFlowConfig, VAEConfig
from glow_prior.config.prior import PriorConfig
from glow_prior.config.training import NegativeTrainingConfig, RunConfig, TrainConfig
from glow_prior.errors import InputError

ARCHITECTURES = {"glow": GlowConfig, "realnvp": RealNVPConfig, "vae": VAEConfig,
                 "tabular": TabularFlowConfig}

# The settings a rerun may change, by section: how long and how often, not what is learned.
RESUMABLE = {
    "training": ("epochs", "epochs_full_valid", "epochs_full_sample", "checkpoint_secs",
                 "n_batch_test", "n_sample", "xla", "strategy", "devices", "restore_path",
                 "gradient_checkpointing", "early_stopping"),
    "data": ("data_dir",),
}

SECTIONS = ("architecture", "prior", "data", "training", "negative_training")


def training_sections(architecture, data=DataConfig, negative=True):
    """The flag sections of a training binary: {namespace attribute: config class}."""
    sections = {"run": RunConfig, "data": data, "architecture": architecture,
                "prior": PriorConfig, "training": TrainConfig}
    if negative:
        sections["negative"] = NegativeTrainingConfig
    return sections


@dataclasses.dataclass(frozen=True)
class RunSpec:
    model: str
    architecture: object
    prior: PriorConfig
    data: object
    training: TrainConfig
    negative_training: NegativeTrainingConfig = NegativeTrainingConfig()
    imported_from: dict = None
    history: tuple = ()
    # A unique id given when the run directory is first written (glow_prior.runs.rundir):
    # what fitted detectors record of the run they belong to. None in records written
    # before this version.
    run_id: str = None
    # Top-level hparams.json keys this version does not know (written by a newer one):
    # kept as they are, so that resuming here does not drop them.
    extra: dict = None

    def __post_init__(self):
        if self.model not in ARCHITECTURES:
            raise InputError(f"unknown model kind '{self.model}'; known: "
                             f"{sorted(ARCHITECTURES)}")

    @property
    def data_kind(self):
        """"arrays" (in-memory data given from Python), "tabular" (a vector dataset) or
        "images" (an image dataset)."""
        if isinstance(self.data, ArraysConfig):
            return "arrays"
        return "tabular" if self.model == "tabular" else "images"

    def to_dict(self):
        """The record as hparams.json stores it (unknown keys of a newer version kept)."""
        values = {"model": self.model}
        values.update({name: getattr(self, name).to_dict() for name in SECTIONS})
        if self.imported_from is not None:
            values["imported_from"] = dict(self.imported_from)
        values["history"] = [dict(entry) for entry in self.history]
        if self.run_id is not None:
            values["run_id"] = self.run_id
        values.update(self.extra or {})
        return values

    @classmethod
    def from_dict(cls, values):
        model = values.get("model")
        if model not in ARCHITECTURES:
            raise InputError(f"unknown model kind '{model}'; known: {sorted(ARCHITECTURES)}")
        data_class = ArraysConfig if "fingerprint" in values.get("data", {}) else \
            TabularDataConfig if model == "tabular" else DataConfig
        known = {"model", *SECTIONS, "imported_from", "history", "run_id"}
        extra = {key: value for key, value in values.items() if key not in known}
        return cls(model=model,
                   architecture=ARCHITECTURES[model].from_dict(values["architecture"]),
                   prior=PriorConfig.from_dict(values.get("prior", {})),
                   data=data_class.from_dict(values["data"]),
                   training=TrainConfig.from_dict(values.get("training", {})),
                   negative_training=NegativeTrainingConfig.from_dict(
                       values.get("negative_training", {})),
                   imported_from=values.get("imported_from"),
                   history=tuple(values.get("history", ())), run_id=values.get("run_id"),
                   extra=extra or None)

    def settings(self):
        """{key: (section, field name, value)} of every recorded setting, keyed by flag name
        (a flag shared by several sections, like --seed, once) or `section.field` for
        settings derived from the data (e.g. architecture.image_shape)."""
        flat = {}
        for section in SECTIONS:
            config = getattr(self, section)
            flag_names = {field.name: flag for field, flag in config.flag_fields()}
            for field in dataclasses.fields(config):
                key = flag_names.get(field.name, f"{section}.{field.name}")
                flat.setdefault(key, (section, field.name, getattr(config, field.name)))
        return flat

    def differences(self, other):
        """[(flag, recorded value, new value)] where `other` changes what this run is."""
        ours, theirs = self.settings(), other.settings()
        changed = []
        if self.model != other.model:
            changed.append(("model", self.model, other.model))
        for key in sorted(set(ours) | set(theirs)):
            section, name, old = ours.get(key, (None, None, None))
            if section is None:
                section, name, _ = theirs[key]
            new = theirs.get(key, (None, None, None))[2]
            if old != new and name not in RESUMABLE.get(section, ()):
                changed.append((key, old, new))
        return changed

    def with_changes(self, other, allowed, step):
        """This record updated to `other`'s settings where they differ and the user allowed
        it (flag names in `allowed`), with the change in `history`. Raises InputError
        naming every other difference."""
        changed = self.differences(other)
        refused = [c for c in changed if c[0] not in allowed]
        if refused:
            lines = "; ".join(f"--{key}: {old!r} in the run directory, {new!r} now"
                              for key, old, new in refused)
            raise InputError(f"this run directory holds a different experiment ({lines}). "
                             "Use a new --logdir, or the same settings; a deliberate change "
                             f"is allowed with --allow_changes={','.join(c[0] for c in refused)}")
        entry = {"step": int(step), "changes": {key: [old, new] for key, old, new in changed}}
        history = self.history + ((entry,) if changed else ())
        return dataclasses.replace(other, history=history, imported_from=self.imported_from,
                                   run_id=self.run_id, extra=self.extra)
