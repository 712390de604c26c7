"""Training on hard or soft labels (SPEC §9): `dqlabels train` as a library.

The recipe of the paper: SGD with momentum 0.9, learning rate 0.1, batch 128, 60 epochs,
categorical cross-entropy on soft labels or on one-hot majority votes, decoupled weight decay
through the optimiser (Keras' ``weight_decay``: w ← w − lr·λ·w each step), and a cosine
learning-rate schedule per step: decay to 0 over the whole run (``cosine``), or with warm
restarts (``cosine-restarts``: first cycle ``first_cycle_epochs``, each next cycle ``t_mul``
times longer, so 20 and 2 end cycles at epochs 20 and 60). Validation and test scores are always
against the soft labels.

A run folder holds ``config.json`` (every setting, the library versions, the status),
``split.csv``, ``history.csv`` (one row per epoch), ``checkpoint/`` while training, and at the
end ``model.keras``, ``predictions.csv``, ``features.npy`` with ``features_items.csv`` and
``scores.json``. Every file is written atomically. A run killed at any moment and started again
with the same settings resumes from its last completed epoch; with TensorFlow's deterministic
ops on (the default) it ends bit-identical to an uninterrupted run.

Example:
    >>> from dqlabels.training import TrainConfig, train  # doctest: +SKIP
    >>> scores = train("data/synthetic", "runs/soft0", TrainConfig(label_mode="soft"))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dqlabels._io import atomic_path, open_output_folder, write_text_atomic
from dqlabels.errors import InputError

MODELS = ("densenet121", "resnet50v2")
MIN_IMAGE_SIZE = 32
CACHE_CHOICES = ("auto", "memory", "none")
LABEL_MODES = ("soft", "hard")
SCHEDULES = ("cosine", "cosine-restarts")
STRATEGIES = ("default", "mirrored")
SPLIT_KINDS = ("random", "dcic")
RUN_FILES = ("config.json", "split.csv", "history.csv", "checkpoint", "model.keras",
             "predictions.csv", "features.npy", "features_items.csv", "scores.json",
             "tensorboard")


class TrainingFailed(RuntimeError):
    """Training could not finish (for example the loss became NaN)."""


@dataclass
class TrainConfig:
    """Every setting of a training run; the defaults are the paper's (synthetic data).

    ``image_size=None`` uses the dataset's own image size (``dataset.json``), else 224.
    """

    label_mode: str = "soft"
    model: str = "densenet121"
    weights: str = "none"
    image_size: int | None = None
    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    bn_momentum: float | None = None
    first_cycle_epochs: int = 20
    t_mul: float = 2.0
    augment: bool = True
    split: int = 0
    split_kind: str = "random"
    split_file: str | None = None
    seed: int = 0
    deterministic: bool = True
    mixed_precision: bool = False
    xla: bool = False
    strategy: str = "default"
    cache: str = "auto"
    tensorboard: bool = False

    def check(self) -> None:
        """Raise InputError for a value outside its range, naming what was expected."""
        choices = {"label_mode": LABEL_MODES, "model": MODELS, "schedule": SCHEDULES,
                   "strategy": STRATEGIES, "split_kind": SPLIT_KINDS, "cache": CACHE_CHOICES}
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise InputError(f"Expected {name} to be one of {', '.join(allowed)}. "
                                 f"Received: {name}={value!r}")
        if self.image_size is not None and self.image_size < MIN_IMAGE_SIZE:
            raise InputError(f"--image-size must be at least {MIN_IMAGE_SIZE}. "
                             f"Received: {self.image_size}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "learning_rate": self.learning_rate, "first_cycle_epochs": self.first_cycle_epochs,
                    "t_mul": self.t_mul}
        for name, value in positive.items():
            if not value > 0:
                raise InputError(f"Expected {name} > 0. Received: {name}={value}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"Expected 0 <= momentum < 1. Received: momentum={self.momentum}")
        if self.bn_momentum is not None and not 0 <= self.bn_momentum < 1:
            raise InputError(f"Expected 0 <= bn_momentum < 1. Received: {self.bn_momentum}")
        if self.weight_decay < 0:
            raise InputError(f"Expected weight_decay >= 0. Received: {self.weight_decay}")
        if self.split < 0 or (self.split_kind == "dcic" and self.split > 4):
            raise InputError(f"Split {self.split} does not exist: random splits are numbered "
                             f"0, 1, 2, …; the DCIC rotation has slices 0–4")


# ----------------------------------------------------------------------------------------------
# Schedules


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """The per-step schedule of ``config`` as a Keras ``LearningRateSchedule``.

    ``cosine``: lr(step) = ½·lr₀·(1 + cos(π·step/(epochs·steps_per_epoch))), reaching 0 at the
    end. ``cosine-restarts``: SGDR (Loshchilov & Hutter) with a first cycle of
    ``first_cycle_epochs`` epochs and each next cycle ``t_mul`` times longer, restarting at lr₀.
    """
    import keras

    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch, alpha=0.0)
    return keras.optimizers.schedules.CosineDecayRestarts(
        config.learning_rate, first_decay_steps=config.first_cycle_epochs * steps_per_epoch,
        t_mul=config.t_mul, m_mul=1.0, alpha=0.0)


# ----------------------------------------------------------------------------------------------
# Run folder


def _versions() -> dict:
    import platform

    import keras
    import tensorflow as tf

    import dqlabels

    return {"dqlabels": dqlabels.__version__, "keras": keras.__version__,
            "tensorflow": tf.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _run_identity(config: TrainConfig, dataset) -> dict:
    """What must match for a run folder to be resumed or reused."""
    settings = asdict(config)
    settings.pop("tensorboard")  # logging only
    return {"dataset": str(dataset.root), "num_items": dataset.num_items,
            "classes": list(dataset.classes), "settings": settings}


def _prepare_run_dir(out_dir: Path, identity: dict, overwrite: bool) -> str:
    """Returns ``"new"``, ``"resume"`` or ``"done"``; refuses to mix runs."""
    previous = open_output_folder(out_dir, "config.json", RUN_FILES, overwrite, "run")
    if previous is None:
        return "new"
    if previous.get("identity") != identity:
        raise InputError(f"{out_dir}: holds a run with other settings or data; use another "
                         f"--out or pass --overwrite to start again")
    if (out_dir / "scores.json").exists():  # written last of the results
        return "done"
    return "resume"


def _write_config(out_dir: Path, config: TrainConfig, identity: dict, status: str, **extra):
    payload = {"status": status, "identity": identity, "config": asdict(config),
               "versions": _versions(), **extra}
    write_text_atomic(out_dir / "config.json", json.dumps(payload, indent=2) + "\n")


# ----------------------------------------------------------------------------------------------
# Callbacks


def _callbacks(out_dir: Path, config: TrainConfig, schedule):
    import keras

    class StopOnNaN(keras.callbacks.Callback):
        """Stops at the first non-finite loss and remembers (epoch, batch)."""

        def __init__(self):
            super().__init__()
            self.failed_at = None
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.failed_at = (self.epoch, batch)
                self.model.stop_training = True

    nan_guard = StopOnNaN()

    class EpochCheckpoint(keras.callbacks.Callback):
        """After each epoch: the model with its optimiser state, then the log row, then the
        epoch counter; each atomically, so a kill at any moment leaves a consistent state."""

        def on_epoch_end(self, epoch, logs=None):
            if nan_guard.failed_at is not None:  # Keras ends a stopped epoch too: keep the last good one
                return
            checkpoint = out_dir / "checkpoint"
            checkpoint.mkdir(exist_ok=True)
            with atomic_path(checkpoint / "model.keras", suffix=".keras") as tmp:
                self.model.save(tmp)
            lr = float(schedule(max(int(self.model.optimizer.iterations.numpy()) - 1, 0)))
            _append_history(out_dir / "history.csv", epoch, lr, logs or {})
            write_text_atomic(checkpoint / "state.json", json.dumps({"epochs_done": epoch + 1}))

    callbacks = [nan_guard, EpochCheckpoint()]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / "tensorboard")))
    return callbacks, nan_guard


HISTORY_COLUMNS = ("epoch", "learning_rate", "loss", "kl", "macro_accuracy", "val_loss",
                   "val_kl", "val_macro_accuracy")


def _append_history(path: Path, epoch: int, lr: float, logs: dict) -> None:
    rows = _read_history(path)
    rows = [r for r in rows if int(r["epoch"]) < epoch + 1]
    row = {"epoch": epoch + 1, "learning_rate": lr}
    row.update({k: float(logs[k]) for k in HISTORY_COLUMNS[2:] if k in logs})
    rows.append(row)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------------
# Training


def make_strategy(name: str = "default", devices=None):
    """``tf.distribute`` strategy: the default (one device) or MirroredStrategy over all local
    GPUs (or the given ``devices``)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def compile_model(model, config: TrainConfig, steps: int, num_classes: int):
    """SGD with the schedule, cross-entropy, and the KL / macro-accuracy metrics."""
    import keras

    from dqlabels.keras import KLDivergence, MacroAccuracy

    schedule = learning_rate_schedule(config, steps)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum,
                                     weight_decay=config.weight_decay or None)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(),
                  metrics=[KLDivergence(), MacroAccuracy(num_classes=num_classes)],
                  jit_compile=bool(config.xla))
    return schedule


def targets_for(dataset, label_mode: str) -> np.ndarray:
    """Training targets: soft labels, or one-hot majority votes (lowest index on ties)."""
    if label_mode == "soft":
        return dataset.soft_labels.astype(np.float32)
    return np.eye(len(dataset.classes), dtype=np.float32)[dataset.hard_labels]


def train(dataset_dir, out_dir, config: TrainConfig | None = None, overwrite: bool = False,
          verbose: int | str = "auto", devices=None) -> dict:
    """Train one model on one split and write the run folder; returns the test scores.

    Resumes a killed run with the same settings; returns the recorded scores of a finished one
    (unless ``overwrite``). Raises InputError for bad input and TrainingFailed when the loss
    becomes NaN.
    """
    from dqlabels.datasets import load_dataset, make_split, read_split, save_split, verify_images

    config = config or TrainConfig()
    config.check()
    out_dir = Path(out_dir)
    dataset = load_dataset(dataset_dir)
    if config.image_size is None:
        config.image_size = int(dataset.info.get("image_size") or 224)
    identity = _run_identity(config, dataset)
    state = _prepare_run_dir(out_dir, identity, overwrite)
    if state == "done":
        previous = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
        if previous.get("status") != "complete":  # killed between the scores and this mark
            _write_config(out_dir, config, identity, "complete")
        return json.loads((out_dir / "scores.json").read_text(encoding="utf-8"))

    if config.split_file is not None:
        split = read_split(config.split_file, dataset)
    else:
        split = make_split(dataset, config.split, config.split_kind)
    for name in ("train", "val", "test"):
        if not np.any(split == name):
            raise InputError(f"{dataset.root}: split {config.split} has no {name} items")
    verify_images(dataset)
    if state == "new" or not (out_dir / "split.csv").exists():
        save_split(out_dir / "split.csv", dataset.items, split)
    _write_config(out_dir, config, identity, "running")

    started = time.time()
    model, epochs_trained = _fit(dataset, split, out_dir, config, verbose, devices)
    _finish(dataset, split, out_dir, model, config)
    scores = json.loads((out_dir / "scores.json").read_text(encoding="utf-8"))
    _write_config(out_dir, config, identity, "complete",
                  seconds_last_session=round(time.time() - started, 1),
                  epochs_trained_last_session=epochs_trained)
    return scores


def _fit(dataset, split, out_dir: Path, config: TrainConfig, verbose, devices):
    import keras
    import tensorflow as tf

    from dqlabels.models import build_model, load_model
    from dqlabels.tfdata import make_dataset, steps_per_epoch

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    targets = targets_for(dataset, config.label_mode)
    soft = dataset.soft_labels.astype(np.float32)
    train_rows = np.flatnonzero(split == "train")
    val_rows = np.flatnonzero(split == "val")
    strategy = make_strategy(config.strategy, devices)
    # Replicas split each batch evenly: with several, the last partial batch is dropped.
    drop_remainder = strategy.num_replicas_in_sync > 1 and train_rows.size >= config.batch_size
    steps = steps_per_epoch(train_rows.size, config.batch_size, drop_remainder)

    state_path = out_dir / "checkpoint" / "state.json"
    epochs_done = 0
    if state_path.exists():
        epochs_done = int(json.loads(state_path.read_text())["epochs_done"])
    with strategy.scope():
        if epochs_done:  # the checkpoint holds the weights and the optimiser state
            model = load_model(out_dir / "checkpoint" / "model.keras")
        else:
            model = build_model(config.model, len(dataset.classes), config.image_size,
                                config.weights, config.bn_momentum)
            compile_model(model, config, steps, len(dataset.classes))
    if epochs_done >= config.epochs:
        return model, 0

    train_ds = make_dataset(dataset.paths[train_rows], targets[train_rows], config.image_size,
                            config.batch_size, training=True, augment_images=config.augment,
                            seed=config.seed, epochs=config.epochs, initial_epoch=epochs_done,
                            cache=config.cache, drop_remainder=drop_remainder)
    val_ds = make_dataset(dataset.paths[val_rows], soft[val_rows], config.image_size,
                          config.batch_size, cache=config.cache,
                          pad_to_multiple=strategy.num_replicas_in_sync)
    schedule = learning_rate_schedule(config, steps)  # for the log; the optimiser has its own
    callbacks, nan_guard = _callbacks(out_dir, config, schedule)
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=epochs_done,
              steps_per_epoch=steps, callbacks=callbacks, verbose=verbose)
    if nan_guard.failed_at is not None:
        epoch, batch = nan_guard.failed_at
        raise TrainingFailed(
            f"the training loss became NaN in epoch {epoch + 1}, batch {batch + 1}; try a lower "
            f"--learning-rate (the last completed epoch is kept in {out_dir / 'checkpoint'})")
    return model, config.epochs - epochs_done


def _finish(dataset, split, out_dir: Path, model, config: TrainConfig) -> None:
    """Test-split predictions, GAP features, the final model and the scores."""
    from dqlabels.scores import prediction_scores
    from dqlabels.tfdata import make_dataset

    test_rows = np.flatnonzero(split == "test")
    soft = dataset.soft_labels
    replicas = model.distribute_strategy.num_replicas_in_sync
    test_ds = make_dataset(dataset.paths[test_rows], soft[test_rows].astype(np.float32),
                           config.image_size, config.batch_size, cache="none",
                           pad_to_multiple=replicas)
    predictions = predict(model, test_ds)[:test_rows.size]  # padded rows dropped
    features = extract_features(model, test_ds)[:test_rows.size]
    items = dataset.items[test_rows]

    with atomic_path(out_dir / "predictions.csv") as tmp:
        _write_predictions(tmp, items, dataset.classes, predictions)
    with atomic_path(out_dir / "features.npy", suffix=".npy") as tmp:
        np.save(tmp, features.astype(np.float32), allow_pickle=False)
    with atomic_path(out_dir / "features_items.csv") as tmp:
        tmp.write_text("item\n" + "".join(f"{item}\n" for item in items), encoding="utf-8")
    with atomic_path(out_dir / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    scores = prediction_scores(soft[test_rows], predictions)
    scores.update({"num_test_items": int(test_rows.size), "label_mode": config.label_mode,
                   "split": config.split})
    write_text_atomic(out_dir / "scores.json", json.dumps(scores, indent=2) + "\n")
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)


def predict(model, data) -> np.ndarray:
    """Class probabilities (float64, rows renormalised) for a dataset or an image batch."""
    probabilities = np.asarray(model.predict(data, verbose=0), dtype=np.float64)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def extract_features(model, data) -> np.ndarray:
    """Global-average-pooling features of ``data`` (a dataset or an image batch)."""
    from dqlabels.models import feature_model

    return np.asarray(feature_model(model).predict(data, verbose=0))


def _write_predictions(path, items, classes, predictions) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["item", *classes])
        for item, row in zip(items, predictions.tolist()):
            writer.writerow([item, *(repr(v) for v in row)])
