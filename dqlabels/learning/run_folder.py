"""A training run's folder (docs/conventions.md §9): what it holds, and the rule for reusing one.

A run folder holds ``config.json`` (every setting, the library versions, the status),
``split.csv``, ``history.csv`` (one row per epoch), ``checkpoint/state.npz`` while training,
and at the end ``model.keras``, ``predictions.csv``, ``features.npy`` with
``features_items.csv`` and ``scores.json``. Every file is written atomically.

"Same settings?": a folder is resumed (or its finished run reused) only when its recorded
identity, the dataset and every setting but logging, equals the new run's; anything else is
refused unless ``overwrite``. ``scores.json`` is written last of the results, so its presence
means the run is done.
"""

from __future__ import annotations

import csv
import json
import platform
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from dqlabels._io import atomic_path, open_output_folder, write_csv_atomic, write_text_atomic
from dqlabels.config import TrainConfig, package_version
from dqlabels.errors import InputError

RUN_FILES = ("config.json", "split.csv", "history.csv", "checkpoint", "model.keras",
             "predictions.csv", "features.npy", "features_items.csv", "scores.json",
             "tensorboard")
CHECKPOINT = "checkpoint/state.npz"
HISTORY_COLUMNS = ("epoch", "learning_rate", "loss", "kl", "macro_accuracy", "val_loss",
                   "val_kl", "val_macro_accuracy")


def versions() -> dict:
    """The versions a run records (dqlabels, Keras and its backend, TensorFlow, JAX when it is
    the backend, numpy, Python)."""
    import sys

    import keras
    import tensorflow as tf

    found = {"dqlabels": package_version(), "keras": keras.__version__,
             "keras_backend": keras.backend.backend(), "tensorflow": tf.__version__}
    if "jax" in sys.modules:
        found["jax"] = sys.modules["jax"].__version__
    return {**found, "numpy": np.__version__, "python": platform.python_version()}


def run_identity(config: TrainConfig, dataset) -> dict:
    """What must match for a run folder to be resumed or reused."""
    settings = asdict(config)
    settings.pop("tensorboard")  # logging only
    return {"dataset": str(dataset.root), "num_items": dataset.num_items,
            "classes": list(dataset.classes), "settings": settings}


def prepare_run_dir(out_dir: Path, identity: dict, overwrite: bool) -> str:
    """Returns ``"new"``, ``"resume"`` or ``"done"``; refuses to mix runs."""
    previous = open_output_folder(out_dir, "config.json", RUN_FILES, overwrite, "run")
    if previous is None:
        return "new"
    if previous.get("identity") != identity:
        raise InputError(f"{out_dir}: holds a run with other settings or data; use another "
                         f"out_dir or pass overwrite=True to start again")
    if (out_dir / "scores.json").exists():  # written last of the results
        return "done"
    return "resume"


def prepare_run(dataset_dir, config: TrainConfig):
    """The settings checked, the dataset read, and what the dataset decides filled in: the
    image size (when unset) and the augmentation (``augment="auto"``: :func:`dataset_augment`).
    Returns ``(config, dataset)``. No TensorFlow, no run folder."""
    from dqlabels.data.datasets import dataset_augment, load_dataset

    config.check()
    dataset = load_dataset(dataset_dir)
    if config.image_size is None:
        config = replace(config, image_size=int(dataset.info.get("image_size") or 224))
    if config.augment == "auto":
        config = replace(config, augment=dataset_augment(dataset))
    return config, dataset


def open_run(dataset_dir, out_dir, config: TrainConfig, overwrite: bool = False):
    """Everything about a run that needs no TensorFlow, before training: :func:`prepare_run`,
    then what the run folder holds (:func:`prepare_run_dir`: ``"new"``, ``"resume"`` or
    ``"done"``; another run's folder is refused).

    Returns:
        ``(config, dataset, identity, state)``.
    """
    config, dataset = prepare_run(dataset_dir, config)
    identity = run_identity(config, dataset)
    return config, dataset, identity, prepare_run_dir(Path(out_dir), identity, overwrite)


def finished_scores(out_dir) -> dict | None:
    """The scores of the finished run in ``out_dir`` (``None`` while it is not marked
    complete)."""
    config = Path(out_dir) / "config.json"
    if not (Path(out_dir) / "scores.json").exists() or not config.exists():
        return None
    if json.loads(config.read_text(encoding="utf-8")).get("status") != "complete":
        return None
    return read_scores(out_dir)


def write_config(out_dir: Path, config: TrainConfig, identity: dict, status: str, **extra) -> None:
    """``config.json``: the status, the identity, every setting and the versions."""
    payload = {"status": status, "identity": identity, "config": asdict(config),
               "versions": versions(), **extra}
    write_text_atomic(out_dir / "config.json", json.dumps(payload, indent=2) + "\n")


def read_scores(out_dir: Path) -> dict:
    """The ``scores.json`` of a finished run."""
    return json.loads((Path(out_dir) / "scores.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# Checkpoints: every variable of the model and of its optimiser, in one .npz file


def save_checkpoint(model, path, epochs_done: int) -> None:
    """Write the model's and its optimiser's variables and the epoch count, atomically.

    A plain ``.npz`` of arrays (read back with ``allow_pickle=False``): much faster than a
    ``.keras`` file after every epoch (``benchmarks/README.md``).
    """
    from dqlabels.learning.optimiser import optimizer_values  # Keras: once training runs

    arrays = {f"model_{i}": value for i, value in enumerate(model.get_weights())}
    arrays.update({f"optimizer_{i}": value
                   for i, value in enumerate(optimizer_values(model))})
    arrays["epochs_done"] = np.int64(epochs_done)
    path = Path(path)
    path.parent.mkdir(exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def read_checkpoint(model, path) -> tuple[list, list, int]:
    """The arrays of a :func:`save_checkpoint` file for ``model`` (compiled, same
    architecture): ``(weights, optimizer values, epochs done)``."""
    from dqlabels.learning.optimiser import build_optimizer  # Keras: once training runs

    path = Path(path)
    build_optimizer(model)
    try:
        with np.load(path, allow_pickle=False) as archive:
            weights = [archive[f"model_{i}"] for i in range(len(model.weights))]
            optimizer_values = [archive[f"optimizer_{i}"]
                                for i in range(len(model.optimizer.variables))]
            epochs_done = int(archive["epochs_done"])
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: unreadable checkpoint ({exc}); pass overwrite=True to start "
                         f"again") from None
    return weights, optimizer_values, epochs_done


def restore(model, weights: list, optimizer_values: list, source="the checkpoint") -> None:
    """Set ``model``'s weights and its optimiser's variables (from :func:`read_checkpoint`)."""
    try:
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, optimizer_values):
            variable.assign(value)
    except ValueError as exc:
        raise InputError(f"{source} does not fit this model ({exc}); pass overwrite=True to "
                         f"start again") from None


def load_checkpoint(model, path) -> int:
    """Restore a :func:`save_checkpoint` file into ``model`` (compiled, same architecture);
    returns the number of epochs done."""
    weights, optimizer_values, epochs_done = read_checkpoint(model, path)
    restore(model, weights, optimizer_values, f"{path}: the checkpoint")
    return epochs_done


# ----------------------------------------------------------------------------------------------
# History


def append_history(path: Path, epoch: int, lr: float, logs: dict) -> None:
    """Add (or replace) the row of ``epoch`` (0-based) in ``history.csv``."""
    rows = [r for r in read_history(path) if int(r["epoch"]) < epoch + 1]
    row = {"epoch": epoch + 1, "learning_rate": lr}
    row.update({k: float(logs[k]) for k in HISTORY_COLUMNS[2:] if k in logs})
    rows.append(row)
    write_csv_atomic(path, HISTORY_COLUMNS, ([r.get(c) for c in HISTORY_COLUMNS] for r in rows))


def read_history(path: Path) -> list[dict]:
    """The rows of ``history.csv`` (none when it does not exist)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def epochs_done(out_dir: Path) -> int:
    """Epochs completed so far, from the checkpoint (or the history of a finished run)."""
    checkpoint = out_dir / CHECKPOINT
    if checkpoint.exists():
        with np.load(checkpoint, allow_pickle=False) as archive:
            return int(archive["epochs_done"])
    return len(read_history(out_dir / "history.csv"))


# ----------------------------------------------------------------------------------------------
# Outputs


def write_outputs(out_dir: Path, model, items, classes, predictions: np.ndarray,
                  features: np.ndarray, scores: dict) -> dict:
    """The results of a finished run: test predictions, GAP features, the model and, last, the
    scores; the checkpoint is removed. Returns ``scores``."""
    write_csv_atomic(out_dir / "predictions.csv", ("item", *classes),
                     ((item, *row) for item, row in zip(items, predictions.tolist())))
    with atomic_path(out_dir / "features.npy", suffix=".npy") as tmp:
        np.save(tmp, features.astype(np.float32), allow_pickle=False)
    write_csv_atomic(out_dir / "features_items.csv", ("item",), ((item,) for item in items))
    with atomic_path(out_dir / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    write_text_atomic(out_dir / "scores.json", json.dumps(scores, indent=2) + "\n")
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    return scores
