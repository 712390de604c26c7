"""Predicting with a trained model: class probabilities and GAP features in one pass.

Used by training (validation before and after precise BatchNorm, the test split), by
``dqlabels predict`` and by other Keras projects. ``data`` is a tf.data dataset (from
:func:`dqlabels.learning.tfdata.make_evaluation_dataset`) or a batch of images.
"""

from __future__ import annotations

import keras
import numpy as np

from dqlabels.learning.models import FEATURE_LAYER

# The two-output model of the last model predicted with: Keras traces its predict step once.
_outputs: dict = {}


def _outputs_model(model) -> keras.Model:
    """A model sharing ``model``'s layers with both outputs: probabilities and GAP features."""
    if _outputs.get("model") is not model:
        _outputs.clear()
        _outputs.update(model=model, outputs=keras.Model(
            model.inputs, [model.output, model.get_layer(FEATURE_LAYER).output],
            name=f"{model.name}_outputs"))
    return _outputs["outputs"]


def _normalised(probabilities) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def predict(model, data) -> np.ndarray:
    """Class probabilities (float64, rows renormalised) for a dataset or an image batch."""
    return _normalised(model.predict(data, verbose=0))


def predict_with_features(model, data, verbose=0) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (as :func:`predict`) and GAP features in one pass over ``data``
    (``verbose``: Keras' progress bar)."""
    probabilities, features = _outputs_model(model).predict(data, verbose=verbose)
    return _normalised(probabilities), np.asarray(features)


def extract_features(model, data) -> np.ndarray:
    """Global-average-pooling features of ``data`` (a dataset or an image batch)."""
    return predict_with_features(model, data)[1]
