"""Models: Keras Applications backbones with a new softmax head (SPEC §9).

Backend-agnostic (``keras`` and ``keras.ops`` only). Each model takes images as pixel values
0–255 (uint8 or float) and applies its own ``preprocess_input`` inside the graph through the
:class:`Preprocess` layer, so a saved ``model.keras`` predicts from raw pixels and loads with
``safe_mode=True`` (no Lambda layers).

Example:
    >>> from dqlabels.models import build_model, feature_model  # doctest: +SKIP
    >>> model = build_model("densenet121", num_classes=6, image_size=64)  # doctest: +SKIP
    >>> features = feature_model(model)  # GAP output, shares the weights  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import keras
from keras import ops

from dqlabels.errors import InputError
from dqlabels.training import MIN_IMAGE_SIZE, MODELS

FEATURE_LAYER = "gap"
HEAD_LAYER = "predictions"

# The ImageNet weight files (no top) exactly as Keras names, hashes and serves them.
IMAGENET_WEIGHTS = {
    "densenet121": (
        "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "30ee3e1110167f948a6b9946edeeb738",
        "https://storage.googleapis.com/tensorflow/keras-applications/densenet/",
    ),
    "resnet50v2": (
        "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "fac2f116257151a9d068a22e544a4917",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
    ),
}
# Each application's preprocess_input: DenseNet uses "torch" mode, ResNetV2 "tf" mode.
PREPROCESS_MODE = {"densenet121": "torch", "resnet50v2": "tf"}
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="dqlabels")
class Preprocess(keras.layers.Layer):
    """``preprocess_input`` of Keras Applications as a serialisable layer.

    Args:
        mode: ``"torch"`` (x/255, minus the ImageNet mean, over its std; DenseNet) or ``"tf"``
            (x/127.5 − 1; ResNetV2).
    """

    def __init__(self, mode: str = "torch", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("torch", "tf"):
            raise ValueError(f"Expected mode to be 'torch' or 'tf'. Received: mode={mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=self.compute_dtype)
        std = ops.convert_to_tensor(_TORCH_STD, dtype=self.compute_dtype)
        return (x / 255.0 - mean) / std

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def imagenet_weights_file(model_name: str, download: bool = True) -> Path:
    """Path of the ImageNet weight file for ``model_name`` in the Keras cache, checked
    against the hash Keras expects; downloaded when absent and the network allows.

    Raises:
        InputError: the file is missing and cannot be downloaded (the message says which file
            to place where), or it is there but its hash differs.
    """
    file_name, md5, base_url = IMAGENET_WEIGHTS[model_name]
    path = keras_cache_dir() / file_name
    if not path.exists() and download:
        try:
            keras.utils.get_file(file_name, base_url + file_name, cache_subdir="models",
                                 file_hash=md5, cache_dir=str(path.parent.parent))
        except Exception:  # noqa: BLE001 - no network here is the common case
            pass
    if not path.exists():
        raise InputError(
            f"ImageNet weights for {model_name} are not in the Keras cache and could not be "
            f"downloaded: place {file_name} (from {base_url}{file_name}) at {path}, or use "
            f"--weights none"
        )
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    if digest != md5:
        raise InputError(f"{path}: md5 {digest} differs from the {md5} Keras expects for "
                         f"{model_name}; the file is damaged or not the ImageNet weights")
    return path


def build_model(
    model_name: str = "densenet121",
    num_classes: int = 6,
    image_size: int = 64,
    weights: str = "none",
    bn_momentum: float | None = None,
) -> keras.Model:
    """A Keras Applications backbone with global average pooling and a new softmax head.

    Args:
        model_name: ``"densenet121"`` or ``"resnet50v2"``.
        num_classes: outputs of the softmax head.
        image_size: side of the square input (at least 32).
        weights: ``"none"`` (random init), ``"imagenet"`` (backbone from the Keras cache) or a
            path to a ``.keras`` / ``.weights.h5`` file of a dqlabels model of the same
            architecture and number of classes.
        bn_momentum: momentum of every BatchNormalization moving average (Keras' default,
            0.99, when None). Short runs need less: after n steps the moving statistics still
            hold momentumⁿ of their initial values (0.99²⁴⁰ ≈ 9%), which shows as a gap between
            training and inference-mode scores.

    Returns:
        A functional model from pixels (0–255) to class probabilities. Its layer ``"gap"`` is
        the feature layer (see :func:`feature_model`).
    """
    if model_name not in MODELS:
        raise InputError(f"Expected model to be one of {', '.join(MODELS)}. "
                         f"Received: model={model_name!r}")
    if int(image_size) < MIN_IMAGE_SIZE:
        raise InputError(f"Expected image_size >= {MIN_IMAGE_SIZE}. Received: image_size={image_size}")
    if int(num_classes) < 2:
        raise InputError(f"Expected num_classes >= 2. Received: num_classes={num_classes}")
    shape = (int(image_size), int(image_size), 3)
    backbone_class = {"densenet121": keras.applications.DenseNet121,
                      "resnet50v2": keras.applications.ResNet50V2}[model_name]
    backbone = backbone_class(include_top=False, weights=None, input_shape=shape)
    if weights == "imagenet":
        backbone.load_weights(str(imagenet_weights_file(model_name)))
    if bn_momentum is not None:
        if not 0 <= bn_momentum < 1:
            raise InputError(f"Expected 0 <= bn_momentum < 1. Received: {bn_momentum}")
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(bn_momentum)

    inputs = keras.Input(shape, name="pixels")
    x = Preprocess(PREPROCESS_MODE[model_name], name="preprocess")(inputs)
    x = backbone(x)
    features = keras.layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(x)
    # float32 head: a softmax in float16 loses the small probabilities that KL depends on.
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name=HEAD_LAYER)(features)
    model = keras.Model(inputs, outputs, name=f"{model_name}_{num_classes}")
    if weights not in ("none", "imagenet", None):
        load_model_weights(model, weights)
    return model


def load_model_weights(model: keras.Model, path) -> None:
    """Load a dqlabels model's weights (``.keras`` or ``.weights.h5``) into ``model``,
    with a clear error when the architecture or the number of classes differs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file (expected none, imagenet or a path)")
    if not (path.name.endswith(".keras") or path.name.endswith(".weights.h5")):
        raise InputError(f"{path}: expected a .keras or .weights.h5 file")
    num_classes = model.get_layer(HEAD_LAYER).units
    found = _head_units(path)
    if found is not None and found != num_classes:
        raise InputError(f"{path}: the weights have {found} classes, the dataset has "
                         f"{num_classes}")
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError, OSError) as exc:
        raise InputError(f"{path}: weights do not fit this model ({str(exc).splitlines()[0]})") from None


def _head_units(path: Path) -> int | None:
    """Number of classes of the saved head, read from the file without building it."""
    import zipfile

    import h5py

    try:
        if path.name.endswith(".keras"):
            with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
                with h5py.File(raw, "r") as f:
                    return _find_head(f)
        with h5py.File(path, "r") as f:
            return _find_head(f)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def _find_head(group) -> int | None:
    """Keras 3 files name weights by layer class: the head is the model's only top-level
    Dense (``layers/dense/vars/1`` is its bias); legacy files use the layer name."""
    import h5py

    bias = group.get("layers/dense/vars/1")
    if isinstance(bias, h5py.Dataset) and bias.ndim == 1:
        return int(bias.shape[0])
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and HEAD_LAYER in name and obj.ndim == 1:
            found.append(obj.shape[0])

    group.visititems(visit)
    return found[0] if found else None


def feature_model(model: keras.Model) -> keras.Model:
    """A model from the same inputs to the global-average-pooling features (shared weights)."""
    return keras.Model(model.inputs, model.get_layer(FEATURE_LAYER).output,
                       name=f"{model.name}_features")


def load_model(path) -> keras.Model:
    """Load a saved dqlabels model (``.keras``) safely: ``safe_mode=True`` (no code from the
    file runs), with the dqlabels layers and metrics registered first."""
    import dqlabels.keras  # noqa: F401 - registers KLDivergence and MacroAccuracy

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    return keras.saving.load_model(path, safe_mode=True)
