"""Configuration: flags come from the config dataclasses, every flagfile parses and builds,
bad command lines fail while parsing (before TensorFlow), hparams.json round-trips."""
import dataclasses
import glob
import os
import re
import subprocess
import sys
import time

import pytest
from absl import flags

from glow_prior import experiments
from glow_prior.apps import flags as app_flags
from glow_prior.apps import (
    benchmark,
    detect,
    evaluate_ood,
    export_savedmodel,
    fit_detector,
    import_openai_checkpoint,
    prepare_data,
    reproduce,
    score,
    train_glow,
    train_realnvp,
    train_tabular,
    train_vae,
    visualize,
)
from glow_prior.config import (
    ARCHITECTURES,
    Config,
    DataConfig,
    GlowConfig,
    PriorConfig,
    RunSpec,
    TabularDataConfig,
    TrainConfig,
    fields,
)
from glow_prior.config.common import CONFIGS_DIR
from glow_prior.errors import InputError
from tests.conftest import REPO

APPS = {"benchmark": benchmark, "detect": detect, "evaluate_ood": evaluate_ood,
        "export_savedmodel": export_savedmodel, "fit_detector": fit_detector,
        "import_openai_checkpoint": import_openai_checkpoint, "prepare_data": prepare_data,
        "reproduce": reproduce, "score": score, "train_glow": train_glow,
        "train_realnvp": train_realnvp, "train_tabular": train_tabular, "train_vae": train_vae,
        "visualize": visualize}
NATIVE_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3),
                 "svhn_cropped": (32, 32, 3), "celeb_a": (32, 32, 3)}
RUNS = [(config, experiment, run) for config in ("cpu", "paper")
        for experiment in experiments.EXPERIMENTS.values() for run in experiment.runs]
# openai/glow train.py's names and defaults (the notes' section 2.1).
OPENAI_DEFAULTS = {"n_levels": 3, "depth": 32, "width": 512, "flow_permutation": 2,
                   "flow_coupling": 0, "learntop": False, "ycond": False, "n_bits_x": 8,
                   "n_batch_train": 64, "n_batch_test": 50, "n_batch_init": 256, "lr": 0.001,
                   "epochs_warmup": 10.0, "epochs": 1000000, "optimizer": "adamax",
                   "polyak_epochs": 1.0, "weight_y": 0.0, "restore_path": "", "seed": 0,
                   "beta1": 0.9, "weight_decay": 1.0, "epochs_full_valid": 50}


def _config_classes():
    found, stack = set(), [Config]
    while stack:
        for subclass in stack.pop().__subclasses__():
            found.add(subclass)
            stack.append(subclass)
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("config_class", _config_classes(), ids=lambda c: c.__name__)
def test_flag_defaults_are_the_dataclass_defaults(config_class):
    """One default per setting: a config built from its flags' defaults is the default
    config, and every shared flag is declared identically."""
    required = {field.name: flag for field, flag in config_class.flag_fields()
                if field.metadata["glow_prior"]["required"]}
    argv = ["binary", *(f"--{flag}=1" for flag in required.values())]
    parsed = dataclasses.asdict(app_flags.parse_flags({"config": config_class}, argv).config)
    defaults = {f.name: f.default for f in dataclasses.fields(config_class)}
    for name in required:
        del parsed[name], defaults[name]
    assert parsed == defaults


def test_shared_flags_cannot_disagree():
    @dataclasses.dataclass(frozen=True)
    class Other(Config):
        seed: int = fields.option(1, "another default for --seed")

    with pytest.raises(TypeError, match="--seed"):
        app_flags.define_all({"data": DataConfig, "other": Other})


@pytest.mark.parametrize("config,experiment,run", RUNS,
                         ids=[f"{c}/{e.name}/{r.name}" for c, e, r in RUNS])
def test_run_flagfile_parses_and_builds(config, experiment, run):
    path = experiments.flagfile(config, experiment.name, run.name)
    args = APPS[run.binary].APP.parse([run.binary, f"--flagfile={path}"])
    if run.binary == "train_tabular":
        dims = 2 if args.data.dataset == "synthetic_2d" else 10
        architecture = args.architecture.for_data((dims,))
    else:
        architecture = args.architecture.for_data(NATIVE_SHAPES[args.data.dataset], 10)
    model = run.binary.removeprefix("train_")
    spec = RunSpec(model=model, architecture=architecture, prior=args.prior, data=args.data,
                   training=args.training)
    assert RunSpec.from_dict(spec.to_dict()) == spec  # hparams.json round trip


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(
    CONFIGS_DIR, "*", "*", "evaluate.cfg"))))
def test_evaluation_flagfiles_parse(path):
    args = evaluate_ood.APP.parse(["evaluate_ood", f"--flagfile={path}", "--logdir=x"])
    assert args.evaluate.scores in (("log_likelihood",), ("all",))
    assert args.evaluate.n_eval >= 0


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_binary_has_a_shim_and_lists_its_flags(name, capsys):
    shim = (REPO / "bin" / name).read_text()
    assert len(shim.splitlines()) <= 15 and f"glow_prior.apps.{name} import main" in shim
    assert APPS[name].main([name, "--helpfull"]) == 0
    assert "Flags:" in capsys.readouterr().out


def test_helpfull_lists_openai_names_and_defaults(capsys):
    train_glow.main(["train_glow", "--helpfull"])
    usage = capsys.readouterr().out
    for name, default in OPENAI_DEFAULTS.items():
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        flag = f"--[no]{name}" if isinstance(default, bool) else f"--{name}"
        assert f"{flag}:" in usage, name
        assert f"(default: '{shown}')" in usage.split(f"{flag}:")[1].split("  --")[0], name


def test_helpfull_groups_flags_by_config(capsys):
    train_glow.main(["train_glow", "--helpfull"])
    usage = capsys.readouterr().out
    groups = re.findall(r"^(\w+) \((\w+)\):$", usage, flags=re.MULTILINE)
    assert dict(groups) == {"architecture": "GlowConfig", "data": "DataConfig",
                            "negative": "NegativeTrainingConfig", "prior": "PriorConfig",
                            "run": "RunConfig", "training": "TrainConfig"}

    def group_of(flag):
        before = usage[:usage.index(f"  --{flag}:")]
        return re.findall(r"^(\w+) \(\w+\):$", before, flags=re.MULTILINE)[-1]

    assert group_of("depth") == "architecture" and group_of("n_batch_train") == "training"
    assert group_of("prior") == "prior" and group_of("logdir") == "run"


@pytest.mark.parametrize("argv,message", [
    (["--depht=3"], "Unknown command line flag 'depht'"),
    (["--labels=1,42"], "has no label 42"),
    (["--subset=-5"], "flag --subset=-5: must be >= 0"),
    (["--prior=gaussian_mixture", "--prior_means=a"], "flag --prior_means=a: cannot read it"),
    (["--prior=gaussian_mixture", "--label_map=1:0,7:2"], "names component(s) [2]"),
    (["--labels=1,7", "--prior=gaussian_mixture", "--label_map=1:0,8:1"],
     "maps labels [1, 8] but --labels trains on [1, 7]"),
    (["--flagfile=configs/cpu/nope.cfg"], "nope.cfg"),
    (["--negative_dataset=mnits"], "unknown --negative_dataset 'mnits'"),
    (["stray"], "unexpected arguments: stray"),
])
def test_bad_command_lines_fail_while_parsing(argv, message, capsys):
    assert train_glow.main(["train_glow", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_a_bad_flag_is_reported_before_tensorflow_loads():
    started = time.time()
    result = subprocess.run([sys.executable, str(REPO / "bin" / "train_glow"),
                             "--flagfile=configs/cpu/fmnist17_mnist/multi.cfg", "--width=0"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "flag --width=0: must be >= 1" in result.stderr
    assert time.time() - started < 5.0  # TensorFlow's import alone takes longer


def test_policy_lives_in_the_configs():
    assert TrainConfig().augment_shift("cifar10") == 0.1
    assert TrainConfig(dal=0.0).augment_shift("cifar10") == 0.0
    assert TrainConfig().augment_shift("mnist") == 0.0
    from glow_prior.config import VAEConfig  # pylint: disable=import-outside-toplevel
    assert VAEConfig().for_data((32, 32, 3)).latent_dim == 100
    assert VAEConfig(latent_dim=7).for_data((28, 28, 1)).latent_dim == 7
    assert GlowConfig().for_data((32, 32, 3), n_classes=4).n_y == GlowConfig.n_y
    assert GlowConfig(ycond=True).for_data((32, 32, 3), n_classes=4).n_y == 4
    with pytest.raises(InputError, match="cannot be squeezed 3 times"):
        GlowConfig().for_data((28, 28, 1), 10)
    standard = PriorConfig(kind="standard", distance=5.0, label_map="1:0")
    assert standard == PriorConfig()  # mixture settings do not apply to the standard prior


def test_hparams_json_round_trips_every_model():
    for model, architecture in ARCHITECTURES.items():
        data = TabularDataConfig() if model == "tabular" else DataConfig()
        spec = RunSpec(model=model, architecture=architecture(), prior=PriorConfig(),
                       data=data, training=TrainConfig())
        assert RunSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="has no settings"):
        DataConfig.from_dict({"datset": "mnist"})


def test_unknown_flag_in_a_flagfile_is_an_error(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("--depht=3\n")
    with pytest.raises(flags.Error, match="depht"):
        train_glow.APP.parse(["train_glow", f"--flagfile={path}"])
