"""The optimiser of a training run: the learning-rate schedule (:func:`learning_rate_schedule`),
SGD with the loss and the metrics (:func:`compile_model`), and its variables as a checkpoint
holds them (:func:`optimizer_values`, :func:`build_optimizer`)."""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from dqlabels.config import WARMUP_SHARE, TrainConfig
from dqlabels.learning.metrics import MacroAccuracy, SoftLabelKL


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """The per-step schedule of ``config`` as a Keras ``LearningRateSchedule``.

    ``cosine``: lr(step) = ½·lr₀·(1 + cos(π·step/(epochs·steps_per_epoch))), reaching 0 at the
    end. ``warmup-cosine``: a linear rise from 0 to lr₀ over the first fifth of the steps
    (:data:`~dqlabels.config.WARMUP_SHARE`), then cosine to 0 (the DAWNBench CIFAR recipe). ``cosine-restarts``: SGDR (Loshchilov & Hutter) with a first cycle of
    ``first_cycle_epochs`` epochs and each next cycle ``t_mul`` times longer, restarting at lr₀.
    """
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch, alpha=0.0)
    if config.schedule == "warmup-cosine":
        total = config.epochs * steps_per_epoch
        warmup = max(1, round(WARMUP_SHARE * total))
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, total - warmup), alpha=0.0,
            warmup_target=config.learning_rate, warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecayRestarts(
        config.learning_rate, first_decay_steps=config.first_cycle_epochs * steps_per_epoch,
        t_mul=config.t_mul, m_mul=1.0, alpha=0.0)


def compile_model(model, config: TrainConfig, steps: int, num_classes: int):
    """SGD with the schedule, cross-entropy, and the KL / macro-accuracy metrics."""
    schedule = learning_rate_schedule(config, steps)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum,
                                     nesterov=config.nesterov,
                                     weight_decay=config.weight_decay or None)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(),
                  metrics=[SoftLabelKL(), MacroAccuracy(num_classes=num_classes)],
                  jit_compile=_jit_compile(config))
    return schedule


def _jit_compile(config: TrainConfig) -> bool:
    """``--xla`` is TensorFlow's switch; on JAX every step is XLA-compiled (jit), always."""
    return True if keras.backend.backend() == "jax" else bool(config.xla)


def optimizer_values(model) -> list[np.ndarray]:
    """The optimiser's variables as arrays (on every backend)."""
    return [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]


def build_optimizer(model) -> None:
    """Create the optimiser's variables (a checkpoint restores into them)."""
    if not model.optimizer.built:
        strategy = getattr(model, "distribute_strategy", None)  # TensorFlow only
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            model.optimizer.build(model.trainable_variables)
