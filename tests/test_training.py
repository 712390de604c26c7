"""`dqlabels train` end to end on a few dozen 32×32 images, with the tiny DenseNet
(``--model densenet-tiny``: the same code path as DenseNet121, a second per run).

Most runs are separate processes, as a user runs them, so TensorFlow's global state (seeds,
determinism, precision policy) cannot leak between tests. A few share the test's process, as
the runs of a study share one: what they check must hold whatever ran before them.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import shared_folder
from dqlabels.data.synthetic import generate_dataset

SETTINGS = ["--model", "densenet-tiny", "--epochs", "3", "--batch-size", "16",
            "--learning-rate", "0.01"]


def _train(dataset, out, *extra, check=True, timeout=600):
    command = [sys.executable, "-m", "dqlabels_cli", "train", str(dataset), "--out", str(out),
               *SETTINGS, *map(str, extra)]
    # As from a shell: importing JAX in this process (TensorFlow does, when it is installed)
    # sets TF_CPP_MIN_LOG_LEVEL, which would stand for the user's choice in the child.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return shared_folder(tmp_path_factory, "tiny", lambda folder: generate_dataset(
        folder, num_images=48, image_size=32, seed=3))


@pytest.fixture(scope="session")
def soft_run(tiny, tmp_path_factory):
    """The soft-label run of ``tiny`` with SETTINGS, from the command line: trained once."""
    def make(out):
        proc = _train(tiny, out / "soft", "--soft")
        (out / "soft-stderr.txt").write_text(proc.stderr)

    return shared_folder(tmp_path_factory, "soft-run", make) / "soft"


def _soft_labels(dataset):
    table = pd.read_csv(dataset / "annotations.csv").set_index("item")
    return table


@pytest.mark.slow  # trains the shared soft_run
def test_soft_run_writes_every_output(soft_run, tiny):
    # A quiet start: none of TensorFlow's C++ start-up lines (absl, CUDA, oneDNN).
    stderr = (soft_run.parent / "soft-stderr.txt").read_text()
    assert "I0000" not in stderr and "absl::InitializeLog" not in stderr, stderr
    for name in ("model.keras", "predictions.csv", "features.npy", "features_items.csv",
                 "scores.json", "config.json", "history.csv", "split.csv"):
        assert (soft_run / name).exists(), name
    assert not (soft_run / "checkpoint").exists()
    split = pd.read_csv(soft_run / "split.csv")
    test_items = split.loc[split["split"] == "test", "item"].tolist()
    predictions = pd.read_csv(soft_run / "predictions.csv")
    classes = list(predictions.columns[1:])
    assert sorted(predictions["item"]) == sorted(test_items)
    np.testing.assert_allclose(predictions[classes].sum(axis=1), 1.0, atol=1e-9)
    features = np.load(soft_run / "features.npy", allow_pickle=False)
    assert features.shape == (len(test_items), 68)  # densenet-tiny's GAP width
    assert pd.read_csv(soft_run / "features_items.csv")["item"].tolist() == predictions["item"].tolist()
    # scores.json equals the KL and macro accuracy recomputed here from the two CSV files.
    y = _soft_labels(tiny).loc[predictions["item"], classes].to_numpy()
    p = predictions[classes].to_numpy()
    p = np.maximum(p, 1e-7)
    p /= p.sum(axis=1, keepdims=True)
    kl = np.mean([sum(a * math.log(a / b) for a, b in zip(yr, pr) if a > 0) for yr, pr in zip(y, p)])
    scores = json.loads((soft_run / "scores.json").read_text())
    assert scores["kl"] == pytest.approx(kl, rel=1e-9)
    truth, guess = y.argmax(1), p.argmax(1)
    recalls = [np.mean(guess[truth == k] == k) for k in np.unique(truth)]
    assert scores["macro_accuracy"] == pytest.approx(np.mean(recalls))
    config = json.loads((soft_run / "config.json").read_text())
    assert config["status"] == "complete"
    assert config["config"]["label_mode"] == "soft" and config["config"]["epochs"] == 3
    assert {"tensorflow", "keras", "dqlabels"} <= set(config["versions"])


def test_soft_training_moves_predictions_toward_the_soft_targets(soft_run):
    history = pd.read_csv(soft_run / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["kl"].iloc[-1] < history["kl"].iloc[0]
    assert {"val_kl", "val_macro_accuracy", "learning_rate"} <= set(history.columns)


def test_hard_targets_are_one_hot_lowest_index_majority_votes():
    """Counts by hand: a clear majority, a two-way tie (to the lowest class index) and a
    unanimous item."""
    from dqlabels import from_counts
    from dqlabels.data.datasets import Dataset
    from dqlabels.learning.training import targets_for

    ann = from_counts([[1, 3, 0], [2, 0, 2], [0, 0, 5]], classes=["a", "b", "c"])
    data = Dataset(root=None, annotations=ann, paths=np.array(["x", "y", "z"]))
    np.testing.assert_array_equal(targets_for(data, "hard"),
                                  [[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(targets_for(data, "soft"),
                               [[0.25, 0.75, 0], [0.5, 0, 0.5], [0, 0, 1]])


def test_every_training_batch_is_full(soft_run):
    """30 training images in batches of 16: one full batch per epoch (the partial one is
    dropped), so over 3 epochs the per-step cosine schedule is logged at steps 0, 1, 2 of 3:
    0.01, 0.01·(1 + cos(π/3))/2, 0.01·(1 + cos(2π/3))/2. With the partial batch kept there
    would be 6 steps, and epoch 1 would end at step 1 of 6."""
    split = pd.read_csv(soft_run / "split.csv")
    assert (split["split"] == "train").sum() == 30
    history = pd.read_csv(soft_run / "history.csv")
    expected = [0.01 * (1 + math.cos(math.pi * step / 3)) / 2 for step in range(3)]
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6)


FRESH = """
import json, sys
from click.testing import CliRunner
from dqlabels_cli.main import main
model_file, images, train_args = sys.argv[1], sys.argv[2].split("\\n"), sys.argv[3:]
for label in ("--soft", "--hard"):
    result = CliRunner().invoke(main, ["train", *train_args, label])
    print(result.exit_code, (result.output + result.stderr).strip().replace("\\n", " "))
print("tensorflow" in sys.modules)
import keras, numpy as np
import dqlabels.keras
from PIL import Image
model = keras.saving.load_model(model_file, safe_mode=True)
x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in images])
print(json.dumps(model.predict(x, verbose=0).tolist()))
"""


def test_a_finished_run_seen_from_a_fresh_process(soft_run, tiny):
    """In a process of its own, as a user meets it. Before TensorFlow starts, the same command
    again reports the finished run's scores and leaves the folder alone, and other settings in
    its folder are refused. Then model.keras holds only built-in layers: Keras itself loads it
    with safe_mode=True, and it predicts the test images as predictions.csv says (after precise
    BatchNorm)."""
    before = (soft_run / "model.keras").stat().st_mtime_ns
    history = (soft_run / "history.csv").read_bytes()
    predictions = pd.read_csv(soft_run / "predictions.csv")
    images = "\n".join(str(tiny / item) for item in predictions["item"])
    proc = subprocess.run([sys.executable, "-c", FRESH, str(soft_run / "model.keras"), images,
                           str(tiny), "--out", str(soft_run), *SETTINGS],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    same, other, tensorflow, predicted = proc.stdout.strip().splitlines()[-4:]
    scores = json.loads((soft_run / "scores.json").read_text())
    assert same.startswith("0 soft labels, split 0: test macro accuracy "
                           f"{scores['macro_accuracy']:.4f}, KL {scores['kl']:.4f}")
    assert other.startswith("2 ") and "holds a run with other settings" in other
    assert tensorflow == "False"
    assert (soft_run / "model.keras").stat().st_mtime_ns == before
    assert (soft_run / "history.csv").read_bytes() == history
    np.testing.assert_allclose(np.array(json.loads(predicted)),
                               predictions.iloc[:, 1:].to_numpy(), atol=1e-5)


def test_killed_run_resumes_to_the_same_result(tiny, tmp_path, soft_run):
    """Killed (SIGKILL) after its first checkpoint and started again (the same command, here in
    the test's process), a run ends as the same run uninterrupted (the soft_run fixture: same
    command), byte for byte."""
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    # On a fast day the tiny run's three epochs can all end between two looks at the
    # checkpoint; the kill must land mid-run, so look often and try up to three times.
    done = None
    for attempt in range(3):
        out = tmp_path / f"killed{attempt}"
        command = [sys.executable, "-m", "dqlabels_cli", "train", str(tiny), "--out", str(out),
                   *SETTINGS, "--soft"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = out / "checkpoint" / "state.npz"
        deadline = time.time() + 400
        while not state.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        if proc.poll() is not None:  # the run ended before it could be killed
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if not state.exists():  # finished in between: its checkpoint already removed
            continue
        with np.load(state, allow_pickle=False) as checkpoint:
            done = int(checkpoint["epochs_done"])
        if done < 3:
            break
    assert done is not None and 1 <= done < 3, "no attempt was killed mid-run"
    result = CliRunner().invoke(main, ["train", str(tiny), "--out", str(out), *SETTINGS, "--soft"])
    assert result.exit_code == 0, result.stderr
    for name in ("predictions.csv", "features.npy", "history.csv", "scores.json"):
        assert (out / name).read_bytes() == (soft_run / name).read_bytes(), name


@pytest.fixture(scope="module")
def four_hundred(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("400") / "data", num_images=400,
                            image_size=32, seed=3)


@pytest.mark.slow
def test_precise_batchnorm_is_not_worse_and_can_be_turned_off(four_hundred, tmp_path):
    """With Keras' BatchNorm momentum (0.99), 28 steps leave the moving statistics at 75% of
    their initial values; recomputed ones must give a validation loss no worse. (That a run
    with them is reproducible: test_hard_run_then_soft_run_in_one_process.)"""
    from dqlabels.config import TrainConfig
    from dqlabels.learning.training import train

    first, plain = tmp_path / "a", tmp_path / "plain"
    settings = dict(model="densenet-tiny", epochs=4, batch_size=32, learning_rate=0.05)
    for out, precise in ((first, True), (plain, False)):
        train(four_hundred, out, TrainConfig(label_mode="soft", precise_bn=precise, **settings),
              verbose=0)
    precise = json.loads((first / "scores.json").read_text())["precise_bn"]
    assert precise["images"] == 224  # the 240 training images, in full batches of 32
    assert precise["val_loss_after"] <= precise["val_loss_before"]
    assert precise["val_kl_after"] <= precise["val_kl_before"]
    # "before" is what the moving averages give: the last epoch's validation KL.
    history = pd.read_csv(first / "history.csv")
    assert precise["val_kl_before"] == pytest.approx(history["val_kl"].iloc[-1], rel=1e-3)
    # Off on request: no recomputation, and the scores of the moving averages.
    scores = json.loads((plain / "scores.json").read_text())
    assert scores["precise_bn"] is None
    assert scores["kl"] != json.loads((first / "scores.json").read_text())["kl"]


def test_nan_loss_stops_with_a_clear_message(tiny, tmp_path):
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    result = CliRunner().invoke(main, ["train", str(tiny), "--out", str(tmp_path / "nan"),
                                       *SETTINGS, "--soft", "--learning-rate", "1e30",
                                       "--epochs", "2"])
    assert result.exit_code == 1, result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert "loss became NaN" in lines[-1] and "Traceback" not in result.output + result.stderr


def test_a_nan_run_keeps_the_last_good_checkpoint(tiny, tmp_path):
    import keras

    from dqlabels.config import TrainConfig
    from dqlabels.errors import TrainingFailed
    from dqlabels.learning.training import train

    class Poison(keras.callbacks.Callback):  # the loss becomes NaN in the second epoch
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                kernel = self.model.get_layer("predictions").kernel
                kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    out = tmp_path / "nan2"
    with pytest.raises(TrainingFailed, match="loss became NaN in epoch 2"):
        train(tiny, out, TrainConfig(label_mode="soft", model="densenet-tiny", epochs=3,
                                     batch_size=16, learning_rate=0.01),
              verbose=0, callbacks=[Poison()])
    with np.load(out / "checkpoint" / "state.npz", allow_pickle=False) as checkpoint:
        assert int(checkpoint["epochs_done"]) == 1
        arrays = [checkpoint[name] for name in checkpoint.files if name != "epochs_done"]
    assert arrays and all(np.isfinite(a).all() for a in arrays if a.dtype.kind == "f")
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1]


def _refused(dataset, out, *extra):
    """Bad input stops before any training: in process (CliRunner), one line, exit 2."""
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    result = CliRunner().invoke(main, ["train", str(dataset), "--out", str(out), *SETTINGS,
                                       *map(str, extra)])
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dqlabels: error:")
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "fragment"), [
    (["--image-size", "16"], "Expected --image-size >= 32. Received: --image-size 16"),
    (["--model", "vgg"], "'vgg' is not one of 'densenet121', 'resnet50v2', 'densenet-tiny'"),
    (["--schedule", "linear"], "'linear' is not one of 'cosine', 'cosine-restarts'"),
    (["--split-kind", "dcic", "--split", "5"], "Split 5 does not exist"),
    (["--split-file", "missing.csv"], "missing.csv: no such split file"),
    ([], "choose the targets: --soft or --hard"),
    (["--xla"], "--xla does nothing under TensorFlow's deterministic ops (Keras turns XLA off "
                "under them): turn them off as well (--no-deterministic)"),
])
def test_bad_options(tiny, tmp_path, args, fragment):
    label = [] if not args else ["--soft"]
    assert fragment in _refused(tiny, tmp_path / "r", *label, *args)


def test_bad_dataset_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no such dataset folder" in _refused(tmp_path / "missing", tmp_path / "r1", "--soft")
    assert "no annotation file" in _refused(tmp_path / "empty", tmp_path / "r2", "--soft")
    broken = generate_dataset(tmp_path / "broken", num_images=20, image_size=32, seed=1)
    (broken / "images" / "00004.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    assert "00004.png: image cannot be decoded" in _refused(broken, tmp_path / "r3", "--soft")


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dqlabels.learning.placement import make_strategy
from dqlabels.config import TrainConfig
from dqlabels.learning.training import train
devices = [d.name for d in tf.config.list_logical_devices("CPU")]
assert len(devices) == 2, devices
assert make_strategy("mirrored", devices).num_replicas_in_sync == 2
scores = train(sys.argv[1], sys.argv[2], TrainConfig(label_mode="soft", epochs=1, batch_size=16,
               learning_rate=0.01, strategy="mirrored", model="densenet-tiny"), verbose=0,
               devices=devices)
print(json.dumps(scores))
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tiny, tmp_path):
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(tiny), str(tmp_path / "m")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    assert np.isfinite(scores["kl"]) and 0 <= scores["macro_accuracy"] <= 1
    assert (tmp_path / "m" / "predictions.csv").exists()


def test_hard_run_then_soft_run_in_one_process(tiny, tmp_path, soft_run):
    """A study trains its runs in one process, reusing the compiled model: here, the test's
    process, after whatever ran in it before. A hard-label run, then a soft-label one that must
    equal the same run in a process of its own (the soft_run fixture, the command line with
    the same settings), bit for bit."""
    from dqlabels.config import TrainConfig
    from dqlabels.learning.training import train

    hard, soft = tmp_path / "hard", tmp_path / "soft"
    settings = dict(model="densenet-tiny", epochs=3, batch_size=16, learning_rate=0.01)
    for mode, out in (("hard", hard), ("soft", soft)):
        train(tiny, out, TrainConfig(label_mode=mode, **settings), verbose=0)
    for name in ("predictions.csv", "features.npy", "history.csv"):
        assert (soft / name).read_bytes() == (soft_run / name).read_bytes(), name
    config = json.loads((hard / "config.json").read_text())
    assert config["config"]["label_mode"] == "hard"
    scores = json.loads((hard / "scores.json").read_text())
    assert scores["label_mode"] == "hard" and np.isfinite(scores["kl"])
    # Same data, split, seed and settings as the soft run: only the targets differ, so the
    # predictions must too (training hard on the soft labels would give the same bytes).
    hard_p = pd.read_csv(hard / "predictions.csv").set_index("item")
    soft_p = pd.read_csv(soft_run / "predictions.csv").set_index("item")
    assert np.abs(hard_p.to_numpy() - soft_p.loc[hard_p.index].to_numpy()).max() > 1e-3


def _predict(*args):
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    return CliRunner().invoke(main, ["predict", *map(str, args)])


def test_predict_a_run_on_a_dataset_folder(soft_run, tiny, tmp_path):
    """The run's own model on its dataset: every item, the class order recorded with the run,
    the test items as the run predicted them (same pipeline), features one row per item; the
    file is what evaluate --predictions and plan --predictions read."""
    out, features = tmp_path / "p.csv", tmp_path / "f.npy"
    result = _predict(soft_run, tiny, "--out", out, "--features", features)
    assert result.exit_code == 0, result.stderr
    predictions = pd.read_csv(out)
    run = pd.read_csv(soft_run / "predictions.csv").set_index("item")
    assert list(predictions.columns) == ["item", *run.columns]
    assert len(predictions) == 48
    mine = predictions.set_index("item").loc[run.index]
    np.testing.assert_allclose(mine.to_numpy(), run.to_numpy(), atol=1e-6)
    assert np.load(features).shape == (48, 68)
    from click.testing import CliRunner

    from dqlabels_cli.main import main

    scored = CliRunner().invoke(main, ["evaluate", str(tiny / "annotations.csv"),
                                       "--predictions", str(out)])
    assert scored.exit_code == 0 and "Predictions vs soft labels (48 items)" in scored.output
    campaign = tmp_path / "campaign.csv"
    campaign.write_text("item,label\n" + "".join(
        f"{item},{run.columns[i % 6]}\n" for i, item in enumerate(predictions["item"])))
    planned = CliRunner().invoke(main, ["plan", str(campaign), "--budget", "5", "--predictions",
                                        str(out), "--out", str(tmp_path / "next.csv")])
    assert planned.exit_code == 0, planned.stderr
    assert "predictions (for 48 of 48 items) weigh" in planned.output


def test_predict_refusals(soft_run, tiny, tmp_path):
    """Exit 2, one line, no output file: an output that exists, an image that cannot be
    decoded (named), a model without its classes, a model with another number of classes,
    a file that is not a model."""
    import shutil

    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(tiny / "images" / "00000.png", images / "good.png")
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    bare = tmp_path / "bare.keras"
    shutil.copy(soft_run / "model.keras", bare)
    (tmp_path / "not-a-model.keras").write_text("hello")
    existing = tmp_path / "existing.csv"
    existing.write_text("precious")
    out = tmp_path / "out.csv"
    cases = [
        ((soft_run, images / "good.png", "--out", existing), "already exists"),
        ((soft_run, images, "--out", out), "broken.png: image cannot be decoded"),
        ((bare, images / "good.png", "--out", out), "no config.json beside the model"),
        ((bare, images / "good.png", "--out", out, "--classes", "a,b"),
         "the model predicts 6 classes, not the 2 given"),
        ((tmp_path / "not-a-model.keras", images / "good.png", "--out", out, "--classes", "a"),
         "cannot be loaded as a Keras model"),
    ]
    for args, fragment in cases:
        result = _predict(*args)
        assert result.exit_code == 2, (args, result.output, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], lines
        assert not out.exists()
    assert existing.read_text() == "precious"
    ok = _predict(bare, images / "good.png", "--out", out, "--classes", ",".join("abcdef"))
    assert ok.exit_code == 0, ok.stderr
    assert pd.read_csv(out).columns.tolist() == ["item", *"abcdef"]
