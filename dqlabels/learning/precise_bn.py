"""Precise BatchNorm (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): after training,
every BatchNorm layer's moving statistics are replaced by the mean of its batch statistics under
the final, frozen weights (:func:`recompute_batchnorm_statistics`)."""

from __future__ import annotations

import keras
import numpy as np

from dqlabels.learning.models import batchnorm_layers

# The training-mode forward pass of the last model recomputed (a study's runs share one compiled
# model, and so this one).
_forward: dict = {}


def recompute_batchnorm_statistics(model, batches) -> int:
    """Precise BatchNorm (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).

    Sets the moving mean and variance of every ``BatchNormalization`` layer of ``model`` to the
    average of its batch statistics over ``batches``, computed with the final weights (frozen).
    After training, the exponential moving averages are dominated by the last few batches and
    by weights that have changed since; inference-mode scores then jump from epoch to epoch.

    Args:
        model: a Keras model; only its BatchNormalization statistics change.
        batches: an iterable of image batches, or of ``(images, targets[, weights])`` tuples
            (a dataset from :func:`dqlabels.learning.tfdata.make_evaluation_dataset`); use full batches of the
            training batch size.

    Returns:
        The number of batches averaged (0 leaves the model as it was).
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    forward = _batch_statistics_forward(model)
    momenta = [layer.momentum for layer in layers]
    totals = [np.zeros((2, *layer.moving_mean.shape), np.float64) for layer in layers]
    count = 0
    try:
        for layer in layers:  # the forward pass then writes each batch's own statistics
            layer.momentum = 0.0
        for batch in batches:
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            forward.predict_on_batch(np.asarray(batch))  # a tf.data tensor, for any backend
            for total, layer in zip(totals, layers):
                total[0] += np.asarray(layer.moving_mean)
                total[1] += np.asarray(layer.moving_variance)
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if count:
        for total, layer in zip(totals, layers):
            layer.moving_mean.assign(total[0] / count)
            layer.moving_variance.assign(total[1] / count)
    return count


def _batch_statistics_forward(model) -> keras.Model:
    """The training-mode forward pass of precise BatchNorm for ``model``, built once per model
    (a study's runs share one compiled model, and so this one)."""
    if _forward.get("model") is not model:
        _forward.update(model=model, forward=_TrainingModeForward(model))
    return _forward["forward"]


class _TrainingModeForward(keras.Model):
    """``model`` run in training mode by ``predict``: its BatchNorm layers normalise with the
    batch statistics and write them to their moving averages."""

    def __init__(self, model):
        super().__init__(name=f"{model.name}_training_mode")
        self.inner = model

    def call(self, inputs, training=False):
        return self.inner(inputs, training=True)
