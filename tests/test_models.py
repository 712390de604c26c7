"""Models and schedules: preprocessing, feature model, weights loading, schedule values."""

import math
from pathlib import Path

import keras
import numpy as np
import pytest

from dqlabels import InputError  # noqa: E402
from dqlabels.config import TrainConfig  # noqa: E402
from dqlabels.learning.models import (  # noqa: E402
    build_model,
    densenet_backbone,
    feature_model,
    load_model,
    preprocessing_layer,
)
from dqlabels.learning.optimiser import learning_rate_schedule  # noqa: E402


def test_preprocessing_matches_keras_applications():
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(preprocessing_layer("torch")(x),
                               keras.applications.densenet.preprocess_input(x.copy()), atol=1e-5)
    np.testing.assert_allclose(preprocessing_layer("tf")(x),
                               keras.applications.resnet_v2.preprocess_input(x.copy()), atol=1e-6)


def test_densenet_backbone_is_keras_applications_densenet121_layer_for_layer():
    ours = densenet_backbone((6, 12, 24, 16), (32, 32, 3))
    theirs = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert ours.count_params() == theirs.count_params() == 7_037_504
    assert [(type(a).__name__, a.output.shape) for a in ours.layers] == \
        [(type(b).__name__, b.output.shape) for b in theirs.layers]
    # Layer for layer the same settings (kernels, strides, padding, bias, epsilon, activation)
    # and names (all but the input's and the paddings', which Keras numbers as it makes them).
    assert [_settings(a) for a in ours.layers] == [_settings(b) for b in theirs.layers]


def _settings(layer):
    config = dict(layer.get_config())
    for key in ("name", "dtype", "trainable", "batch_shape", "sparse", "ragged", "optional"):
        config.pop(key, None)
    if config.get("axis") == 3:  # the channels of a 4-D tensor, however it is spelled
        config["axis"] = -1
    numbered = isinstance(layer, (keras.layers.InputLayer, keras.layers.ZeroPadding2D))
    return type(layer).__name__, None if numbered else layer.name, config


def test_tiny_model_head_features_and_safe_round_trip(tmp_path):
    model = build_model("densenet-tiny", num_classes=4, image_size=32)
    assert model.output_shape == (None, 4)
    features = feature_model(model)
    assert features.output_shape == (None, 68)   # 64 + 32, halved, + 32, halved, ... + 32
    assert features.get_layer("gap") is model.get_layer("gap")  # shared, not copied
    x = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")  # safe mode: only built-in layers
    np.testing.assert_allclose(loaded.predict(x, verbose=0), probabilities, rtol=1e-5, atol=1e-6)


def test_any_keras_backbone_and_batchnorm_momentum():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    backbone = keras.Model(inputs, x, name="mine")
    model = build_model(backbone, num_classes=3, image_size=32, bn_momentum=0.9)
    assert model.get_layer("mine") is backbone and model.output_shape == (None, 3)
    assert backbone.layers[-1].momentum == 0.9


@pytest.mark.slow
def test_keras_applications_models_build():
    for name, width in (("densenet121", 1024), ("resnet50v2", 2048)):
        model = build_model(name, num_classes=6, image_size=32)
        assert feature_model(model).output_shape == (None, width)


def test_unknown_model_and_small_images():
    with pytest.raises(InputError, match="Expected model to be one of densenet121, resnet50v2"):
        build_model("vgg16", 3, 32)
    with pytest.raises(InputError, match="image_size >= 32"):
        build_model("densenet-tiny", 3, 16)


def test_weights_file_with_another_class_count_is_refused(tmp_path):
    build_model("densenet-tiny", num_classes=3, image_size=32).save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(InputError, match="the weights do not fit this model .*5 classes"):
        build_model("densenet-tiny", num_classes=5, image_size=32,
                    weights=str(tmp_path / "w.weights.h5"))
    same = build_model("densenet-tiny", num_classes=3, image_size=32,
                       weights=str(tmp_path / "w.weights.h5"))
    assert same.get_layer("predictions").get_weights()[0].shape == (68, 3)
    with pytest.raises(InputError, match="no such weights file"):
        build_model("densenet-tiny", 3, 32, weights=str(tmp_path / "missing.keras"))


IMAGENET = """
import hashlib, shutil, sys
import numpy as np
import keras
from dqlabels.errors import InputError
from dqlabels.learning.models import build_model
made, cached, out = sys.argv[1:]
for step in ("missing", "another hash"):
    try:
        build_model("resnet50v2", 3, 32, weights="imagenet")
    except InputError as exc:
        print("REFUSED", step, exc)
    shutil.copy(made, cached)  # in the Keras cache, with a hash Keras does not expect
from keras.src.applications import resnet  # Keras removed the file: put it back, expect it
shutil.copy(made, cached)
md5 = hashlib.md5(open(made, "rb").read()).hexdigest()
resnet.WEIGHTS_HASHES["resnet50v2"] = (resnet.WEIGHTS_HASHES["resnet50v2"][0], md5)
model = build_model("resnet50v2", 3, 32, weights="imagenet")
np.save(out, model.get_layer("resnet50v2").get_weights()[0])
"""


@pytest.mark.slow
def test_imagenet_weights_from_the_keras_cache(tmp_path):
    """ImageNet weights come from the Keras cache, never the network. Missing, the error names
    the file and the folder to place it in; a weight file written by the test, in the legacy
    .h5 layout of Keras' downloads, with another hash than Keras expects, is refused (Keras
    would download again, offline here); with Keras expecting its hash, Keras' own loader reads
    it. (One process: KERAS_HOME is read when Keras loads.)"""
    import os
    import subprocess
    import sys

    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    backbone = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(32, 32, 3))
    made = tmp_path / "made.h5"
    with h5py.File(made, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    name = cache / "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras")}
    proc = subprocess.run([sys.executable, "-c", IMAGENET, made, name, tmp_path / "first.npy"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    refused = [line for line in proc.stdout.splitlines() if line.startswith("REFUSED")]
    assert [line.split()[1] for line in refused] == ["missing", "another"], proc.stdout
    assert name.name in refused[0] and str(cache) in refused[0]
    np.testing.assert_array_equal(np.load(tmp_path / "first.npy"), backbone.get_weights()[0])


def _lr(schedule, step):
    return float(schedule(step))


def test_cosine_schedule_values_by_hand():
    config = TrainConfig(epochs=60, learning_rate=0.1, schedule="cosine")
    schedule = learning_rate_schedule(config, steps_per_epoch=10)   # 600 steps in all
    assert _lr(schedule, 0) == pytest.approx(0.1)
    assert _lr(schedule, 150) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)), rel=1e-6)
    assert _lr(schedule, 300) == pytest.approx(0.05, rel=1e-6)
    assert _lr(schedule, 600) == pytest.approx(0.0, abs=1e-9)


def test_cosine_restarts_end_cycles_at_epochs_20_and_60():
    config = TrainConfig(epochs=60, learning_rate=0.1, schedule="cosine-restarts",
                         first_cycle_epochs=20, t_mul=2.0)
    schedule = learning_rate_schedule(config, steps_per_epoch=10)
    assert _lr(schedule, 0) == pytest.approx(0.1)
    assert _lr(schedule, 100) == pytest.approx(0.05, rel=1e-5)              # middle of cycle 1
    assert _lr(schedule, 199) == pytest.approx(0.05 * (1 + math.cos(math.pi * 199 / 200)), abs=1e-6)
    assert _lr(schedule, 200) == pytest.approx(0.1)                        # restart at epoch 20
    assert _lr(schedule, 400) == pytest.approx(0.05, rel=1e-5)             # middle of cycle 2 (400 steps)
    # float32 near the end of a cycle: compare absolutely
    assert _lr(schedule, 599) == pytest.approx(0.05 * (1 + math.cos(math.pi * 399 / 400)), abs=1e-6)


def test_load_model_runs_no_code_from_the_file(tmp_path):
    """A .keras file with a Lambda layer (Python code) is refused: safe mode."""
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        load_model(tmp_path / "lambda.keras")


@pytest.mark.parametrize("name, parameters", [("resnet9", 6_577_610), ("resnet9-quarter", 414_074)])
def test_resnet9_has_its_documented_size_and_two_residual_adds(name, parameters):
    """DAWNBench's ResNet-9 at 32 px, 10 classes: widths 64·2^stage (16·2^stage for the
    quarter), two residual blocks joined by Add (issue 37: the counts a wrong width rule or a
    dropped residual would change)."""
    import keras

    from dqlabels.learning.models import build_model

    model = build_model(name, num_classes=10, image_size=32)
    assert model.count_params() == parameters

    def adds(layer):
        inner = getattr(layer, "layers", [])
        return isinstance(layer, keras.layers.Add) + sum(adds(x) for x in inner)

    assert sum(adds(layer) for layer in model.layers) == 2


def test_resnet9_layers_and_shapes_by_hand():
    """The DAWNBench ResNet-9 at a quarter width, layer by layer (names, kinds, output shapes at
    32 px): conv-BN-ReLU units, a 2×2 max-pool per stage, residual blocks after stages 1 and 3
    (issue 37: mutmut's survivors, a 3×3 pool or a missing ReLU, keep the parameter count)."""
    import keras

    from dqlabels.learning.models import resnet9, resnet9_quarter

    model = resnet9_quarter((32, 32, 3))
    assert model.name == "resnet9_quarter" and resnet9((32, 32, 3)).name == "resnet9"

    def unit(label, size, channels):
        return [(f"{label}_{kind}", layer, (None, size, size, channels))
                for kind, layer in (("conv", "Conv2D"), ("bn", "BatchNormalization"),
                                    ("relu", "Activation"))]

    expected = [*unit("stem", 32, 16),
                *unit("stage1", 32, 32), ("stage1_pool", "MaxPooling2D", (None, 16, 16, 32)),
                *unit("stage1_res1", 16, 32), *unit("stage1_res2", 16, 32),
                ("stage1_add", "Add", (None, 16, 16, 32)),
                *unit("stage2", 16, 64), ("stage2_pool", "MaxPooling2D", (None, 8, 8, 64)),
                *unit("stage3", 8, 128), ("stage3_pool", "MaxPooling2D", (None, 4, 4, 128)),
                *unit("stage3_res1", 4, 128), *unit("stage3_res2", 4, 128),
                ("stage3_add", "Add", (None, 4, 4, 128))]
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert [(x.name, type(x).__name__, tuple(x.output.shape)) for x in layers] == expected
    for layer in layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert (layer.kernel_size, layer.padding, layer.use_bias) == ((3, 3), "same", False)
        if isinstance(layer, keras.layers.Activation):
            assert layer.activation is keras.activations.relu
        if isinstance(layer, keras.layers.MaxPooling2D):
            assert layer.pool_size == (2, 2) and layer.strides == (2, 2)


def test_keras_applications_are_asked_without_top_and_missing_weights_say_where(monkeypatch,
                                                                                tmp_path):
    """What dqlabels asks of Keras Applications (no top, the shape, weights None unless
    imagenet), and the one line an offline machine gets, written out from the error."""
    import keras

    from dqlabels.learning import models

    asked = []
    url = "https://storage.example/models/densenet121_weights_notop.h5"

    def application(include_top, weights, input_shape):
        asked.append((include_top, weights, input_shape))
        if weights == "imagenet":
            raise OSError(f"URL fetch failure on {url}: None -- offline\nsecond line")
        return "model"

    monkeypatch.setattr(keras.applications, "DenseNet121", application)
    monkeypatch.setattr(keras.applications, "ResNet50V2", application)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert models.densenet121((40, 40, 3)) == models.resnet50v2((32, 32, 3)) == "model"
    assert asked == [(False, None, (40, 40, 3)), (False, None, (32, 32, 3))]
    for build, name in ((models.densenet121, "densenet121"), (models.resnet50v2, "resnet50v2")):
        with pytest.raises(InputError) as refused:
            build((32, 32, 3), "imagenet")
        assert str(refused.value) == (
            f"ImageNet weights for {name} are not in the Keras cache and could not be "
            f"downloaded (URL fetch failure on {url}: None -- offline): place "
            f"densenet121_weights_notop.h5 (from {url}) in {tmp_path}/models, or use weights "
            f"'none'")
    assert asked[-1] == (False, "imagenet", (32, 32, 3))

    def silent(include_top, weights, input_shape):
        raise OSError("")

    monkeypatch.setattr(keras.applications, "DenseNet121", silent)
    with pytest.raises(InputError) as refused:
        models.densenet121((32, 32, 3), "imagenet")
    assert str(refused.value) == (
        f"ImageNet weights for densenet121 are not in the Keras cache and could not be "
        f"downloaded (OSError): place the file in {tmp_path}/models, or use weights 'none'")


def test_a_weights_file_of_another_kind_is_refused_by_name(tmp_path):
    from dqlabels.learning.models import load_model_weights

    model = build_model("resnet9-quarter", num_classes=3, image_size=32)
    for name in ("w.h5", "w.KERAS", "w.keras.zip"):
        (tmp_path / name).write_bytes(b"not weights")
        with pytest.raises(InputError) as refused:
            load_model_weights(model, tmp_path / name)
        assert str(refused.value) == f"{tmp_path / name}: expected a .keras or .weights.h5 file"
    (tmp_path / "bad.weights.h5").write_bytes(b"not an HDF5 file")
    with pytest.raises(InputError) as refused:
        load_model_weights(model, tmp_path / "bad.weights.h5")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'bad.weights.h5'}: the weights do not fit this "
                              f"model (") and "3 classes): " in message
    assert "\n" not in message and not message.endswith(": ")


def test_a_load_failure_says_its_first_line_or_its_kind(tmp_path, monkeypatch):
    from dqlabels.learning.models import load_model_weights

    model = build_model("resnet9-quarter", num_classes=3, image_size=32)
    path = tmp_path / "w.weights.h5"
    path.write_bytes(b"x")
    for error, reason in ((ValueError("  layer count differs\nmore detail"), "layer count differs"),
                          (KeyError(), "KeyError")):
        def fail(_, error=error):
            raise error
        monkeypatch.setattr(model, "load_weights", fail)
        with pytest.raises(InputError) as refused:
            load_model_weights(model, path)
        assert str(refused.value) == (f"{path}: the weights do not fit this model "
                                      f"({model.name}, 3 classes): {reason}")


def test_batchnorm_layers_are_found_inside_the_backbone():
    """The ResNet-9 backbone sits in the model as one nested layer; its 8 BatchNormalization
    layers (stem, each stage's conv, two per residual block) are found inside it."""
    from dqlabels.learning.models import batchnorm_layers

    model = build_model("resnet9-quarter", num_classes=3, image_size=32)
    assert [layer.name for layer in batchnorm_layers(model)] == [
        "stem_bn", "stage1_bn", "stage1_res1_bn", "stage1_res2_bn", "stage2_bn", "stage3_bn",
        "stage3_res1_bn", "stage3_res2_bn"]


def test_build_model_refusals_word_for_word_and_their_boundaries():
    """32 px and 2 classes are the smallest accepted, 0 ≤ momentum < 1; what falls outside is
    refused in one line naming the value."""
    refusals = [(dict(model="densenet-tiny", num_classes=3, image_size=31),
                 "Expected image_size >= 32. Received: image_size=31"),
                (dict(model="densenet-tiny", num_classes=1, image_size=32),
                 "Expected num_classes >= 2. Received: num_classes=1"),
                (dict(model="densenet-tiny", num_classes=3, image_size=32, bn_momentum=1.0),
                 "Expected 0 <= bn_momentum < 1. Received: bn_momentum=1.0"),
                (dict(model="densenet-tiny", num_classes=3, image_size=32, bn_momentum=-0.1),
                 "Expected 0 <= bn_momentum < 1. Received: bn_momentum=-0.1"),
                (dict(model="resnet9", num_classes=3, image_size=32, weights="imagenet"),
                 "There are no ImageNet weights for model='resnet9'; use weights='none'")]
    for options, message in refusals:
        with pytest.raises(InputError) as refused:
            build_model(**options)
        assert str(refused.value) == message
    with pytest.raises(InputError) as refused:  # (other tests may register more backbones)
        build_model("vgg16", 3, 32)
    assert str(refused.value).startswith("Expected model to be one of densenet121, resnet50v2, "
                                         "densenet-tiny, resnet9, resnet9-quarter")
    assert str(refused.value).endswith(" or a Keras model. Received: model='vgg16'")
    model = build_model("densenet-tiny", num_classes=2, image_size=32, bn_momentum=0.0)
    assert model.output_shape == (None, 2)
    assert {layer.momentum for layer in _batchnorms(model)} == {0.0}


def _batchnorms(model):
    from dqlabels.learning.models import batchnorm_layers

    return batchnorm_layers(model)


@pytest.mark.parametrize("name, backbone, mode", [("densenet-tiny", "densenet_tiny", "torch"),
                                                 ("resnet9-quarter", "resnet9_quarter", "torch"),
                                                 ("resnet50v2", "resnet50v2", "tf")])
def test_the_model_around_a_backbone_by_hand(name, backbone, mode):
    """pixels → the backbone's preprocessing (Keras Applications' "torch" or "tf" mode) →
    backbone → "gap" → a float32 softmax head named "predictions"; the model is named after the
    backbone and the classes (dashes as underscores), and Keras' own momentum (0.99) is kept
    when none is asked."""
    model = build_model(name, num_classes=7, image_size=40)
    assert model.name == f"{name.replace('-', '_')}_7"
    assert [layer.name for layer in model.layers] == ["pixels", "preprocess", backbone, "gap",
                                                     "predictions"]
    assert model.input_shape == (None, 40, 40, 3)
    head = model.get_layer("predictions")
    assert head.dtype_policy.name == "float32" and head.get_config()["activation"] == "softmax"
    x = np.full((1, 40, 40, 3), 255.0, dtype="float32")
    expected = [1.0, 1.0, 1.0] if mode == "tf" else \
        (255 - 255 * np.array([0.485, 0.456, 0.406])) / (255 * np.array([0.229, 0.224, 0.225]))
    np.testing.assert_allclose(model.get_layer("preprocess")(x)[0, 0, 0], expected, rtol=1e-5)
    assert {layer.momentum for layer in _batchnorms(model)} == {0.99}
    features = feature_model(model)
    assert features.name == f"{model.name}_features" and features.inputs == model.inputs


def test_build_model_defaults_and_a_float32_head_under_mixed_precision():
    """build_model() is DenseNet121, 6 classes, 64 px; under a float16 policy the softmax head
    stays float32 (small probabilities, on which KL depends, survive)."""
    model = build_model()
    assert model.name == "densenet121_6" and model.input_shape == (None, 64, 64, 3)
    assert model.output_shape == (None, 6)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build_model("densenet-tiny", num_classes=3, image_size=32)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("predictions").dtype_policy.name == "float32"
    assert mixed.get_layer("gap").dtype_policy.name == "mixed_float16"
    with pytest.raises(ValueError) as refused:
        preprocessing_layer("caffe")
    assert str(refused.value) == "Expected mode to be 'torch' or 'tf'. Received: mode='caffe'"


def test_the_keras_cache_folder_by_hand(monkeypatch, tmp_path):
    """$KERAS_HOME/models; without it ~/.keras/models, or /tmp/.keras/models when the home
    folder cannot be written (Keras' own rule)."""
    import os

    from dqlabels.learning.models import keras_cache_dir

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    assert keras_cache_dir() == tmp_path / "k" / "models"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_cache_dir() == tmp_path / ".keras" / "models"
    monkeypatch.setattr(os, "access", lambda path, mode: not (path == str(tmp_path)
                                                             and mode == os.W_OK))
    assert keras_cache_dir() == Path("/tmp/.keras/models")


def test_weights_from_a_keras_file_and_a_missing_model_file(tmp_path):
    model = build_model("densenet-tiny", num_classes=3, image_size=32)
    model.save(tmp_path / "m.keras")
    again = build_model("densenet-tiny", num_classes=3, image_size=32,
                        weights=str(tmp_path / "m.keras"))
    np.testing.assert_array_equal(again.get_layer("predictions").get_weights()[0],
                                  model.get_layer("predictions").get_weights()[0])
    with pytest.raises(InputError) as refused:
        load_model(tmp_path / "none.keras")
    assert str(refused.value) == f"{tmp_path / 'none.keras'}: no such model file"
