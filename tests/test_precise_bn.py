"""Precise BatchNorm statistics (issue 9): the moving averages become the mean of the batch
statistics under the final weights; nothing else changes."""

import keras
import numpy as np

from dqlabels.learning.precise_bn import recompute_batchnorm_statistics  # noqa: E402


def _model():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.99, name="bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def test_moving_statistics_become_the_mean_of_the_batch_statistics():
    keras.utils.set_random_seed(0)
    model = _model()
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=3.0, scale=2.0, size=(16, 4)).astype("float32") for _ in range(5)]
    dense_weights = [w.copy() for w in model.get_layer("dense").get_weights()]
    head_weights = [w.copy() for w in model.get_layer("head").get_weights()]

    assert recompute_batchnorm_statistics(model, batches) == 5

    # Expected, by hand: the Dense layer's outputs of each batch, their mean and (biased)
    # variance per channel, averaged over the batches.
    kernel, bias = dense_weights
    outputs = [b @ kernel + bias for b in batches]
    expected_mean = np.mean([o.mean(axis=0) for o in outputs], axis=0)
    expected_variance = np.mean([o.var(axis=0) for o in outputs], axis=0)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(np.asarray(bn.moving_mean), expected_mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), expected_variance, rtol=1e-4)
    assert bn.momentum == 0.99  # restored
    for before, after in zip(dense_weights + head_weights,
                             model.get_layer("dense").get_weights()
                             + model.get_layer("head").get_weights()):
        np.testing.assert_array_equal(before, after)


def test_datasets_of_pairs_are_accepted_and_no_batches_change_nothing():
    model = _model()
    bn = model.get_layer("bn")
    before = np.asarray(bn.moving_mean).copy()
    assert recompute_batchnorm_statistics(model, []) == 0
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), before)
    x = np.ones((8, 4), "float32")
    assert recompute_batchnorm_statistics(model, [(x, np.zeros((8, 2), "float32"))]) == 1
    expected = (x @ model.get_layer("dense").get_weights()[0]
                + model.get_layer("dense").get_weights()[1])[0]
    np.testing.assert_allclose(np.asarray(bn.moving_mean), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), 0.0, atol=1e-6)


def test_precise_statistics_see_the_training_images_as_they_are(tmp_path, monkeypatch):
    """The BatchNorm statistics are recomputed on un-augmented training images (issue 37): every
    batch image fed is one of the split's training images pixel for pixel, never a crop or a
    flip, and none is a validation or test image."""
    from PIL import Image

    from dqlabels.config import TrainConfig
    from dqlabels.data.datasets import load_dataset
    from dqlabels.data.synthetic import generate_dataset
    from dqlabels.learning import training
    from dqlabels.learning.models import build_model

    folder = generate_dataset(tmp_path / "data", num_images=24, image_size=32, seed=2)
    data = load_dataset(folder)
    split = np.array(["train"] * 16 + ["val"] * 4 + ["test"] * 4)
    files = {np.asarray(Image.open(p).convert("RGB")).tobytes(): i
             for i, p in enumerate(data.paths)}
    fed = []

    def record(model, batches):
        for x, _ in batches:
            fed.extend(np.asarray(x, dtype=np.uint8))

    monkeypatch.setattr(training, "recompute_batchnorm_statistics", record)
    model = build_model("densenet-tiny", num_classes=len(data.classes), image_size=32)
    config = TrainConfig(model="densenet-tiny", image_size=32, batch_size=8, augment="natural")
    training._precise_bn(data, split, model, config)
    assert len(fed) == 16
    rows = [files.get(image.tobytes()) for image in fed]
    assert None not in rows, "an augmented image was fed"
    assert sorted(rows) == list(range(16))
