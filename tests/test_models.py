"""Models and schedules: preprocessing, feature model, weights loading, schedule values."""

import hashlib
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dqlabels import InputError  # noqa: E402
from dqlabels import models as models_module  # noqa: E402
from dqlabels.models import Preprocess, build_model, feature_model, load_model  # noqa: E402
from dqlabels.training import TrainConfig, learning_rate_schedule  # noqa: E402


def test_preprocess_matches_keras_applications():
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(Preprocess("torch")(x),
                               keras.applications.densenet.preprocess_input(x.copy()), atol=1e-5)
    np.testing.assert_allclose(Preprocess("tf")(x),
                               keras.applications.resnet_v2.preprocess_input(x.copy()), atol=1e-6)


@pytest.mark.slow
def test_model_head_features_and_safe_round_trip(tmp_path):
    model = build_model("densenet121", num_classes=4, image_size=32)
    assert model.output_shape == (None, 4)
    features = feature_model(model)
    assert features.output_shape == (None, 1024)
    assert features.get_layer("gap") is model.get_layer("gap")  # shared, not copied
    x = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), probabilities, rtol=1e-5, atol=1e-6)


def test_unknown_model_and_small_images():
    with pytest.raises(InputError, match="Expected model to be one of densenet121, resnet50v2"):
        build_model("vgg16", 3, 32)
    with pytest.raises(InputError, match="image_size >= 32"):
        build_model("densenet121", 3, 16)


@pytest.mark.slow
def test_weights_file_with_another_class_count_is_refused(tmp_path):
    build_model("resnet50v2", num_classes=3, image_size=32).save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(InputError, match="the weights have 3 classes, the dataset has 5"):
        build_model("resnet50v2", num_classes=5, image_size=32, weights=str(tmp_path / "w.weights.h5"))
    same = build_model("resnet50v2", num_classes=3, image_size=32, weights=str(tmp_path / "w.weights.h5"))
    assert same.get_layer("predictions").get_weights()[0].shape == (2048, 3)


def test_imagenet_weights_missing_says_which_file_to_place_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(InputError) as info:
        models_module.imagenet_weights_file("densenet121", download=False)
    message = str(info.value)
    assert "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "keras" / "models") in message


@pytest.mark.slow
def test_imagenet_weights_are_loaded_from_the_keras_cache(tmp_path, monkeypatch):
    """A weight file written by the test, in the legacy .h5 layout Keras' downloads use."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    backbone = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(32, 32, 3))
    name = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(cache / name, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    # The hash Keras expects cannot match a file made here: a different one is refused ...
    with pytest.raises(InputError, match="differs from the"):
        build_model("resnet50v2", 3, 32, weights="imagenet")
    # ... and with the expected hash set to this file's, the real loading code runs.
    md5 = hashlib.md5((cache / name).read_bytes()).hexdigest()
    file_name, _, url = models_module.IMAGENET_WEIGHTS["resnet50v2"]
    monkeypatch.setitem(models_module.IMAGENET_WEIGHTS, "resnet50v2", (file_name, md5, url))
    model = build_model("resnet50v2", 3, 32, weights="imagenet")
    loaded = model.get_layer("resnet50v2")
    for got, expected in zip(loaded.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(got, expected)


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
