"""Every shipped flagfile parses against its binary's flags and builds a valid model config."""
import glob
import os

import pytest

from glow_prior import experiments, flags as gflags

NATIVE_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3),
                 "svhn_cropped": (32, 32, 3), "celeb_a": (32, 32, 3)}
RUNS = [(config, experiment, run) for config in ("cpu", "paper")
        for experiment in experiments.EXPERIMENTS.values() for run in experiment.runs]


@pytest.mark.parametrize("config,experiment,run", RUNS,
                         ids=[f"{c}/{e.name}/{r.name}" for c, e, r in RUNS])
def test_run_flagfile_parses_and_builds(config, experiment, run):
    path = experiments.flagfile(config, experiment.name, run.name)
    fv = gflags.parse_flagfile(run.binary, path)
    prior = gflags.prior_config(fv)
    prior.validate()
    if run.binary == "train_tabular":
        data = gflags.tabular_data_config(fv)
        gflags.tabular_flow_config(2 if data.dataset == "synthetic_2d" else 10, fv).validate()
    elif run.binary == "train_vae":
        data = gflags.data_config(fv)
        gflags.vae_config(NATIVE_SHAPES[data.dataset], fv).validate()
    elif run.binary == "train_realnvp":
        data = gflags.data_config(fv)
        gflags.realnvp_config(NATIVE_SHAPES[data.dataset], fv).validate()
    else:
        data = gflags.data_config(fv)
        gflags.glow_config(NATIVE_SHAPES[data.dataset], 10, fv).validate()
    gflags.train_config(fv).validate()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(
    experiments.CONFIGS_DIR, "*", "*", "evaluate.cfg"))))
def test_evaluation_flagfiles_parse(path):
    assert gflags.parse_flagfile("evaluate_ood", path).n_eval > 0


def test_unknown_flag_in_a_flagfile_is_an_error(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("--depht=3\n")
    with pytest.raises(Exception, match="depht"):
        gflags.parse_flagfile("train_glow", str(path))
