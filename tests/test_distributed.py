"""Training on the JAX backend and over several processes (Keras' distribution API).

The cheap parts run in this process (TensorFlow backend): the per-process shards of the input
pipeline, the job's settings, the launcher's command line and the one-line refusals. The rest
runs real processes with ``KERAS_BACKEND=jax``: one process, and two on localhost through
``dqlabels launch`` with gloo collectives, one of them killed and the job started again.

Tolerances (docs/train.md, "Beyond one machine"). Two runs that differ only in float32 rounding
(the order of a sum) drift apart over 8 steps of batch 8: on a 2-core AMD EPYC, XLA's
optimisation level alone moved the test predictions of one JAX run by up to 0.107 (mean
0.011). So the first epoch's training loss, which a wrong shard or per-process BatchNorm
statistics would change at once, is held to 5e-4 (relative), and the test-set class
probabilities after 2 epochs to a mean absolute difference of 0.02 and a maximum of 0.2.
Measured: TensorFlow vs JAX from the same weights 0.0013 / 0.0095 (default XLA flags) and
0.011 / 0.107 (the quick compilation used here); 2 processes vs 1, 0.0054 / 0.036; the
first-epoch losses within 1e-4. A killed and resumed job ends identical to the same job
uninterrupted (checked by hand; here the shards of every global batch are checked, and resume
is exact on one process, tests/test_training.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import REPO, shared_folder
from dqlabels.data.synthetic import generate_dataset

jax = pytest.importorskip("jax") if not os.environ.get("CI") else __import__("jax")

# One set of settings for every run here: the study's preset (quick) with these overrides.
SETTINGS = ["--model", "densenet-tiny", "--epochs", "2", "--batch-size", "8",
            "--learning-rate", "0.02", "--bn-momentum", "0.9", "--image-size", "32"]
AGREE = (0.02, 0.2)  # mean, max absolute difference of the test predictions
LOSS_AGREES = 5e-4  # the first epoch's training loss, relative


def _agree(a, b, tolerance) -> None:
    difference = np.abs(_predictions(a) - _predictions(b))
    assert difference.mean() <= tolerance[0] and difference.max() <= tolerance[1], \
        (difference.mean(), difference.max())
    first, other = _history(a)["loss"][0], _history(b)["loss"][0]
    assert abs(first - other) <= LOSS_AGREES * first, (first, other)


def _jax_env(tmp_root) -> dict:
    """KERAS_BACKEND=jax, one XLA compilation cache for every JAX process of the session (each
    program is compiled once), and XLA's quick compilation (a third less CPU for these tiny
    runs, where compiling takes longer than training)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "KERAS_BACKEND": "jax", "JAX_COMPILATION_CACHE_DIR":
            str(tmp_root / "jax-cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
            "XLA_FLAGS": "--xla_backend_optimization_level=0 "
                         "--xla_llvm_disable_expensive_passes=true "
                         "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def _root(tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def _dqlabels(*args, env, timeout=300, **kwargs):
    return subprocess.run([sys.executable, "-m", "dqlabels_cli.main", *map(str, args)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def _predictions(run) -> np.ndarray:
    return pd.read_csv(run / "predictions.csv").iloc[:, 1:].to_numpy()


def _history(run) -> pd.DataFrame:
    return pd.read_csv(run / "history.csv")


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """60 images at 32 px, and a file of initial weights every run here starts from (the same
    on both backends: their random initialisers differ)."""
    def make(folder):
        generate_dataset(folder, num_images=60, image_size=32, seed=11)
        import keras

        from dqlabels.learning.models import build_model

        keras.utils.set_random_seed(0)
        build_model("densenet-tiny", 6, 32, "none", 0.9).save_weights(
            str(folder / "init.weights.h5"))

    return shared_folder(tmp_path_factory, "parallel-data", make)


@pytest.fixture(scope="session")
def jax_run(data, tmp_path_factory):
    """The soft run of ``data`` on the JAX backend, one process (``dqlabels train``)."""
    def make(folder):
        proc = _dqlabels("train", data, "--soft", *SETTINGS, "--weights",
                         data / "init.weights.h5", "--out", folder / "run",
                         env=_jax_env(_root(tmp_path_factory)))
        assert proc.returncode == 0, proc.stderr[-3000:]

    return shared_folder(tmp_path_factory, "jax-run", make) / "run"


# ----------------------------------------------------------------------------------------------
# In this process


def test_shards_of_every_global_batch_are_the_global_batch(data):
    from dqlabels.data.datasets import load_dataset
    from dqlabels.learning.tfdata import make_evaluation_dataset, make_training_dataset

    dataset = load_dataset(data)
    paths, targets = dataset.paths[:30], dataset.soft_labels[:30]
    options = dict(image_size=32, batch_size=8, epochs=2, seed=4, drop_remainder=True)
    whole = list(make_training_dataset(paths, targets, **options))
    parts = [list(make_training_dataset(paths, targets, **options, shard=(i, 2)))
             for i in range(2)]
    assert len(whole) == 2 * 3 and all(len(p) == len(whole) for p in parts)
    for k, (images, labels) in enumerate(whole):
        # Process i holds rows 4i..4i+3 of every global batch, augmented as in one process.
        np.testing.assert_array_equal(np.concatenate([p[k][0] for p in parts]), images)
        np.testing.assert_array_equal(np.concatenate([p[k][1] for p in parts]), labels)
    # Evaluation: 13 images padded to 14 (weight 0), batches of 8 and 6, split 4+4 and 3+3.
    whole = list(make_evaluation_dataset(paths[:13], targets[:13], 32, 8, pad_to_multiple=2))
    parts = [list(make_evaluation_dataset(paths[:13], targets[:13], 32, 8, pad_to_multiple=2,
                                          shard=(i, 2))) for i in range(2)]
    assert [len(b[0]) for b in parts[1]] == [4, 3]
    for k, batch in enumerate(whole):
        for column in range(3):
            np.testing.assert_array_equal(
                np.concatenate([p[k][column] for p in parts]), batch[column])
    with pytest.raises(ValueError, match="drop_remainder"):
        make_training_dataset(paths, targets, 32, 8, shard=(0, 2))


def test_the_job_comes_from_arguments_then_keras_then_jax_variables():
    from dqlabels.learning.distributed import Job

    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:1234",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1",
           "JAX_NUM_PROCESSES": "5"}
    assert Job.from_settings(environ=env) == Job("10.0.0.1:1234", 2, 1)
    assert Job.from_settings("h:9", 3, 2, environ=env) == Job("h:9", 3, 2)
    assert Job.from_settings(environ={}) == Job()  # JAX's cluster detection decides
    assert Job.from_settings(environ={"JAX_NUM_PROCESSES": "1"}).single


@pytest.mark.parametrize("args, message", [
    (["--coordinator", "nohost"], "Expected --coordinator as HOST:PORT"),
    (["--coordinator", "h:70000", "--num-processes", "2", "--process-id", "0"],
     "port in 1–65535"),
    (["--coordinator", "h:7000", "--num-processes", "2", "--process-id", "2"],
     "Expected --process-id >= 0 and < 2. Received: --process-id 2"),
    (["--coordinator", "h:7000", "--num-processes", "2"], "needs --process-id as well"),
])
def test_a_bad_job_is_one_line(data, tmp_path, args, message):
    from dqlabels_cli.main import main

    result = CliRunner().invoke(main, ["train", str(data), "--soft", "--strategy",
                                       "data-parallel", "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "r").exists()


def test_a_port_in_use_the_wrong_backend_and_a_missing_extra_are_one_line(data, tmp_path,
                                                                           monkeypatch):
    from dqlabels_cli.main import main

    base = ["train", str(data), "--soft", "--out", str(tmp_path / "r")]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(main, [*base, "--strategy", "data-parallel", "--coordinator",
                                           f"127.0.0.1:{port}", "--num-processes", "2",
                                           "--process-id", "0"])
    assert result.exit_code == 2 and f"coordinator 127.0.0.1:{port}: the port is in use" \
        in result.output, result.output
    # This process runs Keras on TensorFlow.
    result = CliRunner().invoke(main, [*base, "--strategy", "data-parallel"])
    assert result.exit_code == 2 and "set KERAS_BACKEND=jax" in result.output, result.output
    result = CliRunner().invoke(main, [*base, "--coordinator", "h:1"])
    assert result.exit_code == 2 and "--coordinator is for --strategy data-parallel" \
        in result.output, result.output
    monkeypatch.setitem(sys.modules, "jax", None)  # as if the extra were not installed
    result = CliRunner().invoke(main, [*base, "--strategy", "data-parallel"])
    assert result.exit_code == 2 and 'pip install "dqlabels[jax]"' in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "r").exists()


def test_an_unreachable_or_unknown_coordinator_is_one_line():
    from dqlabels.errors import InputError
    from dqlabels.learning.distributed import free_port, wait_for_coordinator

    port = free_port()
    with pytest.raises(InputError, match=f"coordinator 127.0.0.1:{port}: nothing answered "
                                         f"there for 1 s; start process 0"):
        wait_for_coordinator("127.0.0.1", port, 1)
    with pytest.raises(InputError, match="coordinator no-such-host.invalid:7777: unknown host"):
        wait_for_coordinator("no-such-host.invalid", 7777, 1)


def test_a_job_that_never_assembles_ends_in_one_line(data, tmp_path_factory, tmp_path):
    from dqlabels.learning.distributed import free_port

    port = free_port()
    env = {**_jax_env(_root(tmp_path_factory)), "DQLABELS_JOIN_SECONDS": "3"}
    started = time.monotonic()
    proc = _dqlabels("train", data, "--soft", "--out", tmp_path / "r", "--strategy",
                     "data-parallel", "--coordinator", f"127.0.0.1:{port}", "--num-processes",
                     "2", "--process-id", "0", env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"dqlabels: error: the data-parallel job did not assemble within 3 s (coordinator "
        f"127.0.0.1:{port}, this is process 0 of 2): start all 2 processes with the same "
        f"--coordinator and --num-processes, each with its own --process-id")
    assert "Check failure" not in proc.stderr and not (tmp_path / "r").exists()
    assert time.monotonic() - started < 60


def test_the_launcher_runs_train_or_reproduce_data_parallel(tmp_path):
    from dqlabels.commands.launch import command_line
    from dqlabels.errors import InputError
    from dqlabels_cli.main import main

    assert command_line(["train", "d", "--soft"]) == ["train", "--strategy", "data-parallel",
                                                     "d", "--soft"]
    assert command_line(["reproduce", "--strategy=data-parallel"])[1] == "--strategy=data-parallel"
    for args, message in [(["evaluate", "a.csv"], "runs train or reproduce"),
                          (["train", "--strategy", "mirrored"], "Received: --strategy mirrored"),
                          (["train", "--process-id", "1"], "sets --process-id itself")]:
        with pytest.raises(InputError, match=message):
            command_line(args)
    result = CliRunner().invoke(main, ["launch", "--processes", "2", "--", "evaluate", "x"])
    assert result.exit_code == 2 and "runs train or reproduce" in result.output


# ----------------------------------------------------------------------------------------------
# Real processes on the JAX backend


@pytest.mark.slow
def test_jax_backend_trains_like_tensorflow_from_the_same_weights(data, jax_run, tmp_path):
    from dqlabels.config import TrainConfig
    from dqlabels.learning.training import train

    for name in ("model.keras", "predictions.csv", "features.npy", "scores.json", "history.csv"):
        assert (jax_run / name).exists(), name
    recorded = json.loads((jax_run / "config.json").read_text())
    assert recorded["status"] == "complete" and recorded["versions"]["keras_backend"] == "jax"
    config = TrainConfig(label_mode="soft", model="densenet-tiny", epochs=2, batch_size=8,
                         learning_rate=0.02, bn_momentum=0.9, image_size=32,
                         weights=str(data / "init.weights.h5"))
    train(data, tmp_path / "tf", config, verbose=0)
    _agree(tmp_path / "tf", jax_run, AGREE)
    scores = json.loads((jax_run / "scores.json").read_text())
    assert scores["precise_bn"]["images"] > 0
    assert scores["precise_bn"]["val_kl_after"] != scores["precise_bn"]["val_kl_before"]


def _launch_study(data, out, env):
    """``dqlabels launch --processes 2 -- reproduce …`` on ``data`` (1 split: hard, then soft),
    started; returns the process and the pids the launcher reports."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dqlabels_cli.main", "launch", "--processes", "2", "--log-dir",
         str(out.parent / f"{out.name}-logs"), "--", "reproduce", "--dataset", str(data),
         "--out", str(out), "--splits", "1", *SETTINGS, "--weights",
         str(data / "init.weights.h5"), "--tsne-max-iter", "250"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    pids = [int(p) for p in re.search(r"pids ([\d, ]+)\)", first).group(1).split(", ")]
    return proc, pids


@pytest.fixture(scope="session")
def killed_study(data, jax_run, tmp_path_factory):
    """The study through the launcher, process 1 killed once the soft run has finished epoch
    1; records how process 0 ended. After ``jax_run``: the programs both compile for one device
    (building the model, precise BatchNorm, predictions) then come from the shared cache."""
    def make(folder):
        out = folder / "study"
        proc, pids = _launch_study(data, out, _jax_env(_root(tmp_path_factory)))
        history = out / "runs" / "soft-split0" / "history.csv"
        while proc.poll() is None and not (history.exists()
                                           and len(history.read_text().splitlines()) >= 2):
            time.sleep(0.02)
        os.kill(pids[1], signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = proc.communicate(timeout=120)
        (folder / "ended.json").write_text(json.dumps({
            "seconds": time.monotonic() - killed, "status": proc.returncode,
            "stderr": stderr, "stdout": stdout}))

    return shared_folder(tmp_path_factory, "killed-study", make)


@pytest.fixture(scope="session")
def resumed_study(killed_study, data, tmp_path_factory):
    """The same command again: the hard run is reused, the soft run resumes."""
    def make(folder):
        out = killed_study / "study"
        proc, _ = _launch_study(data, out, _jax_env(_root(tmp_path_factory)))
        stdout, stderr = proc.communicate(timeout=240)
        folder.mkdir()
        (folder / "ended.json").write_text(json.dumps({"status": proc.returncode,
                                                       "stderr": stderr, "stdout": stdout}))

    shared_folder(tmp_path_factory, "resumed-study", make)
    return killed_study / "study", json.loads(
        (_root(tmp_path_factory) / "resumed-study" / "ended.json").read_text())


@pytest.mark.slow
def test_a_killed_process_stops_the_job_cleanly_within_the_time_out(killed_study):
    from dqlabels.learning.distributed import HEARTBEAT_SECONDS

    ended = json.loads((killed_study / "ended.json").read_text())
    assert ended["status"] == 1, ended["stderr"][-3000:]
    assert ended["seconds"] < HEARTBEAT_SECONDS + 10, ended["seconds"]
    assert "process 1 was killed by signal 9" in ended["stderr"]
    errors = [line for line in ended["stderr"].splitlines() if line.startswith("dqlabels: error")]
    assert len(errors) == 1 and "the job stopped" in errors[0] \
        and "start every process again with the same command to resume" in errors[0], errors
    assert "Traceback" not in ended["stderr"]
    soft = killed_study / "study" / "runs" / "soft-split0"
    assert len(_history(soft)) == 1 and (soft / "checkpoint" / "state.npz").exists()
    assert not (soft / "scores.json").exists()


@pytest.mark.slow
def test_the_job_resumes_and_matches_one_process(resumed_study, jax_run):
    out, ended = resumed_study
    assert ended["status"] == 0, ended["stderr"][-3000:]
    assert "hard labels, split 0 (finished before: reused)" in ended["stderr"]
    assert "| Synthetic" in ended["stdout"] or "hard" in ended["stdout"], ended["stdout"]
    for name in ("results.md", "results.json", "tsne.png"):
        assert (out / name).exists(), name
    for mode in ("hard", "soft"):
        run = out / "runs" / f"{mode}-split0"
        for name in ("model.keras", "predictions.csv", "features.npy", "features_items.csv",
                     "scores.json", "history.csv", "config.json", "split.csv"):
            assert (run / name).exists(), (mode, name)
        assert not (run / "checkpoint").exists()
        recorded = json.loads((run / "config.json").read_text())
        assert recorded["processes"] == 2 and recorded["status"] == "complete"
    soft = out / "runs" / "soft-split0"
    assert list(_history(soft)["epoch"]) == [1, 2]
    # Two processes, one killed and resumed, against one process with the same global batch.
    _agree(soft, jax_run, AGREE)
