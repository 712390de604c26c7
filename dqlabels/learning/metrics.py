"""Keras 3 metrics for training against soft labels, written with ``keras.ops`` only.

They work with any Keras backend and in any Keras project (imported from
:mod:`dqlabels.keras`, with the soft-target loss)::

    import keras
    from dqlabels.keras import MacroAccuracy, SoftLabelKL, SoftTargetCrossEntropy

    model.compile(
        optimizer="sgd",
        loss=SoftTargetCrossEntropy(),
        metrics=[SoftLabelKL(), MacroAccuracy(num_classes=6)],
    )

Both follow the numpy definitions in :mod:`dqlabels.labels.scores` (the standard KL convention and
the lowest-index tie rule), so a validation score during training matches ``dqlabels evaluate``.
"""

from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-7


def argmax_lowest(x):
    """Row-wise argmax whose ties go to the lowest index, on every backend."""
    top = ops.max(x, axis=-1, keepdims=True)
    is_top = ops.cast(ops.greater_equal(x, top), "int32")
    num_classes = ops.shape(x)[-1]
    # Descending weights make the first maximum the unique argmax.
    return ops.argmax(is_top * (num_classes - ops.arange(num_classes, dtype="int32")), axis=-1)


def kl_per_item(y_true, y_pred):
    """KL(y_true ‖ y_pred) of each row, in nats: 0·ln 0 = 0, y_pred floored at 1e-7 and
    renormalised (the ``standard`` convention of :func:`dqlabels.labels.scores.kl_divergence`)."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.maximum(ops.cast(y_pred, "float32"), EPSILON)
    y_pred = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    positive = ops.greater(y_true, 0.0)
    safe_true = ops.where(positive, y_true, 1.0)
    terms = ops.where(positive, y_true * (ops.log(safe_true) - ops.log(y_pred)), 0.0)
    return ops.sum(terms, axis=-1)


@keras.saving.register_keras_serializable(package="dqlabels")
class SoftLabelKL(keras.metrics.MeanMetricWrapper):
    """Mean KL divergence of predictions from soft targets (lower is better), logged as ``kl``.

    Not ``keras.metrics.KLDivergence``, which clips the targets too: here a one-hot target
    scores exactly −ln p of its class, as in :func:`dqlabels.labels.scores.kl_divergence`.

    Args:
        name: metric name in logs. Default ``"kl"``.
        dtype: metric dtype.
    """

    def __init__(self, name: str = "kl", dtype=None):
        super().__init__(fn=kl_per_item, name=name, dtype=dtype)
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="dqlabels")
class MacroAccuracy(keras.metrics.Metric):
    """Macro accuracy: mean over the classes present in argmax(y_true) of the recall of
    argmax(y_pred); equals balanced accuracy. Targets may be soft or one-hot.

    Args:
        num_classes: number of classes.
        name: metric name in logs. Default ``"macro_accuracy"``.
        dtype: metric dtype.
    """

    def __init__(self, num_classes: int, name: str = "macro_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 1:
            raise ValueError(f"Expected num_classes >= 1. Received: num_classes={num_classes}")
        self.num_classes = int(num_classes)
        self.support = self.add_variable(shape=(self.num_classes,), initializer="zeros",
                                         name="support", dtype="float32")
        self.correct = self.add_variable(shape=(self.num_classes,), initializer="zeros",
                                         name="correct", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true = argmax_lowest(y_true)
        hit = ops.cast(ops.equal(true, argmax_lowest(y_pred)), "float32")
        onehot = ops.one_hot(true, self.num_classes, dtype="float32")
        weight = ops.ones_like(hit) if sample_weight is None else ops.reshape(
            ops.cast(sample_weight, "float32"), ops.shape(hit))
        self.support.assign_add(ops.sum(onehot * weight[:, None], axis=0))
        self.correct.assign_add(ops.sum(onehot * (hit * weight)[:, None], axis=0))

    def result(self):
        present = ops.greater(self.support, 0.0)
        recall = ops.where(present, self.correct / ops.maximum(self.support, 1e-12), 0.0)
        num_present = ops.sum(ops.cast(present, "float32"))
        return ops.cast(ops.sum(recall) / ops.maximum(num_present, 1.0), self.dtype)

    def reset_state(self):
        self.support.assign(ops.zeros((self.num_classes,), dtype="float32"))
        self.correct.assign(ops.zeros((self.num_classes,), dtype="float32"))

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}
