"""A run's record never lies (issue 22): lost pointers, refused reruns that change nothing,
kept keys, damaged logs, leftovers, interrupts, and file-system faults as one line.

File-system faults are simulated portably: a file where a directory belongs, a directory
where a file belongs, and OSError(EACCES / EROFS / ENOSPC) raised by monkeypatched writes
(the tests may run as root, for whom permission bits do not stop a write)."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from glow_prior import files
from glow_prior.config import RunSpec
from glow_prior.errors import CheckpointError, FileSystemError, InputError, RunDirError
from glow_prior.runs.rundir import RunDir
from tests.conftest import REPO, run_binary
from tests.runs.test_train import lines, make_spec, make_trainer


def _record(path):
    return (path / "hparams.json").read_bytes()


def _trained(tmp_path, epochs=2):
    make_trainer(tmp_path, make_spec(epochs=epochs)).run()
    return tmp_path


# ------------------------------------------------------------------ 22.1 lost pointer
@pytest.mark.slow
def test_a_lost_pointer_resumes_from_the_newest_intact_checkpoint(tmp_path, capsys):
    run = _trained(tmp_path)
    os.remove(run / "checkpoints" / "checkpoint")
    trainer = make_trainer(run, make_spec(epochs=3), show_progress=True)
    assert trainer.plan.checkpoint.endswith(f"ckpt-{2 * trainer.stream.its_per_epoch}")
    trainer.run()
    out = capsys.readouterr().out
    assert "checkpoint pointer" in out and "was missing" in out
    assert [r["epoch"] for r in lines(run / "train.txt")] == [1, 2, 3]  # not 1, 1, 2
    assert (run / "checkpoints" / "checkpoint").exists()


def test_the_settings_guard_holds_without_a_pointer(tmp_path):
    run = _trained(tmp_path, epochs=1)
    os.remove(run / "checkpoints" / "checkpoint")
    before = _record(run)
    with pytest.raises(InputError, match="different experiment"):
        make_trainer(run, make_spec(epochs=1, lr=0.01))
    with pytest.raises(InputError, match="different experiment"):
        make_trainer(run, make_spec(epochs=1, lr=0.01), resume_from="ckpt-0")
    assert _record(run) == before


def test_no_intact_checkpoint_refuses_instead_of_starting_over(tmp_path):
    run = _trained(tmp_path, epochs=1)
    os.remove(run / "checkpoints" / "checkpoint")
    for index in (run / "checkpoints").glob("*.index"):
        index.write_bytes(b"damaged")
    with pytest.raises(CheckpointError, match="none of its checkpoints"):
        make_trainer(run, make_spec(epochs=1))
    for path in (run / "checkpoints").glob("*"):
        os.remove(path)
    with pytest.raises(RunDirError, match="records 1 epoch"):
        make_trainer(run, make_spec(epochs=1))


# ------------------------------------------------------------ 22.2 refusals change nothing
def test_a_refused_rerun_changes_nothing(tmp_path):
    run = _trained(tmp_path, epochs=1)
    newest = RunDir(run).find_checkpoint()[0]
    os.remove(f"{newest}.index")
    before = _record(run)
    with pytest.raises((InputError, CheckpointError)):
        make_trainer(run, make_spec(epochs=1, lr=0.01))
    assert _record(run) == before


@pytest.mark.slow
def test_fewer_epochs_than_trained_is_nothing_to_do_and_keeps_the_record(tmp_path, capsys):
    run = _trained(tmp_path, epochs=2)
    before, log = _record(run), (run / "train.txt").read_text()
    make_trainer(run, make_spec(epochs=1), show_progress=True).run()
    assert "already trained 2 epochs" in capsys.readouterr().out
    assert _record(run) == before and (run / "train.txt").read_text() == log
    assert json.loads(before)["training"]["epochs"] == 2


# --------------------------------------------------------------------- 22.3 kept keys
@pytest.mark.slow
def test_unknown_top_level_keys_survive_a_resume(tmp_path):
    run = _trained(tmp_path, epochs=1)
    record = json.loads(_record(run))
    record["written_by"] = {"version": "9.9", "notes": [1, 2]}
    (run / "hparams.json").write_text(json.dumps(record))
    trainer = make_trainer(run, make_spec(epochs=2))
    assert any("holds settings this version does not know (written_by); they are kept" in note
               for note in trainer.plan.notes), trainer.plan.notes
    trainer.run()
    assert json.loads(_record(run))["written_by"] == {"version": "9.9", "notes": [1, 2]}
    assert RunSpec.from_dict(record).to_dict()["written_by"] == record["written_by"]


# ------------------------------------------------------------- 22.4 logs and leftovers
@pytest.mark.slow
def test_a_truncated_last_log_line_and_a_leftover_pointer_file_are_handled(tmp_path):
    run = _trained(tmp_path, epochs=1)
    with open(run / "train.txt", "a") as f:
        f.write('{"epoch": 2, "st')  # a process killed while appending
    (run / "checkpoints" / "checkpoint.tmp5f3a").write_text("")  # killed pointer update
    trainer = make_trainer(run, make_spec(epochs=2))
    assert [note for note in trainer.plan.notes if "train.txt: its last line was cut off" in note]
    trainer.run()
    assert [r["epoch"] for r in lines(run / "train.txt")] == [1, 2]
    assert not list((run / "checkpoints").glob("checkpoint.tmp*"))
    (run / "train.txt").write_text('{"epoch": 1}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(RunDirError, match="line 2 is not a JSON record"):
        RunDir(run).read_log("train.txt")


def test_atomic_writes_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        files.write_json(tmp_path / "a.json", {"x": 1})
        with files.staged_files(str(tmp_path / "report")) as staging:
            files.write_text(os.path.join(staging, "r.md"), "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "report" / "r.md").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------- 22.4/22.5 file-system faults, one line
def _fail(code):
    def raise_error(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[0]) if args else "")
    return raise_error


def test_run_directory_faults_are_one_line(tmp_path, monkeypatch):
    from glow_prior.apps import train_glow  # pylint: disable=import-outside-toplevel
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FileSystemError, match="a file stands where a directory is needed"):
        RunDir(str(a_file)).lock()
    assert train_glow.main(["train_glow", "--logdir="]) == 2
    monkeypatch.setattr(os, "makedirs", _fail(errno.EROFS))
    with pytest.raises(FileSystemError, match="not writable"):
        RunDir(str(tmp_path / "new")).lock()


def test_a_full_disk_while_training_is_one_line(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, make_spec(epochs=1))

    def full_disk(self, name, record):
        with files.on_user_path(self.file(name), "append to the log"):
            raise OSError(errno.ENOSPC, "No space left on device", self.file(name))

    monkeypatch.setattr(RunDir, "append_log", full_disk)
    with pytest.raises(FileSystemError, match="disk .* is full"):
        trainer.run()


def test_outputs_that_cannot_be_written_are_one_line_and_leave_nothing(tmp_path, monkeypatch):
    a_dir = tmp_path / "dir"
    a_dir.mkdir()
    with pytest.raises(FileSystemError, match="is a directory"):
        files.write_npz(str(a_dir), x=np.zeros(2))
    monkeypatch.setattr(np, "savez", _fail(errno.ENOSPC))
    with pytest.raises(FileSystemError, match="disk"):
        files.write_npz(str(tmp_path / "out.npz"), x=np.zeros(2))
    with pytest.raises(FileSystemError, match="disk"):
        with files.staged_files(str(tmp_path / "report")) as staging:
            files.write_text(os.path.join(staging, "first.md"), "written")
            np.savez(os.path.join(staging, "second.npz"), x=np.zeros(2))
    assert sorted(os.listdir(tmp_path)) == ["dir", "report"]
    assert os.listdir(tmp_path / "report") == []


def test_exports_never_overwrite_silently_nor_mix(tmp_path):
    target = tmp_path / "export"
    with files.staged_directory(str(target)) as staging:
        files.write_text(os.path.join(staging, "who"), "first")
    with pytest.raises(FileSystemError, match="already exists; .* --overwrite"):
        with files.staged_directory(str(target)):
            pass
    with files.staged_directory(str(target), overwrite=True) as staging:
        files.write_text(os.path.join(staging, "who"), "second")
        files.write_text(os.path.join(staging, "more"), "second")
    assert (target / "who").read_text() == "second"
    # Two writers racing for a new folder: the second rename fails, the first stays whole.
    racing = tmp_path / "race"
    with pytest.raises(FileSystemError, match="another process"):
        with files.staged_directory(str(racing)) as second:
            files.write_text(os.path.join(second, "who"), "second")
            with files.staged_directory(str(racing)) as first:
                files.write_text(os.path.join(first, "who"), "first")
    assert os.listdir(racing) == ["who"] and (racing / "who").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "race"]  # no leftovers


def test_a_disk_full_at_the_first_write_is_one_line(tmp_path, monkeypatch):
    """0 bytes free: the first write is the training process's PID into the lock."""
    real_write = os.write

    def full(descriptor, data):
        if os.readlink(f"/proc/self/fd/{descriptor}").endswith(".lock"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", full)
    run = RunDir(tmp_path / "run")
    with pytest.raises(FileSystemError, match=r"\.lock: the disk .* is full"):
        run.lock()
    monkeypatch.undo()
    run.lock().close()  # the failed attempt released the lock


def test_tensorflow_io_errors_while_exporting_are_one_line_and_leave_nothing(tmp_path,
                                                                             monkeypatch):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from glow_prior.models.registry import build_model  # pylint: disable=import-outside-toplevel
    from glow_prior.runs import export  # pylint: disable=import-outside-toplevel
    spec = make_spec()

    def full(module, directory, **kwargs):
        open(os.path.join(directory, "variables.data-00000-of-00001"), "w").close()
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", full)
    with pytest.raises(FileSystemError, match="could not write it .No space left on device"):
        export.export(build_model(spec), spec, str(tmp_path / "export"))
    assert os.listdir(tmp_path) == []


def test_a_full_disk_while_exporting_leaves_nothing(tmp_path, monkeypatch):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from glow_prior.runs import export  # pylint: disable=import-outside-toplevel
    from glow_prior.models.registry import build_model  # pylint: disable=import-outside-toplevel
    spec = make_spec()
    model = build_model(spec)

    def partial_save(module, directory, **kwargs):
        open(os.path.join(directory, "saved_model.pb.tmp123"), "w").close()
        raise OSError(errno.ENOSPC, "No space left on device", directory)

    monkeypatch.setattr(tf.saved_model, "save", partial_save)
    with pytest.raises(FileSystemError, match="disk"):
        export.export(model, spec, str(tmp_path / "export"))
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------- 22.9 flags and 22.11 stops
def test_a_flagfile_comment_after_a_value_is_refused(tmp_path):
    from glow_prior.apps import train_glow  # pylint: disable=import-outside-toplevel
    flagfile = tmp_path / "run.cfg"
    flagfile.write_text("--logdir=runs/x  # my note\n")
    assert train_glow.main(["train_glow", f"--flagfile={flagfile}"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["sigint", "sigterm"])
def test_a_signal_checkpoints_and_stops_in_one_line(tmp_path, signum, status):
    """Issue 22.9/22.11: Ctrl-C or SIGTERM during training writes a checkpoint at the step
    reached, prints one line (no traceback) and exits 130/143; the rerun resumes there."""
    logdir = tmp_path / "run"
    command = [sys.executable, str(REPO / "bin" / "train_tabular"), "--dataset=synthetic_2d",
               f"--logdir={logdir}", "--epochs=200", "--n_couplings=2", "--hidden_units=8",
               "--checkpoint_secs=100000", "--n_batch_train=32"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not (logdir / "train.txt").exists():
        time.sleep(0.5)
    assert (logdir / "train.txt").exists(), process.communicate(timeout=60)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, err[-2000:]
    last_line = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last_line.startswith("stopped: training")
    assert "rerun the same command to resume" in last_line
    step = int(last_line.split("at step ")[1].split()[0])
    assert RunDir(logdir).find_checkpoint()[0].endswith(f"ckpt-{step}")
    logged = lines(logdir / "train.txt")
    its = logged[-1]["step"] // logged[-1]["epoch"]
    resumed = run_binary("train_tabular", *command[2:4], f"--epochs={step // its + 1}",
                         *command[5:])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"(step {step})" in resumed.stdout
