"""Models and schedules: preprocessing, feature model, weights loading, schedule values."""

import math

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
