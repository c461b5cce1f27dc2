"""The binaries as a user runs them (one subprocess each)."""
import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import OPENAI_FIXTURE, REPO, run_binary

ADDITIVE = OPENAI_FIXTURE / "additive"


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("imported")
    result = run_binary("import_openai_checkpoint", f"--checkpoint={ADDITIVE}/ckpt/model.ckpt",
                        f"--logdir={logdir}", "--image_size=32", "--n_levels=2", "--depth=2",
                        "--width=32", "--flow_permutation=2", "--flow_coupling=0",
                        "--learntop", "--n_bits_x=8")
    assert result.returncode == 0, result.stderr[-3000:]
    return logdir


@pytest.mark.slow
def test_import_then_score_reproduces_openai_bits_per_dim(imported_run, tmp_path):
    fixture = np.load(ADDITIVE / "fixture.npz")
    np.savez(tmp_path / "in.npz", x=fixture["eval_x_uint8"])
    result = run_binary("score", f"--logdir={imported_run}", f"--images={tmp_path}/in.npz",
                        f"--output={tmp_path}/out.npz", "--dequantization=none")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(scores["bits_per_dim"], fixture["zero_noise/bits_x"], atol=1e-4)
    np.testing.assert_allclose(scores["log_likelihood"],
                               -scores["bits_per_dim"] * 3072 * math.log(2), rtol=1e-6)


@pytest.mark.slow
def test_score_rejects_bad_input_with_a_clear_message(imported_run, tmp_path):
    np.savez(tmp_path / "float.npz", x=np.zeros((2, 32, 32, 3), np.float32))
    result = run_binary("score", f"--logdir={imported_run}", f"--images={tmp_path}/float.npz",
                        f"--output={tmp_path}/out.npz")
    assert result.returncode == 2
    assert "must be uint8" in result.stderr and "Traceback" not in result.stderr
    np.savez(tmp_path / "shape.npz", x=np.zeros((2, 28, 28, 1), np.uint8))
    result = run_binary("score", f"--logdir={imported_run}", f"--images={tmp_path}/shape.npz",
                        f"--output={tmp_path}/out.npz")
    assert result.returncode == 2 and "the model expects (32, 32, 3)" in result.stderr
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 32, 32, 3), np.uint8))
    result = run_binary("score", f"--logdir={imported_run}", f"--images={tmp_path}/empty.npz",
                        f"--output={tmp_path}/out.npz")
    assert result.returncode == 2 and "there are no examples to score" in result.stderr
    assert "Warning" not in result.stderr and not (tmp_path / "out.npz").exists()
    for stderr in (result.stderr,):
        assert "cuInit" not in stderr and "E0000" not in stderr  # no start-up noise


@pytest.mark.slow
def test_import_refuses_contradicting_flags(tmp_path):
    result = run_binary("import_openai_checkpoint", f"--checkpoint={ADDITIVE}/ckpt/model.ckpt",
                        f"--logdir={tmp_path}", "--image_size=32", "--flow_coupling=1",
                        "--n_bits_x=8")
    assert result.returncode == 2 and "flow_coupling: stated 1, checkpoint has 0" in result.stderr


@pytest.mark.slow
def test_realnvp_negative_training_visualize_and_export(prepared_data_dir, tmp_path):
    logdir = tmp_path / "realnvp"
    result = run_binary("train_realnvp", "--dataset=fashion_mnist", f"--logdir={logdir}",
                        f"--data_dir={prepared_data_dir}", "--subset=256", "--epochs=1",
                        "--n_batch_train=32", "--st_blocks=1", "--st_width=8",
                        "--negative_dataset=mnist", "--negative_threshold=-30000",
                        "--epochs_full_valid=1", "--epochs_warmup=1")
    assert result.returncode == 0, result.stderr[-3000:]
    hparams = json.loads((logdir / "hparams.json").read_text())
    assert hparams["negative_training"] == {"dataset": "mnist", "threshold": -30000.0}
    assert "ood_bits_x" in (logdir / "train.txt").read_text()
    result = run_binary("visualize", f"--logdir={logdir}", f"--data_dir={prepared_data_dir}",
                        "--n_images=2", "--noise_draws=2")
    assert result.returncode == 0, result.stderr[-3000:]
    for figure in ("latents", "couplings", "jacobian", "resample", "samples"):
        assert (logdir / "visualize" / f"{figure}.png").exists()
    result = run_binary("evaluate_ood", f"--logdir={logdir}", f"--data_dir={prepared_data_dir}",
                        "--ood_datasets=mnist,constant", "--n_eval=100")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((logdir / "ood_report.json").read_text())
    assert set(report["ood_datasets"]) == {"mnist", "constant"}
    result = run_binary("export_savedmodel", f"--logdir={logdir}",
                        f"--export_dir={tmp_path}/export")
    assert result.returncode == 0 and (tmp_path / "export" / "saved_model.pb").exists()


@pytest.mark.slow
def test_a_second_training_process_on_a_locked_logdir_fails_at_once(prepared_data_dir,
                                                                      tmp_path):
    command = [sys.executable, "-m", "glow_prior.apps.train_glow",
               "--flagfile=configs/cpu/fmnist17_mnist/uni.cfg", f"--logdir={tmp_path}",
               f"--data_dir={prepared_data_dir}", "--subset=512", "--epochs=50"]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (tmp_path / ".lock").exists() or not (tmp_path / ".lock").read_text():
            assert time.time() < deadline and first.poll() is None
            time.sleep(0.2)
        started = time.time()
        second = subprocess.run(command + ["--width=64"], cwd=REPO, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 2
        assert f"in use by another training process (PID {first.pid})" in second.stderr
        assert time.time() - started < 30  # before any data is loaded or model built
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()


@pytest.mark.slow
def test_benchmark_writes_steps_loops_and_memory_by_depth(tmp_path):
    """bin/benchmark on a tiny Glow: the training step, the whole training loop and the
    memory-by-depth records land in its JSON with the fields the README's tables read."""
    output = tmp_path / "bench.json"
    result = run_binary("benchmark", f"--output={output}", "--measurements=ours_train,ours_loop",
                        "--xla=off", "--image_size=8", "--channels=1", "--n_levels=2",
                        "--depth=1", "--width=8", "--batch=4", "--steps=3", "--warmup=1",
                        "--memory_depths=1,3", "--memory_widths=8", "--memory_steps=1")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["ours_train_images_per_s"] > 0 and report["ours_loop_images_per_s"] > 0
    assert 0 < report["ours_loop_fraction_of_step"]
    records = report["memory_by_depth"]
    assert [(r["depth"], r["gradient_checkpointing"]) for r in records] == [
        (1, False), (1, True), (3, False), (3, True)]
    for record in records:
        assert record["width"] == 8 and record["activation_mb"] > 0
        assert record["peak_rss_mb"] > record["step_memory_mb"] > 0
        assert record["images_per_s"] > 0
    assert "activation MB" in result.stdout
