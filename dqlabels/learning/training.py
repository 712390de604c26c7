"""Training on hard or soft labels (docs/conventions.md §9): `dqlabels train` as a library.

The recipe of the paper: SGD with momentum 0.9, learning rate 0.1, batch 128, 60 epochs,
categorical cross-entropy on soft labels or on one-hot majority votes, decoupled weight decay
through the optimiser (Keras' ``weight_decay``: w ← w − lr·λ·w each step), and a cosine
learning-rate schedule per step: decay to 0 over the whole run (``cosine``), or with warm
restarts (``cosine-restarts``: first cycle ``first_cycle_epochs``, each next cycle ``t_mul``
times longer, so 20 and 2 end cycles at epochs 20 and 60). Validation and test scores are always
against the soft labels. After training, the BatchNorm statistics are recomputed over training
images with the weights frozen (precise BatchNorm, ``precise_bn``), so that inference-mode
scores do not depend on the last few batches' moving averages.

The run folder (:mod:`dqlabels.learning.run_folder`): a run killed at any moment and started again with
the same settings resumes from its last completed epoch; with TensorFlow's deterministic ops on
(the default) it ends bit-identical to an uninterrupted run.

Several runs in one process (a study) share one compiled model when their settings give the
same graph: each run starts from the weights a fresh build would have and a zeroed optimiser,
and skips Keras' tracing of the training, validation and prediction steps (about a minute per
run for DenseNet121 on a CPU). The results are bit-identical to a run in a fresh process.

Example (the tiny DenseNet, one epoch; the paper's defaults train DenseNet121 for 60):
    >>> import tempfile
    >>> from dqlabels.data.synthetic import generate_dataset
    >>> folder = tempfile.mkdtemp()
    >>> data = generate_dataset(folder + "/data", num_images=40, image_size=32)
    >>> config = TrainConfig(label_mode="soft", model="densenet-tiny", epochs=1, batch_size=8)
    >>> scores = train(data, folder + "/run", config, verbose=0)
    >>> sorted(k for k in ("kl", "macro_accuracy", "precise_bn") if k in scores)
    ['kl', 'macro_accuracy', 'precise_bn']
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from dqlabels.config import TrainConfig
from dqlabels.data.datasets import (
    make_split,
    read_split,
    read_targets,
    save_split,
    verify_images,
)
from dqlabels.errors import InputError, TrainingFailed
from dqlabels.labels.aggregation import majority_vote, soft_labels
from dqlabels.labels.scores import cross_entropy, kl_divergence, prediction_scores
from dqlabels.learning import distributed
from dqlabels.learning.callbacks import EpochCheckpoint, StopOnNaN
from dqlabels.learning.inference import predict_with_features
from dqlabels.learning.models import batchnorm_layers, build_model
from dqlabels.learning.optimiser import (
    build_optimizer,
    compile_model,
    learning_rate_schedule,
    optimizer_values,
)
from dqlabels.learning.placement import Placement
from dqlabels.learning.precise_bn import recompute_batchnorm_statistics
from dqlabels.learning.run_folder import (
    CHECKPOINT,
    finished_scores,
    load_checkpoint,
    open_run,
    prepare_run,
    read_checkpoint,
    read_scores,
    restore,
    write_config,
    write_outputs,
)
from dqlabels.learning.tfdata import make_evaluation_dataset, make_training_dataset, steps_per_epoch

__all__ = ["targets_for", "train"]

# Precise BatchNorm statistics from at most this many training images, in full batches
# (fvcore's PreciseBN uses 200 batches; on our data 20 batches of 128 already give the gain).
PRECISE_BN_IMAGES = 2560


# ----------------------------------------------------------------------------------------------
# Models: reuse a compiled model across the runs of one process


# The compiled model of the last run in this process, keyed by everything that shapes its graph.
_model_cache: dict = {}


def _graph_key(config: TrainConfig, num_classes: int, steps: int) -> tuple:
    settings = asdict(config)
    for name in ("label_mode", "split", "split_kind", "split_file", "targets", "seed", "weights",
                 "augment", "cache", "tensorboard", "precise_bn"):
        settings.pop(name)  # these change the data or the initial values, not the graph
    return (num_classes, steps, keras.mixed_precision.global_policy().name,
            *sorted(settings.items()))


def _fresh_compiled_model(config: TrainConfig, num_classes: int, steps: int,
                          placement: Placement):
    """A compiled model with the initial weights of a fresh build under ``config.seed`` and a
    zeroed optimiser. Reuses the last compiled model (and the steps Keras traced for it) when
    the graph is the same (also in a data-parallel job: every process does the same); a
    mirrored strategy always builds anew."""
    with placement.scope():
        fresh = build_model(config.model, num_classes, config.image_size, config.weights,
                            config.bn_momentum)
    key = _graph_key(config, num_classes, steps)
    reusable = config.strategy in ("default", "data-parallel")
    if reusable and _model_cache.get("key") == key:
        model = _model_cache["model"]
        model.set_weights(fresh.get_weights())
        for variable, value in zip(model.optimizer.variables, _model_cache["optimizer_initial"]):
            variable.assign(value)
        return model
    _model_cache.clear()
    with placement.scope():
        compile_model(fresh, config, steps, num_classes)
        build_optimizer(fresh)
    if reusable:
        _model_cache.update(key=key, model=fresh, optimizer_initial=optimizer_values(fresh))
    return fresh


# ----------------------------------------------------------------------------------------------
# Training


def targets_for(dataset, label_mode: str, counts: np.ndarray | None = None) -> np.ndarray:
    """Training targets: soft labels, or one-hot majority votes (lowest index on ties), of the
    dataset's annotations or of other ``counts`` aligned with its items."""
    soft = dataset.soft_labels if counts is None else soft_labels(counts)
    if label_mode == "soft":
        return soft.astype(np.float32)
    hard = dataset.hard_labels if counts is None else majority_vote(counts).labels_
    return np.eye(len(dataset.classes), dtype=np.float32)[hard]


def train(dataset_dir, out_dir, config: TrainConfig | None = None, *, overwrite: bool = False,
          verbose: int | str = "auto", devices=None, callbacks=(), job=None) -> dict:
    """Train one model on one split and write the run folder; returns the test scores.

    Resumes a killed run with the same settings; returns the recorded scores of a finished one
    (unless ``overwrite``).

    With ``strategy="data-parallel"`` (JAX backend) every process of the job calls this with
    the same arguments: the global batch is ``batch_size``, each process feeds its share of it,
    and only process 0 writes ``out_dir`` (the others return its scores).

    Args:
        dataset_dir: a dataset folder (:func:`dqlabels.data.datasets.load_dataset`).
        out_dir: the run folder.
        config: every setting (default: the paper's); not modified.
        overwrite: start again in a folder that holds a run.
        verbose: Keras' ``fit`` verbosity.
        devices: devices of a mirrored or data-parallel run (default: all).
        callbacks: more Keras callbacks for ``fit`` (a study's progress estimate, say).
        job: a data-parallel job's shape (:class:`dqlabels.learning.distributed.Job`; default: from the
            environment).

    Raises:
        InputError: bad input or settings. TrainingFailed: the loss became NaN, or a process of
        a data-parallel job stopped (:class:`dqlabels.learning.distributed.ProcessLost`).
    """
    out_dir = Path(out_dir)
    config = config or TrainConfig()
    config.check()
    placement = Placement(config, devices, job)
    opened = distributed.decided_by_process_zero(
        lambda: _open_run_folder(dataset_dir, out_dir, config, overwrite),
        share=lambda found: {k: found[k] for k in ("scores", "state") if k in found},
        refused="process 0 refused the run")
    if "scores" in opened:
        return opened["scores"]
    if not placement.writer:  # process 0 alone reads the run folder
        run_config, dataset = prepare_run(dataset_dir, config)
        opened = {"config": run_config, "dataset": dataset, "identity": None,
                  "state": opened["state"]}
    config, dataset, identity, state = (opened[k] for k in ("config", "dataset", "identity",
                                                              "state"))

    if config.split_file is not None:
        split = read_split(config.split_file, dataset)
    else:
        split = make_split(dataset, config.split, config.split_kind)
    for name in ("train", "val", "test"):
        if not np.any(split == name):
            raise InputError(f"{dataset.root}: split {config.split} has no {name} items")
    verify_images(dataset)
    if placement.writer:
        if state == "new" or not (out_dir / "split.csv").exists():
            save_split(out_dir / "split.csv", dataset.items, split)
        write_config(out_dir, config, identity, "running")

    started = time.time()
    model, epochs_trained, completed = _fit_run(dataset, split, out_dir, config, verbose, placement,
                                            callbacks)
    scores = _finish(dataset, split, out_dir, model, config, completed, placement)
    # A callback may stop training early (the GPU check's deadline): the run keeps its outputs
    # and says so.
    if placement.writer:
        write_config(out_dir, config, identity,
                     "complete" if completed >= config.epochs else "stopped early",
                     seconds_last_session=round(time.time() - started, 1),
                     epochs_trained_last_session=epochs_trained, epochs_completed=completed,
                     **({"processes": placement.shard[1], "devices": placement.replicas}
                        if placement.distribution is not None else {}))
    if placement.distribution is not None:  # the others leave once process 0 has written
        distributed.barrier("run")
    return scores


def _open_run_folder(dataset_dir, out_dir: Path, config: TrainConfig, overwrite: bool) -> dict:
    """What the run folder holds: a finished run's scores, or the settings, dataset, identity
    and state to train from (:func:`dqlabels.learning.run_folder.open_run`)."""
    config, dataset, identity, state = open_run(dataset_dir, out_dir, config, overwrite)
    if state != "done":
        return {"config": config, "dataset": dataset, "identity": identity, "state": state}
    scores = finished_scores(out_dir)
    if scores is None:  # killed between the scores and this mark
        write_config(out_dir, config, identity, "complete")
        scores = read_scores(out_dir)
    return {"scores": scores}


def _fit_run(dataset, split, out_dir: Path, config: TrainConfig, verbose, placement: Placement,
         callbacks=()):
    """Train from the last checkpoint; returns ``(model, epochs trained now, epochs done)``.
    A data-parallel run returns a copy of the model on this process's own device."""
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()  # the tf.data pipeline, on both backends
        _deterministic_xla()
    keras.mixed_precision.set_global_policy("mixed_float16" if config.mixed_precision
                                            else "float32")
    targets = targets_for(dataset, config.label_mode,
                          None if config.targets is None else read_targets(config.targets, dataset))
    soft = dataset.soft_labels.astype(np.float32)
    train_rows = np.flatnonzero(split == "train")
    val_rows = np.flatnonzero(split == "val")
    # Every training batch is full: the last partial batch of each epoch is dropped (each epoch
    # is shuffled anew, so every image is used). A partial batch would make Keras trace the
    # training step a second time (about 40 s for DenseNet121 on a CPU), and replicas need
    # batches they can split evenly.
    drop_remainder = train_rows.size >= config.batch_size
    if placement.distributed and not drop_remainder:
        raise InputError(f"Expected batch_size <= the {train_rows.size} training images of a "
                         f"distributed run. Received: batch_size={config.batch_size}")
    steps = steps_per_epoch(train_rows.size, config.batch_size, drop_remainder)

    model = _fresh_compiled_model(config, len(dataset.classes), steps, placement)
    with placement.scope():
        done = _resume(model, out_dir / CHECKPOINT, placement)
        trained = 0
        if done < config.epochs:
            trained = _fit_epochs(model, dataset, targets, soft, train_rows, val_rows, out_dir,
                                  config, verbose, placement, steps, done, drop_remainder,
                                  callbacks)
    if placement.distribution is not None:
        model = _local_copy(model, config, len(dataset.classes), steps)
    return model, trained, done + trained  # every epoch trained was checkpointed


def _fit_epochs(model, dataset, targets, soft, train_rows, val_rows, out_dir, config, verbose,
                placement: Placement, steps, done, drop_remainder, callbacks) -> int:
    """``model.fit`` from epoch ``done``; returns the number of epochs trained."""
    train_ds = make_training_dataset(
        dataset.paths[train_rows], targets[train_rows], config.image_size, config.batch_size,
        epochs=config.epochs, initial_epoch=done, seed=config.seed,
        augment_images=config.augment, cache=config.cache, drop_remainder=drop_remainder,
        shard=placement.shard)
    val_ds = make_evaluation_dataset(dataset.paths[val_rows], soft[val_rows], config.image_size,
                                     config.batch_size, cache=config.cache,
                                     pad_to_multiple=placement.replicas, shard=placement.shard)
    schedule = learning_rate_schedule(config, steps)  # for the log; the optimiser has its own
    nan_guard = StopOnNaN()
    run_callbacks = [nan_guard, *callbacks]
    if placement.writer:
        run_callbacks.insert(1, EpochCheckpoint(out_dir, schedule, nan_guard))
        if config.tensorboard:
            run_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / "tensorboard")))
    try:
        with warnings.catch_warnings():
            # Keras' JAX iterator reads one batch ahead and finds the last epoch's end.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                                initial_epoch=done, steps_per_epoch=steps,
                                callbacks=run_callbacks,
                                verbose=verbose if placement.writer else 0,
                                shuffle=False)  # shuffled already (per epoch, seeded)
    except Exception as exc:  # noqa: BLE001 - in a job, a lost peer surfaces as any error
        if placement.shard[1] > 1 and not isinstance(exc, (InputError, TrainingFailed)):
            raise distributed.ProcessLost(
                f"process {placement.shard[0]} of {placement.shard[1]}: the job stopped in "
                f"training ({distributed.one_line(exc)}); the last completed epoch is in "
                f"process 0's run folder: start every process again with the same command to "
                f"resume"
            ) from None
        raise
    if nan_guard.failed_at is not None:
        epoch, batch = nan_guard.failed_at
        raise TrainingFailed(
            f"the training loss became NaN in epoch {epoch + 1}, batch {batch + 1}; try a lower "
            f"learning_rate (the last completed epoch is kept in {out_dir / 'checkpoint'})")
    return len(history.epoch)


def _resume(model, checkpoint: Path, placement: Placement) -> int:
    """Restore the last checkpoint, if any; returns the epochs it holds. In a job, process 0
    reads it and sends it to the others (they need no run folder)."""
    if placement.shard[1] == 1:
        return load_checkpoint(model, checkpoint) if checkpoint.exists() else 0
    found = distributed.decided_by_process_zero(
        lambda: read_checkpoint(model, checkpoint) if checkpoint.exists() else None,
        share=lambda found: 0 if found is None else found[2],
        refused="process 0 could not resume")
    if placement.writer:  # the arrays and the epoch count
        epochs = found[2] if found else 0
    else:  # the epoch count; the arrays come below
        epochs, found = found, None
    if not epochs:
        return 0
    if found is None:  # the same shapes, to receive into
        found = (model.get_weights(), optimizer_values(model), epochs)
    arrays = distributed.broadcast_arrays([*found[0], *found[1]])
    count = len(found[0])
    restore(model, arrays[:count], arrays[count:], f"{checkpoint}: the checkpoint")
    return int(epochs)


def _local_copy(model, config: TrainConfig, num_classes: int, steps: int):
    """The trained model (weights and optimiser state) on this process's own device, outside
    the job's distribution: for precise BatchNorm, the test predictions and saving, which need
    no other process. Every process holds the same replicated values, so every copy is equal.
    The copy is built once per graph and reused by the next runs of a study."""
    weights, optimizer_state = model.get_weights(), optimizer_values(model)
    key = _graph_key(config, num_classes, steps)
    if _model_cache.get("local_key") != key:
        local = build_model(config.model, num_classes, config.image_size, "none",
                            config.bn_momentum)
        compile_model(local, config, steps, num_classes)
        build_optimizer(local)
        _model_cache.update(local_key=key, local=local)
    local = _model_cache["local"]
    restore(local, weights, optimizer_state, "the trained model")
    return local


def _evaluation_multiple(config: TrainConfig, replicas: int = 1) -> int:
    """What the data of a prediction is padded to (rows dropped from the results): the
    replicas' count, and on JAX full batches, so that each predict step is compiled for one
    shape only (JAX compiles once per input shape). Not for validation inside ``fit``: Keras'
    compiled metrics do not reduce to the weighted mean over padded rows of weight 0 (checked
    with Keras 3.15 on both backends), so it is padded only as far as the replicas need."""
    return config.batch_size if keras.backend.backend() == "jax" else replicas


def _deterministic_xla() -> None:
    """JAX's counterpart of TensorFlow's deterministic ops: XLA's deterministic GPU kernels
    (its CPU kernels are deterministic). Takes effect when JAX starts its GPU backend."""
    flag = "--xla_gpu_deterministic_ops=true"
    if keras.backend.backend() == "jax" and flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


# ----------------------------------------------------------------------------------------------
# Precise BatchNorm


def _precise_bn(dataset, split, model, config: TrainConfig) -> dict:
    """Recompute the BatchNorm statistics on up to PRECISE_BN_IMAGES training images (a seeded
    choice, un-augmented, full batches); returns the validation loss and KL before and after."""
    rows = np.flatnonzero(split == "train")
    count = min(PRECISE_BN_IMAGES, rows.size)
    if rows.size >= config.batch_size:
        count -= count % config.batch_size
    rows = np.random.default_rng([config.seed, 2]).permutation(rows)[:count]
    val_rows = np.flatnonzero(split == "val")
    soft = dataset.soft_labels
    val_ds = make_evaluation_dataset(dataset.paths[val_rows], soft[val_rows],
                                     config.image_size, config.batch_size,
                                     pad_to_multiple=_evaluation_multiple(config))
    before = predict_with_features(model, val_ds)[0][:val_rows.size]  # no padding
    batches = make_evaluation_dataset(dataset.paths[rows], soft[rows], config.image_size,
                                      config.batch_size)
    recompute_batchnorm_statistics(model, batches)
    after = predict_with_features(model, val_ds)[0][:val_rows.size]
    y = soft[val_rows]
    return {"images": int(rows.size),
            "val_loss_before": cross_entropy(y, before), "val_loss_after": cross_entropy(y, after),
            "val_kl_before": kl_divergence(y, before), "val_kl_after": kl_divergence(y, after)}


# ----------------------------------------------------------------------------------------------
# Outputs


def _finish(dataset, split, out_dir: Path, model, config: TrainConfig,
            epochs_completed: int, placement: Placement) -> dict:
    """Precise BatchNorm statistics, then the test-split predictions, GAP features, the final
    model and the scores, written to the run folder; returns the scores. In a job every process
    recomputes the same statistics (checked), and process 0 predicts, writes and sends the
    others its scores."""
    precise = _precise_bn(dataset, split, model, config) if config.precise_bn else None
    shared = placement.shard[1] > 1
    if shared and precise is not None:
        layers = batchnorm_layers(model)
        distributed.assert_same("the precise BatchNorm statistics", [
            np.asarray(v) for layer in layers for v in (layer.moving_mean, layer.moving_variance)])
    if not placement.writer:
        return distributed.broadcast_json(None)
    test_rows = np.flatnonzero(split == "test")
    soft = dataset.soft_labels
    replicas = 1 if placement.distribution is not None else placement.replicas
    test_ds = make_evaluation_dataset(dataset.paths[test_rows], soft[test_rows],
                                      config.image_size, config.batch_size,
                                      pad_to_multiple=_evaluation_multiple(config, replicas))
    predictions, features = predict_with_features(model, test_ds)
    predictions, features = predictions[:test_rows.size], features[:test_rows.size]  # no padding
    scores = prediction_scores(soft[test_rows], predictions)
    scores.update({"num_test_items": int(test_rows.size), "label_mode": config.label_mode,
                   "split": config.split, "precise_bn": precise,
                   "epochs_completed": epochs_completed})
    scores = write_outputs(out_dir, model, dataset.items[test_rows], dataset.classes, predictions,
                           features, scores)
    if shared:
        distributed.broadcast_json(scores)
    return scores
