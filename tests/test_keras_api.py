"""dqlabels.keras, the Keras-facing API: the soft-target loss against values worked out by hand
and by numpy, a model saved with the loss and metrics loaded in safe mode, and
annotation_dataset's images, targets, order, seeds and refusals; docs/keras.md's example runs."""

import re

import numpy as np
import pytest

pytest.importorskip("tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import dqlabels  # noqa: E402
from conftest import REPO  # noqa: E402
from dqlabels.errors import InputError  # noqa: E402
from dqlabels.keras import (  # noqa: E402
    MacroAccuracy,
    SoftLabelKL,
    SoftTargetCrossEntropy,
    annotation_dataset,
)
from dqlabels.labels import scores  # noqa: E402


def test_the_loss_is_the_cross_entropy_by_hand_and_as_the_audit_scores_it():
    loss = SoftTargetCrossEntropy()
    # by hand: −(0.5 ln 0.25 + 0.5 ln 0.75) and −ln 0.6
    y = np.array([[0.5, 0.5], [0.0, 1.0]], "float32")
    p = np.array([[0.25, 0.75], [0.4, 0.6]], "float32")
    expected = np.mean([-(0.5 * np.log(0.25) + 0.5 * np.log(0.75)), -np.log(0.6)])
    assert float(loss(y, p)) == pytest.approx(expected, rel=1e-6)
    rng = np.random.default_rng(0)
    y, p = rng.dirichlet(np.ones(5), 50), rng.dirichlet(np.ones(5) * 0.2, 50)
    p[0] = [1, 0, 0, 0, 0]  # a zero probability: floored at 1e-7, as the audit does
    assert float(loss(y.astype("float32"), p.astype("float32"))) == pytest.approx(
        scores.cross_entropy(y, p), rel=1e-5)


def test_the_loss_from_logits_and_its_gradient():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 4)).astype("float32")
    y = rng.dirichlet(np.ones(4), 8).astype("float32")
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = np.mean(-(y * np.log(softmax)).sum(axis=1))
    loss = SoftTargetCrossEntropy(from_logits=True)
    assert float(loss(y, logits)) == pytest.approx(expected, rel=1e-5)
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(y, variable)
    # d/dz of the batch mean of −Σ y log softmax(z): (softmax − y) / batch
    np.testing.assert_allclose(tape.gradient(value, variable).numpy(), (softmax - y) / 8,
                               atol=1e-6)
    assert SoftTargetCrossEntropy.from_config(loss.get_config()).from_logits is True


def test_a_model_compiled_with_them_saves_and_loads_in_safe_mode(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss=SoftTargetCrossEntropy(),
                  metrics=[SoftLabelKL(), MacroAccuracy(num_classes=2)])
    x = np.eye(3, dtype="float32")
    model.fit(x, np.array([[1, 0], [0.5, 0.5], [0, 1]], "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.loss, SoftTargetCrossEntropy)
    assert {m.name for m in loaded.metrics} >= {"loss"}


def _folder(tmp_path, names, suffix=".png"):
    """Images 4×4 whose red channel is the item's index (read back from the pixels)."""
    for i, name in enumerate(names):
        pixels = np.zeros((4, 4, 3), np.uint8)
        pixels[..., 0] = i * 10
        Image.fromarray(pixels).save(tmp_path / f"{name}{suffix}")
    return tmp_path


def _annotations():
    # x0: cat 2, dog 1; x1: a tie, cat 1 dog 1 (the hard label: cat, the lowest index);
    # x2: dog 3; x3: cat 1
    items = ["x0"] * 3 + ["x1"] * 2 + ["x2"] * 3 + ["x3"]
    labels = ["cat", "cat", "dog", "cat", "dog", "dog", "dog", "dog", "cat"]
    return dqlabels.from_long(items, labels)


def test_a_folder_of_images_in_order_with_soft_and_hard_targets(tmp_path):
    ann = _annotations()
    folder = _folder(tmp_path, ann.items)
    images, targets = next(iter(annotation_dataset(ann, folder, shuffle=False, batch_size=8)))
    assert images.dtype == tf.uint8 and tuple(images.shape) == (4, 4, 4, 3)
    assert images.numpy()[:, 0, 0, 0].tolist() == [0, 10, 20, 30]
    np.testing.assert_allclose(targets.numpy(), [[2 / 3, 1 / 3], [0.5, 0.5], [0, 1], [1, 0]],
                               rtol=1e-6)
    _, hard = next(iter(annotation_dataset(ann, folder, targets="hard", shuffle=False)))
    assert hard.numpy().tolist() == [[1, 0], [1, 0], [0, 1], [1, 0]]
    # resized on request; items written as paths relative to the folder work too
    big, _ = next(iter(annotation_dataset(ann, folder, shuffle=False, image_size=8)))
    assert tuple(big.shape) == (4, 8, 8, 3)
    (tmp_path / "images").mkdir()
    _folder(tmp_path / "images", ["a"])
    relative = dqlabels.from_long(["images/a.png"], ["cat"])
    assert next(iter(annotation_dataset(relative, tmp_path)))[0].shape[0] == 1


def test_an_item_without_its_image_is_refused_by_name(tmp_path):
    ann = _annotations()
    folder = _folder(tmp_path, ann.items[:3])
    with pytest.raises(InputError, match=r"no image for item 'x3'"):
        annotation_dataset(ann, folder)
    with pytest.raises(InputError, match="no such folder"):
        annotation_dataset(ann, tmp_path / "missing")
    with pytest.raises(InputError, match=r"shape \(4, height, width, 3\)"):
        annotation_dataset(ann, np.zeros((3, 4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="targets"):
        annotation_dataset(ann, folder, targets="soft-ish")


def _epochs(dataset, epochs):
    """Each epoch's images' first pixel (the item's index × 10), as fit would iterate."""
    return [np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in dataset]).tolist()
            for _ in range(epochs)]


def test_shuffled_anew_each_epoch_and_the_same_with_the_same_seed(tmp_path):
    ann = dqlabels.from_long([f"i{n}" for n in range(20)], ["a", "b"] * 10)
    images = np.zeros((20, 4, 4, 3), np.uint8)
    images[..., 0] = (np.arange(20) * 10)[:, None, None]
    first = _epochs(annotation_dataset(ann, images, batch_size=6, seed=3), 3)
    assert all(sorted(order) == list(range(0, 200, 10)) for order in first)  # each once
    assert len({tuple(order) for order in first}) == 3  # three different orders
    assert _epochs(annotation_dataset(ann, images, batch_size=6, seed=3), 3) == first
    assert _epochs(annotation_dataset(ann, images, batch_size=6, seed=4), 3) != first
    # targets travel with their images
    for x, y in annotation_dataset(ann, images, batch_size=20, seed=3):
        assert (y.numpy()[:, 1] == (x.numpy()[:, 0, 0, 0] // 10 % 2)).all()


def test_each_image_is_augmented_afresh_every_epoch(tmp_path):
    """One asymmetric image, 16 epochs of the symmetric augmentation: several of its 8
    orientations appear (the same one every epoch would mean augmentation is gone), and the
    same seed repeats them."""
    ann = dqlabels.from_long(["only"], ["a"])
    image = np.zeros((1, 4, 4, 3), np.uint8)
    image[0, 0, 0] = 255  # one bright corner: each flip or rotation moves it
    dataset = annotation_dataset(ann, image, augment_images="symmetric", seed=5)
    seen = [tuple(np.argwhere(next(iter(dataset))[0].numpy()[0, ..., 0])[0]) for _ in range(16)]
    assert len(set(seen)) >= 3
    again = annotation_dataset(ann, image, augment_images="symmetric", seed=5)
    assert [tuple(np.argwhere(next(iter(again))[0].numpy()[0, ..., 0])[0])
            for _ in range(16)] == seen


def test_the_docs_example_runs(monkeypatch, capsys, tmp_path):
    page = (REPO / "docs" / "keras.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", page, flags=re.S)[0]
    assert len(code.strip().splitlines()) <= 30
    exec(compile(code, "docs/keras.md", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip() == "['kl', 'loss', 'macro_accuracy']"


def test_annotation_dataset_defaults_types_and_refusals_word_for_word(tmp_path):
    """Batches of 32, seed 0 and float32 targets by default; uint8 images from an array; a
    path to an annotations file is read; the image size defaults to the first image's width;
    what is refused says so whole."""
    items = [f"i{k:02d}" for k in range(33)]
    ann = dqlabels.from_long(items, ["cat" if k % 3 else "dog" for k in range(33)])
    images = np.arange(33 * 2 * 2 * 3).reshape(33, 2, 2, 3).astype(np.uint8)
    batches = list(annotation_dataset(ann, images))
    assert [len(x) for x, _ in batches] == [32, 1]
    assert batches[0][0].dtype == tf.uint8 and batches[0][1].dtype == tf.float32
    assert _epochs(annotation_dataset(ann, images), 1) == \
        _epochs(annotation_dataset(ann, images, seed=0), 1)
    path = tmp_path / "a.csv"
    path.write_text("item,label\n" + "".join(f"{i},cat\n" for i in items[:3]))
    x, y = next(iter(annotation_dataset(path, images[:3], shuffle=False)))
    assert y.numpy().tolist() == [[1.0]] * 3
    for k, name in enumerate(["w0", "w1"]):  # 6 wide, 4 high: resized to 6 × 6
        Image.fromarray(np.full((4, 6, 3), k, np.uint8)).save(tmp_path / f"{name}.png")
    wide = dqlabels.from_long(["w0", "w1"], ["cat", "dog"])
    assert tuple(next(iter(annotation_dataset(wide, tmp_path)))[0].shape) == (2, 6, 6, 3)
    refusals = [(dict(targets="soft-ish"),
                 "Expected targets to be one of soft, hard. Received: targets='soft-ish'"),
                (dict(augment_images="rotate"),
                 "Expected augment_images to be one of natural, symmetric, none. Received: "
                 "augment_images='rotate'")]
    for options, message in refusals:
        with pytest.raises(InputError) as refused:
            annotation_dataset(wide, tmp_path, **options)
        assert str(refused.value) == message
    with pytest.raises(InputError) as refused:
        annotation_dataset(dqlabels.from_long(["nope"], ["cat"]), tmp_path)
    assert str(refused.value) == (f"{tmp_path}: no image for item 'nope' (looked for 'nope' and "
                                  f"'nope' with .png, .jpg, .jpeg, .bmp, .gif)")


def test_natural_augmentation_never_rotates(tmp_path):
    """"natural": windows of the reflect-padded image, maybe mirrored, never a quarter turn
    (which "symmetric" would give some of the 24 images here)."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ann = dqlabels.from_long([f"i{k}" for k in range(24)], ["cat"] * 24)
    turned = [np.rot90(image, r) for r in (1, 3)]
    outputs = [x for batch, _ in annotation_dataset(ann, np.repeat(image[None], 24, axis=0),
                                                    augment_images="natural", seed=2)
               for x in batch.numpy()]
    assert len(outputs) == 24
    assert not any(np.array_equal(out, t) for out in outputs for t in turned)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    windows = [padded[r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
    assert all(any(np.array_equal(out, w) or np.array_equal(out, w[:, ::-1]) for w in windows)
               for out in outputs)
