"""Shared test fixtures: prepared offline data, fixture paths, running binaries."""
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=wrong-import-position

REPO = pathlib.Path(__file__).resolve().parents[1]
OPENAI_FIXTURE = REPO / "tests" / "fixtures" / "openai_glow"


@pytest.fixture(scope="session")
def prepared_data_dir(tmp_path_factory):
    """A tfds data_dir with fashion_mnist and mnist built offline by bin/prepare_data."""
    data_dir = tmp_path_factory.mktemp("tfds")
    result = run_binary("prepare_data", f"--data_dir={data_dir}", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(data_dir)


def run_binary(name, *args, timeout=600, env=None):
    """Runs bin/<name> with this interpreter; returns the CompletedProcess."""
    command = [sys.executable, str(REPO / "bin" / name), *args]
    environment = dict(os.environ, **(env or {}))
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=environment, check=False)
