"""Models: a backbone with a new softmax head (docs/conventions.md §9).

Backend-agnostic (``keras`` and ``keras.ops`` only). Each model takes images as pixel values
0–255 (uint8 or float) and applies its backbone's ``preprocess_input`` inside the graph with
Keras' own ``Normalization`` / ``Rescaling`` layers, so a saved ``model.keras`` predicts from raw
pixels and loads with ``safe_mode=True`` (no Lambda layers, no custom classes).

Backbones (registered in :data:`dqlabels.registry.BACKBONES`, each built by a function of this
module; a new one is a builder and one :func:`~dqlabels.registry.register_backbone` call):

- ``densenet121`` and ``resnet50v2``: Keras Applications, optionally with ImageNet weights
  (``weights="imagenet"``: Keras downloads them and checks their hash, or finds them in its
  cache, ``$KERAS_HOME/models`` or ``~/.keras/models``);
- ``densenet-tiny``: the DenseNet of Keras Applications (same stem, dense and transition
  blocks, growth rate 32) with one layer per dense block instead of 6, 12, 24 and 16: 0.2M
  parameters instead of 7M, about a third of the time per step at 32 px; the quick study's
  network (DenseNet121 from scratch does not learn shape in the steps a 2-core CPU allows in
  15 minutes), tests and smoke runs;
- ``resnet9`` and ``resnet9-quarter``: the ResNet-9 of the DAWNBench CIFAR-10 entries (Page,
  2018; a conv-BN-ReLU stem, three stages that each double the channels and halve the
  resolution by max-pooling, a residual block of two conv-BN-ReLU after the first and the third)
  for small natural images trained from scratch: Keras Applications' networks shrink 32 px to
  1×1 in their stems, this one keeps 4×4 at the end. ``resnet9`` has 64 channels in the stem
  (6.6M parameters), ``resnet9-quarter`` 16 (0.41M; the CPU preset on CIFAR-10H);
- or any Keras model passed as ``model`` (images in, a 4-D feature map out).

Examples:
    >>> from dqlabels.learning.models import build_model, feature_model
    >>> model = build_model("densenet-tiny", num_classes=6, image_size=32)
    >>> model.output_shape, feature_model(model).output_shape
    ((None, 6), (None, 68))
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import keras

from dqlabels.config import MIN_IMAGE_SIZE
from dqlabels.errors import InputError
from dqlabels.registry import BACKBONES, resolve

FEATURE_LAYER = "gap"
HEAD_LAYER = "predictions"
PREPROCESS_LAYER = "preprocess"
RESNET9_WIDTH = 64  # channels in the stem of the DAWNBench ResNet-9
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TINY_DENSENET_BLOCKS = (1, 1, 1, 1)


def preprocessing_layer(mode: str = "torch") -> keras.layers.Layer:
    """``preprocess_input`` of Keras Applications as one built-in layer: ``"torch"`` mode as a
    ``Normalization`` with mean 255·μ and variance (255·σ)², ``"tf"`` mode as a
    ``Rescaling(1/127.5, offset=-1)``."""
    if mode == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=PREPROCESS_LAYER)
    if mode != "torch":
        raise ValueError(f"Expected mode to be 'torch' or 'tf'. Received: mode={mode!r}")
    return keras.layers.Normalization(mean=[255 * m for m in IMAGENET_MEAN],
                                      variance=[(255 * s) ** 2 for s in IMAGENET_STD],
                                      name=PREPROCESS_LAYER)


def densenet_backbone(blocks, input_shape, name: str = "densenet") -> keras.Model:
    """The DenseNet of Keras Applications (``keras.applications.DenseNet121`` is
    ``blocks=(6, 12, 24, 16)``), without top, built from public layers."""
    epsilon = 1.001e-5
    inputs = keras.Input(input_shape)
    x = keras.layers.ZeroPadding2D(3)(inputs)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, layers_in_block in enumerate(blocks, start=2):
        for i in range(1, layers_in_block + 1):
            prefix = f"conv{stage}_block{i}"
            y = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{prefix}_0_bn")(x)
            y = keras.layers.Activation("relu", name=f"{prefix}_0_relu")(y)
            y = keras.layers.Conv2D(128, 1, use_bias=False, name=f"{prefix}_1_conv")(y)
            y = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{prefix}_1_bn")(y)
            y = keras.layers.Activation("relu", name=f"{prefix}_1_relu")(y)
            y = keras.layers.Conv2D(32, 3, padding="same", use_bias=False,
                                    name=f"{prefix}_2_conv")(y)
            x = keras.layers.Concatenate(name=f"{prefix}_concat")([x, y])
        if stage < len(blocks) + 1:  # a transition halves channels and resolution
            prefix = f"pool{stage}"
            x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{prefix}_bn")(x)
            x = keras.layers.Activation("relu", name=f"{prefix}_relu")(x)
            x = keras.layers.Conv2D(x.shape[-1] // 2, 1, use_bias=False, name=f"{prefix}_conv")(x)
            x = keras.layers.AveragePooling2D(2, strides=2, name=f"{prefix}_pool")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    return keras.Model(inputs, x, name=name)


def resnet9_backbone(width: int, input_shape, name: str = "resnet9") -> keras.Model:
    """The DAWNBench ResNet-9 (channels ``width``, 2·, 4·, 8·``width``), without its head:
    stem conv; stage 1 conv + max-pool + residual block; stage 2 conv + max-pool; stage 3 conv +
    max-pool + residual block. 32 px in, 4×4 out."""

    def conv_bn(x, channels, label):
        x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                                name=f"{label}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        return keras.layers.Activation("relu", name=f"{label}_relu")(x)

    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, width, "stem")
    for stage, residual in ((1, True), (2, False), (3, True)):
        x = conv_bn(x, width * 2 ** stage, f"stage{stage}")
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        if residual:
            y = conv_bn(x, x.shape[-1], f"stage{stage}_res1")
            y = conv_bn(y, x.shape[-1], f"stage{stage}_res2")
            x = keras.layers.Add(name=f"stage{stage}_add")([x, y])
    return keras.Model(inputs, x, name=name)


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def densenet121(input_shape, weights: str = "none") -> keras.Model:
    """Keras Applications' DenseNet121 without its top."""
    return _application(keras.applications.DenseNet121, "densenet121", input_shape, weights)


def resnet50v2(input_shape, weights: str = "none") -> keras.Model:
    """Keras Applications' ResNet50V2 without its top."""
    return _application(keras.applications.ResNet50V2, "resnet50v2", input_shape, weights)


def densenet_tiny(input_shape, weights: str = "none") -> keras.Model:
    """DenseNet121 with one layer per dense block."""
    return densenet_backbone(TINY_DENSENET_BLOCKS, input_shape, name="densenet_tiny")


def resnet9(input_shape, weights: str = "none") -> keras.Model:
    """The DAWNBench ResNet-9 at its own width."""
    return resnet9_backbone(RESNET9_WIDTH, input_shape, name="resnet9")


def resnet9_quarter(input_shape, weights: str = "none") -> keras.Model:
    """The DAWNBench ResNet-9 at a quarter of its width."""
    return resnet9_backbone(RESNET9_WIDTH // 4, input_shape, name="resnet9_quarter")


def _application(application, model_name: str, shape, weights: str) -> keras.Model:
    if weights != "imagenet":
        return application(include_top=False, weights=None, input_shape=shape)
    try:  # Keras' own cache lookup, download and hash check
        return application(include_top=False, weights="imagenet", input_shape=shape)
    except Exception as exc:  # noqa: BLE001 - offline is the common case
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        url = re.search(r"https?://\S+?\.h5", reason)
        place = (f"place {url.group(0).rsplit('/', 1)[1]} (from {url.group(0)}) in "
                 f"{keras_cache_dir()}" if url else f"place the file in {keras_cache_dir()}")
        raise InputError(f"ImageNet weights for {model_name} are not in the Keras cache and "
                         f"could not be downloaded ({reason}): {place}, or use weights "
                         f"'none'") from None


def _backbone(model_name: str, shape, weights: str) -> keras.Model:
    """The registered backbone ``model_name`` (:data:`dqlabels.registry.BACKBONES`)."""
    spec = BACKBONES[model_name]
    if weights == "imagenet" and not spec.imagenet:
        raise InputError(f"There are no ImageNet weights for model='{model_name}'; use "
                         f"weights='none'")
    return resolve(spec.build)(shape, "imagenet" if weights == "imagenet" else "none")


def build_model(
    model: str | keras.Model = "densenet121",
    num_classes: int = 6,
    image_size: int = 64,
    weights: str = "none",
    bn_momentum: float | None = None,
) -> keras.Model:
    """A backbone with global average pooling and a new softmax head.

    Args:
        model: the name of a registered backbone (:data:`dqlabels.registry.BACKBONES`:
            ``densenet121``, ``resnet50v2``, ``densenet-tiny``, ``resnet9``, ``resnet9-quarter``
            and any registered since) or a Keras model (a backbone taking ``(image_size,
            image_size, 3)`` inputs preprocessed in "torch" mode and giving a feature map).
        num_classes: outputs of the softmax head.
        image_size: side of the square input (at least 32).
        weights: ``"none"`` (random init), ``"imagenet"`` (Keras Applications' weights) or a
            path to a ``.keras`` / ``.weights.h5`` file of a dqlabels model of the same
            architecture and number of classes.
        bn_momentum: momentum of every BatchNormalization moving average (Keras' default,
            0.99, when None). Short runs need less: after n steps the moving statistics still
            hold momentumⁿ of their initial values (0.99²⁴⁰ ≈ 9%).

    Returns:
        A functional model from pixels (0–255) to class probabilities. Its layer ``"gap"`` is
        the feature layer (see :func:`feature_model`).
    """
    if int(image_size) < MIN_IMAGE_SIZE:
        raise InputError(f"Expected image_size >= {MIN_IMAGE_SIZE}. "
                         f"Received: image_size={image_size}")
    if int(num_classes) < 2:
        raise InputError(f"Expected num_classes >= 2. Received: num_classes={num_classes}")
    if bn_momentum is not None and not 0 <= bn_momentum < 1:
        raise InputError(f"Expected 0 <= bn_momentum < 1. Received: bn_momentum={bn_momentum}")
    shape = (int(image_size), int(image_size), 3)
    if isinstance(model, keras.Model):
        backbone, name, mode = model, model.name, "torch"
    elif model in BACKBONES:
        backbone, name, mode = _backbone(model, shape, weights), model, BACKBONES[model].preprocess
    else:
        raise InputError(f"Expected model to be one of {', '.join(BACKBONES)} or a Keras model. "
                         f"Received: model={model!r}")
    if bn_momentum is not None:
        for layer in batchnorm_layers(backbone):
            layer.momentum = float(bn_momentum)

    inputs = keras.Input(shape, name="pixels")
    x = preprocessing_layer(mode)(inputs)
    features = keras.layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(backbone(x))
    # float32 head: a softmax in float16 loses the small probabilities that KL depends on.
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name=HEAD_LAYER)(features)
    built = keras.Model(inputs, outputs, name=f"{name}_{num_classes}".replace("-", "_"))
    if weights not in ("none", "imagenet", None):
        load_model_weights(built, weights)
    return built


def load_model_weights(model: keras.Model, path) -> None:
    """Load a dqlabels model's weights (``.keras`` or ``.weights.h5``) into ``model``, with a
    clear error when the file is missing or does not fit (another architecture or number of
    classes)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file (expected none, imagenet or a path)")
    if not (path.name.endswith(".keras") or path.name.endswith(".weights.h5")):
        raise InputError(f"{path}: expected a .keras or .weights.h5 file")
    num_classes = model.get_layer(HEAD_LAYER).units
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: the weights do not fit this model ({model.name}, "
                         f"{num_classes} classes): {reason}") from None


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of ``model``, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(batchnorm_layers(layer))
    return found


def feature_model(model: keras.Model) -> keras.Model:
    """A model from the same inputs to the global-average-pooling features (shared weights)."""
    return keras.Model(model.inputs, model.get_layer(FEATURE_LAYER).output,
                       name=f"{model.name}_features")


def load_model(path) -> keras.Model:
    """Load a saved dqlabels model (``.keras``) safely: ``safe_mode=True`` (no code from the
    file runs), with the dqlabels metrics registered first."""
    import dqlabels.learning.metrics  # noqa: F401 - registers SoftLabelKL and MacroAccuracy

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    return keras.saving.load_model(path, safe_mode=True)
