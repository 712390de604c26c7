"""The loss for training on soft labels, written with ``keras.ops`` only (any Keras backend).

:class:`SoftTargetCrossEntropy` is the cross-entropy −Σ y ln p̂ of predictions from targets that
are distributions (soft labels) or one-hot rows (hard labels), with p̂ as in
:func:`dqlabels.labels.scores.cross_entropy`: probabilities floored at 1e-7 and renormalised, so
the loss a model logs is the score ``dqlabels evaluate`` gives its predictions. It equals the
KL divergence from the targets plus their entropy, which does not depend on the model: the
same gradients as KL, minimised by predicting the targets themselves.

Examples:
    >>> import numpy as np
    >>> loss = SoftTargetCrossEntropy()
    >>> y, p = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    >>> round(float(loss(y, p)), 4)  # −(0.5 ln 0.25 + 0.5 ln 0.75) = ln 2 + KL(y ‖ p)
    0.837
"""

from __future__ import annotations

import keras
from keras import ops

from dqlabels.learning.metrics import EPSILON


@keras.saving.register_keras_serializable(package="dqlabels")
class SoftTargetCrossEntropy(keras.losses.Loss):
    """Cross-entropy against soft (or one-hot) targets: mean over the batch of −Σ y ln p̂.

    Args:
        from_logits: the model outputs logits (no softmax): the loss takes a log-softmax,
            which is exact where probabilities would underflow. Default: probabilities.
        name: the loss's name in logs.
        reduction, dtype: as every Keras loss.
    """

    def __init__(self, from_logits: bool = False, name: str = "soft_target_cross_entropy",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        if self.from_logits:
            log_p = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        else:
            p = ops.maximum(ops.cast(y_pred, "float32"), EPSILON)
            log_p = ops.log(p / ops.sum(p, axis=-1, keepdims=True))
        return -ops.sum(y_true * log_p, axis=-1)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
