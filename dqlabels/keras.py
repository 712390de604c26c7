"""What a Keras project imports to train its own model on soft labels (docs/keras.md).

- :class:`SoftTargetCrossEntropy`: the loss, −Σ y ln p̂ against soft or one-hot targets
  (``from_logits`` too), the cross-entropy that ``dqlabels evaluate`` scores predictions with.
- :class:`SoftLabelKL` (logged as ``kl``) and :class:`MacroAccuracy`: the metrics, with the
  conventions of :mod:`dqlabels.labels.scores` (named apart from ``keras.metrics.KLDivergence``,
  which clips the targets).
- :func:`annotation_dataset`: annotations plus an image folder (or an array of images) to a
  ``tf.data.Dataset`` of (image, soft or hard target) batches.

Each is defined in :mod:`dqlabels.learning` (``losses``, ``metrics``, ``tfdata``), where
``dqlabels train`` uses them; this module is their one public address. Importing it imports
Keras and TensorFlow (``import dqlabels`` does not), and registers the loss and the metrics, so
that a model saved with them loads with ``keras.saving.load_model(path, safe_mode=True)``.
"""

from __future__ import annotations

from dqlabels.learning.losses import SoftTargetCrossEntropy
from dqlabels.learning.metrics import MacroAccuracy, SoftLabelKL
from dqlabels.learning.tfdata import annotation_dataset

__all__ = ["MacroAccuracy", "SoftLabelKL", "SoftTargetCrossEntropy", "annotation_dataset"]
